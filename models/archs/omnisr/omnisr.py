"""OmniSR (Omni Self-Attention, Wang et al., CVPR 2023) with the official parameter names, and its ``ArchSpec``.

The body is ``res_num`` OSAG groups; each holds ``block_num`` OSA blocks and a 1x1 conv, then an ESA gate.
An OSA block mixes an MBConv, window attention over w x w blocks, gated conv feed-forwards, a channel
attention inside each block, attention over a w x w grid of pixels spaced H/w apart, and a channel attention
across the grid. Attention needs H and W to be multiples of the window: the network zero-pads the input at
the bottom and right (as the official code does) and crops the output to exactly scale x input, so any size
works (``pad_multiple`` 1). Sizes are read at run time, so the same forward traces for the static export.
"""
import math
import re

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU, GELU_OPS, NORMALIZE_OPS, SIGMOID_OPS, Sigmoid, gelu, normalize, sigmoid
from ...runtime_shape import PAD_TO_MULTIPLE_OPS, crop_hw, hw, pad_to_multiple
from ...specs import ArchSpec, Bound, shape_of
from ...torch_layout import LayerNorm2d, Linear


class SqueezeExcite(nn.Layer):
    """Channel gate: mean over H, W, two bias-free linears (SiLU, sigmoid). Keys ``gate.1`` and ``gate.3``."""

    def __init__(self, dim, shrink=0.25):
        super().__init__()
        hidden = int(dim * shrink)
        self.gate = nn.Sequential(nn.Identity(), Linear(dim, hidden, bias=False), nn.Silu(),
                                  Linear(hidden, dim, bias=False), Sigmoid())

    def forward(self, x):
        return x * self.gate(x.mean([2, 3])).unsqueeze([2, 3])


class MBConv(nn.Layer):
    """1x1 conv, GELU, 3x3 depthwise conv, GELU, squeeze-excite, 1x1 conv, plus the input."""

    def __init__(self, dim):
        super().__init__()
        self.fn = nn.Sequential(nn.Conv2D(dim, dim, 1), GELU(), nn.Conv2D(dim, dim, 3, padding=1, groups=dim),
                                GELU(), SqueezeExcite(dim), nn.Conv2D(dim, dim, 1))

    def forward(self, x):
        return self.fn(x) + x


class GatedConvFF(nn.Layer):
    """1x1 conv to 2C, 3x3 depthwise conv, GELU(first half) x second half, 1x1 conv back (no biases)."""

    def __init__(self, dim):
        super().__init__()
        self.project_in = nn.Conv2D(dim, dim * 2, 1, bias_attr=False)
        self.dwconv = nn.Conv2D(dim * 2, dim * 2, 3, padding=1, groups=dim * 2, bias_attr=False)
        self.project_out = nn.Conv2D(dim, dim, 1, bias_attr=False)

    def forward(self, x):
        x1, x2 = paddle.chunk(self.dwconv(self.project_in(x)), 2, axis=1)
        return self.project_out(gelu(x1) * x2)


class PreNorm(nn.Layer):
    """``fn(norm(x)) + x``; ``norm`` is a LayerNorm over the last axis or a channel LayerNorm2d."""

    def __init__(self, dim, fn, channels_first):
        super().__init__()
        self.norm = LayerNorm2d(dim) if channels_first else nn.LayerNorm(dim)
        self.fn, self.windows = fn, not channels_first

    def forward(self, x):
        if self.windows:  # windows (B, X, Y, w, w, C): oneDNN's layer norm takes it as (B, N, C) only
            y = paddle.reshape(self.norm(paddle.reshape(x, [0, -1, x.shape[-1]])), paddle.shape(x))
        else:
            y = self.norm(x)
        return self.fn(y) + x


class Partition(nn.Layer):
    """NCHW -> (B, X, Y, w, w, C). ``grid=False``: w x w blocks; ``grid=True``: pixels H/w apart (a grid)."""

    def __init__(self, window, grid):
        super().__init__()
        self.window, self.grid = window, grid

    def forward(self, x):
        w, c = self.window, x.shape[1]
        h_, w_ = hw(x)
        if self.grid:  # (w1 x) (w2 y)
            x = paddle.reshape(x, [0, c, w, h_ // w, w, w_ // w]).transpose([0, 3, 5, 2, 4, 1])
        else:  # (x w1) (y w2)
            x = paddle.reshape(x, [0, c, h_ // w, w, w_ // w, w]).transpose([0, 2, 4, 3, 5, 1])
        return x


class Merge(Partition):
    """The inverse of ``Partition``: (B, X, Y, w, w, C) -> NCHW."""

    def forward(self, x):
        shape = paddle.shape(x)
        w, c = self.window, x.shape[-1]
        if self.grid:
            x = x.transpose([0, 5, 3, 1, 4, 2])
        else:
            x = x.transpose([0, 5, 1, 3, 2, 4])
        return paddle.reshape(x, [0, c, shape[1] * w, shape[2] * w])


def relative_index(window):
    """(w*w, w*w) index into the (2w-1)^2 relative-position table for every pair of window positions."""
    pos = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing='ij')).reshape(2, -1).T
    rel = pos[:, None, :] - pos[None, :, :] + window - 1
    return (rel[..., 0] * (2 * window - 1) + rel[..., 1]).astype('int64')


class WindowAttention(nn.Layer):
    """Multi-head self-attention inside each window of a (B, X, Y, w, w, C) tensor, optional relative bias."""

    def __init__(self, dim, window, with_pe, heads=4):
        super().__init__()
        self.heads, self.dim, self.window = heads, dim, window
        self.scale = (dim // heads) ** -0.5
        self.to_qkv = Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Sequential(Linear(dim, dim, bias=False))
        self.with_pe = with_pe
        if with_pe:
            self.rel_pos_bias = nn.Embedding((2 * window - 1) ** 2, heads)
            self.register_buffer('rel_pos_indices', paddle.to_tensor(relative_index(window).reshape(-1)),
                                 persistable=False)

    def forward(self, x):
        shape, n, c = paddle.shape(x), self.window * self.window, self.dim
        qkv = self.to_qkv(paddle.reshape(x, [-1, n, c]))
        qkv = paddle.reshape(qkv, [-1, n, 3, self.heads, c // self.heads]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        sim = q @ k.transpose([0, 1, 3, 2])
        if self.with_pe:
            bias = self.rel_pos_bias(self.rel_pos_indices).reshape([n, n, self.heads]).transpose([2, 0, 1])
            sim = sim + bias.unsqueeze(0)
        out = (F.softmax(sim, axis=-1) @ v).transpose([0, 2, 1, 3])
        return paddle.reshape(self.to_out(paddle.reshape(out, [-1, n, c])), shape)


class ChannelAttention(nn.Layer):
    """Transposed (channel x channel) attention per w x w block (``grid=False``) or across the grid
    (``grid=True``), with L2-normalised queries and keys and a learned temperature per head."""

    def __init__(self, dim, window, grid, heads=4):
        super().__init__()
        self.heads, self.window, self.grid = heads, window, grid
        self.temperature = self.create_parameter([heads, 1, 1], default_initializer=nn.initializer.Constant(1.0))
        self.qkv = nn.Conv2D(dim, dim * 3, 1, bias_attr=False)
        self.qkv_dwconv = nn.Conv2D(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias_attr=False)
        self.project_out = nn.Conv2D(dim, dim, 1, bias_attr=False)

    def forward(self, x):
        c, p, heads = x.shape[1], self.window, self.heads
        h_, w_ = hw(x)
        # at most 6-D (oneDNN): (B, c, X, p, Y, p) -> (B, groups..., c, tokens...), groups being the blocks
        # (X, Y) and tokens the positions inside them, or the other way round for the grid
        perm = [0, 3, 5, 1, 2, 4] if self.grid else [0, 2, 4, 1, 3, 5]
        parts = []
        for part in paddle.chunk(self.qkv_dwconv(self.qkv(x)), 3, axis=1):
            part = paddle.reshape(part, [0, c, h_ // p, p, w_ // p, p]).transpose(perm)
            t = paddle.shape(part)
            parts.append(paddle.reshape(part, [0, t[1] * t[2], heads, c // heads, t[4] * t[5]]))
        q, k, v = normalize(parts[0]), normalize(parts[1]), parts[2]
        attn = F.softmax((q @ k.transpose([0, 1, 2, 4, 3])) * self.temperature, axis=-1)
        out = paddle.reshape(attn @ v, [0, t[1], t[2], c, t[4], t[5]])
        inverse = [0, 3, 4, 1, 5, 2] if self.grid else [0, 3, 1, 4, 2, 5]
        return self.project_out(paddle.reshape(out.transpose(inverse), [0, c, h_, w_]))


class OSABlock(nn.Layer):
    """``layer`` indices as in the official code: 0 MBConv, 2/8 window/grid attention, 5/11 channel
    attentions, 4/6/10/12 gated feed-forwards, 1/3/7/9 the re-layouts."""

    def __init__(self, dim, window, with_pe):
        super().__init__()
        ff = lambda: PreNorm(dim, GatedConvFF(dim), True)  # noqa: E731
        self.layer = nn.Sequential(
            MBConv(dim), Partition(window, False), PreNorm(dim, WindowAttention(dim, window, with_pe), False),
            Merge(window, False), ff(), PreNorm(dim, ChannelAttention(dim, window, False), True), ff(),
            Partition(window, True), PreNorm(dim, WindowAttention(dim, window, with_pe), False),
            Merge(window, True), ff(), PreNorm(dim, ChannelAttention(dim, window, True), True), ff())

    def forward(self, x):
        return self.layer(x)


class ESA(nn.Layer):
    """Enhanced spatial attention: a strided conv, 7x7/3 max pool and conv at low resolution, upsampled
    bilinearly into a sigmoid gate."""

    def __init__(self, esa_channels, n_feats):
        super().__init__()
        f = esa_channels
        self.conv1 = nn.Conv2D(n_feats, f, 1)
        self.conv_f = nn.Conv2D(f, f, 1)
        self.conv2 = nn.Conv2D(f, f, 3, stride=2)
        self.conv3 = nn.Conv2D(f, f, 3, padding=1)
        self.conv4 = nn.Conv2D(f, n_feats, 1)

    def forward(self, x):
        c1_ = self.conv1(x)
        c3 = self.conv3(F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3))
        c3 = F.interpolate(c3, size=paddle.shape(x)[2:4], mode='bilinear', align_corners=False, align_mode=0)
        return x * sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class OSAG(nn.Layer):
    """``block_num`` OSA blocks and a 1x1 conv, a residual, then the ESA gate."""

    def __init__(self, dim, bias, block_num, window, with_pe):
        super().__init__()
        self.residual_layer = nn.Sequential(*[OSABlock(dim, window, with_pe) for _ in range(block_num)],
                                            nn.Conv2D(dim, dim, 1, bias_attr=None if bias else False))
        self.esa = ESA(max(dim // 4, 16), dim)

    def forward(self, x):
        return self.esa(self.residual_layer(x) + x)


class OmniSR(nn.Layer):
    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, block_num=1, pe=True, window_size=8, res_num=1,
                 up_scale=4, bias=True):
        super().__init__()
        if num_feat % 4:
            raise ValueError(f'OmniSR num_feat must be a multiple of 4 (4 attention heads), got {num_feat}')
        if up_scale < 1 or window_size < 1:
            raise ValueError(f'OmniSR needs up_scale and window_size >= 1, got {up_scale} and {window_size}')
        b = None if bias else False
        self.up_scale, self.window_size = up_scale, window_size
        self.input = nn.Conv2D(num_in_ch, num_feat, 3, padding=1, bias_attr=b)
        self.residual_layer = nn.Sequential(*[OSAG(num_feat, bias, block_num, window_size, pe)
                                              for _ in range(res_num)])
        self.output = nn.Conv2D(num_feat, num_feat, 3, padding=1, bias_attr=b)
        self.up = nn.Sequential(nn.Conv2D(num_feat, num_out_ch * up_scale ** 2, 3, padding=1, bias_attr=b),
                                nn.PixelShuffle(up_scale))

    def forward(self, x):
        h, w = hw(x)
        residual = self.input(pad_to_multiple(x, self.window_size))
        out = self.up(self.output(self.residual_layer(residual)) + residual)
        return crop_hw(out, h * self.up_scale, w * self.up_scale)


# ---------------------------------------------------------------- detection and sizing
def rename_omnisr(state):
    """Drops the profiler's ``total_ops`` / ``total_params`` entries some OmniSR releases carry."""
    if 'residual_layer.0.residual_layer.0.layer.0.fn.0.weight' not in state:
        return None
    junk = [k for k in state if k.endswith(('total_ops', 'total_params'))]
    return {k: v for k, v in state.items() if k not in junk} if junk else None


def _count(state, pattern):
    found = {int(m.group(1)) for k in state for m in [re.match(pattern, k)] if m}
    if found != set(range(len(found))):
        raise ValueError(f'OmniSR keys, but the indices matching {pattern!r} are not 0..N-1: {sorted(found)[:8]}')
    return len(found)


def detect_omnisr(state):
    if 'residual_layer.0.residual_layer.0.layer.0.fn.0.weight' not in state or 'input.weight' not in state:
        return None
    if 'up.0.weight' not in state:
        raise ValueError('OmniSR keys, but no up.0.weight (the pixel-shuffle conv)')
    num_feat, num_in_ch = shape_of(state['input.weight'])[:2]
    out_ch = shape_of(state['up.0.weight'])[0]
    scale = num_out_ch = None
    for ch in dict.fromkeys((num_in_ch, 3, 1)):
        r = math.isqrt(out_ch // ch) if out_ch % ch == 0 else 0
        if r >= 1 and r * r * ch == out_ch:
            scale, num_out_ch = r, ch
            break
    if scale is None:
        raise ValueError(f'OmniSR up.0 conv has {out_ch} outputs, not num_out_ch x scale^2')
    res_num = _count(state, r'^residual_layer\.(\d+)\.')
    block_num = _count(state, r'^residual_layer\.0\.residual_layer\.(\d+)\.') - 1
    pe_key = 'residual_layer.0.residual_layer.0.layer.2.fn.rel_pos_bias.weight'
    window, pe = 8, pe_key in state
    if pe:
        entries = shape_of(state[pe_key])[0]
        side = math.isqrt(entries)
        if side * side != entries or side % 2 == 0:
            raise ValueError(f'OmniSR rel_pos_bias has {entries} rows, not (2 x window - 1)^2')
        window = (side + 1) // 2
    return {'type': 'OmniSR', 'num_in_ch': num_in_ch, 'num_out_ch': num_out_ch, 'num_feat': num_feat,
            'block_num': block_num, 'pe': pe, 'window_size': window, 'res_num': res_num, 'up_scale': scale,
            'bias': 'input.bias' in state}


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a dozen feature maps, the 4-head window attention maps, the HR output."""
    f, w, s = int(arch.get('num_feat', 64)), int(arch.get('window_size', 8)), SPEC.scale(arch)
    return 4.0 * (14 * f + 2 * 4 * w * w + 2 * 3 * s * s)


def min_side(arch):
    """The smallest input side: ESA's 3x3 stride-2 conv and 7x7 pool need 15 px once the input is padded to the
    window (an 8x8 input, window 8, failed in Paddle and in spandrel alike; the upscaler pads smaller images)."""
    w = int(arch.get('window_size', 8))
    return (-(-15 // w) - 1) * w + 1


# The window size cannot be told without the relative-position table (pe=False): 8, the official one, is assumed.
def _consistent(arch):
    feat = arch['num_feat']
    return [('num_feat', f'must be a multiple of 4 (4 attention heads), got {feat}')] if feat % 4 else []


# released OmniSRs: 64 features, window 8, 5 groups of 1 block
# what its exports hold beyond the plumbing (models/export_ops.py): attention (matmul, softmax, the cosine
# attention's normalize, the position-bias embedding), layer norms, GELU, the squeeze-excite's pooling, SiLU and
# sigmoid, depthwise convs, the gate's split, the zero pad to the window and the windows at run-time sizes, the
# bilinear resize to a run-time size, and the pixel shuffle
EXPORT_OPS = (GELU_OPS | SIGMOID_OPS | NORMALIZE_OPS | PAD_TO_MULTIPLE_OPS | ops.PIXEL_SHUFFLE | ops.MEAN
              | ops.FLOOR_DIVIDE | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.DEPTHWISE_CONV | ops.POOL
              | ops.SPLIT | ops.DIVIDE | ops.POWER
              | ops.ExportOps('bilinear_interp_v2 lookup_table_v2 silu', ops.INTERP_ATTRS + ' padding_idx',
                              '1.bilinear_interp 1.embedding 1.silu',
                              'align_corners align_mode interp_method out_d out_h out_w scale padding_idx sparse'))
SPEC = ArchSpec('OmniSR', OmniSR, detect=detect_omnisr, rename=rename_omnisr, scale_key='up_scale',
                bytes_per_pixel=bytes_per_pixel, aliases={'block': 'block_num'},
                bounds={'num_feat': Bound(4, 512), 'window_size': Bound(1, 32), 'block_num': Bound(1, 64),
                        'res_num': Bound(1, 64)}, consistent=_consistent, min_side=min_side, export_ops=EXPORT_OPS)
