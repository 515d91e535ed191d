"""GRL's transformer blocks and stages, on (B, H, W, C) tokens.

Mixed attention: one q/k/v projection, its first half to window attention (``heads_w`` heads), its second half to
anchored stripe attention (``heads_s`` heads) with the anchors; both outputs side by side, one linear map. A block
adds back the layer-normed mixed attention (and, with ``local_connection``, HAT's channel-attention block on the
map), then the layer-normed MLP (post-norm). Block i shifts its windows when i is even, runs horizontal stripes
(rows x columns as given) when i is even and vertical ones (transposed) when odd, and shifts its stripes when
i mod 4 is 2 or 3. A stage: its blocks, then a closing conv (``conv_type``), its input added back.
"""
import paddle
import paddle.nn as nn

from ...torch_layout import Linear
from ..swinir.hat import CAB
from ..swinir.swinir import residual_conv
from ..swinir.window_attention import Mlp, to_image, to_tokens
from .grl_attention import AnchorProjection, AnchorStripeAttention, QKVProjection, WindowAttention

CONV_TYPES = ('1conv', '3conv', '1conv1x1', 'linear')
CAB_COMPRESS, CAB_SQUEEZE = 4, 18  # GRL's local branch: HAT's channel-attention block at these ratios


def last_conv(kind, dim):
    """The conv closing a stage (and the body): 3x3, 3x3 -> 1x1 -> 3x3 at a quarter width, 1x1, or linear."""
    if kind == '1conv1x1':
        return nn.Conv2D(dim, dim, 1)
    if kind == 'linear':
        return Linear(dim, dim)
    if kind not in CONV_TYPES:
        raise ValueError(f'GRL conv_type must be one of {CONV_TYPES}, got {kind!r}')
    return residual_conv(dim, kind)


def apply_conv(conv, x):
    """``conv`` (``last_conv``) on the (N, C, H, W) map ``x``."""
    return to_image(conv(to_tokens(x))) if isinstance(conv, Linear) else conv(x)


class MixedAttention(nn.Layer):
    def __init__(self, dim, heads_w, heads_s, window, stripe, index, opts):
        super().__init__()
        self.index = index
        self.qkv = QKVProjection(dim, opts['qkv_bias'], opts['qkv_proj_type'])
        self.anchor = AnchorProjection(dim, opts['anchor_proj_type'], opts['anchor_one_stage'],
                                       opts['anchor_window_down_factor'])
        self.window_attn = WindowAttention(heads_w, window, index % 2 == 0)
        self.stripe_attn = AnchorStripeAttention(heads_s, stripe, index % 4 in (2, 3),
                                                 opts['anchor_window_down_factor'])
        self.proj = Linear(dim, dim)

    def forward(self, x, geo):
        """``geo``: the network's tables, indexes and run-time masks (``GRL.geometry``)."""
        qkv = self.qkv(x)
        half = qkv.shape[-1] // 2
        kind = 'sh' if self.index % 2 == 0 else 'sv'
        out_w = self.window_attn(qkv[..., :half], geo['table_w'], geo['index_w'], geo.get('mask_w'))
        out_s = self.stripe_attn(qkv[..., half:], self.anchor(x), geo[f'table_{kind}'], geo[f'index_{kind}_a2w'],
                                 geo[f'index_{kind}_w2a'], geo.get(f'mask_{kind}'))
        return self.proj(paddle.concat([out_w, out_s], axis=-1))


class Block(nn.Layer):
    def __init__(self, dim, heads_w, heads_s, window, stripe, mlp_ratio, index, opts):
        super().__init__()
        self.local = opts['local_connection']
        stripe = stripe if index % 2 == 0 else stripe[::-1]
        self.attn = MixedAttention(dim, heads_w, heads_s, window, stripe, index, opts)
        self.norm1 = nn.LayerNorm(dim)
        if self.local:
            self.conv = CAB(dim, CAB_COMPRESS, CAB_SQUEEZE)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x, geo):
        out = x + self.norm1(self.attn(x, geo))
        if self.local:
            out = out + to_tokens(self.conv(to_image(x)))
        return out + self.norm2(self.mlp(out))


class TransformerStage(nn.Layer):
    def __init__(self, dim, depth, heads_w, heads_s, window, stripe, mlp_ratio, opts):
        super().__init__()
        self.blocks = nn.LayerList([Block(dim, heads_w, heads_s, window, stripe, mlp_ratio, i, opts)
                                    for i in range(depth)])
        self.conv = last_conv(opts['conv_type'], dim)

    def forward(self, x, geo):
        res = x
        for block in self.blocks:
            res = block(res, geo)
        return to_tokens(apply_conv(self.conv, to_image(res))) + x
