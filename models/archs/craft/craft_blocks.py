"""CRAFT's blocks (Li et al., "Feature Modulation Transformer: Cross-Refinement and Spatial Modulation for
Lightweight Image Super-Resolution", ICCV 2023), PyTorch key names.

* SRWAB (shifted rectangle-window attention): DAT's two half-channel window attentions (``models.archs.dat``) in
  ``split_size`` rectangles and their transposes, every second block rolled by half a rectangle with no boundary
  mask (the original passes none), plus a depthwise conv of the values, a projection, then a GELU MLP; pre-norm
  residuals on (B, H*W, C) tokens.
* HFERB (high-frequency enhancement): half the channels through a 3x3 conv, the other half max-pooled (3x3,
  stride 1) through a 1x1 conv, both GELU, joined by a 1x1 conv and added to the input.
* HFB (hybrid fusion): transposed attention across channels whose queries come from HFERB's map and keys and
  values from SRWAB's (1x1 then depthwise 3x3 convs, L2-normalised over the pixels, a learnt temperature per
  head), and a gated depthwise feed-forward (``int(2.66 dim)`` wide), each after a channel LayerNorm (``body``).
The map-wide channel attention makes a tiled run an approximation of the whole image's.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...legacy_ops import gelu, normalize
from ...runtime_shape import roll
from ...torch_layout import LayerNorm2d, Linear
from ..dat.dat_blocks import SpatialAttention, image_to_tokens, tokens_to_image
from ..swinir.window_attention import Mlp

FFN_EXPANSION = 2.66  # the fusion block's feed-forward width, fixed in CRAFT


class RectWindowAttention(SpatialAttention):
    """DAT's window attention; its offset and index tables are the network's (``biases_h`` / ``_v`` and
    ``relative_position_index_h`` / ``_v`` of the file), so its own copies are not saved."""

    def __init__(self, dim, idx, split_size, num_heads):
        super().__init__(dim, idx, split_size, num_heads)
        for name in ('rpe_biases', 'relative_position_index'):
            self.register_buffer(name, getattr(self, name), persistable=False)


class SRWAB(nn.Layer):
    def __init__(self, dim, num_heads, split_size, shift, mlp_ratio, qkv_bias):
        super().__init__()
        self.dim, self.shift = dim, shift
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = Linear(dim, dim)
        self.get_v = nn.Conv2D(dim, dim, 3, padding=1, groups=dim)
        self.attns = nn.LayerList([RectWindowAttention(dim // 2, i, split_size, num_heads // 2) for i in range(2)])
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def windows(self, qkv, h, w):
        """Both halves' window attention over ``qkv`` (3, B, h, w, C), rolled when ``shift``; (B, h*w, C)."""
        halves = []
        for attn, part in zip(self.attns, paddle.chunk(qkv, 2, axis=-1)):
            sh, sw = (attn.h_sp // 2, attn.w_sp // 2) if self.shift else (0, 0)
            out = attn(roll(roll(part, -sh, 2), -sw, 3), h, w)
            halves.append(roll(roll(out, sh, 1), sw, 2))
        return paddle.reshape(paddle.concat(halves, axis=-1), [0, -1, self.dim])

    def forward(self, x, h, w):
        c = self.dim
        qkv = self.qkv(self.norm1(x)).reshape([0, -1, 3, c]).transpose([2, 0, 1, 3])  # 3, B, HW, C
        local = image_to_tokens(self.get_v(tokens_to_image(qkv[2], h, w)))
        attended = self.windows(paddle.reshape(qkv, [3, -1, h, w, c]), h, w)
        x = x + self.proj(attended + local)
        return x + self.mlp(self.norm2(x))


class HFERB(nn.Layer):
    def __init__(self, dim):
        super().__init__()
        self.mid = dim // 2
        self.conv = nn.Conv2D(self.mid, self.mid, 3, 1, 1)
        self.fc = nn.Conv2D(self.mid, self.mid, 1)
        self.last_fc = nn.Conv2D(dim, dim, 1)

    def forward(self, x):
        local = gelu(self.conv(x[:, :self.mid]))
        high = gelu(self.fc(F.max_pool2d(x[:, self.mid:], 3, 1, 1)))
        return x + self.last_fc(paddle.concat([local, high], axis=1))


class ChannelNorm(nn.Layer):
    """LayerNorm over an NCHW map's channels (eps 1e-5), under ``body`` as the original names it."""

    def __init__(self, dim):
        super().__init__()
        self.body = LayerNorm2d(dim, eps=1e-5)

    def forward(self, x):
        return self.body(x)


class FusionAttention(nn.Layer):
    """Channel attention: queries from ``high``, keys and values from ``low``."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.heads = num_heads
        self.temperature = self.create_parameter([num_heads, 1, 1], default_initializer=nn.initializer.Constant(1.0))
        self.q = nn.Conv2D(dim, dim, 1, bias_attr=False)
        self.q_dwconv = nn.Conv2D(dim, dim, 3, 1, 1, groups=dim, bias_attr=False)
        self.kv = nn.Conv2D(dim, dim * 2, 1, bias_attr=False)
        self.kv_dwconv = nn.Conv2D(dim * 2, dim * 2, 3, 1, 1, groups=dim * 2, bias_attr=False)
        self.project_out = nn.Conv2D(dim, dim, 1, bias_attr=False)

    def forward(self, low, high):
        shape, c = paddle.shape(low), low.shape[1]
        q = self.q_dwconv(self.q(high))
        k, v = paddle.chunk(self.kv_dwconv(self.kv(low)), 2, axis=1)
        q, k, v = (paddle.reshape(t, [0, self.heads, c // self.heads, -1]) for t in (q, k, v))
        attn = F.softmax((normalize(q) @ normalize(k).transpose([0, 1, 3, 2])) * self.temperature, axis=-1)
        return self.project_out(paddle.reshape(attn @ v, [-1, c, shape[2], shape[3]]))


class FeedForward(nn.Layer):
    def __init__(self, dim):
        super().__init__()
        hidden = int(dim * FFN_EXPANSION)
        self.project_in = nn.Conv2D(dim, hidden * 2, 1, bias_attr=False)
        self.dwconv = nn.Conv2D(hidden * 2, hidden * 2, 3, 1, 1, groups=hidden * 2, bias_attr=False)
        self.project_out = nn.Conv2D(hidden, dim, 1, bias_attr=False)

    def forward(self, x):
        a, b = paddle.chunk(self.dwconv(self.project_in(x)), 2, axis=1)
        return self.project_out(gelu(a) * b)


class HFB(nn.Layer):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.norm1 = ChannelNorm(dim)
        self.attn = FusionAttention(dim, num_heads)
        self.norm2 = ChannelNorm(dim)
        self.ffn = FeedForward(dim)

    def forward(self, low, high):
        x = low + self.attn(self.norm1(low), high)
        return x + self.ffn(self.norm2(x))


class CRFB(nn.Layer):
    """``depth`` rounds of: two SRWABs (unshifted, shifted) on the tokens, HFERB on the map, HFB fusing both."""

    def __init__(self, dim, depth, num_heads, split_size, mlp_ratio, qkv_bias):
        super().__init__()
        self.srwa_blocks = nn.LayerList([SRWAB(dim, num_heads, split_size, i % 2 == 1, mlp_ratio, qkv_bias)
                                         for i in range(2 * depth)])
        self.hfer_blocks = nn.LayerList([HFERB(dim) for _ in range(depth)])
        self.hf_blocks = nn.LayerList([HFB(dim, num_heads) for _ in range(depth)])

    def forward(self, x):
        shape = paddle.shape(x)
        h, w = shape[2], shape[3]
        for i, (hfer, hf) in enumerate(zip(self.hfer_blocks, self.hf_blocks)):
            low = self.srwa_blocks[2 * i + 1](self.srwa_blocks[2 * i](image_to_tokens(x), h, w), h, w)
            x = hf(tokens_to_image(low, h, w), hfer(x))
        return x


class RCRFG(nn.Layer):
    def __init__(self, dim, depth, num_heads, split_size, mlp_ratio, qkv_bias):
        super().__init__()
        self.residual_group = CRFB(dim, depth, num_heads, split_size, mlp_ratio, qkv_bias)
        self.conv = nn.Conv2D(dim, dim, 3, 1, 1)

    def forward(self, x):
        return self.conv(self.residual_group(x)) + x

