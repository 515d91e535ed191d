"""Networks, their ``ArchSpec`` registry (``models.specs``) and ``type:`` -> network.

The rooms: ``archs/<family>/`` (a network, its ``ArchSpec``, its ncnn graph), ``feature_nets/`` (VGG, LPIPS/DISTS,
EfficientNet-Lite0, the discriminators), ``zoo/`` (the catalogue and its fetching), ``ncnn/`` (the ncnn reader);
the shared machinery (specs, loading, detection, conversion, export ops) here.

A weights file becomes ``(state, arch)`` in one place, ``read_checkpoint``
(``models.loading``); ``load_network`` builds and fills the network from it.

Importing this package pulls in paddle and the network definitions only: no
training, dataset, video or torch code.
"""
from .archs.atd import atd
from .archs.compact import srvgg
from .archs.compact.srvgg import SRVGGNetCompact
from .archs.craft import craft
from .archs.cugan import cugan
from .archs.dat import dat
from .archs.dctlsa import dctlsa
from .archs.ditn import ditn
from .archs.drct import drct
from .archs.mosr import mosr
from .archs.omnisr import omnisr
from .archs.plksr import plksr
from .archs.rcan import rcan
from .archs.rgt import rgt
from .archs.rrdb import lowband, rrdbnet
from .archs.rrdb.lowband import LowBandRRDBNet
from .archs.rrdb.rrdbnet import RRDBNet
from .archs.safmn import safmn
from .archs.span import span
from .archs.swiftsrgan import swiftsrgan
from .archs.swinir import hat, swinir
from .archs.waifu2x import waifu2x
from .feature_nets import discriminator, efficientnet_lite, patch_discriminator, projected_discriminator, vgg
from .feature_nets.discriminator import UNetDiscriminatorSN
from .feature_nets.patch_discriminator import PatchDiscriminatorSN
from .feature_nets.projected_discriminator import ProjectedDiscriminator
from .feature_nets.vgg import VGG19FeatureExtractor
from .loading import CheckpointError, apply_overrides, load_network, load_state_into, read_checkpoint
from .specs import NETWORKS, ArchSpec, all_specs, find_spec, get_spec, register, unregister

# registration order = detection order; lowband before rrdbnet: its state holds an RRDBNet's keys too.
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
for _module in (lowband, rrdbnet, srvgg, discriminator, vgg, patch_discriminator, span, plksr, omnisr, rgt, dat, cugan,
                hat, swinir, efficientnet_lite, projected_discriminator):
    register(_module.SPEC)
register(plksr.PLKSR_SPEC)
register(waifu2x.UPCONV7_SPEC)
register(waifu2x.CUNET_SPEC)
register(safmn.SPEC)  # SAFMN: only to_feat with feats.0.safm.aggr, keys no other network has
register(rcan.SPEC)  # RCAN: only tail.1 with body.0.body.0.body.3.conv_du.0, keys no other network has
register(swiftsrgan.SPEC)  # Swift-SRGAN: only initial.cnn.depthwise with final_conv.pointwise, no other's keys
register(drct.SPEC)  # DRCT: only layers.0.swin1 with layers.0.adjust1, keys no other network has
register(ditn.SPEC)  # DITN: only sft with UFONE.0.ITLs.0.attn.temperature, keys no other network has
register(dctlsa.SPEC)  # DCTLSA: only fea_conv with B1's local branch, c.0, LR_conv: keys no other network has
register(mosr.SPEC)  # MoSR: only gblocks.0 with gblocks.1.fc1 and shortcut.conv11, keys no other network has
register(craft.SPEC)  # CRAFT: only layers.0.residual_group.hf_blocks.0.attn.temperature, no other network's key
register(atd.SPEC)  # ATD: only relative_position_index_SA with layers.0.residual_group.td, no other network's keys

__all__ = ['ArchSpec', 'CheckpointError', 'LowBandRRDBNet', 'NETWORKS', 'PatchDiscriminatorSN', 'ProjectedDiscriminator', 'RRDBNet', 'SRVGGNetCompact', 'UNetDiscriminatorSN',
           'VGG19FeatureExtractor', 'all_specs', 'apply_overrides', 'build_network', 'find_spec', 'get_spec',
           'load_network', 'load_state_into', 'min_side', 'net_facts', 'net_scale', 'pad_multiple', 'pads_itself',
           'read_checkpoint',
           'register', 'unregister']


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
