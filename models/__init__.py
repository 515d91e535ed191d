"""Networks, their ``ArchSpec`` registry (``models.specs``) and ``type:`` -> network.

A weights file becomes ``(state, arch)`` in one place, ``read_checkpoint``
(``models.loading``); ``load_network`` builds and fills the network from it.

Importing this package pulls in paddle and the network definitions only: no
training, dataset, video or torch code.
"""
from . import discriminator, hat, lowband, patch_discriminator, rrdbnet, srvgg, swinir, vgg
from .discriminator import UNetDiscriminatorSN
from .patch_discriminator import PatchDiscriminatorSN
from .loading import CheckpointError, apply_overrides, load_network, load_state_into, read_checkpoint
from .lowband import LowBandRRDBNet
from .rrdbnet import RRDBNet
from .specs import NETWORKS, ArchSpec, all_specs, find_spec, get_spec, register, unregister
from .srvgg import SRVGGNetCompact
from .vgg import VGG19FeatureExtractor

# registration order = detection order; lowband before rrdbnet: its state holds an RRDBNet's keys too.
# hat and swinir after the convolutional nets: each claims only its own residual-group keys (SwinIR's
# detect steps aside for HAT's conv_block/overlap_attn keys), so their order among the others is free.
for _module in (lowband, rrdbnet, srvgg, discriminator, vgg, patch_discriminator, hat, swinir):
    register(_module.SPEC)

__all__ = ['ArchSpec', 'CheckpointError', 'LowBandRRDBNet', 'NETWORKS', 'PatchDiscriminatorSN', 'RRDBNet', 'SRVGGNetCompact', 'UNetDiscriminatorSN',
           'VGG19FeatureExtractor', 'all_specs', 'apply_overrides', 'build_network', 'find_spec', 'get_spec',
           'load_network', 'load_state_into', 'net_scale', 'pad_multiple', 'read_checkpoint', 'register',
           'unregister']


def build_network(arch, where='network'):
    """Build a network from an ``arch`` dict: ``{'type': 'RRDBNet', **kwargs}``."""
    return get_spec(arch, where).build(arch, where)


def net_scale(arch):
    """Upscale factor of a generator ``arch`` dict."""
    return get_spec(arch).scale(arch)


def pad_multiple(arch):
    """Input H and W of ``arch`` must be multiples of this (pixel-unshuffle factor; 1 for most networks)."""
    return int(get_spec(arch).pad_multiple(arch))
