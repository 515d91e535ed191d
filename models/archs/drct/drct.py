"""DRCT (Hsu et al., "DRCT: Saving Image Super-Resolution away from Information Bottleneck", 2024) and its spec.

SwinIR's frame (shallow conv, residual groups of window attention, a conv after the body, pixel-shuffle
reconstruction) with dense groups: each residual dense group (RDG) runs five Swin blocks, the k-th on the group's
input concatenated with the k - 1 narrow maps before it (``embed_dim + (k - 1) gc`` channels), each followed by a
1x1 conv (``adjust``) to ``gc`` channels and a leaky ReLU (0.2), the fifth by one back to ``embed_dim``, which is
added to the input at 0.2. The second and fourth blocks shift their windows by half a window; the fourth and
fifth have an MLP as wide as their input; block k has ``heads - (width mod heads)`` heads.

The Swin block, the window attention, its masks and pads are SwinIR's (``models.archs.swinir``). Names are the
official ones (and spandrel's); the fixed buffers (``relative_position_index``, ``attn_mask``) are dropped on
reading. The input is padded inside to a multiple of the window and of 16 (spandrel's size rule, and its pad:
reflection as far as the image allows, then the edge repeated), the output cropped back to exactly scale x input.

A network trained at a size no larger than its window leaves every block unshifted (the original code does so,
and its second and fourth blocks then have no ``attn_mask``): ``shift`` False, read from a file that has the
``relative_position_index`` buffers and no mask. That network keeps the index buffers as the file has them
(persistable, checked against the ones it computes), which is what tells the two apart in a converted file; a file
with neither buffer is taken as shifted.
"""
import math
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...specs import ArchSpec, Bound, shape_of
from ..swinir.swinir import GROUPS, SwinBlock, attention_bytes, rename_swin_buffers, window_of
from ..swinir.window_attention import (WINDOW_ATTENTION_OPS, PixelShuffleUpsample, crop_to, image_mean, index_buffer,
                                       relative_position_index, window_features)

SIZE_RULE = 16  # spandrel pads DRCT's input to a multiple of 16 (its SizeRequirements)
DENSE_BLOCKS = 5


def block_heads(width, heads):
    """The heads of a dense block of ``width`` channels in a group of ``heads`` (the official rule)."""
    return heads - width % heads


class TokenConv(nn.Conv2D):
    """A 1x1 conv (PyTorch's weight layout, so files load as they are) applied to (B, H, W, C) tokens as a matmul
    on the last axis."""

    def __init__(self, cin, cout):
        super().__init__(cin, cout, 1)

    def forward(self, x):
        w = self.weight.reshape([self.weight.shape[0], self.weight.shape[1]])
        return F.linear(x, w.T, self.bias)  # paddle.matmul does not trace into the legacy graph


class RDG(nn.Layer):
    """Residual dense group: five Swin blocks densely connected through 1x1 convs, 0.2 x the last added back."""

    def __init__(self, dim, heads, window, mlp_ratio, qkv_bias, gc, shift=True):
        super().__init__()
        for k in range(DENSE_BLOCKS):
            width = dim + k * gc
            block = SwinBlock(width, block_heads(width, heads), window, window // 2 if k % 2 and shift else 0,
                              mlp_ratio if k < 3 else 1.0, qkv_bias)
            if not shift:  # the unshifted network's files keep the index (module docstring)
                block.attn.register_buffer('relative_position_index',
                                           paddle.to_tensor(relative_position_index(window)), persistable=True)
            setattr(self, f'swin{k + 1}', block)
            setattr(self, f'adjust{k + 1}', TokenConv(width, gc if k < DENSE_BLOCKS - 1 else dim))

    def forward(self, x, index, mask):
        feats = [x]
        for k in range(1, DENSE_BLOCKS + 1):
            y = getattr(self, f'adjust{k}')(getattr(self, f'swin{k}')(paddle.concat(feats, axis=-1), index, mask))
            if k < DENSE_BLOCKS:
                feats.append(F.leaky_relu(y, 0.2))
        return y * 0.2 + x


class PatchEmbed(nn.Layer):
    """``patch_embed.norm``: the LayerNorm on the embedded tokens, or none (``patch_norm`` false)."""

    def __init__(self, dim, norm):
        super().__init__()
        self.norm = nn.LayerNorm(dim) if norm else nn.Identity()


def _smaller(a, b):
    """The smaller of two int32 tensors, from operators (``paddle.minimum`` does not trace into the legacy graph)."""
    return a - (a - b) * (a > b).astype('int32')


def pad_reflect_then_replicate(x, multiple):
    """``x`` (N, C, H, W) padded on the right and bottom to multiples of ``multiple`` as spandrel pads: by
    reflection as far as the image allows (size - 1), the rest by repeating the edge (run-time sizes)."""
    shape = paddle.shape(x)
    zero = paddle.zeros([1], dtype='int32')
    pad_h = ((multiple - shape[2] % multiple) % multiple).reshape([1]).astype('int32')
    pad_w = ((multiple - shape[3] % multiple) % multiple).reshape([1]).astype('int32')
    ref_h = _smaller(pad_h, shape[2].reshape([1]).astype('int32') - 1)
    ref_w = _smaller(pad_w, shape[3].reshape([1]).astype('int32') - 1)
    x = F.pad(x, paddle.concat([zero, ref_w, zero, ref_h]), mode='reflect')
    return F.pad(x, paddle.concat([zero, pad_w - ref_w, zero, pad_h - ref_h]), mode='replicate')


def size_multiple(window):
    """What the input is padded to: a multiple of the window and of spandrel's 16."""
    return window * SIZE_RULE // math.gcd(window, SIZE_RULE)


class DRCT(nn.Layer):
    """DRCT for any input size (reflect-padded inside, output cropped to exactly ``upscale`` x input).
    ``img_range`` is not in the weights (1 in every released model)."""

    def __init__(self, in_chans=3, upscale=4, embed_dim=180, num_heads=(6, 6, 6, 6, 6, 6), window_size=16,
                 mlp_ratio=2.0, qkv_bias=True, patch_norm=True, resi_connection='1conv', gc=32, num_feat=64,
                 img_range=1.0, shift=True):
        super().__init__()
        if resi_connection not in ('1conv', 'identity'):
            raise ValueError(f"DRCT resi_connection must be '1conv' or 'identity', got {resi_connection!r}")
        self.upscale, self.window, self.img_range = upscale, window_size, float(img_range)
        self.register_buffer('mean', image_mean(in_chans), persistable=False)
        index_buffer(self, 'position_index', relative_position_index(window_size))
        self.conv_first = nn.Conv2D(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim, patch_norm)
        self.layers = nn.LayerList([RDG(embed_dim, h, window_size, mlp_ratio, qkv_bias, gc, shift)
                                    for h in num_heads])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2D(embed_dim, embed_dim, 3, 1, 1) if resi_connection == '1conv' else None
        self.conv_before_upsample = nn.Sequential(nn.Conv2D(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(0.01))
        self.upsample = PixelShuffleUpsample(upscale, num_feat)
        self.conv_last = nn.Conv2D(num_feat, in_chans, 3, 1, 1)

    def forward(self, x):
        feat = self.conv_first((pad_reflect_then_replicate(x, size_multiple(self.window)) - self.mean) * self.img_range)
        body = window_features(self, feat, self.position_index)
        feat = (body if self.conv_after_body is None else self.conv_after_body(body)) + feat
        out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        return crop_to(out / self.img_range + self.mean, x, self.upscale)


# ---------------------------------------------------------------- detection
_SWIN1 = 'layers.0.swin1.'


def rename_drct(state):
    """The fixed buffers dropped; but a file with the index and no mask is an unshifted network's, which keeps its
    index (module docstring)."""
    if not any(k.endswith('.attn_mask') for k in state) and _SWIN1 + 'attn.relative_position_index' in state:
        return None
    return rename_swin_buffers(state, _SWIN1 + 'attn.', r'(^|\.)(relative_position_index|attn_mask)$')


def _layers(state):
    n = 0
    while f'layers.{n}.swin1.norm1.weight' in state:
        n += 1
    stray = sorted({int(m.group(1)) for k in state for m in [re.match(r'layers\.(\d+)\.', k)] if m} - set(range(n)))
    if stray:
        raise ValueError(f'DRCT-like keys, but layers.{stray[0]} comes after the last dense group (layers.{n - 1})')
    return n


def _upscale(state, feat):
    convs = sorted(int(m.group(1)) for k in state for m in [re.match(r'^upsample\.(\d+)\.weight$', k)] if m)
    first = shape_of(state['upsample.0.weight'])[0] if convs else 0
    if not convs:  # x1: the pixel-shuffle reconstruction without a shuffle
        return 1
    if convs == [0] and first == 9 * feat:
        return 3
    if first != 4 * feat or convs != list(range(0, 2 * len(convs), 2)):
        raise ValueError(f'DRCT upsample convs {convs[:6]} with {first} outputs do not fit {feat} features')
    return 2 ** len(convs)


def detect_drct(state):
    """DRCT's arch from its weights (spandrel's reading); None for other networks."""
    if _SWIN1 + 'attn.relative_position_bias_table' not in state or 'layers.0.adjust1.weight' not in state:
        return None
    if 'absolute_pos_embed' in state:
        raise ValueError('a DRCT with an absolute position embedding (one input size) is not supported')
    if 'conv_last.weight' not in state:
        raise ValueError('a DRCT without the pixel-shuffle reconstruction (no conv_last) is not supported')
    embed, in_ch = shape_of(state['conv_first.weight'])[:2]
    if not embed or not in_ch:
        raise ValueError(f'conv_first.weight has shape {shape_of(state["conv_first.weight"])}: no channels')
    feat = shape_of(state['conv_last.weight'])[1]
    heads = [shape_of(state[f'layers.{i}.swin1.attn.relative_position_bias_table'])[1]
             for i in range(_layers(state))]
    return {'type': 'DRCT', 'in_chans': in_ch, 'upscale': _upscale(state, feat), 'embed_dim': embed,
            'num_heads': heads, 'window_size': window_of(state, _SWIN1 + 'attn.relative_position_bias_table'),
            'mlp_ratio': shape_of(state[_SWIN1 + 'mlp.fc1.weight'])[0] / embed,
            'qkv_bias': _SWIN1 + 'attn.qkv.bias' in state, 'patch_norm': 'patch_embed.norm.weight' in state,
            'resi_connection': '1conv' if 'conv_after_body.weight' in state else 'identity',
            'gc': shape_of(state['layers.0.adjust1.weight'])[0], 'num_feat': feat,
            'shift': _SWIN1 + 'attn.relative_position_index' not in state}


def drct_bytes(arch):
    """``attention_bytes`` (SwinIR's) plus the dense concatenations: up to 4 gc channels more per token, in the
    blocks' norms, qkv and MLPs."""
    return attention_bytes(arch, extra=16 * int(arch.get('gc', 32)))


def drct_consistent(arch):
    """The group's heads must divide ``embed_dim`` (its first block's), each later dense block's (``heads - width
    mod heads``) its width; the MLP must have width."""
    dim, gc = arch['embed_dim'], arch['gc']
    for i, heads in enumerate(arch['num_heads']):
        if dim % heads:  # the first block takes them as they are
            return [('num_heads', f'each must divide embed_dim {dim}, got {heads} (group {i})')]
        for k in range(DENSE_BLOCKS):
            width = dim + k * gc
            if width % block_heads(width, heads):
                return [('num_heads', f'{heads} (group {i}) leaves dense block {k + 1} of {width} channels '
                                      f'{block_heads(width, heads)} heads, which do not divide it')]
    if int(dim * arch['mlp_ratio']) < 1:
        return [('mlp_ratio', f'{arch["mlp_ratio"]} x embed_dim {dim} leaves the MLP no width')]
    return []


# released DRCTs: embed 180, 6 (DRCT) or 12 (DRCT-L) groups of 6 heads, window 16, gc 32, MLP ratio 2
BOUNDS = {'embed_dim': Bound(1, 512), 'num_heads': GROUPS, 'window_size': Bound(1, 32),
          'mlp_ratio': Bound(0, 16, real=True), 'gc': Bound(1, 256), 'in_chans': Bound(1, 16)}
# beyond the plumbing: window attention's ops, the dense 1x1 convs' matmuls and leaky ReLUs, the pixel shuffle, the
# pad's reflected part (the smaller of the pad and the size - 1)
EXPORT_OPS = (WINDOW_ATTENTION_OPS | ops.PIXEL_SHUFFLE | ops.LEAKY_RELU
              | ops.ExportOps('greater_than', '', '1.greater_than'))
SPEC = ArchSpec('DRCT', DRCT, detect=detect_drct, rename=rename_drct, scale_key='upscale', bytes_per_pixel=drct_bytes,
                pad_multiple=lambda arch: size_multiple(int(arch.get('window_size', 16))),  # tiles on the grid
                undetectable={'img_range': (1.0, 255.0)}, bounds=BOUNDS, consistent=drct_consistent,
                export_ops=EXPORT_OPS)
