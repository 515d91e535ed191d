"""The attention blocks of DAT (Dual Aggregation Transformer, Chen et al., ICCV 2023), PyTorch key names.

Tokens are (B, H*W, C). A spatial block splits the channels in two halves that attend inside
``split_size`` rectangles and their transposes; every other such block of a group shifts the windows by half
a window (Swin's shifted windows, with the boundary masks). The queries, keys and values are zero-padded to
a multiple of the larger window side first and the result cropped back, so any H and W work; the masks
follow the padded size and are built at run time. A channel block attends across channels (transposed
attention). Both mix in a depthwise-conv branch through the adaptive interaction gates.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...legacy_ops import GELU, gelu, normalize, sigmoid
from ...runtime_shape import crop_hw, pad_to_multiple, roll
from ...torch_layout import BatchNorm2d, Linear


def tokens_to_image(x, h, w):
    """(B, H*W, C) -> (B, C, H, W)."""
    return paddle.reshape(x.transpose([0, 2, 1]), [0, x.shape[2], h, w])


def image_to_tokens(x):
    """(B, C, H, W) -> (B, H*W, C)."""
    return x.flatten(2).transpose([0, 2, 1])


class DynamicPosBias(nn.Layer):
    """A small MLP from relative (dy, dx) offsets to one bias per head."""

    def __init__(self, dim, num_heads):
        super().__init__()
        pos_dim = dim // 4
        self.pos_proj = Linear(2, pos_dim)
        self.pos1 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), Linear(pos_dim, pos_dim))
        self.pos2 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), Linear(pos_dim, pos_dim))
        self.pos3 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), Linear(pos_dim, num_heads))

    def forward(self, biases):
        return self.pos3(self.pos2(self.pos1(self.pos_proj(biases))))


def relative_tables(h_sp, w_sp):
    """The (2h-1)(2w-1) x 2 table of offsets and the (hw, hw) index of each token pair into it."""
    grid = np.stack(np.meshgrid(np.arange(1 - h_sp, h_sp), np.arange(1 - w_sp, w_sp), indexing='ij'))
    biases = grid.reshape(2, -1).T.astype('float32')
    coords = np.stack(np.meshgrid(np.arange(h_sp), np.arange(w_sp), indexing='ij')).reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + np.array([h_sp - 1, w_sp - 1])
    return biases, (rel[..., 0] * (2 * w_sp - 1) + rel[..., 1]).astype('int64')


def shift_mask(hp, wp, h_sp, w_sp):
    """(nW, N, N) mask (0 or -100) of a shifted-window pass over a padded ``hp`` x ``wp`` map (run-time sizes):
    tokens that the roll brought from different image regions do not attend to each other."""
    def regions(n, size):
        i = paddle.arange(n)
        shift = size // 2
        return (i >= n - size).astype('int64') + (i >= n - shift).astype('int64') if shift else i * 0
    label = regions(hp, h_sp).unsqueeze(1) * 3 + regions(wp, w_sp).unsqueeze(0)
    label = paddle.reshape(label, [hp // h_sp, h_sp, wp // w_sp, w_sp]).transpose([0, 2, 1, 3])
    label = paddle.reshape(label, [-1, h_sp * w_sp])
    return (label.unsqueeze(1) != label.unsqueeze(2)).astype('float32') * -100.0


class SpatialAttention(nn.Layer):
    """Attention inside (h_sp, w_sp) windows for one half of the channels; ``idx`` 1 transposes the window."""

    def __init__(self, dim, idx, split_size, num_heads):
        super().__init__()
        self.num_heads, self.dim = num_heads, dim
        self.scale = (dim // num_heads) ** -0.5
        self.h_sp, self.w_sp = split_size if idx == 0 else split_size[::-1]
        self.pos = DynamicPosBias(dim // 4, num_heads)
        biases, index = relative_tables(self.h_sp, self.w_sp)
        self.register_buffer('rpe_biases', paddle.to_tensor(biases))
        self.register_buffer('relative_position_index', paddle.to_tensor(index))

    def forward(self, qkv, hp, wp, mask=None):
        """``qkv``: (3, B, hp, wp, C) -> (B, hp, wp, C)."""
        hs, ws, c, heads = self.h_sp, self.w_sp, self.dim, self.num_heads
        n = hs * ws
        x = paddle.reshape(qkv, [-1, hp // hs, hs, wp // ws, ws, c]).transpose([0, 1, 3, 2, 4, 5])
        x = paddle.reshape(x, [3, -1, n, heads, c // heads]).transpose([0, 1, 3, 2, 4])
        attn = (x[0] * self.scale) @ x[1].transpose([0, 1, 3, 2])
        bias = paddle.gather(self.pos(self.rpe_biases), self.relative_position_index.flatten())
        attn = attn + bias.reshape([n, n, heads]).transpose([2, 0, 1]).unsqueeze(0)
        if mask is not None:
            attn = paddle.reshape(attn, [-1, paddle.shape(mask)[0], heads, n, n]) + mask.unsqueeze(1).unsqueeze(0)
            attn = paddle.reshape(attn, [-1, heads, n, n])
        out = (F.softmax(attn, axis=-1) @ x[2]).transpose([0, 2, 1, 3])
        out = paddle.reshape(out, [-1, hp // hs, wp // ws, hs, ws, c]).transpose([0, 1, 3, 2, 4, 5])
        return paddle.reshape(out, [-1, hp, wp, c])


def split_windows(attns, qkv, c, split_size, shift, h, w):
    """The window attention of the two ``SpatialAttention`` halves ``attns`` over ``qkv`` (3, B, C, h, w):
    zero-padded to a multiple of the larger window side, each half in its (transposed) window, rolled by half a
    window with the boundary masks when ``shift``; cropped back to (B, h*w, C). DAT's and RGT's spatial blocks."""
    padded = pad_to_multiple(paddle.reshape(qkv, [-1, c, h, w]), max(split_size))
    hp, wp = paddle.shape(padded)[2], paddle.shape(padded)[3]
    padded = paddle.reshape(padded.transpose([0, 2, 3, 1]), [3, -1, hp, wp, c])
    halves = []
    for attn, part in zip(attns, paddle.chunk(padded, 2, axis=-1)):
        if shift:
            sh, sw = attn.h_sp // 2, attn.w_sp // 2
            part = roll(roll(part, -sh, 2), -sw, 3)
            out = attn(part, hp, wp, shift_mask(hp, wp, attn.h_sp, attn.w_sp))
            out = roll(roll(out, sh, 1), sw, 2)
        else:
            out = attn(part, hp, wp)
        halves.append(paddle.reshape(crop_hw(out, h, w, axes=(1, 2)), [0, -1, c // 2]))
    return paddle.concat(halves, axis=2)


def interaction(dim, reduce, out):
    """1x1 conv to ``dim // reduce``, batch norm, GELU, 1x1 conv to ``out`` (keys 0, 1, 3)."""
    return [nn.Conv2D(dim, dim // reduce, 1), BatchNorm2d(dim // reduce), GELU(), nn.Conv2D(dim // reduce, out, 1)]


class Interaction(nn.Layer):
    """The adaptive interaction parts both attentions share: a depthwise conv branch and the channel and
    spatial gates (``channel_interaction`` starts with a global average pool)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Sequential(nn.Conv2D(dim, dim, 3, padding=1, groups=dim), BatchNorm2d(dim), GELU())
        self.channel_interaction = nn.Sequential(nn.AdaptiveAvgPool2D(1), *interaction(dim, 8, dim))
        self.spatial_interaction = nn.Sequential(*interaction(dim, 16, 1))


def shifted(rg_idx, b_idx):
    """Whether block ``b_idx`` of group ``rg_idx`` shifts its windows (the official schedule)."""
    if rg_idx % 2 == 0:
        return b_idx > 0 and (b_idx - 2) % 4 == 0
    return b_idx % 4 == 0


class AdaptiveSpatialAttention(Interaction):
    def __init__(self, dim, num_heads, split_size, qkv_bias, shift):
        super().__init__(dim)
        self.dim, self.split_size, self.shift = dim, list(split_size), shift
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = Linear(dim, dim)
        self.attns = nn.LayerList([SpatialAttention(dim // 2, i, split_size, num_heads // 2) for i in range(2)])

    def windows(self, qkv, h, w):
        """The two halves' window attention over (3, B, C, h, w), cropped to (B, h*w, C)."""
        return split_windows(self.attns, qkv, self.dim, self.split_size, self.shift, h, w)

    def forward(self, x, h, w):
        qkv = self.qkv(x).reshape([0, -1, 3, self.dim]).transpose([2, 0, 3, 1])  # 3, B, C, HW
        attended = self.windows(qkv, h, w)
        conv_x = self.dwconv(paddle.reshape(qkv[2], [0, self.dim, h, w]))
        channel_map = self.channel_interaction(conv_x).flatten(1).unsqueeze(1)
        spatial_map = self.spatial_interaction(tokens_to_image(attended, h, w))
        attended = attended * sigmoid(channel_map)
        conv_x = image_to_tokens(sigmoid(spatial_map) * conv_x)
        return self.proj(attended + conv_x)


class AdaptiveChannelAttention(Interaction):
    def __init__(self, dim, num_heads, qkv_bias):
        super().__init__(dim)
        self.dim, self.num_heads = dim, num_heads
        self.temperature = self.create_parameter([num_heads, 1, 1], default_initializer=nn.initializer.Constant(1.0))
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = Linear(dim, dim)

    def forward(self, x, h, w):
        c, heads = self.dim, self.num_heads
        qkv = self.qkv(x).reshape([0, -1, 3, heads, c // heads]).transpose([2, 0, 3, 4, 1])  # 3, B, h, d, N
        q, k, v = normalize(qkv[0]), normalize(qkv[1]), qkv[2]
        attn = F.softmax((q @ k.transpose([0, 1, 3, 2])) * self.temperature, axis=-1)
        attended = paddle.reshape(attn @ v, [0, c, -1]).transpose([0, 2, 1])
        conv_x = self.dwconv(paddle.reshape(v, [0, c, h, w]))
        channel_map = self.channel_interaction(tokens_to_image(attended, h, w))
        spatial_map = image_to_tokens(self.spatial_interaction(conv_x))
        attended = attended * sigmoid(spatial_map)
        conv_x = image_to_tokens(conv_x * sigmoid(channel_map))
        return self.proj(attended + conv_x)


class SpatialGate(nn.Layer):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2D(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x, h, w):
        x1, x2 = paddle.chunk(x, 2, axis=-1)
        return x1 * image_to_tokens(self.conv(tokens_to_image(self.norm(x2), h, w)))


class SGFN(nn.Layer):
    """Spatial-gate feed-forward: fc1, GELU, half the channels gate the other half through a depthwise conv, fc2."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.sg = SpatialGate(hidden // 2)
        self.fc2 = Linear(hidden // 2, dim)

    def forward(self, x, h, w):
        return self.fc2(self.sg(gelu(self.fc1(x)), h, w))


class DATB(nn.Layer):
    """Even ``b_idx``: spatial block; odd: channel block; each followed by the SGFN (pre-norm residuals)."""

    def __init__(self, dim, num_heads, split_size, expansion_factor, qkv_bias, rg_idx, b_idx):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if b_idx % 2 == 0:
            self.attn = AdaptiveSpatialAttention(dim, num_heads, split_size, qkv_bias, shifted(rg_idx, b_idx))
        else:
            self.attn = AdaptiveChannelAttention(dim, num_heads, qkv_bias)
        self.ffn = SGFN(dim, int(dim * expansion_factor))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x, h, w):
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.ffn(self.norm2(x), h, w)
