"""A test-only PyTorch interpreter for ncnn graphs: the reference for networks spandrel lacks (waifu2x).

``run_graph(layers, x)`` runs a parsed ``.param`` (``models.ncnn.ncnn_import.parse_param`` + ``read_bin``) on a
torch NCHW tensor, layer by layer as ncnn defines each op (valid convolutions, transposed convolutions in
ncnn's ``[out, in, kh, kw]`` kernel order, global average pooling, inner products, per-channel Scale from a
second blob, Crop to a reference blob or by start/end/axes arrays, Eltwise sum, BinaryOp, PixelShuffle). The
input is what the ncnn wrapper feeds the graph: already padded. It knows nothing of our Paddle networks.
Imported inside a test that has the ``torch`` fixture (tests/skips.py).
"""
from tests.skips import need_torch

torch = need_torch()
F = torch.nn.functional

BINARY = {0: torch.add, 1: torch.sub, 2: torch.mul, 3: torch.div}


def _act(L, x):
    kind = L.p(9, 0)
    if kind == 1:
        return F.relu(x)
    if kind == 2:
        return F.leaky_relu(x, float((L.p(10) or [0.0])[0]))
    if kind == 4:
        return torch.sigmoid(x)
    if kind:
        raise NotImplementedError(f'{L.name}: activation {kind}')
    return x


def _blob(L, key):
    v = L.blobs.get(key)
    return None if v is None else torch.from_numpy(v.copy())


def _conv(L, ins):
    y = F.conv2d(ins[0], _blob(L, 'weight'), _blob(L, 'bias'), stride=L.p(3, 1), padding=L.p(4, 0))
    return [_act(L, y)]


def _deconv(L, ins):
    w = _blob(L, 'weight').transpose(0, 1)  # ncnn [out, in, kh, kw] -> torch [in, out, kh, kw]
    y = F.conv_transpose2d(ins[0], w, _blob(L, 'bias'), stride=L.p(3, 1), padding=L.p(4, 0))
    return [_act(L, y)]


def _inner_product(L, ins):
    w = _blob(L, 'weight')
    y = F.linear(ins[0].flatten(1), w.reshape(w.shape[0], -1), _blob(L, 'bias'))
    return [_act(L, y)[:, :, None, None]]


def _crop(L, ins):
    x = ins[0]
    if len(ins) == 2:  # to the reference blob's size, from (hoffset, woffset)
        h, w = ins[1].shape[2:]
        return [x[:, :, L.p(1, 0):L.p(1, 0) + h, L.p(0, 0):L.p(0, 0) + w]]
    index = [slice(None)] * 4
    for start, end, axis in zip(L.p(9), L.p(10), L.p(11)):
        index[axis if axis < 0 else axis + 1] = slice(start, end)
    return [x[tuple(index)]]


def _scale(L, ins):
    if L.p(0) != -233:
        raise NotImplementedError(f'{L.name}: only Scale by a second blob')
    return [ins[0] * ins[1].reshape(ins[1].shape[0], -1, 1, 1)]


def _pooling(L, ins):
    if L.p(0, 0) != 1 or not L.p(4, 0):
        raise NotImplementedError(f'{L.name}: only global average pooling')
    return [ins[0].mean((2, 3), keepdim=True)]


def _eltwise(L, ins):
    if L.p(0, 1) != 1:
        raise NotImplementedError(f'{L.name}: only Eltwise sum')
    return [sum(ins[1:], ins[0])]


LAYERS = {
    'Input': lambda L, ins: [None],
    'Split': lambda L, ins: [ins[0]] * len(L.outputs),
    'Convolution': _conv, 'Deconvolution': _deconv, 'InnerProduct': _inner_product, 'Crop': _crop,
    'Scale': _scale, 'Pooling': _pooling, 'Eltwise': _eltwise,
    'BinaryOp': lambda L, ins: [BINARY[L.p(0, 0)](ins[0], ins[1])],
    'PixelShuffle': lambda L, ins: [F.pixel_shuffle(ins[0], L.p(0))],
}


def run_graph(layers, x):
    """The last layer's output for input ``x`` (torch NCHW float32)."""
    blobs = {}
    with torch.no_grad():
        for L in layers:
            outs = LAYERS[L.type](L, [blobs[b] for b in L.inputs])
            if L.type == 'Input':
                outs = [x]
            blobs.update(zip(L.outputs, outs))
    return blobs[layers[-1].outputs[0]]
