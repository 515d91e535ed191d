"""DCTLSA (Zeng et al. 2023, "Densely Connected Transformer with Linear Self-Attention for Lightweight Image
Super-Resolution"), and its spec.

A 3x3 conv to ``nf`` features; six LSABs densely connected: the k-th (k > 1) runs on a 1x1 conv (and leaky ReLU,
0.05) of the first features concatenated with every LSAB output before it; the six outputs concatenated, a 1x1
conv and leaky ReLU, a 3x3 conv, the first features added back; one 3x3 conv to ``3 x upscale^2`` channels and a
pixel shuffle.

An LSAB is two Swin-style layers in a row. Each layer reflect-pads the map on the right and bottom to a multiple of
its 16-pixel window (and crops back after), layer-norms the tokens and runs two blocks, the second with its windows
shifted by 8 (a cyclic roll, no mask). A block is its attention, then an MLP (GELU, twice the width) added back.
The attention starts with a local branch on the whole map (batch norm, 1x1 conv, 3x3 depthwise conv, batch norm,
1x1 conv, its input added back); q, k, v come from that branch by one linear map; per window and head, k is
softmax-normalised over the window's tokens, and the output is ``(q / sqrt(d)) (k^T v)`` (linear attention), a
linear map out, the local branch added back.

Names are the official ones (and spandrel's), so ``.pth`` files load as they are (PyTorch's batch-norm counters are
dropped on reading). The heads are not in the weights: 5, as in every release and as spandrel assumes
(``--num_head`` for another). 3-channel input and output, the release's.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU_OPS
from ...specs import ArchSpec, Bound, shape_of
from ...torch_layout import BatchNorm2d, Linear
from ..swinir.window_attention import (Mlp, crop_to, pad_to_multiple, roll, to_image, to_tokens, window_partition,
                                       window_reverse)

WINDOW = 16
MODULES = 6  # the LSABs (B1 ... B6): fixed by the network's forward
MARKERS = ('fea_conv.weight', 'B1.body.0.transformer_body.0.blocks.0.attn.local.pointwise_prenorm_1.weight',
           'c.0.weight', 'LR_conv.weight', 'upsampler.0.weight')


class LocalBranch(nn.Layer):
    def __init__(self, c):
        super().__init__()
        self.pointwise_prenorm_0 = BatchNorm2d(c)
        self.pointwise_conv_0 = nn.Conv2D(c, c, 1, bias_attr=False)
        self.depthwise_conv = nn.Conv2D(c, c, 3, 1, 1, groups=c, bias_attr=False)
        self.pointwise_prenorm_1 = BatchNorm2d(c)
        self.pointwise_conv_1 = nn.Conv2D(c, c, 1, bias_attr=False)

    def forward(self, x):
        x = self.depthwise_conv(self.pointwise_conv_0(self.pointwise_prenorm_0(x)))
        return self.pointwise_conv_1(self.pointwise_prenorm_1(x))


class LinearWindowAttention(nn.Layer):
    """The local branch and linear attention within windows (module docstring), on (B, H, W, C) tokens."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = Linear(dim, 3 * dim)
        self.proj = Linear(dim, dim)
        self.local = LocalBranch(dim)

    def forward(self, x):
        image = to_image(x)
        local = to_tokens(self.local(image) + image)
        shape, c = paddle.shape(local), local.shape[-1]
        qkv = window_partition(self.qkv(local), WINDOW)  # (windows, N, 3C)
        n = WINDOW * WINDOW
        qkv = qkv.reshape([-1, n, 3, self.heads, c // self.heads]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0], F.softmax(qkv[1], axis=-2), qkv[2]
        out = (q * self.scale) @ (k.transpose([0, 1, 3, 2]) @ v)
        out = self.proj(out.transpose([0, 2, 1, 3]).reshape([-1, n, c]))
        return window_reverse(out, WINDOW, shape[1], shape[2]) + local


class Block(nn.Layer):
    def __init__(self, dim, heads, shift):
        super().__init__()
        self.shift = shift
        self.attn = LinearWindowAttention(dim, heads)
        self.mlp = Mlp(dim, 2 * dim)

    def forward(self, x):
        x = roll(self.attn(roll(x, -self.shift)), self.shift) if self.shift else self.attn(x)
        return x + self.mlp(x)


class PatchEmbed(nn.Layer):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)


class SwinLayer(nn.Layer):
    """Two blocks (the second shifted) on the map reflect-padded to the window, cropped back."""

    def __init__(self, dim, heads):
        super().__init__()
        self.blocks = nn.LayerList([Block(dim, heads, 0), Block(dim, heads, WINDOW // 2)])
        self.patch_embed = PatchEmbed(dim)

    def forward(self, x):
        t = self.patch_embed.norm(to_tokens(pad_to_multiple(x, WINDOW)))
        for block in self.blocks:
            t = block(t)
        return crop_to(to_image(t), x, 1)


class SwinT(nn.Layer):
    def __init__(self, dim, heads):
        super().__init__()
        self.transformer_body = nn.Sequential(SwinLayer(dim, heads))

    def forward(self, x):
        return self.transformer_body(x)


class LSAB(nn.Layer):
    def __init__(self, dim, heads):
        super().__init__()
        self.body = nn.Sequential(SwinT(dim, heads), SwinT(dim, heads))

    def forward(self, x):
        return self.body(x)


def fuse(cin, cout):
    """A 1x1 conv and leaky ReLU (0.05)."""
    return nn.Sequential(nn.Conv2D(cin, cout, 1), nn.LeakyReLU(0.05))


class DCTLSA(nn.Layer):
    def __init__(self, nf=55, num_head=5, upscale=4):
        super().__init__()
        self.fea_conv = nn.Conv2D(3, nf, 3, 1, 1)
        for k in range(1, MODULES + 1):
            setattr(self, f'B{k}', LSAB(nf, num_head))
        self.c = fuse(MODULES * nf, nf)
        for k in range(1, MODULES):
            setattr(self, f'c{k}', fuse((k + 1) * nf, nf))
        self.LR_conv = nn.Conv2D(nf, nf, 3, 1, 1)
        self.upsampler = nn.Sequential(nn.Conv2D(nf, 3 * upscale * upscale, 3, 1, 1), nn.PixelShuffle(upscale))

    def forward(self, x):
        first = self.fea_conv(x)
        dense, outs, feat = first, [], first
        for k in range(1, MODULES + 1):
            out = getattr(self, f'B{k}')(feat)
            outs.append(out)
            if k < MODULES:
                dense = paddle.concat([dense, out], axis=1)
                feat = getattr(self, f'c{k}')(dense)
        return self.upsampler(self.LR_conv(self.c(paddle.concat(outs, axis=1))) + first)


# ---------------------------------------------------------------- detection
def rename_dctlsa(state):
    """PyTorch's batch-norm counters dropped; None when there are none (or the state is not DCTLSA's)."""
    if not all(k in state for k in MARKERS):
        return None
    counters = [k for k in state if k.endswith('.num_batches_tracked')]
    return {k: v for k, v in state.items() if k not in counters} if counters else None


def _check_modules(state):
    for k in range(1, MODULES + 1):
        for body in (0, 1):
            for block in (0, 1):
                key = f'B{k}.body.{body}.transformer_body.0.blocks.{block}.attn.qkv.weight'
                if key not in state:
                    raise ValueError(f'DCTLSA-like keys, but no {key} (six LSABs of two layers of two blocks)')


def detect_dctlsa(state):
    if not all(k in state for k in MARKERS):
        return None
    nf, cin = shape_of(state['fea_conv.weight'])[:2]
    if cin != 3:
        raise ValueError(f'DCTLSA with {cin} input channels; RGB (3) files are supported')
    fused = shape_of(state['c.0.weight'])[1]
    if fused != MODULES * nf:
        raise ValueError(f'DCTLSA c.0 takes {fused} channels, not {MODULES} x {nf} (six LSABs)')
    _check_modules(state)
    out, up_in = shape_of(state['upsampler.0.weight'])[:2]
    s = round((out / 3) ** 0.5)
    if up_in != nf or 3 * s * s != out:
        raise ValueError(f'DCTLSA upsampler.0 maps {up_in} to {out} channels, not {nf} to 3 x scale^2')
    return {'type': 'DCTLSA', 'nf': nf, 'num_head': 5, 'upscale': s}


def consistent(arch):
    if arch['nf'] % arch['num_head']:
        return [('num_head', f'must divide nf {arch["nf"]}, got {arch["num_head"]}')]
    return []


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: the dense concatenations (up to six ``nf`` maps, kept with the six outputs),
    a block's tokens, local branch, qkv (3x), MLP (2x) and the window copies, the upsampling conv's output and the
    output."""
    nf, s = int(arch.get('nf', 55)), int(arch.get('upscale', 4))
    return 4.0 * (24 * nf + 6 * s * s)


# released DCTLSAs: nf 55, 5 heads; x2, x3, x4
BOUNDS = {'nf': Bound(1, 512), 'num_head': Bound(1, 64)}
# beyond the plumbing: layer norm, matmuls, softmax, the MLP's GELU, the reflect pad and windows at run-time sizes
# (cast, //, %; no bias table, no mask), batch norm, the depthwise convs, leaky ReLU and the pixel shuffle
EXPORT_OPS = (GELU_OPS | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.PAD | ops.CAST | ops.FLOOR_DIVIDE | ops.MODULO
              | ops.DEPTHWISE_CONV | ops.LEAKY_RELU | ops.PIXEL_SHUFFLE
              | ops.ExportOps('batch_norm', 'data_layout epsilon is_test momentum trainable_statistics '
                              'use_global_stats', '1.batch_norm_',
                              'epsilon is_test momentum trainable_statistics use_global_stats'))
SPEC = ArchSpec('DCTLSA', DCTLSA, detect=detect_dctlsa, rename=rename_dctlsa, scale_key='upscale',
                pad_mode='own', pad_multiple=lambda arch: WINDOW, min_side=lambda arch: WINDOW,
                bytes_per_pixel=bytes_per_pixel, undetectable={'num_head': (5,)}, bounds=BOUNDS, consistent=consistent,
                export_ops=EXPORT_OPS)
