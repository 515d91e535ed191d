"""Networks, their ``ArchSpec`` registry (``models.specs``) and ``type:`` -> network.

The rooms: ``archs/<family>/`` (a network, its ``ArchSpec``, its ncnn graph), ``feature_nets/`` (VGG, LPIPS/DISTS,
EfficientNet-Lite0, the discriminators), ``zoo/`` (the catalogue and its fetching), ``ncnn/`` (the ncnn reader);
the shared machinery (specs, loading, detection, conversion, export ops) here.

A weights file becomes ``(state, arch)`` in one place, ``read_checkpoint``
(``models.loading``); ``load_network`` builds and fills the network from it.

Importing this package pulls in paddle and the registry (``specs``, ``loading``, ``detect``): no network
definition (each family's module is imported when that network is built, ``specs.Family``), no training, dataset,
video or torch code.
"""
from .loading import CheckpointError, apply_overrides, load_network, load_state_into, read_checkpoint
from .specs import NETWORKS, ArchSpec, Family, all_specs, find_spec, get_spec, register, unregister

# Each network type by its name, the module holding its ArchSpec and the key names (or parts of them) one of which a
# state dict must hold for its detect or rename to claim it (``specs.Family``): the module is imported when that type
# is first built or asked for, or when a weights file holds one of its keys (detection). A family registered without
# ``keys`` is imported by every detection. Registration order = detection order.
# lowband before rrdbnet: its state holds an RRDBNet's keys too.
# span: its detect claims only conv_1.eval_conv / block_1.c1_r.eval_conv, keys no other network has;
# plksr (PLKSR, RealPLKSR): only feats.0 with feats.1.channe_mixer / channel_mixer, which no other has;
# OmniSR and DAT claim a state dict only by keys no other network has (residual_layer.0.residual_layer.0.layer,
# layers.0.blocks.0.attn.attns.0.rpe_biases), and no earlier spec claims theirs; RGT just before DAT: it has DAT's
# rpe_biases key, and claims only with layers.0.blocks.0.gamma, which DAT has not (DAT's detect would read an RGT
# file as a broken DAT);
# RealCUGAN and CUNet claim only states with unet1.*/unet2.* keys, UpConv7 only net.0 ... net.12: keys no other
# network has; CUNet after RealCUGAN: a CUNet x2 has Real-CUGAN se x2's keys exactly (models/archs/waifu2x/waifu2x.py)
# hat and swinir claim only their own residual-group keys (SwinIR's detect steps aside for HAT's
# conv_block/overlap_attn keys), so their order among the others is free.
register(Family('LowBandRRDBNet', 'archs.rrdb.lowband', keys=('corrector.convs.',)))
register(Family('RRDBNet', 'archs.rrdb.rrdbnet',  # its own keys, or an old ESRGAN layout (rename)
                keys=('body.0.rdb1.conv1.weight', 'RRDB_trunk.', 'trunk_conv.weight', 'model.1.sub.')))
register(Family('SRVGGNetCompact', 'archs.compact.srvgg', keys=('body.0.weight',)))
register(Family('UNetDiscriminatorSN', 'feature_nets.discriminator',
                keys=('conv1.weight_orig', '.parametrizations.weight.')))
register(Family('VGG19FeatureExtractor', 'feature_nets.vgg', keys=('conv1_1.weight', 'features.')))
register(Family('PatchDiscriminatorSN', 'feature_nets.patch_discriminator', keys=()))  # no detect: built by name
register(Family('SPAN', 'archs.span.span', keys=('conv_1.eval_conv.weight',)))
register(Family('RealPLKSR', 'archs.plksr.plksr', keys=('feats.1.channel_mixer.0.weight',)))
register(Family('OmniSR', 'archs.omnisr.omnisr', keys=('residual_layer.0.residual_layer.0.layer.0.fn.0.weight',)))
register(Family('RGT', 'archs.rgt.rgt', keys=('layers.0.blocks.0.gamma',)))
register(Family('DAT', 'archs.dat.dat', keys=('layers.0.blocks.0.attn.attns.0.rpe_biases',)))
register(Family('RealCUGAN', 'archs.cugan.cugan', keys=('unet2.conv_bottom.weight',)))
register(Family('HAT', 'archs.swinir.hat', keys=('layers.0.residual_group.overlap_attn.',)))
register(Family('SwinIR', 'archs.swinir.swinir', keys=('layers.0.residual_group.blocks.0.attn.',)))
register(Family('EfficientNetLite0', 'feature_nets.efficientnet_lite', keys=('_blocks.15._project_conv.weight',)))
register(Family('ProjectedDiscriminator', 'feature_nets.projected_discriminator', keys=('project.ccm0',)))
register(Family('PLKSR', 'archs.plksr.plksr', 'PLKSR_SPEC', keys=('feats.1.channe_mixer.0.weight',)))
register(Family('UpConv7', 'archs.waifu2x.waifu2x', 'UPCONV7_SPEC', keys=('net.12.weight',)))
register(Family('CUNet', 'archs.waifu2x.waifu2x', 'CUNET_SPEC',
                keys=('unet1.conv_bottom.weight', 'unet2.conv_bottom.weight')))
# SAFMN: only to_feat with feats.0.safm.aggr, keys no other network has
register(Family('SAFMN', 'archs.safmn.safmn', keys=('feats.0.safm.aggr.weight',)))
# RCAN: only tail.1 with body.0.body.0.body.3.conv_du.0, keys no other network has
register(Family('RCAN', 'archs.rcan.rcan', keys=('body.0.body.0.body.3.conv_du.0.weight',)))
# Swift-SRGAN: only initial.cnn.depthwise with final_conv.pointwise, no other's keys
register(Family('SwiftSRGAN', 'archs.swiftsrgan.swiftsrgan', keys=('initial.cnn.depthwise.weight',)))
# DRCT: only layers.0.swin1 with layers.0.adjust1, keys no other network has
register(Family('DRCT', 'archs.drct.drct', keys=('layers.0.swin1.attn.',)))
# DITN: only sft with UFONE.0.ITLs.0.attn.temperature, keys no other network has
register(Family('DITN', 'archs.ditn.ditn', keys=('UFONE.0.ITLs.0.attn.temperature',)))
# DCTLSA: only fea_conv with B1's local branch, c.0, LR_conv: keys no other network has
register(Family('DCTLSA', 'archs.dctlsa.dctlsa', keys=('LR_conv.weight',)))
# MoSR: only gblocks.0 with gblocks.1.fc1 and shortcut.conv11, keys no other network has
register(Family('MoSR', 'archs.mosr.mosr', keys=('gblocks.1.fc1.weight',)))
# CRAFT: only layers.0.residual_group.hf_blocks.0.attn.temperature, no other network's key
register(Family('CRAFT', 'archs.craft.craft', keys=('layers.0.residual_group.hf_blocks.0.attn.temperature',)))
# GRL: only layers.0.blocks.0.attn.window_attn.attn_transform.logit_scale, no other network's key
register(Family('GRL', 'archs.grl.grl', keys=('blocks.0.attn.window_attn.attn_transform.logit_scale',)))
# ATD: only relative_position_index_SA with layers.0.residual_group.td, no other network's keys
register(Family('ATD', 'archs.atd.atd', keys=('relative_position_index_SA',)))

__all__ = ['ArchSpec', 'CheckpointError', 'Family', 'NETWORKS', 'all_specs', 'apply_overrides', 'build_network',
           'find_spec', 'get_spec', 'load_network', 'load_state_into', 'min_side', 'net_facts', 'net_scale',
           'pad_multiple', 'pads_itself', 'read_checkpoint', 'register', 'unregister']


def build_network(arch, where='network'):
    """Build a network from an ``arch`` dict: ``{'type': 'RRDBNet', **kwargs}``."""
    return get_spec(arch, where).build(arch, where)


def net_scale(arch):
    """Upscale factor of a generator ``arch`` dict."""
    return get_spec(arch).scale(arch)


def min_side(arch):
    """The smallest input H and W ``arch`` runs on (1 for most networks)."""
    f = get_spec(arch).min_side
    return int(f(arch)) if f else 1


def pad_multiple(arch):
    """Input H and W of ``arch`` must be multiples of this (pixel-unshuffle factor; 1 for most networks)."""
    return int(get_spec(arch).pad_multiple(arch))


def net_facts(arch):
    """``specs.NetFacts`` of ``arch`` (``ArchSpec.facts``)."""
    return get_spec(arch).facts(arch)


def pads_itself(arch):
    """True when ``arch``'s network pads any input itself (``ArchSpec.pad_mode`` 'own'): callers give it the image as
    it is, and ``pad_multiple`` is only the grid its tiles start on."""
    return get_spec(arch).pad_mode == 'own'
