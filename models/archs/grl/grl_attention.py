"""GRL's attention: cosine attention with a learnt per-head temperature and a continuous position bias, in
windows (``WindowAttention``) and in anchored stripes (``AnchorStripeAttention``); the q/k/v and anchor
projections. Tokens are (B, H, W, C).

Cosine attention (Swin V2): ``softmax(cos(q, k) * exp(min(logit_scale, log 100)) + 16 sigmoid(bias) [+ mask]) v``,
the bias read from a small MLP (2 -> 512, ReLU, -> heads) of the log-spaced offsets (``grl_geometry.coords_table``).
Anchored stripe attention: the anchors (the map ``df`` times smaller, C/2 wide) attend to a stripe's keys and
values, then the stripe's queries attend to the anchors, whose values are that first result.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...legacy_ops import exp, normalize, sigmoid
from ...torch_layout import Linear
from ..swinir.window_attention import (attend, merge_heads, position_bias, roll, split_heads, to_image, to_tokens,
                                       window_partition, window_reverse)
from .grl_geometry import partition, reverse

LOGIT_MAX = math.log(100.0)
CPB_HIDDEN = 512


class AffineTransform(nn.Layer):
    """The per-head temperature and the continuous position bias of one attention."""

    def __init__(self, heads):
        super().__init__()
        self.heads = heads
        self.logit_scale = self.create_parameter(
            [heads, 1, 1], default_initializer=nn.initializer.Constant(math.log(10.0)))
        self.cpb_mlp = nn.Sequential(Linear(2, CPB_HIDDEN), nn.ReLU(), Linear(CPB_HIDDEN, heads, bias=False))

    def temperature(self):
        return exp(paddle.clip(self.logit_scale, max=LOGIT_MAX))

    def bias(self, table, index, n1, n2):
        """(heads, n1, n2) bias: 16 sigmoid of the MLP on ``table`` gathered at ``index``."""
        rows = self.cpb_mlp(table).reshape([-1, self.heads])
        return 16 * sigmoid(position_bias(rows, index.reshape([-1]), n1, n2))


def cosine_attend(q, k, v, transform, table, index, mask=None):
    """softmax(cos(q, k) temperature + bias [+ mask]) v; q (B_, h, n1, d), k, v (B_, h, n2, d)."""
    bias = transform.bias(table, index, q.shape[2], k.shape[2])
    return attend(normalize(q), normalize(k), v, bias, transform.temperature(), mask)


def split_qkv(x, heads):
    """(B_, n, 3C) -> q, k, v each (B_, heads, n, C / heads)."""
    n, c = x.shape[1], x.shape[2] // 3
    qkv = x.reshape([-1, n, 3, heads, c // heads]).transpose([2, 0, 3, 1, 4])
    return qkv[0], qkv[1], qkv[2]


class WindowAttention(nn.Layer):
    """Cosine attention in square windows, shifted by half a window when ``shift`` (with the Swin mask)."""

    def __init__(self, heads, window, shift):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, window // 2 if shift else 0
        self.attn_transform = AffineTransform(heads)

    def forward(self, qkv, table, index, mask):
        """``mask``: the Swin mask of this map's shifted windows (used when this attention shifts)."""
        shape = paddle.shape(qkv)
        if self.shift:
            qkv = roll(qkv, -self.shift)
        mask = mask if self.shift else None
        q, k, v = split_qkv(window_partition(qkv, self.window), self.heads)
        out = merge_heads(cosine_attend(q, k, v, self.attn_transform, table, index, mask))
        out = window_reverse(out, self.window, shape[1], shape[2])
        return roll(out, self.shift) if self.shift else out


def _roll2(x, shifts):
    """``x`` (B, H, W, C) rolled by ``shifts`` (rows, columns), each nonzero."""
    return roll(roll(x, shifts[0], axes=(1,)), shifts[1], axes=(2,))


class AnchorStripeAttention(nn.Layer):
    """Anchored attention in ``stripe`` (rows, columns) stripes, shifted by half a stripe when ``shift``."""

    def __init__(self, heads, stripe, shift, df):
        super().__init__()
        self.heads, self.stripe, self.shift, self.df = heads, tuple(stripe), shift, df
        self.attn_transform1 = AffineTransform(heads)
        self.attn_transform2 = AffineTransform(heads)

    def forward(self, qkv, anchor, table, index_a2w, index_w2a, masks):
        """``qkv`` (B, H, W, 3C), ``anchor`` (B, H/df, W/df, C); ``masks`` (w2a, a2w) of the shifted stripes."""
        shape = paddle.shape(qkv)
        shift = [s // 2 for s in self.stripe]
        anchor_stripe = [s // self.df for s in self.stripe]
        if self.shift:
            qkv = _roll2(qkv, [-s for s in shift])
            anchor = _roll2(anchor, [-(s // self.df) for s in shift])
        w2a, a2w = masks if self.shift else (None, None)
        q, k, v = split_qkv(partition(qkv, *self.stripe), self.heads)
        anchor = split_heads(partition(anchor, *anchor_stripe), self.heads)
        x = cosine_attend(anchor, k, v, self.attn_transform1, table, index_a2w, a2w)
        x = merge_heads(cosine_attend(q, anchor, x, self.attn_transform2, table, index_w2a, w2a))
        x = reverse(x, *self.stripe, shape[1], shape[2])
        return _roll2(x, shift) if self.shift else x


def separable_conv(cin, cout, kernel, stride, bias):
    """A depthwise conv (``kernel``, ``stride``, padding kernel // 2) and a 1x1 conv."""
    bias_attr = None if bias else False
    return nn.Sequential(nn.Conv2D(cin, cin, kernel, stride, kernel // 2, groups=cin, bias_attr=bias_attr),
                         nn.Conv2D(cin, cout, 1, bias_attr=bias_attr))


class QKVProjection(nn.Layer):
    def __init__(self, dim, bias, kind):
        super().__init__()
        self.kind = kind
        self.body = Linear(dim, 3 * dim, bias) if kind == 'linear' else separable_conv(dim, 3 * dim, 3, 1, bias)

    def forward(self, x):
        return self.body(x) if self.kind == 'linear' else to_tokens(self.body(to_image(x)))


class PatchMerging(nn.Layer):
    """The four pixels of each 2x2 cell side by side (rows then columns alternate), one linear map (no bias)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.reduction = Linear(4 * cin, cout, bias=False)

    def forward(self, x):
        cells = [x[:, r::2, c::2, :] for c in (0, 1) for r in (0, 1)]
        return self.reduction(paddle.concat(cells, axis=-1))


class AnchorLinear(nn.Layer):
    """Average pooling by ``df`` and a linear map."""

    def __init__(self, cin, cout, df):
        super().__init__()
        self.df = df
        self.reduction = Linear(cin, cout)

    def forward(self, x):
        return self.reduction(to_tokens(F.avg_pool2d(to_image(x), self.df, self.df)))


def _anchor_stage(kind, cin, cout, df, one_stage):
    if kind == 'avgpool':
        return AnchorLinear(cin, cout, df)
    if kind == 'patchmerging':
        return PatchMerging(cin, cout)
    k, s = (df + 1, df) if one_stage else (3, 2)
    return nn.Conv2D(cin, cout, k, s, k // 2) if kind == 'conv2d' else separable_conv(cin, cout, k, s, True)


class AnchorProjection(nn.Layer):
    """The anchors: (B, H, W, C) -> (B, H/df, W/df, C/2), in one step or in log2(df) halvings."""

    def __init__(self, dim, kind, one_stage, df):
        super().__init__()
        self.conv = kind in ('conv2d', 'separable_conv')
        steps = [(dim, df)] if one_stage else [(dim if i == 0 else dim // 2, 2) for i in range(int(math.log2(df)))]
        self.body = nn.LayerList([_anchor_stage(kind, cin, dim // 2, f, one_stage) for cin, f in steps])

    def forward(self, x):
        if self.conv:
            x = to_image(x)
        for step in self.body:
            x = step(x)
        return to_tokens(x) if self.conv else x
