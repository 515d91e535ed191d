"""HAT (Chen et al., "Activating More Pixels in Image Super-Resolution Transformer", 2023) and its ``ArchSpec``.

Residual hybrid attention groups (RHAG): hybrid attention blocks (HAB: shifted window attention plus a
channel-attention conv branch, CAB, weighted by ``conv_scale``), then one overlapping cross-attention block
(OCAB: queries from each window, keys and values from a window ``overlap_ratio`` larger around it), then a
conv. HAT-S, HAT and HAT-L differ in width, depth, groups and ``compress_ratio``/``squeeze_factor``, which the
weights tell. Reconstruction by pixel shuffle. Names are the official ones (and spandrel's); the fixed index
buffers ``relative_position_index_SA``/``_OCA`` of the official files are dropped on reading.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU, SIGMOID_OPS, sigmoid
from ...specs import ArchSpec, Bound, shape_of
from .swinir import (SWIN_BOUNDS, PatchNorm, attention_bytes, rename_swin_buffers, stage_shapes, swin_consistent,
                     window_of)
from .window_attention import (WINDOW_ATTENTION_OPS, Mlp, PixelShuffleUpsample, WindowAttention, attend, bias_table,
                               crop_to, image_mean, index_buffer, merge_heads, pad_to_multiple, position_bias,
                               relative_position_index, shifted_attention, split_heads, to_image, to_tokens,
                               trunc_linear, window_features, window_partition, window_reverse)


class _GlobalMean(nn.Layer):
    """Adaptive average pooling to 1 x 1, as a mean (no weights: keeps the official Sequential indices)."""

    def forward(self, x):
        return x.mean(axis=[2, 3], keepdim=True)


class _Sigmoid(nn.Layer):
    def forward(self, x):
        return sigmoid(x)


class ChannelAttention(nn.Layer):
    def __init__(self, feat, squeeze):
        super().__init__()
        self.attention = nn.Sequential(_GlobalMean(), nn.Conv2D(feat, feat // squeeze, 1), nn.ReLU(),
                                       nn.Conv2D(feat // squeeze, feat, 1), _Sigmoid())

    def forward(self, x):
        return x * self.attention(x)


class CAB(nn.Layer):
    """Channel-attention block: conv to dim / compress, GELU, conv back, channel attention."""

    def __init__(self, feat, compress, squeeze):
        super().__init__()
        self.cab = nn.Sequential(nn.Conv2D(feat, feat // compress, 3, 1, 1), GELU(),
                                 nn.Conv2D(feat // compress, feat, 3, 1, 1), ChannelAttention(feat, squeeze))

    def forward(self, x):
        return self.cab(x)


class HAB(nn.Layer):
    """norm; (shifted) window attention + conv_scale x CAB; residual; norm, MLP, residual."""

    def __init__(self, dim, heads, window, shift, compress, squeeze, conv_scale, mlp_ratio, qkv_bias):
        super().__init__()
        self.window, self.shift, self.conv_scale = window, shift, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads, qkv_bias)
        self.conv_block = CAB(dim, compress, squeeze)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, index, mask):
        y = self.norm1(x)
        conv = to_tokens(self.conv_block(to_image(y)))
        x = x + shifted_attention(y, self.attn, self.window, self.shift, index, mask) + conv * self.conv_scale
        return x + self.mlp(self.norm2(x))


class OCAB(nn.Layer):
    """Overlapping cross-attention: each window's queries attend to keys/values of the ``overlap`` x
    ``overlap`` window centred on it (zero-padded at the borders); then proj, residual, norm, MLP, residual."""

    def __init__(self, dim, window, overlap_ratio, heads, qkv_bias, mlp_ratio):
        super().__init__()
        self.window, self.heads = window, heads
        self.overlap = int(window * overlap_ratio) + window
        self.scale = (dim // heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = trunc_linear(dim, 3 * dim, bias=qkv_bias)
        self.relative_position_bias_table = bias_table(self, (window + self.overlap - 1) ** 2, heads)
        self.proj = trunc_linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _keys_values(self, qkv, c):
        """(2, B * windows, overlap^2, C) keys and values of the overlapping windows: ``overlapping_windows``
        of the map zero-padded by (overlap - window) / 2, as ``nn.Unfold`` with that padding cuts them."""
        before = (self.overlap - self.window) // 2
        after = self.overlap - self.window - before
        # padded as an image (pad3d): the oneDNN predictor pads a channels-last 'pad' op on the wrong axes
        kv = to_tokens(F.pad(to_image(qkv[:, :, :, c:]), [before, after, before, after]))  # (B, H', W', 2C)
        windows = overlapping_windows(kv, self.window, self.overlap)  # (B * windows, overlap^2, 2C)
        o2 = self.overlap ** 2
        return windows.reshape([-1, o2, 2, c]).transpose([2, 0, 1, 3])

    def forward(self, x, index):
        shape, c = paddle.shape(x), x.shape[-1]
        qkv = self.qkv(self.norm1(x))  # (B, H, W, 3C)
        q = split_heads(window_partition(qkv[:, :, :, :c], self.window), self.heads)
        kv = self._keys_values(qkv, c)
        k, v = split_heads(kv[0], self.heads), split_heads(kv[1], self.heads)
        bias = position_bias(self.relative_position_bias_table, index, self.window ** 2, self.overlap ** 2)
        out = merge_heads(attend(q, k, v, bias, self.scale))
        x = x + self.proj(window_reverse(out, self.window, shape[1], shape[2]))
        return x + self.mlp(self.norm2(x))


def overlapping_windows(x, stride, size):
    """(B * windows, size^2, C) windows of ``size`` x ``size`` every ``stride`` pixels of ``x`` (B, H, W, C),
    row-major, H and W being (windows per side - 1) x stride + size.

    Written as strided slices of a grid of blocks (of the largest side dividing both ``stride`` and ``size``):
    window (i, j) is blocks (i s + a, j s + b) for a, b < size / block. Slices, stacks and reshapes export to the
    legacy graph and to ONNX with any H and W (paddle2onnx has no ``unfold``).
    """
    block = math.gcd(stride, size)
    shape, c = paddle.shape(x), x.shape[-1]
    rows, cols = shape[1] // block, shape[2] // block
    grid = x.reshape([-1, rows, block, cols, block, c]).transpose([0, 1, 3, 2, 4, 5])  # (B, R, C', b, b, C)
    step, count = stride // block, size // block
    nrows, ncols = rows - count + step, cols - count + step  # windows per side x step
    parts = [paddle.stack([grid[:, a:a + nrows:step, b:b + ncols:step] for b in range(count)], axis=3)
             for a in range(count)]
    win = paddle.stack(parts, axis=3)  # (B, wr, wc, a, b, block, block, C)
    win = win.transpose([0, 1, 2, 3, 5, 4, 6, 7])
    return win.reshape([-1, size * size, c])


class _Blocks(nn.Layer):
    """``residual_group``: the HABs and the OCAB (the official names)."""

    def __init__(self, blocks, overlap_attn):
        super().__init__()
        self.blocks = nn.LayerList(blocks)
        self.overlap_attn = overlap_attn


class RHAG(nn.Layer):
    """Residual hybrid attention group: HABs, an OCAB, a conv (or none: 'identity'), plus the group's input."""

    def __init__(self, dim, depth, heads, cfg):
        super().__init__()
        window = cfg['window_size']
        blocks = [HAB(dim, heads, window, 0 if i % 2 == 0 else window // 2, cfg['compress_ratio'],
                      cfg['squeeze_factor'], cfg['conv_scale'], cfg['mlp_ratio'], cfg['qkv_bias'])
                  for i in range(depth)]
        self.residual_group = _Blocks(blocks, OCAB(dim, window, cfg['overlap_ratio'], heads, cfg['qkv_bias'],
                                                   cfg['mlp_ratio']))
        self.conv = nn.Conv2D(dim, dim, 3, 1, 1) if cfg['resi_connection'] == '1conv' else None

    def forward(self, x, index_sa, index_oca, mask):
        out = x
        for block in self.residual_group.blocks:
            out = block(out, index_sa, mask)
        out = self.residual_group.overlap_attn(out, index_oca)
        return (out if self.conv is None else to_tokens(self.conv(to_image(out)))) + x


class HAT(nn.Layer):
    """HAT for any input size: reflect-padded to a multiple of ``window_size`` inside, output cropped to
    exactly ``upscale`` x input. ``conv_scale`` and ``img_range`` are not in the weights (0.01 and 1 in every
    released model)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, upscale=4, embed_dim=180, depths=(6, 6, 6, 6, 6, 6),
                 num_heads=(6, 6, 6, 6, 6, 6), window_size=16, compress_ratio=3, squeeze_factor=30,
                 conv_scale=0.01, overlap_ratio=0.5, mlp_ratio=2.0, qkv_bias=True, resi_connection='1conv',
                 num_feat=64, img_range=1.0):
        super().__init__()
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(f'HAT depths {list(depths)} and num_heads {list(num_heads)} must have one entry '
                             'per residual group')
        if resi_connection not in ('1conv', 'identity'):
            raise ValueError(f"HAT resi_connection must be '1conv' or 'identity', got {resi_connection!r}")
        self.upscale, self.window, self.img_range = upscale, window_size, float(img_range)
        cfg = dict(window_size=window_size, compress_ratio=compress_ratio, squeeze_factor=squeeze_factor,
                   conv_scale=conv_scale, overlap_ratio=overlap_ratio, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                   resi_connection=resi_connection)
        self.register_buffer('mean', image_mean(num_in_ch), persistable=False)
        overlap = int(window_size * overlap_ratio) + window_size
        index_buffer(self, 'index_sa', relative_position_index(window_size))
        index_buffer(self, 'index_oca', relative_position_index(window_size, overlap))
        self.conv_first = nn.Conv2D(num_in_ch, embed_dim, 3, 1, 1)
        self.patch_embed = PatchNorm(embed_dim)
        self.layers = nn.LayerList([RHAG(embed_dim, d, h, cfg) for d, h in zip(depths, num_heads)])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2D(embed_dim, embed_dim, 3, 1, 1) if resi_connection == '1conv' else None
        self.conv_before_upsample = nn.Sequential(nn.Conv2D(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(0.01))
        self.upsample = PixelShuffleUpsample(upscale, num_feat)
        self.conv_last = nn.Conv2D(num_feat, num_out_ch, 3, 1, 1)

    def forward_features(self, x):
        return window_features(self, x, self.index_sa, self.index_oca)

    def forward(self, x):
        feat = self.conv_first((pad_to_multiple(x, self.window) - self.mean) * self.img_range)
        body = self.forward_features(feat)
        feat = (body if self.conv_after_body is None else self.conv_after_body(body)) + feat
        out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        return crop_to(out / self.img_range + self.mean, x, self.upscale)


# ---------------------------------------------------------------- detection
_BLOCK0 = 'layers.0.residual_group.blocks.0.'


def rename_hat(state):
    return rename_swin_buffers(state, 'layers.0.residual_group.overlap_attn.',
                               r'^relative_position_index_(SA|OCA)$|(^|\.)attn_mask$')


def _ratio(state, key, dim, what):
    """``dim / channels`` of ``key``'s output, which must divide ``dim``."""
    ch = shape_of(state[key])[0]
    if ch == 0 or dim % ch:
        raise ValueError(f'{key} has {ch} channels, which do not divide embed_dim {dim} ({what})')
    return dim // ch


def _upscale(state, feat):
    convs = sorted(int(k.split('.')[1]) for k in state if k.startswith('upsample.') and k.endswith('.weight'))
    first = shape_of(state['upsample.0.weight'])[0] if convs else 0
    if convs == [0] and first == 9 * feat:
        return 3
    if not convs or first != 4 * feat or convs != list(range(0, 2 * len(convs), 2)):
        raise ValueError(f'HAT upsample convs {convs[:6]} with {first} outputs do not fit {feat} features')
    return 2 ** len(convs)


def detect_hat(state):
    """HAT's arch from its weights (spandrel's reading); None for other networks."""
    if 'layers.0.residual_group.overlap_attn.relative_position_bias_table' not in state \
            or _BLOCK0 + 'conv_block.cab.0.weight' not in state:
        return None
    if 'absolute_pos_embed' in state:
        raise ValueError('a HAT with an absolute position embedding (one input size) is not supported')
    embed, in_ch = shape_of(state['conv_first.weight'])[:2]
    if not embed or not in_ch:
        raise ValueError(f'conv_first.weight has shape {shape_of(state["conv_first.weight"])}: no channels')
    feat = shape_of(state['conv_last.weight'])[1]
    window = window_of(state, _BLOCK0 + 'attn.relative_position_bias_table')
    side = shape_of(state['layers.0.residual_group.overlap_attn.relative_position_bias_table'])[0]
    overlap = round(side ** 0.5) - window + 1
    if (window + overlap - 1) ** 2 != side or overlap < window:
        raise ValueError(f'the overlapping attention table has {side} rows, not (window {window} + overlap - 1)^2')
    depths, heads = stage_shapes(state, 'layers.{i}.residual_group.overlap_attn.relative_position_bias_table')
    return {'type': 'HAT', 'num_in_ch': in_ch, 'num_out_ch': shape_of(state['conv_last.weight'])[0],
            'upscale': _upscale(state, feat), 'embed_dim': embed, 'depths': depths, 'num_heads': heads,
            'window_size': window,
            'compress_ratio': _ratio(state, _BLOCK0 + 'conv_block.cab.0.weight', embed, 'compress_ratio'),
            'squeeze_factor': _ratio(state, _BLOCK0 + 'conv_block.cab.3.attention.1.weight', embed,
                                     'squeeze_factor'),
            'overlap_ratio': (overlap - window) / window,
            'mlp_ratio': shape_of(state[_BLOCK0 + 'mlp.fc1.weight'])[0] / embed,
            'qkv_bias': _BLOCK0 + 'attn.qkv.bias' in state,
            'resi_connection': '1conv' if 'conv_after_body.weight' in state else 'identity', 'num_feat': feat}


def hat_bytes(arch):
    """``attention_bytes`` plus the OCAB's maps (heads x overlap^2 per token, with the bias and the softmax),
    its unfolded keys and values (2 C x (overlap / window)^2 per token) and the CAB's conv branch. HAT-S x4 on
    the CPU predictor: 87 KB/px at 64 px, 76 KB/px at 128 px; this gives 89 KB/px."""
    window, dim = int(arch.get('window_size', 16)), int(arch.get('embed_dim', 180))
    overlap = int(window * float(arch.get('overlap_ratio', 0.5))) + window
    heads = max(arch.get('num_heads') or (6,))
    return attention_bytes(arch, extra=3 * heads * overlap ** 2 + 2 * dim * (overlap / window) ** 2 + dim)


# released HATs: window 16, overlap ratio 0.5, compress 3 or 24, squeeze 30 or 24, conv_scale 0.01
HAT_BOUNDS = {**{k: v for k, v in SWIN_BOUNDS.items() if k != 'start_unshuffle'}, 'compress_ratio': Bound(1, 512),
              'squeeze_factor': Bound(1, 512), 'conv_scale': Bound(0, 1, real=True),
              'overlap_ratio': Bound(0, 1, real=True)}


def hat_consistent(arch):
    """``swin_consistent``, and the CAB's convs of ``embed_dim // compress_ratio`` and ``// squeeze_factor``
    channels must have some."""
    problems = swin_consistent(arch)
    dim = arch['embed_dim']
    for key in ('compress_ratio', 'squeeze_factor'):
        if not problems and arch[key] > dim:
            problems.append((key, f'must be at most embed_dim {dim} (a conv of embed_dim // {key} channels), '
                                  f'got {arch[key]}'))
    return problems


# beyond the plumbing (models/export_ops.py): window attention's ops, the channel attention's mean, ReLU and
# sigmoid, the overlapping windows' strided slices and stacks, and the upsampler's pixel shuffle and leaky ReLUs
EXPORT_OPS = (WINDOW_ATTENTION_OPS | SIGMOID_OPS | ops.MEAN | ops.RELU | ops.PIXEL_SHUFFLE | ops.LEAKY_RELU
              | ops.ExportOps('strided_slice stack', '', '1.strided_slice'))
SPEC = ArchSpec('HAT', HAT, detect=detect_hat, rename=rename_hat, scale_key='upscale', bytes_per_pixel=hat_bytes,
                pad_multiple=lambda arch: int(arch.get('window_size', 16)),  # tiles on the window grid (swinir.py)
                undetectable={'conv_scale': (0.01,), 'img_range': (1.0, 255.0)}, bounds=HAT_BOUNDS,
                consistent=hat_consistent, export_ops=EXPORT_OPS)
