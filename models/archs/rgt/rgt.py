"""RGT (Chen et al., "Recursive Generalization Transformer for Image Super-Resolution", ICLR 2024) and its spec.

DAT's frame (``models.archs.dat``): a shallow conv, tokens and a LayerNorm (``before_RG``), residual groups, a
norm, a conv after the body (``1conv`` or ``3conv``), the pixel-shuffle reconstruction of 64 features. A group's
blocks alternate: even blocks are local self-attention (L-SA: DAT's two half-channel window attentions in
``split_size`` rectangles and their transposes, shifted on DAT's schedule, plus a depthwise conv of the values),
odd blocks recursive-generalization self-attention (RG-SA: the map shrunk by a 4x4 stride-4 depthwise conv
applied again and again, then every token's query attends to the few shrunk tokens, whose values get a
depthwise-conv position term). Each block: pre-norm attention and DAT's spatial-gate feed-forward, plus
``gamma`` times the block's input.

RG-SA shrinks the map ``t`` times, ``t`` the whole part of log4(max(H, W) // 16), at least 2 (the reference's
test-time rule): 2 below 1024 px a side, 3 below 4096, 4 below 16384. The path of each ``t`` is computed and
the one the size picks is kept (multiplied by 1, the others by 0), so the exported graphs follow the rule at
any run-time size too. RG-SA needs H, W >= 16 (``min_side``; smaller inputs are padded to it).

Names are the official ones (and spandrel's). The shifted blocks' precomputed masks (``attn_mask_0/1``) are
dropped (DAT's ``rename``); the relative-position tables are kept and checked, as DAT's.
"""
import re

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU, GELU_OPS
from ...runtime_shape import PAD_TO_MULTIPLE_OPS, hw
from ...specs import ArchSpec, Bound, shape_of
from ...torch_layout import Linear
from ..dat.dat import DAT_KEY, NUM_FEAT, RGB_MEAN, ToTokens, resi_conv, split_size_of, upsample_layers
from ..dat.dat_blocks import SGFN, SpatialAttention, image_to_tokens, shifted, split_windows, tokens_to_image

MIN_SIDE = 16
MAX_SHRINKS = 4  # 4 up to 16383 px a side (SCALE bounds a side far below that)


class LSA(nn.Layer):
    """Local self-attention: DAT's two half-channel window attentions, plus a depthwise conv of the values."""

    def __init__(self, dim, num_heads, split_size, qkv_bias, shift):
        super().__init__()
        self.dim, self.split_size, self.shift = dim, list(split_size), shift
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = Linear(dim, dim)
        self.attns = nn.LayerList([SpatialAttention(dim // 2, i, split_size, num_heads // 2) for i in range(2)])
        self.get_v = nn.Conv2D(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x, h, w):
        qkv = self.qkv(x).reshape([0, -1, 3, self.dim]).transpose([2, 0, 3, 1])  # 3, B, C, HW
        attended = split_windows(self.attns, qkv, self.dim, self.split_size, self.shift, h, w)
        local = image_to_tokens(self.get_v(paddle.reshape(qkv[2], [0, self.dim, h, w])))
        return self.proj(attended + local)


def _larger(a, b):
    """The larger of two int tensors, from operators (``paddle.maximum`` does not trace into the legacy graph)."""
    return a + (b - a) * (b > a).astype(a.dtype)


def _at_least(x, side):
    """``x`` (NCHW) replicate-padded at the bottom and right to ``side`` where it is smaller (run-time sizes)."""
    shape = paddle.shape(x)
    h, w = shape[2].reshape([1]).astype('int32'), shape[3].reshape([1]).astype('int32')
    pad_h, pad_w = _larger(side - h, h * 0), _larger(side - w, w * 0)
    zero = paddle.zeros([1], dtype='int32')
    return F.pad(x, paddle.concat([zero, pad_w, zero, pad_h]), mode='replicate')


class RGSA(nn.Layer):
    """Recursive-generalization self-attention (module docstring)."""

    def __init__(self, dim, num_heads, qkv_bias, c_ratio):
        super().__init__()
        self.heads, self.cr = num_heads, int(dim * c_ratio)
        self.scale = (dim // num_heads * c_ratio) ** -0.5
        self.reduction1 = nn.Conv2D(dim, dim, 4, stride=4, groups=dim)
        self.dwconv = nn.Conv2D(dim, dim, 3, padding=1, groups=dim)
        self.conv = nn.Conv2D(dim, self.cr, 1)
        self.norm_act = nn.Sequential(nn.LayerNorm(self.cr), GELU())
        self.q = Linear(dim, self.cr, bias=qkv_bias)
        self.k = Linear(self.cr, self.cr, bias=qkv_bias)
        self.v = Linear(self.cr, dim, bias=qkv_bias)
        self.cpe = nn.Conv2D(dim, dim, 3, padding=1, groups=dim)
        self.proj = Linear(dim, dim)

    def _attend(self, q, small, c):
        """The queries ``q`` (B, heads, N, cr / heads) over the shrunk map ``small`` (B, C, h', w')."""
        hs, ws = hw(small)
        kv = self.norm_act(image_to_tokens(self.conv(self.dwconv(small))))  # B, N', cr
        k = self.k(kv).reshape([0, -1, self.heads, self.cr // self.heads]).transpose([0, 2, 1, 3])
        v = self.v(kv).reshape([0, -1, self.heads, c // self.heads]).transpose([0, 2, 1, 3])
        attn = F.softmax((q @ k.transpose([0, 1, 3, 2])) * self.scale, axis=-1)
        pos = self.cpe(tokens_to_image(v.transpose([0, 2, 1, 3]).reshape([0, -1, c]), hs, ws))
        v = v + pos.reshape([0, self.heads, c // self.heads, -1]).transpose([0, 1, 3, 2])
        return (attn @ v).transpose([0, 2, 1, 3]).reshape([0, -1, c])

    def forward(self, x, h, w):
        c = x.shape[-1]
        q = self.q(x).reshape([0, -1, self.heads, self.cr // self.heads]).transpose([0, 2, 1, 3])
        small = self.reduction1(self.reduction1(tokens_to_image(x, h, w)))
        out = self._attend(q, small, c)
        side = _larger(h // MIN_SIDE, w // MIN_SIDE)
        for t in range(3, MAX_SHRINKS + 1):  # the size's number of shrinks: its path kept, the others times 0
            small = self.reduction1(_at_least(small, 4))
            pick = (side >= 4 ** t).astype(x.dtype)
            out = out * (1 - pick) + self._attend(q, small, c) * pick
        return self.proj(out)


class RGTBlock(nn.Layer):
    """Even ``b_idx``: L-SA; odd: RG-SA; each followed by DAT's SGFN (pre-norm residuals), plus ``gamma`` x the
    block's input."""

    def __init__(self, dim, num_heads, split_size, mlp_ratio, qkv_bias, c_ratio, rg_idx, b_idx):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if b_idx % 2 == 0:
            self.attn = LSA(dim, num_heads, split_size, qkv_bias, shifted(rg_idx, b_idx))
        else:
            self.attn = RGSA(dim, num_heads, qkv_bias, c_ratio)
        self.mlp = SGFN(dim, int(dim * mlp_ratio))
        self.norm2 = nn.LayerNorm(dim)
        self.gamma = self.create_parameter([dim], default_initializer=nn.initializer.Constant(1e-4))

    def forward(self, x, h, w):
        res = x
        x = x + self.attn(self.norm1(x), h, w)
        x = x + self.mlp(self.norm2(x), h, w)
        return x + res * self.gamma


class ResidualGroup(nn.Layer):
    def __init__(self, dim, num_heads, split_size, mlp_ratio, qkv_bias, c_ratio, depth, resi_connection, rg_idx):
        super().__init__()
        self.blocks = nn.LayerList([RGTBlock(dim, num_heads, split_size, mlp_ratio, qkv_bias, c_ratio, rg_idx, i)
                                    for i in range(depth)])
        self.conv = resi_conv(dim, resi_connection)

    def forward(self, x, h, w):
        res = x
        for block in self.blocks:
            x = block(x, h, w)
        return res + image_to_tokens(self.conv(tokens_to_image(x, h, w)))


class RGT(nn.Layer):
    """RGT for any input size of at least 16 px a side (the windows pad inside and crop back). ``img_range`` is
    not in the weights (1 in every released model)."""

    def __init__(self, in_chans=3, upscale=4, embed_dim=180, depth=(6, 6, 6, 6, 6, 6, 6, 6),
                 num_heads=(6, 6, 6, 6, 6, 6, 6, 6), mlp_ratio=2.0, qkv_bias=True, resi_connection='1conv',
                 split_size=(8, 32), c_ratio=0.5, img_range=1.0):
        super().__init__()
        if resi_connection not in ('1conv', '3conv'):
            raise ValueError(f"RGT resi_connection must be '1conv' or '3conv', got {resi_connection!r}")
        if len(depth) != len(num_heads) or len(split_size) != 2:
            raise ValueError(f'RGT needs one head count per group and two split sizes, got depth {list(depth)}, '
                             f'num_heads {list(num_heads)}, split_size {list(split_size)}')
        self.img_range = float(img_range)
        mean = RGB_MEAN if in_chans == 3 else (0.0,) * in_chans
        self.register_buffer('mean', paddle.to_tensor(np.array(mean, 'float32').reshape(1, -1, 1, 1)),
                             persistable=False)
        self.conv_first = nn.Conv2D(in_chans, embed_dim, 3, padding=1)
        self.before_RG = nn.Sequential(ToTokens(), nn.LayerNorm(embed_dim))
        self.layers = nn.LayerList([ResidualGroup(embed_dim, num_heads[i], list(split_size), mlp_ratio, qkv_bias,
                                                  c_ratio, depth[i], resi_connection, i) for i in range(len(depth))])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = resi_conv(embed_dim, resi_connection)
        self.conv_before_upsample = nn.Sequential(nn.Conv2D(embed_dim, NUM_FEAT, 3, padding=1), nn.LeakyReLU())
        self.upsample = nn.Sequential(*upsample_layers(upscale, NUM_FEAT))
        self.conv_last = nn.Conv2D(NUM_FEAT, in_chans, 3, padding=1)

    def forward(self, x):
        x = self.conv_first((x - self.mean) * self.img_range)
        h, w = hw(x)
        feat = self.before_RG(x)
        for layer in self.layers:
            feat = layer(feat, h, w)
        x = self.conv_after_body(tokens_to_image(self.norm(feat), h, w)) + x
        x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        return x / self.img_range + self.mean


# ---------------------------------------------------------------- detection
RGT_KEY = 'layers.0.blocks.0.gamma'


def _count(state, pattern, what):
    found = {int(m.group(1)) for k in state for m in [re.match(pattern, k)] if m}
    if not found or found != set(range(len(found))):
        raise ValueError(f'RGT keys, but the {what} are not numbered 0..N-1: {sorted(found)[:8]}')
    return len(found)


def _heads(state, embed, depth):
    """Per group: twice the heads of an L-SA half (its position MLP's outputs), one more when twice does not divide
    ``embed_dim`` (spandrel's reading: RG-SA's odd head counts have halves of one fewer)."""
    heads = []
    for i in range(len(depth)):
        half = shape_of(state[f'layers.{i}.blocks.0.attn.attns.0.pos.pos3.2.weight'])[0]
        heads.append(2 * half if embed % (2 * half) == 0 else 2 * half + 1)
    return heads


def _upscale(state):
    convs = sorted(int(m.group(1)) for k in state for m in [re.match(r'^upsample\.(\d+)\.weight$', k)] if m)
    if not convs:  # x1: the pixel-shuffle reconstruction without a shuffle
        return 1
    first = shape_of(state['upsample.0.weight'])
    if first[1] != NUM_FEAT or convs != list(range(0, 2 * len(convs), 2)):
        raise ValueError(f'RGT upsample convs {convs[:6]} of shape {list(first)[:2]} are not the pixel-shuffle '
                         f'upsampler of {NUM_FEAT} features')
    return 3 if convs == [0] and first[0] == 9 * NUM_FEAT else 2 ** len(convs)


def detect_rgt(state):
    """RGT's arch from its weights (spandrel's reading); None for other networks (DAT has no ``gamma``)."""
    if RGT_KEY not in state or DAT_KEY not in state or 'conv_first.weight' not in state:
        return None
    embed, in_ch = shape_of(state['conv_first.weight'])[:2]
    groups = _count(state, r'^layers\.(\d+)\.', 'residual groups')
    depth = [_count(state, rf'^layers\.{i}\.blocks\.(\d+)\.', f'blocks of group {i}') for i in range(groups)]
    conv = next((f'layers.{i}.blocks.1.attn.conv.weight' for i, d in enumerate(depth) if d >= 2), None)
    fc1 = shape_of(state['layers.0.blocks.0.mlp.fc1.weight'])
    return {'type': 'RGT', 'in_chans': in_ch, 'upscale': _upscale(state), 'embed_dim': embed, 'depth': depth,
            'num_heads': _heads(state, embed, depth), 'mlp_ratio': fc1[0] / fc1[1],
            'qkv_bias': 'layers.0.blocks.0.attn.qkv.bias' in state,
            'resi_connection': '1conv' if 'conv_after_body.weight' in state else '3conv',
            'split_size': split_size_of(state, 'RGT'),
            'c_ratio': shape_of(state[conv])[0] / shape_of(state[conv])[1] if conv else 0.5}


def rgt_bytes(arch):
    """fp32 working set per LR pixel: DAT's estimate (tokens, the feed-forward, the window maps) and RG-SA's
    attention rows (heads x the shrunk tokens, at most 1 / 256 of the map: a few per pixel)."""
    c, s = int(arch.get('embed_dim', 180)), int(arch.get('upscale', 4))
    ef, heads = float(arch.get('mlp_ratio', 2.0)), max(arch.get('num_heads', (6,)))
    window = int(np.prod(arch.get('split_size', (8, 32))))
    return 4.0 * (14 * c + 2 * ef * c + 2 * heads * window + 4 * heads + 2 * 3 * s * s)


# released RGTs: embed 180, 8 groups of 6 blocks, 6 heads, split 8 x 32, MLP ratio 2, c_ratio 0.5
BOUNDS = {'embed_dim': Bound(1, 512), 'split_size': Bound(1, 64, count=(2, 2)), 'depth': Bound(1, 64, count=(1, 16)),
          'num_heads': Bound(2, 64, count=(1, 16)), 'mlp_ratio': Bound(0, 16, real=True),
          'c_ratio': Bound(0, 4, real=True), 'in_chans': Bound(1, 16)}


def rgt_consistent(arch):
    """Widths that must fit: one head count per group; the L-SA halves' heads divide half the width, RG-SA's heads
    the width and its ``int(embed_dim x c_ratio)`` channels; the position MLP (embed_dim / 32) and the gate have
    width."""
    dim, heads, cr = arch['embed_dim'], arch['num_heads'], int(arch['embed_dim'] * arch['c_ratio'])
    if len(heads) != len(arch['depth']):
        return [('num_heads', f'must have one entry per group ({len(arch["depth"])} in depth), got {len(heads)}')]
    odd = next((h for h in heads if dim % h or (dim // 2) % (h // 2) or cr % h), None)
    if odd is not None:
        return [('num_heads', f'each must divide embed_dim {dim} and its RG-SA width {cr}, and half of it half '
                              f'the width, got {odd}')]
    if dim < 32:
        return [('embed_dim', f'must be at least 32 (its position MLP is embed_dim / 32 wide), got {dim}')]
    if int(dim * arch['mlp_ratio']) < 2:
        return [('mlp_ratio', f'{arch["mlp_ratio"]} x embed_dim {dim} leaves the feed-forward no width')]
    if cr < 1:
        return [('c_ratio', f'{arch["c_ratio"]} x embed_dim {dim} leaves RG-SA no channel')]
    return []


# what its exports hold beyond the plumbing: DAT's window attention (matmul, softmax, the position MLP's layer norms,
# ReLUs and gather, the zero pad and windows at run-time sizes), GELU, depthwise convs, splits and flattens, the
# upsampler (pixel shuffle; leaky ReLUs); RG-SA's replicate pad before each shrink past the second and the run-time
# choice among the shrink counts (comparisons, casts)
EXPORT_OPS = (GELU_OPS | PAD_TO_MULTIPLE_OPS | ops.PAD | ops.CAST | ops.PIXEL_SHUFFLE | ops.RELU | ops.LEAKY_RELU
              | ops.FLOOR_DIVIDE | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.DEPTHWISE_CONV | ops.SPLIT
              | ops.ExportOps('flatten_contiguous_range gather greater_equal greater_than', 'start_axis stop_axis',
                              '1.flatten 1.gather 1.greater_equal 1.greater_than', 'start_axis stop_axis'))
SPEC = ArchSpec('RGT', RGT, detect=detect_rgt, scale_key='upscale', bytes_per_pixel=rgt_bytes,
                min_side=lambda arch: MIN_SIDE, undetectable={'img_range': (1.0, 255.0)}, bounds=BOUNDS,
                consistent=rgt_consistent, export_ops=EXPORT_OPS)
