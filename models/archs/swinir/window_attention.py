"""Window self-attention, the pieces SwinIR and HAT share (Liu et al., Swin Transformer, 2021).

Features live as (B, H, W, C) between the transformer blocks: LayerNorm and the linear layers act on the last
axis, and windows are cut by reshape/transpose. Every size that depends on the input (padding, window counts,
the shifted-window mask) is read with ``paddle.shape`` at run time, so the static export takes any H and W.

* ``trunc_linear``: ``torch_layout.Linear`` (weight stored (out, in), as PyTorch stores it, so that state dicts map
  one to one) with the transformers' initialisation.
* ``pad_to_multiple``: reflect padding on the right and bottom to a multiple of the window, done inside the
  networks so that any input size works; they crop the output back to exactly scale x input.
* ``window_partition`` / ``window_reverse``; ``relative_position_index`` (self-attention and HAT's
  overlapping cross-attention); ``shifted_window_mask``: -100 between tokens of one window that come from
  different regions of the cyclically shifted map, 0 elsewhere.
* ``attend``: softmax(q k^T * scale + bias [+ mask]) v over heads, ``WindowAttention`` (qkv, bias table, proj).
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU_OPS, gelu
from ...torch_layout import Linear

# what the pieces here write into the exported graphs (``ArchSpec.export_ops`` of SwinIR and HAT): layer norms,
# matmuls and softmax, the MLP's GELU, the reflect pad and windows at run-time sizes (cast, //, %), the bias
# table's gather, and the shifted-window mask (aranges compared with region bounds)
WINDOW_ATTENTION_OPS = (GELU_OPS | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.PAD | ops.CAST | ops.FLOOR_DIVIDE
                        | ops.MODULO | ops.ExportOps('gather range greater_equal not_equal', '',
                                                     '1.gather 1.arange 1.greater_equal 1.not_equal'))
MASK_VALUE = -100.0  # the shifted-window mask's value between regions (as the Swin papers' code uses)
_TRUNC = nn.initializer.TruncatedNormal(std=0.02)


def trunc_linear(in_features, out_features, bias=True):
    """``y = x W^T + b``, ``weight`` (out, in) as PyTorch's, initialised as transformers are (truncated normal,
    std 0.02; zero bias)."""
    return Linear(in_features, out_features, bias, init=_TRUNC)


def roll(x, shift, axes=(1, 2)):
    """``paddle.roll(x, shift)`` along each of ``axes`` (0 < |shift| < size) as two slices and a concat: the
    elements from index -shift on come first (a negative index counts from the end, so any run-time size)."""
    for axis in axes:
        tail = paddle.slice(x, [axis], [-shift], [2 ** 31 - 1])
        head = paddle.slice(x, [axis], [0], [-shift])
        x = paddle.concat([tail, head], axis=axis)
    return x


class Mlp(nn.Layer):
    """fc1, GELU (exact), fc2."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = trunc_linear(dim, hidden)
        self.fc2 = trunc_linear(hidden, dim)

    def forward(self, x):
        return self.fc2(gelu(self.fc1(x)))


def bias_table(layer, size, heads):
    """A relative-position bias table parameter (``size`` rows, one column per head) on ``layer``."""
    return layer.create_parameter([size, heads], default_initializer=_TRUNC)


def pad_to_multiple(x, multiple):
    """``x`` (N, C, H, W) reflect-padded on the right and bottom to multiples of ``multiple`` (sizes read at run
    time; needs H, W > the padding, as reflection does)."""
    if multiple <= 1:
        return x
    shape = paddle.shape(x)
    pad_h = (multiple - shape[2] % multiple) % multiple
    pad_w = (multiple - shape[3] % multiple) % multiple
    zero = paddle.zeros([1], dtype='int32')
    pads = paddle.concat([zero, pad_w.reshape([1]).astype('int32'), zero, pad_h.reshape([1]).astype('int32')])
    return F.pad(x, pads, mode='reflect')


def crop_to(y, x, scale):
    """``y`` cropped to ``scale`` times the H and W of ``x`` (undoes ``pad_to_multiple`` after upscaling)."""
    shape = paddle.shape(x)
    return y[:, :, :shape[2] * scale, :shape[3] * scale]


def to_tokens(x):
    """(N, C, H, W) -> (N, H, W, C)."""
    return x.transpose([0, 2, 3, 1])


def to_image(x):
    """(N, H, W, C) -> (N, C, H, W)."""
    return x.transpose([0, 3, 1, 2])


def window_partition(x, window):
    """(B, H, W, C) with H, W multiples of ``window`` -> (B * windows, window * window, C), windows row-major."""
    shape, c = paddle.shape(x), x.shape[-1]
    x = x.reshape([-1, shape[1] // window, window, shape[2] // window, window, c])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, window * window, c])


def window_reverse(windows, window, height, width):
    """The inverse of ``window_partition``: (B * windows, window * window, C) -> (B, height, width, C)."""
    c = windows.shape[-1]
    x = windows.reshape([-1, height // window, width // window, window, window, c])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, height, width, c])


def _grid(n):
    """(n * n, 2) row/column coordinates of an n x n window, row-major."""
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')
    return np.stack([rows.ravel(), cols.ravel()], axis=1)


def relative_position_index(window, extended=None):
    """Index into a bias table for each (query, key) pair of a window.

    Self-attention (``extended`` None): the offset query - key, shifted to start at 0, rows x (2w - 1) + columns.
    HAT's overlapping cross-attention (keys from an ``extended`` window around the query window): key - query
    shifted by w - e + 1, on a (w + e - 1)-wide table. That shift leaves some indices negative; PyTorch's
    indexing wraps them around the table, so they are taken modulo its size here (the trained tables expect it).
    """
    query = _grid(window)
    if extended is None:
        rel, side = query[:, None] - query[None, :] + (window - 1), 2 * window - 1
    else:
        rel, side = _grid(extended)[None, :] - query[:, None] + (window - extended + 1), window + extended - 1
    return np.mod(rel[..., 0] * side + rel[..., 1], side * side).astype('int64')


def index_buffer(layer, name, index):
    """Register ``index`` (a fixed relative-position index) on ``layer``: not a weight, never saved."""
    layer.register_buffer(name, paddle.to_tensor(index.reshape(-1)), persistable=False)


def position_bias(table, index, queries, keys):
    """(heads, queries, keys) bias gathered from ``table`` (rows, heads) at the flat ``index``."""
    bias = paddle.gather(table, index).reshape([queries, keys, -1])
    return bias.transpose([2, 0, 1])


def shifted_window_mask(height, width, window, shift):
    """(windows, N, N) mask of the shifted windows of a ``height`` x ``width`` map (run-time sizes).

    After the cyclic shift by ``shift``, the map falls into 3 x 3 regions (rows before height - window, up to
    height - shift, the rest; columns alike); tokens of one window from different regions must not attend.
    """
    rows = paddle.arange(height, dtype=height.dtype)
    cols = paddle.arange(width, dtype=width.dtype)
    region_r = (rows >= height - window).astype('float32') + (rows >= height - shift).astype('float32')
    region_c = (cols >= width - window).astype('float32') + (cols >= width - shift).astype('float32')
    label = (region_r.unsqueeze(1) * 3 + region_c.unsqueeze(0)).unsqueeze(0).unsqueeze(-1)
    windows = window_partition(label, window).squeeze(-1)  # (windows, N)
    differ = windows.unsqueeze(1) != windows.unsqueeze(2)
    return differ.astype('float32') * MASK_VALUE


def window_features(net, x, *indexes):
    """The body of a shifted-window network (SwinIR, HAT) on the feature map ``x``: tokens, ``patch_embed.norm``,
    each of ``net.layers`` with the network's position ``indexes`` and the shift mask of this size, ``net.norm``,
    back to a map."""
    shape = paddle.shape(x)
    mask = shifted_window_mask(shape[2], shape[3], net.window, net.window // 2)
    tokens = net.patch_embed.norm(to_tokens(x))
    for layer in net.layers:
        tokens = layer(tokens, *indexes, mask)
    return to_image(net.norm(tokens))


def attend(q, k, v, bias, scale, mask=None):
    """softmax(q k^T * scale + bias [+ mask]) v for (B_, heads, n, d) q and (B_, heads, m, d) k, v; ``mask``
    (windows, n, m) is added per window, the windows of one image being consecutive in B_."""
    attn = (q * scale) @ k.transpose([0, 1, 3, 2]) + bias.unsqueeze(0)
    if mask is not None:
        heads, n, m = attn.shape[1], attn.shape[2], attn.shape[3]
        count = paddle.shape(mask)[0]
        attn = attn.reshape([-1, count, heads, n, m]) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.reshape([-1, heads, n, m])
    return F.softmax(attn, axis=-1) @ v


def split_heads(x, heads):
    """(B_, n, C) -> (B_, heads, n, C / heads)."""
    n, c = x.shape[1], x.shape[2]
    return x.reshape([-1, n, heads, c // heads]).transpose([0, 2, 1, 3])


def merge_heads(x):
    """(B_, heads, n, d) -> (B_, n, heads * d)."""
    heads, n, d = x.shape[1], x.shape[2], x.shape[3]
    return x.transpose([0, 2, 1, 3]).reshape([-1, n, heads * d])


class WindowAttention(nn.Layer):
    """Multi-head self-attention inside each window with a learnt relative-position bias (one table per
    layer; the index is shared and passed in)."""

    def __init__(self, dim, window, heads, qkv_bias=True):
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = bias_table(self, (2 * window - 1) ** 2, heads)
        self.qkv = trunc_linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = trunc_linear(dim, dim)

    def forward(self, x, index, mask=None):
        """``x`` (B_, N, C) tokens of windows -> (B_, N, C)."""
        n, c = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape([-1, n, 3, self.heads, c // self.heads]).transpose([2, 0, 3, 1, 4])
        bias = position_bias(self.relative_position_bias_table, index, n, n)
        return self.proj(merge_heads(attend(qkv[0], qkv[1], qkv[2], bias, self.scale, mask)))


def shifted_attention(x, attn, window, shift, index, mask):
    """``attn`` over the (cyclically shifted by ``shift``) windows of ``x`` (B, H, W, C); same shape back."""
    shape = paddle.shape(x)
    if shift:
        x = roll(x, -shift)
    out = window_reverse(attn(window_partition(x, window), index, mask if shift else None), window,
                         shape[1], shape[2])
    return roll(out, shift) if shift else out


class PixelShuffleUpsample(nn.Sequential):
    """Conv (4x features) + pixel shuffle by 2, once per factor of 2; or conv (9x) + shuffle by 3."""

    def __init__(self, scale, feat):
        if scale == 3:
            layers = [nn.Conv2D(feat, 9 * feat, 3, 1, 1), nn.PixelShuffle(3)]
        elif scale >= 1 and scale & (scale - 1) == 0:
            layers = []
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2D(feat, 4 * feat, 3, 1, 1), nn.PixelShuffle(2)]
        else:
            raise ValueError(f'pixel-shuffle upsampling supports scales 2^n and 3, got {scale}')
        super().__init__(*layers)


RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's mean, subtracted by SwinIR and HAT on 3-channel input


def image_mean(channels):
    """(1, C, 1, 1) mean the networks subtract: DIV2K's for RGB, zero otherwise."""
    values = RGB_MEAN if channels == 3 else (0.0,) * channels
    return paddle.to_tensor(np.asarray(values, np.float32).reshape(1, channels, 1, 1))
