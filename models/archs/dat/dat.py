"""DAT (Dual Aggregation Transformer, Chen et al., ICCV 2023) with the official parameter names, and its
``ArchSpec``. The blocks are in ``models.archs.dat.dat_blocks``.

One network covers the released variants, told apart by the weights alone:

=========  =========  ============  ==========  ======  =====================  ========
variant    embed_dim  depth         split_size  expand  upsampler              resi
=========  =========  ============  ==========  ======  =====================  ========
DAT        180        [6] x 6       [8, 32]     4       pixelshuffle           1conv
DAT-S      180        [6] x 6       [8, 16]     2       pixelshuffle           1conv
DAT-2      180        [6] x 6       [8, 32]     2       pixelshuffle           1conv
DAT-light  60         [18]          [8, 32]     2       pixelshuffledirect     3conv
=========  =========  ============  ==========  ======  =====================  ========

Any H and W work (``pad_multiple`` 1): the spatial attention pads to its window internally and crops back, and
the output is exactly scale x input. PyTorch's derived buffers (the shifted-window masks precomputed for the
training size, ``attn_mask_0/1``; batch norm's ``num_batches_tracked``) are dropped by ``rename``: the masks
are built at run time for the size at hand. The relative-position tables (``rpe_biases``,
``relative_position_index``) are kept: ``rpe_biases`` is where the window size is read from.
"""
import math
import re

import numpy as np
import paddle
import paddle.nn as nn

from ... import export_ops as ops
from .dat_blocks import DATB, image_to_tokens, tokens_to_image
from ...legacy_ops import GELU_OPS, NORMALIZE_OPS, SIGMOID_OPS
from ...runtime_shape import PAD_TO_MULTIPLE_OPS, hw
from ...specs import ArchSpec, Bound, shape_of

RGB_MEAN = (0.4488, 0.4371, 0.4040)
UPSAMPLERS = ('pixelshuffle', 'pixelshuffledirect')
RESI_CONNECTIONS = ('1conv', '3conv')
NUM_FEAT = 64  # the pixelshuffle upsampler's width, fixed in DAT


def resi_conv(dim, kind):
    """'1conv': a 3x3 conv; '3conv': 3x3 to dim/4, 1x1, 3x3 back, with LeakyReLU(0.2) between."""
    if kind == '1conv':
        return nn.Conv2D(dim, dim, 3, padding=1)
    q = dim // 4
    return nn.Sequential(nn.Conv2D(dim, q, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2D(q, q, 1), nn.LeakyReLU(0.2),
                         nn.Conv2D(q, dim, 3, padding=1))


class ResidualGroup(nn.Layer):
    def __init__(self, dim, num_heads, split_size, expansion_factor, qkv_bias, depth, resi_connection, rg_idx):
        super().__init__()
        self.blocks = nn.LayerList([DATB(dim, num_heads, split_size, expansion_factor, qkv_bias, rg_idx, i)
                                    for i in range(depth)])
        self.conv = resi_conv(dim, resi_connection)

    def forward(self, x, h, w):
        res = x
        for block in self.blocks:
            x = block(x, h, w)
        return res + image_to_tokens(self.conv(tokens_to_image(x, h, w)))


class ToTokens(nn.Layer):
    def forward(self, x):
        return image_to_tokens(x)


def upsample_layers(scale, num_feat):
    """Conv + pixel shuffle by 2, ``log2(scale)`` times, or once by 3."""
    if scale == 3:
        return [nn.Conv2D(num_feat, 9 * num_feat, 3, padding=1), nn.PixelShuffle(3)]
    if scale < 1 or scale & (scale - 1):
        raise ValueError(f'DAT with the pixelshuffle upsampler supports scales 2^n and 3, got {scale}')
    return [layer for _ in range(int(math.log2(scale)))
            for layer in (nn.Conv2D(num_feat, 4 * num_feat, 3, padding=1), nn.PixelShuffle(2))]


class DAT(nn.Layer):
    def __init__(self, in_chans=3, embed_dim=180, split_size=(2, 4), depth=(2, 2, 2, 2), num_heads=(2, 2, 2, 2),
                 expansion_factor=4.0, qkv_bias=True, upscale=2, resi_connection='1conv', upsampler='pixelshuffle'):
        super().__init__()
        if upsampler not in UPSAMPLERS or resi_connection not in RESI_CONNECTIONS:
            raise ValueError(f'DAT upsampler must be one of {UPSAMPLERS} and resi_connection one of '
                             f'{RESI_CONNECTIONS}, got {upsampler!r} and {resi_connection!r}')
        if len(depth) != len(num_heads) or len(split_size) != 2:
            raise ValueError(f'DAT needs one head count per group and two split sizes, got depth {list(depth)}, '
                             f'num_heads {list(num_heads)}, split_size {list(split_size)}')
        self.upsampler = upsampler
        mean = RGB_MEAN if in_chans == 3 else (0.0,) * in_chans
        self.register_buffer('mean', paddle.to_tensor(np.array(mean, 'float32').reshape(1, -1, 1, 1)),
                             persistable=False)
        self.conv_first = nn.Conv2D(in_chans, embed_dim, 3, padding=1)
        self.before_RG = nn.Sequential(ToTokens(), nn.LayerNorm(embed_dim))
        self.layers = nn.LayerList([ResidualGroup(embed_dim, num_heads[i], list(split_size), expansion_factor,
                                                  qkv_bias, depth[i], resi_connection, i) for i in range(len(depth))])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = resi_conv(embed_dim, resi_connection)
        if upsampler == 'pixelshuffle':
            self.conv_before_upsample = nn.Sequential(nn.Conv2D(embed_dim, NUM_FEAT, 3, padding=1), nn.LeakyReLU())
            self.upsample = nn.Sequential(*upsample_layers(upscale, NUM_FEAT))
            self.conv_last = nn.Conv2D(NUM_FEAT, in_chans, 3, padding=1)
        else:
            self.upsample = nn.Sequential(nn.Conv2D(embed_dim, upscale * upscale * in_chans, 3, padding=1),
                                          nn.PixelShuffle(upscale))

    def forward_features(self, x):
        h, w = hw(x)
        x = self.before_RG(x)
        for layer in self.layers:
            x = layer(x, h, w)
        return tokens_to_image(self.norm(x), h, w)

    def forward(self, x):
        x = self.conv_first(x - self.mean)
        x = self.conv_after_body(self.forward_features(x)) + x
        if self.upsampler == 'pixelshuffle':
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        else:
            x = self.upsample(x)
        return x + self.mean


# ---------------------------------------------------------------- detection and sizing
DAT_KEY = 'layers.0.blocks.0.attn.attns.0.rpe_biases'


def rename_dat(state):
    """PyTorch's derived buffers dropped (shifted-window masks, batch-norm counters); None when there are none."""
    if DAT_KEY not in state:
        return None
    derived = [k for k in state if re.search(r'\.attn_mask_[01]$|\.num_batches_tracked$', k)]
    return {k: v for k, v in state.items() if k not in derived} if derived else None


def _indices(state, pattern):
    found = {int(m.group(1)) for k in state for m in [re.match(pattern, k)] if m}
    if not found or found != set(range(len(found))):
        raise ValueError(f'DAT keys, but the indices matching {pattern!r} are not 0..N-1: {sorted(found)[:8]}')
    return len(found)


def split_size_of(state, family='DAT'):
    """``split_size`` from the first block's offset table (its last row is (h - 1, w - 1)); DAT's and RGT's."""
    table = state[DAT_KEY]
    table = np.asarray(table.numpy() if hasattr(table, 'numpy') else table)
    split = [int(round(float(v))) + 1 for v in table[-1]] if table.ndim == 2 and table.shape[1] == 2 else []
    if len(split) != 2 or min(split) < 1 or table.shape[0] != (2 * split[0] - 1) * (2 * split[1] - 1):
        raise ValueError(f'{family} rpe_biases of shape {list(table.shape)} is not a (2h-1)(2w-1) x 2 offset table')
    return split


def _heads(state, depth):
    heads = []
    for i, d in enumerate(depth):
        if d >= 2:
            heads.append(shape_of(state[f'layers.{i}.blocks.1.attn.temperature'])[0])
        else:  # a single spatial block: each of its halves has half the heads
            heads.append(2 * shape_of(state[f'layers.{i}.blocks.0.attn.attns.0.pos.pos3.2.weight'])[0])
    return heads


def _upscale(state, in_chans, upsampler):
    if upsampler == 'pixelshuffledirect':
        out = shape_of(state['upsample.0.weight'])[0]
        r = math.isqrt(out // in_chans)
        if r * r * in_chans != out:
            raise ValueError(f'DAT upsample.0 conv has {out} outputs, not {in_chans} x scale^2')
        return r
    convs = sum(1 for k in state if re.match(r'^upsample\.\d+\.weight$', k))
    first = shape_of(state['upsample.0.weight'])
    if first[1] != NUM_FEAT:
        raise ValueError(f'DAT upsample convs take {first[1]} channels, DAT uses {NUM_FEAT}')
    return 3 if first[0] == 9 * NUM_FEAT else 2 ** convs


def detect_dat(state):
    if DAT_KEY not in state or 'conv_first.weight' not in state:
        return None
    embed_dim, in_chans = shape_of(state['conv_first.weight'])[:2]
    depth = [_indices(state, rf'^layers\.{i}\.blocks\.(\d+)\.') for i in range(_indices(state, r'^layers\.(\d+)\.'))]
    upsampler = 'pixelshuffle' if 'conv_last.weight' in state else 'pixelshuffledirect'
    if 'upsample.0.weight' not in state:
        raise ValueError('DAT keys, but no upsample.0.weight (the upsampler)')
    return {'type': 'DAT', 'in_chans': in_chans, 'embed_dim': embed_dim, 'split_size': split_size_of(state),
            'depth': depth, 'num_heads': _heads(state, depth),
            'expansion_factor': shape_of(state['layers.0.blocks.0.ffn.fc1.weight'])[0] / embed_dim,
            'qkv_bias': 'layers.0.blocks.0.attn.qkv.bias' in state,
            'upscale': _upscale(state, in_chans, upsampler),
            'resi_connection': '1conv' if 'conv_after_body.weight' in state else '3conv', 'upsampler': upsampler}


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: token maps and the SGFN's hidden ones, the window attention matrices
    (heads x window tokens per pixel), the HR output."""
    c, s = int(arch.get('embed_dim', 180)), SPEC.scale(arch)
    ef, heads = float(arch.get('expansion_factor', 4.0)), max(arch.get('num_heads', (2,)))
    window = int(np.prod(arch.get('split_size', (2, 4))))
    return 4.0 * (12 * c + 2 * ef * c + 2 * heads * window + 2 * 3 * s * s)


# released DATs: embed 60 or 180, split 8 x 16 or 8 x 32, up to 6 groups of 6 blocks (or one of 18), 6 heads
DAT_BOUNDS = {'embed_dim': Bound(1, 512), 'split_size': Bound(1, 64, count=(2, 2)),
              'depth': Bound(1, 64, count=(1, 16)), 'num_heads': Bound(2, 64, count=(1, 16)),
              'expansion_factor': Bound(0, 16, real=True)}


def dat_consistent(arch):
    """Widths that must fit each other: one head count per group, half the heads on each half of the channels,
    and no zero-width layer (the position MLP is embed_dim / 32 wide, the gate half the FFN's)."""
    dim, heads = arch['embed_dim'], arch['num_heads']
    if len(heads) != len(arch['depth']):
        return [('num_heads', f'must have one entry per group ({len(arch["depth"])} in depth), got {len(heads)}')]
    odd = next((h for h in heads if dim % h or (dim // 2) % (h // 2)), None)
    if odd is not None:
        return [('num_heads', f'each must divide embed_dim {dim}, and half of it half the width, got {odd}')]
    if dim < 32:
        return [('embed_dim', f'must be at least 32 (its position MLP is embed_dim / 32 wide), got {dim}')]
    if int(dim * arch['expansion_factor']) < 2:
        return [('expansion_factor', f'{arch["expansion_factor"]} x embed_dim {dim} leaves the FFN no width')]
    return []


# what its exports hold beyond the plumbing (models/export_ops.py): attention (matmul, softmax, normalize, the
# position bias's gather), layer and batch norms, GELU, ReLU, sigmoid gates, depthwise convs, the channel
# attention's pooling, splits and flattens, the zero pad and windows at run-time sizes, and the upsampler (pixel
# shuffle; 3conv's leaky ReLUs)
EXPORT_OPS = (GELU_OPS | SIGMOID_OPS | NORMALIZE_OPS | PAD_TO_MULTIPLE_OPS | ops.PIXEL_SHUFFLE | ops.RELU
              | ops.LEAKY_RELU | ops.FLOOR_DIVIDE | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.DEPTHWISE_CONV
              | ops.POOL | ops.SPLIT | ops.DIVIDE
              | ops.ExportOps('batch_norm flatten_contiguous_range gather',
                              'data_layout is_test momentum trainable_statistics use_global_stats start_axis stop_axis',
                              '1.batch_norm_ 1.flatten 1.gather',
                              'is_test momentum trainable_statistics use_global_stats start_axis stop_axis'))
SPEC = ArchSpec('DAT', DAT, detect=detect_dat, rename=rename_dat, scale_key='upscale',
                bytes_per_pixel=bytes_per_pixel, bounds=DAT_BOUNDS, consistent=dat_consistent, export_ops=EXPORT_OPS)
