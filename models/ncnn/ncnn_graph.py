"""An ncnn graph's connections, checked, and matched against the graph a family of networks has.

``check_graph``: one ``Input``; every blob produced by one layer, before the one layer that reads it (ncnn hands
a blob to several layers through a ``Split``), so the graph has no cycle and no dangling input; one blob that no
layer reads, the output, which every layer therefore feeds; and the channel widths consistent from layer to
layer (a convolution reads as many channels as its weights take, an addition adds equal widths, ...).

``match_pattern``: the graph against a ``Pattern``, the graph of the network the importer is about to build,
written in ncnn's layers, beside each family's network (``models.archs.compact.ncnn_srvgg``,
``models.archs.rrdb.ncnn_rrdb``, ``models.archs.span.ncnn_span``, ``models.archs.cugan.ncnn_unet``). ``Split`` layers are looked
through. Each layer's ``signature`` (its type and every key that changes what it computes, with ncnn's
defaults) and each layer's inputs must be the pattern's, from the output back to the input; additions and
products may list their inputs in either order. The pattern's named layers come back paired with the file's.

The families' graphs share the helpers at this module's end: a layer type's layers, an image network's channels,
the pixel shuffle's factor, a shuffled output's channels, a convolution's arrays.
"""
import hashlib

import numpy as np

from .ncnn_bounds import MAX_IMAGE_CHANNELS, SCALES, safe_name
from .ncnn_layers import Layer, NcnnFormatError

OP_ADD, OP_SUB, OP_MUL = 0, 1, 2  # BinaryOp op_type
ELT_SUM = 1  # Eltwise op_type


def check_topology(layers, where):
    """One Input, each blob produced once before it is read once, one output; returns the output blob."""
    inputs = [L for L in layers if L.type == 'Input']
    if len(inputs) != 1:
        raise NcnnFormatError(f'{where}: {len(inputs)} Input layers; a network graph has one')
    produced, read = {}, set()
    for L in layers:
        for b in L.inputs:
            if b not in produced:
                raise NcnnFormatError(f'{where}: {L.label()} reads blob {safe_name(b)}, which no layer before it '
                                      f'produces (a dangling input, a cycle, or layers out of order)')
            if b in read:
                raise NcnnFormatError(f'{where}: {L.label()} reads blob {safe_name(b)}, which another layer reads '
                                      f'already (ncnn gives a blob to several layers through a Split)')
            read.add(b)
        for b in L.outputs:
            if b in produced:
                raise NcnnFormatError(f'{where}: {L.label()} produces blob {safe_name(b)}, which '
                                      f'{produced[b].label()} produces already')
            produced[b] = L
    outs = [b for b in produced if b not in read]
    if len(outs) != 1:
        shown = ', '.join(safe_name(b, 40) for b in outs[:3])
        raise NcnnFormatError(f'{where}: {len(outs)} blobs are never read ({shown}{", ..." if len(outs) > 3 else ""}); '
                              f'a network graph has one output, and every layer leads to it')
    return outs[0]


def _width_out(L, ins):
    """The output width of ``L`` from its input widths (None: not known yet); ValueError when they disagree."""
    known = [w for w in ins if w is not None]
    t = L.type
    if t in ('Convolution', 'Deconvolution', 'InnerProduct'):
        if known and known[0] != L.shape[1]:
            raise ValueError(f'reads {known[0]} channels where its weights take {L.shape[1]}')
        return L.shape[0]
    if t in ('Input', 'MemoryData'):
        return (L.p(2) or None) if t == 'Input' else L.shape[0]
    if t == 'Concat':
        return sum(ins) if len(known) == len(ins) else None
    if t == 'Crop':
        return ins[0]
    if t == 'PixelShuffle':
        r = L.p(0, 1)
        if known and known[0] % (r * r):
            raise ValueError(f'reads {known[0]} channels, which do not shuffle by {r} (not a multiple of {r * r})')
        return known[0] // (r * r) if known else None
    if t in ('Eltwise', 'BinaryOp', 'Scale') and len(set(known)) > 1:
        raise ValueError(f'combines {" and ".join(map(str, known))} channels')
    if t == 'PReLU' and known and L.shape[0] not in (1, known[0]):
        raise ValueError(f'has {L.shape[0]} slopes for {known[0]} channels (one, or one per channel)')
    if t == 'Scale' and L.shape and known and L.shape[0] != known[0]:
        raise ValueError(f'has {L.shape[0]} scales for {known[0]} channels')
    return known[0] if known else None


def check_widths(layers, where):
    """Every blob's channel count, propagated from layer to layer and checked; ``{blob: width or None}``."""
    width = {}
    for L in layers:
        try:
            w = _width_out(L, [width[b] for b in L.inputs])
        except ValueError as e:
            raise NcnnFormatError(f'{where}: {L.label()} {e}') from None
        width.update((b, w) for b in L.outputs)
    return width


def check_graph(layers, where):
    """``check_topology`` and ``check_widths``; returns the output blob."""
    out = check_topology(layers, where)
    check_widths(layers, where)
    return out


def _act(L):
    kind, args = L.p(9, 0), L.p(10) or [0.0]
    return (kind, round(float(args[0]), 6)) if kind == 2 else (kind,)


def _conv_sig(L):
    kw, dw, sw, pl = L.p(1), L.p(2, 1), L.p(3, 1), L.p(4, 0)
    pt = L.p(14, pl)
    return (L.shape, (L.p(12, dw), dw), (L.p(13, sw), sw), (pt, pl, L.p(16, pt), L.p(15, pl)), _act(L))


def _crop_sig(L):
    axes = tuple(a + 3 if a < 0 else a for a in L.p(11, []))
    return (len(L.inputs), L.p(0, 0), L.p(1, 0), L.p(2, 0), tuple(L.p(9, [])), tuple(L.p(10, [])), axes)


_SIGS = {
    'Convolution': _conv_sig, 'Deconvolution': _conv_sig,
    'InnerProduct': lambda L: (L.shape, _act(L)),
    'ReLU': lambda L: (round(L.p(0, 0.0), 6),),
    'PixelShuffle': lambda L: (L.p(0, 1),),
    'Interp': lambda L: (L.p(0, 0), round(L.p(1, 1.0), 6), round(L.p(2, 1.0), 6)),
    'BinaryOp': lambda L: (L.p(0, 0), L.p(1, 0), round(L.p(2, 0.0), 6) if L.p(1, 0) else None),
    'Eltwise': lambda L: (L.p(0, 1), tuple(sorted(_input_keys(L)))),
    'Crop': _crop_sig,
    'Pooling': lambda L: (L.p(0, 0), L.p(4, 0), L.p(1, 0), L.p(2, 1), L.p(3, 0)),
    'Scale': lambda L: (L.shape, L.p(1, 0)),
    'MemoryData': lambda L: (L.shape,),
}


def signature(L):
    """The layer's type and every key that changes what it computes, ncnn's defaults filled in (not ``Input``'s
    size hints, not whether a bias is stored: a missing bias is zeros)."""
    return (L.type,) + _SIGS.get(L.type, lambda L: ())(L)


def _commutes(L):
    return L.type == 'Eltwise' or (L.type == 'BinaryOp' and L.p(0, 0) in (OP_ADD, OP_MUL) and len(L.inputs) == 2)


def _input_keys(L):
    """Per input, what its counterpart must share: its position, or for sums and products (either order) its
    Eltwise coefficient."""
    n = len(L.inputs)
    if L.type == 'Eltwise' and L.p(0, 1) == ELT_SUM:
        return [round(float(c), 6) for c in L.p(1, [])] or [1.0] * n
    return [0.0] * n if _commutes(L) else list(range(n))


def _keyed_inputs(L, hashes):
    return sorted(zip(_input_keys(L), hashes))


class Pattern:
    """A graph written in ncnn's layers: ``add`` returns a node's index; weighted nodes carry our name."""

    def __init__(self, family):
        self.family, self.nodes, self.names = family, [], {}

    def add(self, layer_type, inputs=(), params=None, name=None, shape=()):
        """A node reading ``inputs`` (node indices); ``shape``: its weights' (cout, cin, kh, kw)."""
        node = Layer(layer_type, name or f'#{len(self.nodes)}', [], [len(self.nodes)], dict(params or {}))
        node.inputs, node.shape = list(inputs), tuple(shape)
        self.nodes.append(node)
        if name:
            self.names[len(self.nodes) - 1] = name
        return len(self.nodes) - 1

    def conv(self, x, cout, cin, k, stride=1, pad=0, act=None, name=None, deconv=False):
        """A Convolution (or Deconvolution) node; ``act``: ``'relu'``, a LeakyReLU slope, or None."""
        params = {0: cout, 1: k, 3: stride, 4: pad, 5: 1, 6: cout * cin * k * k}
        if act == 'relu':
            params[9] = 1
        elif act is not None:
            params.update({9: 2, 10: [act]})
        return self.add('Deconvolution' if deconv else 'Convolution', [x], params, name, (cout, cin, k, k))


def _digest(sig, keyed):
    return hashlib.blake2b(repr((sig, keyed)).encode(), digest_size=16).digest()


def _hashes(nodes):
    """Each node's hash over its signature and its inputs' (the nodes in an order where inputs come first)."""
    out = []
    for node in nodes:
        out.append(_digest(signature(node), _keyed_inputs(node, [out[j] for j in node.inputs])))
    return out


def _file_view(layers, out_blob):
    """``(nodes, output)``: the layers but Splits, as copies whose inputs are the indices of the layers they read
    (through Splits), in file order."""
    source, nodes = {}, []
    for L in layers:
        if L.type == 'Split':
            source.update((b, source[L.inputs[0]]) for b in L.outputs)
            continue
        node = Layer(L.type, L.name, [source[b] for b in L.inputs], L.outputs, L.params, shape=L.shape)
        node.blobs = L.blobs  # the same arrays, filled by read_bin
        source.update((b, len(nodes)) for b in L.outputs)
        nodes.append(node)
    return nodes, source[out_blob]


def _pair_inputs(P, F, pnodes, fnodes, ph, fh):
    """Pairs (pattern input, file input) of two nodes of one signature: by position, or for sums and products by
    coefficient: equal hashes first, then equal signatures (so a difference is named where it is), then in order."""
    free = list(zip(_input_keys(F), F.inputs))
    pairs, rest = [], list(zip(_input_keys(P), P.inputs))
    for same in (lambda p, f: fh[f] == ph[p], lambda p, f: signature(fnodes[f]) == signature(pnodes[p]),
                 lambda p, f: True):
        left = []
        for key, p in rest:
            twin = next((x for x in free if x[0] == key and same(p, x[1])), None)
            if twin is None:
                left.append((key, p))
            else:
                pairs.append((p, twin[1]))
                free.remove(twin)
        rest = left
    return pairs


_FIELDS = {  # the names of a signature's fields after the type, for messages
    'Convolution': ('weights', 'dilation', 'stride', 'padding', 'activation'),
    'InnerProduct': ('weights', 'activation'), 'ReLU': ('slope',), 'PixelShuffle': ('factor',),
    'Interp': ('resize type', 'height scale', 'width scale'), 'BinaryOp': ('operation', 'scalar', 'value'),
    'Eltwise': ('operation', 'coefficients'), 'Scale': ('scales', 'bias'), 'MemoryData': ('shape',),
    'Crop': ('inputs', 'w offset', 'h offset', 'c offset', 'starts', 'ends', 'axes'),
    'Pooling': ('type', 'global', 'kernel', 'stride', 'padding'),
}
_FIELDS['Deconvolution'] = _FIELDS['Convolution']


def _difference(F, P):
    """How the file's layer ``F`` differs from the pattern's ``P``: its type, its inputs, or its first key."""
    fs, ps = signature(F), signature(P)
    if fs[0] != ps[0]:
        return f'is a {fs[0]}', f'a {ps[0]}'
    if len(F.inputs) != len(P.inputs):
        return f'reads {len(F.inputs)} inputs', f'{len(P.inputs)}'
    names = _FIELDS.get(fs[0], ())
    i = next(i for i, (a, b) in enumerate(zip(fs[1:], ps[1:])) if a != b)
    field = names[i] if i < len(names) else f'key {i}'
    return f'has {field} {fs[i + 1]}', f'{ps[i + 1]}'


def _mismatch(where, family, F, P):
    ours = f"{family}'s {P.name}" if not P.name.startswith('#') else family
    theirs, wanted = _difference(F, P)
    return NcnnFormatError(f'{where}: {F.label()} {theirs} where {ours} has {wanted}: not the graph of {family}')


def match_pattern(layers, out_blob, pattern, where):
    """Check that the graph is ``pattern``'s (see the module docstring); ``{our name: the file's layer}`` (the
    layer as a copy reading layer indices, with the original's params and ``.bin`` arrays)."""
    fnodes, fout = _file_view(layers, out_blob)
    pnodes = pattern.nodes
    fh, ph = _hashes(fnodes), _hashes(pnodes)
    last = len(pnodes) - 1
    pair, back, todo = {last: fout}, {fout: last}, [last]
    while todo:
        p = todo.pop()
        P, F = pnodes[p], fnodes[pair[p]]
        if signature(P) != signature(F) or len(P.inputs) != len(F.inputs):
            raise _mismatch(where, pattern.family, F, P)
        for pi, fi in _pair_inputs(P, F, pnodes, fnodes, ph, fh):
            if pair.get(pi, fi) != fi or back.get(fi, pi) != pi:
                raise NcnnFormatError(f'{where}: {F.label()} reads {fnodes[fi].label()} where {pattern.family} reads '
                                      f'another layer: not the graph of {pattern.family}')
            if pi not in pair:
                pair[pi], back[fi] = fi, pi
                todo.append(pi)
    if len(pair) != len(pnodes) or len(back) != len(fnodes):
        raise NcnnFormatError(f'{where}: {len(fnodes)} layers (Splits aside) where {pattern.family} has '
                              f'{len(pnodes)}: not the graph of {pattern.family}')
    return {name: fnodes[pair[p]] for p, name in pattern.names.items()}


def of_type(layers, layer_type):
    """The layers of ``layer_type``, in file order."""
    return [L for L in layers if L.type == layer_type]


def check_image_channels(arch, where):
    """A network's input and output channels are an image's: 1 to ``MAX_IMAGE_CHANNELS``."""
    for key in ('num_in_ch', 'num_out_ch'):
        if not 1 <= arch[key] <= MAX_IMAGE_CHANNELS:
            raise NcnnFormatError(f'{where}: a {arch["type"]} with {arch[key]} {key[4:-3]}put channels; an image '
                                  f'network has 1 to {MAX_IMAGE_CHANNELS}')


def shuffle_factor(layers, where, family):
    """The one PixelShuffle's factor, checked to be a scale the pipeline takes."""
    shuffle = of_type(layers, 'PixelShuffle')
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


def conv_entries(conv):
    """``{weight, bias}`` of a convolution's arrays (a stored bias, or zeros)."""
    bias = conv.blobs.get('bias')
    return {'weight': conv.blobs['weight'],
            'bias': bias if bias is not None else np.zeros(conv.shape[0], np.float32)}
