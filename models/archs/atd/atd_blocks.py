"""ATD's transformer layer and its residual group (Zhang et al., "Transcending the Limit of Local Window: Advanced
Super-Resolution Transformer with Adaptive Token Dictionary", CVPR 2024).

Tokens are (B, n, C), n = H x W row-major. One layer: a layer norm, one ``wqkv`` projection shared by two
attentions, and three branches added to the input:

* shifted-window self-attention on the qkv (SwinIR's windows, bias table and mask; shift half a window on odd
  layers);
* token-dictionary cross-attention (``attn_atd``): queries (``wq``, ``reducted_dim`` wide) against the group's
  ``num_tokens`` dictionary entries (``wk``, ``wv``), cosine similarities times ``1 + clamp(scale, 0, 1) log m``,
  softmax; its similarity map also categorises each token (its argmax);
* category attention (``attn_aca``): tokens sorted by category (``category_order``), cut into groups of
  ``min(n, category_size)`` (the last group filled by the sorted sequence's last tokens, reversed), attention
  inside each group (q k^T times ``exp(min(logit_scale, log 100))``, no softmax scale), put back, ``proj``.

Then a ConvFFN (fc1, GELU, plus a depthwise conv and GELU of it on the map, fc2) added back. Every layer but a group's
last refines the dictionary: ``td = s td + (1 - s) softmax(InstanceNorm(sim^T)) x`` with ``s = sigmoid(sigma)``.
Names are the official ones (and spandrel's).
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...legacy_ops import argmax, exp, gelu, normalize, sigmoid
from ..swinir.window_attention import (attend, bias_table, merge_heads, position_bias, roll, to_image,
                                       trunc_linear, window_partition, window_reverse)
from .category_order import stable_order, torch_cpu_order

ORDERS = {'stable': stable_order, 'torch_cpu': torch_cpu_order}


def gather_tokens(x, order):
    """(B, n, C) tokens taken at (B, m) positions ``order`` of each image -> (B, m, C)."""
    shape = paddle.shape(x)
    base = (paddle.arange(shape[0], dtype='int64') * shape[1].astype('int64')).unsqueeze(1)
    flat = paddle.gather(x.reshape([-1, x.shape[-1]]), (order + base).reshape([-1]))
    return flat.reshape([shape[0], -1, x.shape[-1]])


class WindowQKVAttention(nn.Layer):
    """Window self-attention on precomputed qkv: the bias table and ``proj`` (official names)."""

    def __init__(self, dim, window, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.relative_position_bias_table = bias_table(self, (2 * window - 1) ** 2, heads)
        self.proj = trunc_linear(dim, dim)

    def forward(self, qkv, index, mask=None):
        n, c = qkv.shape[1], qkv.shape[2] // 3
        qkv = qkv.reshape([-1, n, 3, self.heads, c // self.heads]).transpose([2, 0, 3, 1, 4])
        bias = position_bias(self.relative_position_bias_table, index, n, n)
        return self.proj(merge_heads(attend(qkv[0], qkv[1], qkv[2], bias, self.scale, mask)))


class DictionaryAttention(nn.Layer):
    """ATD_CA: tokens against the token dictionary; the output and the similarity map (B, n, m)."""

    def __init__(self, dim, num_tokens, reducted_dim, qkv_bias):
        super().__init__()
        self.wq = trunc_linear(dim, reducted_dim, qkv_bias)
        self.wk = trunc_linear(dim, reducted_dim, qkv_bias)
        self.wv = trunc_linear(dim, dim, qkv_bias)
        self.scale = self.create_parameter([num_tokens], default_initializer=nn.initializer.Constant(0.5))
        self.log_m = math.log(num_tokens)

    def forward(self, x, td):
        k = normalize(self.wk(td)).transpose([0, 2, 1])
        attn = normalize(self.wq(x)) @ k * (1 + paddle.clip(self.scale, 0.0, 1.0) * self.log_m)
        sim = F.softmax(attn, axis=-1)
        return sim @ self.wv(td), sim


class CategoryAttention(nn.Layer):
    """AC_MSA: attention inside groups of tokens of like category (module docstring)."""

    def __init__(self, dim, heads, category_size, qkv_bias, order):
        super().__init__()
        self.heads, self.category_size, self.order = heads, category_size, ORDERS[order]
        self.proj = trunc_linear(dim, dim, qkv_bias)
        self.logit_scale = self.create_parameter([1, 1], default_initializer=nn.initializer.Constant(math.log(10.0)))

    def forward(self, qkv, sim):
        c3 = qkv.shape[-1]
        shape = paddle.shape(qkv)
        n = shape[1].astype('int64')
        size = self.category_size + (n - self.category_size) * (n < self.category_size).astype('int64')
        groups = (n + size - 1) // size
        order = self.order(argmax(sim, axis=-1))
        tail = n - 1 - paddle.arange(groups * size - n, dtype='int64')  # the last tokens, reversed
        order_full = paddle.concat([order, paddle.gather(order, tail, axis=1)], axis=1)
        d = c3 // 3 // self.heads
        y = gather_tokens(qkv, order_full).reshape([shape[0], groups, size, 3, self.heads, d])
        y = y.transpose([3, 0, 1, 4, 2, 5])  # 3, B, groups, heads, size, d
        q, k, v = y[0], y[1], y[2]
        scale = exp(paddle.clip(self.logit_scale, max=math.log(100.0)))
        attn = F.softmax(q @ k.transpose([0, 1, 2, 4, 3]) * scale, axis=-1)
        y = (attn @ v).transpose([0, 1, 3, 2, 4]).reshape([shape[0], -1, c3 // 3])
        back = paddle.argsort(order, axis=-1)  # the inverse permutation (no ties)
        return self.proj(gather_tokens(y, back))


class TokenInstanceNorm(nn.Layer):
    """InstanceNorm1d over (B, m, n): each of the m rows normalised over n (eps 1e-5), an affine per row."""

    def __init__(self, rows, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = self.create_parameter([rows], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([rows], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        x = x - x.mean(axis=-1, keepdim=True)
        x = x * ((x * x).mean(axis=-1, keepdim=True) + self.eps) ** -0.5
        return x * self.weight.unsqueeze(-1) + self.bias.unsqueeze(-1)


class DepthwiseGELU(nn.Layer):
    """ConvFFN's ``dwconv``: the hidden tokens as a map, a depthwise conv, GELU, back to tokens."""

    def __init__(self, hidden, kernel):
        super().__init__()
        self.depthwise_conv = nn.Sequential(nn.Conv2D(hidden, hidden, kernel, 1, (kernel - 1) // 2, groups=hidden))

    def forward(self, x, height, width):
        c = x.shape[-1]
        image = x.transpose([0, 2, 1]).reshape([paddle.shape(x)[0], c, height, width])
        return gelu(self.depthwise_conv(image)).flatten(2).transpose([0, 2, 1])


class ConvFFN(nn.Layer):
    def __init__(self, dim, hidden, kernel):
        super().__init__()
        self.fc1 = trunc_linear(dim, hidden)
        self.dwconv = DepthwiseGELU(hidden, kernel)
        self.fc2 = trunc_linear(hidden, dim)

    def forward(self, x, height, width):
        x = gelu(self.fc1(x))
        return self.fc2(x + self.dwconv(x, height, width))


class ATDLayer(nn.Layer):
    """One ATD transformer layer (module docstring); ``last``: no dictionary refinement (no norm3, sigma)."""

    def __init__(self, dim, heads, window, shift, category_size, num_tokens, reducted_dim, kernel, mlp_ratio,
                 qkv_bias, last, order):
        super().__init__()
        self.window, self.shift, self.last = window, shift, last
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        if not last:
            self.norm3 = TokenInstanceNorm(num_tokens)
            self.sigma = self.create_parameter([num_tokens, 1], default_initializer=nn.initializer.Constant(0.0))
        self.wqkv = trunc_linear(dim, 3 * dim, qkv_bias)
        self.attn_win = WindowQKVAttention(dim, window, heads)
        self.attn_atd = DictionaryAttention(dim, num_tokens, reducted_dim, qkv_bias)
        self.attn_aca = CategoryAttention(dim, heads, category_size, qkv_bias, order)
        self.convffn = ConvFFN(dim, int(dim * mlp_ratio), kernel)

    def _windows(self, qkv, height, width, index, mask):
        maps = qkv.reshape([paddle.shape(qkv)[0], height, width, qkv.shape[-1]])
        if self.shift:
            maps = roll(maps, -self.shift)
        out = self.attn_win(window_partition(maps, self.window), index, mask if self.shift else None)
        out = window_reverse(out, self.window, height, width)
        if self.shift:
            out = roll(out, self.shift)
        return out.reshape([paddle.shape(qkv)[0], -1, qkv.shape[-1] // 3])

    def forward(self, x, td, height, width, index, mask):
        normed = self.norm1(x)
        qkv = self.wqkv(normed)
        x_atd, sim = self.attn_atd(normed, td)
        x = x + self._windows(qkv, height, width, index, mask) + x_atd + self.attn_aca(qkv, sim)
        x = x + self.convffn(self.norm2(x), height, width)
        if not self.last:
            weights = F.softmax(self.norm3(sim.transpose([0, 2, 1])), axis=-1)
            s = sigmoid(self.sigma)
            td = s * td + (1 - s) * (weights @ x)
        return x, td


class ResidualGroup(nn.Layer):
    """BasicBlock: the layers (shift on odd ones, the last one not refining) with the group's dictionary ``td``."""

    def __init__(self, dim, depth, heads, window, category_size, num_tokens, reducted_dim, kernel, mlp_ratio,
                 qkv_bias, order):
        super().__init__()
        self.td = self.create_parameter([num_tokens, dim], default_initializer=nn.initializer.Normal())
        self.layers = nn.LayerList([
            ATDLayer(dim, heads, window, 0 if i % 2 == 0 else window // 2, category_size, num_tokens, reducted_dim,
                     kernel, mlp_ratio, qkv_bias, i == depth - 1, order) for i in range(depth)])

    def forward(self, x, height, width, index, mask):
        td = self.td.unsqueeze(0)
        for layer in self.layers:
            x, td = layer(x, td, height, width, index, mask)
        return x


def residual_conv(dim, kind):
    """The conv after a group or the body: '1conv' one 3x3; '3conv' 3x3 to dim/4, 1x1, 3x3 back (leaky 0.2)."""
    if kind == '1conv':
        return nn.Conv2D(dim, dim, 3, 1, 1)
    return nn.Sequential(nn.Conv2D(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2D(dim // 4, dim // 4, 1),
                         nn.LeakyReLU(0.2), nn.Conv2D(dim // 4, dim, 3, 1, 1))


class ATDB(nn.Layer):
    """A residual group and its conv on the map, the group's input added back."""

    def __init__(self, dim, depth, heads, window, category_size, num_tokens, reducted_dim, kernel, mlp_ratio,
                 qkv_bias, resi_connection, order):
        super().__init__()
        self.residual_group = ResidualGroup(dim, depth, heads, window, category_size, num_tokens, reducted_dim,
                                            kernel, mlp_ratio, qkv_bias, order)
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x, height, width, index, mask):
        y = self.residual_group(x, height, width, index, mask)
        y = to_image(y.reshape([paddle.shape(x)[0], height, width, x.shape[-1]]))
        return self.conv(y).flatten(2).transpose([0, 2, 1]) + x
