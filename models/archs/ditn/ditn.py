"""DITN (Liu et al. 2023, "Unfolding Once is Enough: A Deployment-Friendly Transformer Unit for Super-Resolution"),
the real-world form spandrel loads (``DITN_Real``), and its spec.

A 3x3 conv to ``dim`` features (``sft``); ``UFONE_blocks`` units in a row, each cutting the map into 8x8 patches
that ``ITL_blocks`` inner transformer layers run on one by one (the patches as a batch: their convs see zeros
beyond the patch), then putting the patches back for ``SAL_blocks`` spatial-attention layers on the whole map; a
3x3 conv, the first features added back, and one 3x3 conv to ``3 x upscale^2`` channels with a pixel shuffle.

* An ITL is ``x + ISA(conv1(tanh x))`` then ``x + FFN(conv2(tanh x))``; the ISA attends across channels within
  the patch: q, k, v from one linear map of the tokens, q and k L2-normalised over the patch's pixels,
  ``softmax(q k^T x temperature) v``, a 1x1 conv out.
* A SAL is the same with the SDA in place of the ISA: a 1x1 conv to twice the features, one half through a 5x5
  depthwise conv, a 7x7 depthwise conv dilated by 3 and a 1x1 conv, times the other half, a 1x1 conv, times a
  learnt per-channel scale.
* The FFN: a 1x1 conv to twice ``int(dim x ffn_expansion_factor)``, a 3x3 depthwise conv, GELU of one half
  times the other, a 1x1 conv back. ``bias`` sets the biases of the FFN's convs and of the ISA's output conv.

The input is reflect-padded on the right and bottom to a multiple of 8 and the output cropped back (spandrel's
rule; a caller that pads first, as ``Upscaler`` does by ``pad_multiple``, leaves nothing to pad). The patch size
is not in the weights: 8, as in every release. Names are the official ones (and spandrel's), so ``.pth`` files
load as they are; 3-channel input and output (the release's).
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU_OPS, NORMALIZE_OPS, SIGMOID_OPS, gelu, normalize, sigmoid
from ...specs import ArchSpec, Bound, count_keys, shape_of
from ...torch_layout import Linear
from ..swinir.window_attention import crop_to, pad_to_multiple

PATCH = 8  # the UFONE's patch side (not in the weights; every release's)
MARKERS = ('sft.weight', 'UFONE.0.ITLs.0.attn.temperature', 'conv_after_body.weight', 'upsample.0.weight')


def tanh(x):
    """tanh as ``2 sigmoid(2x) - 1`` (``paddle.tanh`` does not trace into the legacy graph)."""
    return 2 * sigmoid(2 * x) - 1


def hidden_width(dim, factor):
    return int(dim * factor + 1e-6)  # the FFN's hidden width (a factor read back from the weights may be 2.9999...)


class FeedForward(nn.Layer):
    def __init__(self, dim, factor, bias):
        super().__init__()
        h, b = hidden_width(dim, factor), None if bias else False
        self.project_in = nn.Conv2D(dim, 2 * h, 1, bias_attr=b)
        self.dwconv = nn.Conv2D(2 * h, 2 * h, 3, 1, 1, groups=2 * h, bias_attr=b)
        self.project_out = nn.Conv2D(h, dim, 1, bias_attr=b)

    def forward(self, x):
        gate, value = paddle.chunk(self.dwconv(self.project_in(x)), 2, axis=1)
        return self.project_out(gelu(gate) * value)


class ISA(nn.Layer):
    """Channel attention within a patch (module docstring)."""

    def __init__(self, dim, bias):
        super().__init__()
        self.temperature = self.create_parameter([1, 1, 1], default_initializer=nn.initializer.Constant(1.0))
        self.qkv = Linear(dim, 3 * dim)
        self.project_out = nn.Conv2D(dim, dim, 1, bias_attr=None if bias else False)

    def forward(self, x):
        c = x.shape[1]
        # the tokens' linear map as a 1x1 conv on the patch, (B, 3C, N) with no transpose (Paddle Inference's
        # reshape_transpose_matmul oneDNN fusion gets the token form wrong: 3.4 off the dynamic graph)
        qkv = F.conv2d(x, self.qkv.weight.reshape([3 * c, c, 1, 1]), self.qkv.bias).reshape([-1, 3 * c, PATCH * PATCH])
        q, k, v = paddle.chunk(qkv, 3, axis=1)
        attn = normalize(q) @ normalize(k).transpose([0, 2, 1]) * self.temperature
        out = F.softmax(attn, axis=-1) @ v
        return self.project_out(out.reshape([-1, c, PATCH, PATCH]))  # a patch


class SDA(nn.Layer):
    """Large-kernel spatial attention (module docstring); ``scale`` starts at zero, as in the release."""

    def __init__(self, n):
        super().__init__()
        self.scale = self.create_parameter([1, n, 1, 1], default_initializer=nn.initializer.Constant(0.0))
        self.DConvs = nn.Sequential(nn.Conv2D(n, n, 5, 1, 2, groups=n), nn.Conv2D(n, n, 7, 1, 9, groups=n, dilation=3),
                                    nn.Conv2D(n, n, 1))
        self.proj_first = nn.Sequential(nn.Conv2D(n, 2 * n, 1))
        self.proj_last = nn.Sequential(nn.Conv2D(n, n, 1))

    def forward(self, x):
        a, x = paddle.chunk(self.proj_first(x), 2, axis=1)
        return self.proj_last(x * self.DConvs(a)) * self.scale


class Layer(nn.Layer):
    """An ITL (``attn``: ISA) or a SAL (``SDA``): the mixer, then the FFN, each on ``tanh`` of the input through a
    1x1 conv, each added back."""

    def __init__(self, dim, factor, bias, spatial):
        super().__init__()
        if spatial:
            self.SDA = SDA(dim)
        else:
            self.attn = ISA(dim, bias)
        self.conv1 = nn.Conv2D(dim, dim, 1)
        self.conv2 = nn.Conv2D(dim, dim, 1)
        self.ffn = FeedForward(dim, factor, bias)

    def forward(self, x):
        mixer = self.SDA if hasattr(self, 'SDA') else self.attn
        x = x + mixer(self.conv1(tanh(x)))
        return x + self.ffn(self.conv2(tanh(x)))


def to_patches(x):
    """(B, C, H, W), H and W multiples of ``PATCH`` -> (B x patches, C, PATCH, PATCH), patches row-major."""
    shape, c = paddle.shape(x), x.shape[1]
    x = x.reshape([-1, c, shape[2] // PATCH, PATCH, shape[3] // PATCH, PATCH])
    return x.transpose([0, 2, 4, 1, 3, 5]).reshape([-1, c, PATCH, PATCH])


def from_patches(p, like):
    """The inverse of ``to_patches``, back to the shape of ``like``."""
    shape, c = paddle.shape(like), like.shape[1]
    p = p.reshape([-1, shape[2] // PATCH, shape[3] // PATCH, c, PATCH, PATCH])
    return p.transpose([0, 3, 1, 4, 2, 5]).reshape([-1, c, shape[2], shape[3]])


class UFONE(nn.Layer):
    def __init__(self, dim, factor, bias, itl_blocks, sal_blocks):
        super().__init__()
        self.ITLs = nn.Sequential(*[Layer(dim, factor, bias, False) for _ in range(itl_blocks)])
        self.SALs = nn.Sequential(*[Layer(dim, factor, bias, True) for _ in range(sal_blocks)])

    def forward(self, x):
        return self.SALs(from_patches(self.ITLs(to_patches(x)), x))


class DITN(nn.Layer):
    def __init__(self, dim=60, ITL_blocks=4, SAL_blocks=4, UFONE_blocks=1, ffn_expansion_factor=2.0, bias=False,
                 upscale=4):
        super().__init__()
        self.upscale = upscale
        self.sft = nn.Conv2D(3, dim, 3, 1, 1)
        self.UFONE = nn.Sequential(*[UFONE(dim, ffn_expansion_factor, bias, ITL_blocks, SAL_blocks)
                                     for _ in range(UFONE_blocks)])
        self.conv_after_body = nn.Conv2D(dim, dim, 3, 1, 1)
        self.upsample = nn.Sequential(nn.Conv2D(dim, 3 * upscale * upscale, 3, 1, 1), nn.PixelShuffle(upscale))

    def forward(self, x):
        feat = self.sft(pad_to_multiple(x, PATCH))
        return crop_to(self.upsample(self.conv_after_body(self.UFONE(feat)) + feat), x, self.upscale)


# ---------------------------------------------------------------- detection
def _whole(state, name, n):
    """Raise when ``name.<i>.`` keys go beyond the ``n`` whole units counted from 0."""
    found = {int(k[len(name) + 1:].split('.', 1)[0]) for k in state
             if k.startswith(name + '.') and k[len(name) + 1:].split('.', 1)[0].isdigit()}
    stray = sorted(found - set(range(n)))
    if stray:
        raise ValueError(f'DITN-like keys, but {name}.{stray[0]} is not a whole unit ({n} whole before it)')


def _upscale(state, dim):
    out, cin = shape_of(state['upsample.0.weight'])[:2]
    s = round((out / 3) ** 0.5)
    if cin != dim or 3 * s * s != out:
        raise ValueError(f'DITN upsample.0 maps {cin} to {out} channels, not {dim} to 3 x scale^2')
    return s


def detect_ditn(state):
    if not all(k in state for k in MARKERS):
        return None
    dim, cin = shape_of(state['sft.weight'])[:2]
    if cin != 3:
        raise ValueError(f'DITN with {cin} input channels; RGB (3) files are supported')
    units = count_keys(state, 'UFONE.{}.ITLs.0.attn.temperature')
    itl = count_keys(state, 'UFONE.0.ITLs.{}.attn.temperature')
    sal = count_keys(state, 'UFONE.0.SALs.{}.SDA.scale')
    _whole(state, 'UFONE', units)
    for u in range(units):
        _whole(state, f'UFONE.{u}.ITLs', itl)
        _whole(state, f'UFONE.{u}.SALs', sal)
    project_in = 'UFONE.0.ITLs.0.ffn.project_in.weight'
    if project_in not in state:
        raise ValueError(f'DITN-like keys, but no {project_in}')
    return {'type': 'DITN', 'dim': dim, 'ITL_blocks': itl, 'SAL_blocks': sal, 'UFONE_blocks': units,
            'ffn_expansion_factor': shape_of(state[project_in])[0] / 2 / dim,
            'bias': 'UFONE.0.ITLs.0.attn.project_out.bias' in state, 'upscale': _upscale(state, dim)}


def consistent(arch):
    if hidden_width(arch['dim'], arch['ffn_expansion_factor']) < 1:
        return [('ffn_expansion_factor', f'{arch["ffn_expansion_factor"]} x dim {arch["dim"]} leaves the FFN no '
                                         'width')]
    return []


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few ``dim`` maps (the features, a layer's input and its mixer's), the FFN's
    two hidden maps of twice the width, the SDA's doubled map, the upsampling conv's output and the output."""
    d, s = int(arch.get('dim', 60)), int(arch.get('upscale', 4))
    h = hidden_width(d, float(arch.get('ffn_expansion_factor', 2.0)))
    return 4.0 * (6 * d + 5 * h + 6 * s * s)


# released DITNs: dim 60, 4 ITLs and 4 SALs in one unit, FFN factor 2, no bias; x2, x3, x4
BOUNDS = {'dim': Bound(1, 512), 'ITL_blocks': Bound(0, 64), 'SAL_blocks': Bound(0, 64), 'UFONE_blocks': Bound(1, 64),
          'ffn_expansion_factor': Bound(0, 16, real=True)}
# beyond the plumbing: GELU, tanh (as a sigmoid), the ISA's norms (a division), matmuls and softmax, the depthwise
# convs, the chunks, the pixel shuffle and the reflect pad to 8 (run-time amounts)
EXPORT_OPS = (GELU_OPS | SIGMOID_OPS | NORMALIZE_OPS | ops.DIVIDE | ops.MATMUL | ops.SOFTMAX | ops.DEPTHWISE_CONV
              | ops.SPLIT | ops.PIXEL_SHUFFLE | ops.PAD | ops.CAST | ops.MODULO | ops.FLOOR_DIVIDE)
SPEC = ArchSpec('DITN', DITN, detect=detect_ditn, scale_key='upscale', pad_multiple=lambda arch: PATCH,
                bytes_per_pixel=bytes_per_pixel, bounds=BOUNDS, consistent=consistent, export_ops=EXPORT_OPS)
