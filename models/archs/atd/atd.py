"""ATD (Zhang et al., CVPR 2024: the Adaptive Token Dictionary transformer) and its spec.

SwinIR's frame: a shallow conv, tokens and a layer norm (``patch_embed.norm``), residual groups
(``models.archs.atd.atd_blocks``: ATD layers with a token dictionary each, then a conv, the group's input added
back), a layer norm, a conv after the body (``1conv`` or ``3conv``), the shallow features added back, and one of
four reconstructions told apart by their weights: ``pixelshuffle``, ``pixelshuffledirect`` (ATD-light),
``nearest+conv`` (x4) or none (x1, the input added back). DIV2K's mean is taken off first and added back last
unless the file has the ``no_norm`` marker (one-channel networks: no mean), times ``img_range``.

Odd sizes, as the original pads: the bottom and right are mirrored (the edge row repeated) up to a multiple of the
window; the output is cropped back to scale x input. That mirror needs a side of at least half a window.

Not in the weights: ``category_size`` (spandrel's rule: 128 for ATD-light, a direct pixel shuffle at width 48,
256 otherwise), ``img_range`` (1), and the order of ties in the category sort, ``category_order``
(``models.archs.atd.category_order``: 'stable', the default, or 'torch_cpu', PyTorch's CPU sort replayed, dynamic
graph only). Names are the official ones (and spandrel's); ``relative_position_index_SA`` is kept and checked
against the one the network computes.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import ARGMAX_OPS, EXP_OPS, GELU_OPS, NORMALIZE_OPS, SIGMOID_OPS
from ...specs import ArchSpec, Bound, count_some, shape_of
from ..swinir.window_attention import (PixelShuffleUpsample, relative_position_index,
                                       shifted_window_mask, to_image, to_tokens)
from .atd_blocks import ATDB, ORDERS, residual_conv

UPSAMPLERS = ('pixelshuffle', 'pixelshuffledirect', 'nearest+conv', '')
NUM_FEAT = 64


def pad_mirror(x, window):
    """``x`` (N, C, H, W) extended at the bottom and right by its mirror image (edge included) to multiples of
    ``window`` (run-time sizes; a side of at least window / 2)."""
    for axis in (2, 3):
        size = paddle.shape(x)[axis].astype('int64')
        extra = (window - size % window) % window
        rows = paddle.concat([paddle.arange(size, dtype='int64'), size - 1 - paddle.arange(extra, dtype='int64')])
        x = paddle.gather(x, rows, axis=axis)
    return x


class ATD(nn.Layer):
    def __init__(self, in_chans=3, embed_dim=90, depths=(6, 6, 6, 6), num_heads=(6, 6, 6, 6), window_size=8,
                 category_size=256, num_tokens=64, reducted_dim=4, convffn_kernel_size=5, mlp_ratio=2.0,
                 qkv_bias=True, upscale=1, img_range=1.0, upsampler='', resi_connection='1conv', norm=True,
                 category_order='stable'):
        super().__init__()
        if upsampler not in UPSAMPLERS or resi_connection not in ('1conv', '3conv') or category_order not in ORDERS:
            raise ValueError(f'ATD upsampler {upsampler!r}, resi_connection {resi_connection!r}, category_order '
                             f'{category_order!r}: one of {UPSAMPLERS}, 1conv/3conv, {tuple(ORDERS)}')
        self.window, self.upscale, self.upsampler = window_size, upscale, upsampler
        self.img_range = float(img_range) if norm else 1.0  # no_norm: neither the mean nor the range
        mean = (0.4488, 0.4371, 0.4040) if in_chans == 3 and norm else (0.0,) * in_chans
        self.register_buffer('mean', paddle.to_tensor(np.array(mean, 'float32').reshape(1, -1, 1, 1)),
                             persistable=False)
        if not norm:
            self.register_buffer('no_norm', paddle.zeros([1]))
        self.conv_first = nn.Conv2D(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = nn.Layer()
        self.patch_embed.norm = nn.LayerNorm(embed_dim)
        self.register_buffer('relative_position_index_SA',
                             paddle.to_tensor(relative_position_index(window_size).reshape(window_size ** 2, -1)))
        self.layers = nn.LayerList([
            ATDB(embed_dim, d, h, window_size, category_size, num_tokens, reducted_dim, convffn_kernel_size,
                 mlp_ratio, qkv_bias, resi_connection, category_order) for d, h in zip(depths, num_heads)])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        self._build_tail(in_chans, embed_dim)

    def _build_tail(self, out_ch, dim):
        if self.upsampler == 'pixelshuffledirect':
            self.upsample = nn.Sequential(nn.Conv2D(dim, out_ch * self.upscale ** 2, 3, 1, 1),
                                          nn.PixelShuffle(self.upscale))
            return
        if self.upsampler:
            self.conv_before_upsample = nn.Sequential(nn.Conv2D(dim, NUM_FEAT, 3, 1, 1), nn.LeakyReLU(0.01))
        if self.upsampler == 'pixelshuffle':
            self.upsample = PixelShuffleUpsample(self.upscale, NUM_FEAT)
        elif self.upsampler == 'nearest+conv':
            self.conv_up1 = nn.Conv2D(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_up2 = nn.Conv2D(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_hr = nn.Conv2D(NUM_FEAT, NUM_FEAT, 3, 1, 1)
        self.conv_last = nn.Conv2D(NUM_FEAT if self.upsampler else dim, out_ch, 3, 1, 1)

    def forward_features(self, x):
        shape = paddle.shape(x)
        height, width = shape[2], shape[3]
        mask = shifted_window_mask(height, width, self.window, self.window // 2)
        index = self.relative_position_index_SA.reshape([-1])
        tokens = self.patch_embed.norm(to_tokens(x).reshape([shape[0], -1, x.shape[1]]))
        for layer in self.layers:
            tokens = layer(tokens, height, width, index, mask)
        return to_image(self.norm(tokens).reshape([shape[0], height, width, x.shape[1]]))

    def _tail(self, feat, padded):
        if self.upsampler == 'pixelshuffledirect':
            return self.upsample(feat)
        if not self.upsampler:
            return padded + self.conv_last(feat)
        out = self.conv_before_upsample(feat)
        if self.upsampler == 'pixelshuffle':
            return self.conv_last(self.upsample(out))
        for conv in (self.conv_up1, self.conv_up2):
            out = F.leaky_relu(conv(F.interpolate(out, scale_factor=2, mode='nearest')), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(out), 0.2))

    def forward(self, x):
        padded = (pad_mirror(x, self.window) - self.mean) * self.img_range
        feat = self.conv_first(padded)
        out = self._tail(self.conv_after_body(self.forward_features(feat)) + feat, padded)
        shape = paddle.shape(x)
        return (out / self.img_range + self.mean)[:, :, :shape[2] * self.upscale, :shape[3] * self.upscale]


# ---------------------------------------------------------------- detection
LAYER0 = 'layers.0.residual_group.layers.0.'
MARKERS = ('relative_position_index_SA', 'conv_first.weight', 'layers.0.residual_group.td', LAYER0 + 'attn_atd.wq.weight',
           LAYER0 + 'attn_aca.logit_scale')


def _window(state):
    """The window the ``relative_position_index_SA`` buffer is of; it must be the index the network computes."""
    index = np.asarray(state['relative_position_index_SA'])
    window = math.isqrt(index.shape[0]) if index.ndim == 2 else 0
    if not 1 <= window <= 64 or not np.array_equal(index, relative_position_index(window)):
        raise ValueError(f'ATD relative_position_index_SA of shape {list(index.shape)} is not a window\'s index')
    return window


def _tail(state, in_ch):
    """``(upsampler, upscale)`` from the reconstruction's keys (spandrel's reading)."""
    if 'conv_up1.weight' in state:
        return 'nearest+conv', 4
    if 'conv_before_upsample.0.weight' in state:
        convs = 0
        while f'upsample.{2 * convs}.weight' in state:
            convs += 1
        first = shape_of(state['upsample.0.weight'])[0] if convs else 0
        if convs == 1 and first == 9 * NUM_FEAT:
            return 'pixelshuffle', 3
        if not convs or first != 4 * NUM_FEAT:
            raise ValueError(f'ATD pixel-shuffle upsampler of {convs} convs with {first} outputs: not 64 x 4 each')
        return 'pixelshuffle', 2 ** convs
    if 'conv_last.weight' in state:
        return '', 1
    out = shape_of(state['upsample.0.weight'])[0] if 'upsample.0.weight' in state else 0
    scale = math.isqrt(out // max(in_ch, 1))
    if scale < 1 or scale * scale * in_ch != out:
        raise ValueError(f'ATD upsample.0 conv has {out} outputs, not {in_ch} x scale^2')
    return 'pixelshuffledirect', scale


def detect_atd(state):
    """ATD's arch from its weights (spandrel's reading); None for other networks."""
    if not all(k in state for k in MARKERS):
        return None
    if 'absolute_pos_embed' in state:
        raise ValueError('an ATD with an absolute position embedding (one input size) is not supported')
    embed, in_ch = shape_of(state['conv_first.weight'])[:2]
    groups = count_some(state, 'layers.{}.residual_group.td', 'ATD', 'residual group')
    depths = [count_some(state, f'layers.{i}.residual_group.layers.{{}}.wqkv.weight', 'ATD', f'layer in group {i}')
              for i in range(groups)]
    heads = [shape_of(state[f'layers.{i}.residual_group.layers.0.attn_win.relative_position_bias_table'])[1]
             for i in range(groups)]
    upsampler, scale = _tail(state, in_ch)
    light = upsampler == 'pixelshuffledirect' and embed == 48
    return {'type': 'ATD', 'in_chans': in_ch, 'embed_dim': embed, 'depths': depths, 'num_heads': heads,
            'window_size': _window(state), 'category_size': 128 if light else 256,
            'num_tokens': shape_of(state[LAYER0 + 'attn_atd.scale'])[0],
            'reducted_dim': shape_of(state[LAYER0 + 'attn_atd.wq.weight'])[0],
            'convffn_kernel_size': shape_of(state[LAYER0 + 'convffn.dwconv.depthwise_conv.0.weight'])[2],
            'mlp_ratio': shape_of(state[LAYER0 + 'convffn.fc1.weight'])[0] / embed,
            'qkv_bias': LAYER0 + 'wqkv.bias' in state, 'upscale': scale, 'upsampler': upsampler,
            'resi_connection': '1conv' if 'layers.0.conv.weight' in state else '3conv',
            'norm': 'no_norm' not in state}


def atd_consistent(arch):
    """Heads that divide the width; an even window (shifted by half); a depthwise kernel of odd size; an MLP with
    width; a nearest+conv tail at x4 only; '3conv' at a width of at least 4."""
    dim, heads = arch['embed_dim'], arch['num_heads']
    if len(heads) != len(arch['depths']):
        return [('num_heads', f'must have one entry per group ({len(arch["depths"])} in depths), got {len(heads)}')]
    odd = next((h for h in heads if dim % h), None)
    problems = [('num_heads', f'each must divide embed_dim {dim}, got {odd}')] if odd is not None else []
    if arch['window_size'] % 2:
        problems.append(('window_size', f'must be even (shifted by half), got {arch["window_size"]}'))
    if arch['convffn_kernel_size'] % 2 == 0:
        problems.append(('convffn_kernel_size', f'must be odd, got {arch["convffn_kernel_size"]}'))
    if int(dim * arch['mlp_ratio']) < 1:
        problems.append(('mlp_ratio', f'{arch["mlp_ratio"]} x embed_dim {dim} leaves the ConvFFN no width'))
    if arch['upsampler'] == 'nearest+conv' and arch['upscale'] != 4:
        problems.append(('upscale', f"must be 4 with upsampler 'nearest+conv', got {arch['upscale']}"))
    if arch['resi_connection'] == '3conv' and dim < 4:
        problems.append(('embed_dim', f"must be at least 4 with resi_connection '3conv', got {dim}"))
    return problems[:1]


def atd_bytes(arch):
    """fp32 working set per LR pixel: the tokens and their copies (norm, qkv 3x, three branches, the ConvFFN's
    hidden map twice), the window attention rows (heads x window^2), a category group's rows (heads x group), the
    similarity map and its normalised copy (2 x tokens), the reconstruction."""
    c, s = int(arch.get('embed_dim', 90)), int(arch.get('upscale', 1))
    window, heads = int(arch.get('window_size', 8)), max(arch.get('num_heads', (6,)))
    hidden = 2 * float(arch.get('mlp_ratio', 2.0)) * c
    group = heads * int(arch.get('category_size', 256))
    tail = (3 * NUM_FEAT if arch.get('upsampler') in ('pixelshuffle', 'nearest+conv') else 2 * 3) * s * s
    return 4.0 * (10 * c + hidden + heads * window * window + group + 2 * int(arch.get('num_tokens', 64)) + tail)


def min_side(arch):
    """The mirror pad needs a side of at least half a window (spandrel: 8, at window 16)."""
    return max(1, int(arch.get('window_size', 8)) // 2)


# released ATDs: embed 48 (light) to 210, 4-6 groups of 6 layers, 4-6 heads, window 16, 64-128 tokens, x1-x4
BOUNDS = {'in_chans': Bound(1, 16), 'embed_dim': Bound(1, 512), 'depths': Bound(1, 32, count=(1, 16)),
          'num_heads': Bound(1, 64, count=(1, 16)), 'window_size': Bound(2, 64), 'category_size': Bound(1, 4096),
          'num_tokens': Bound(1, 1024), 'reducted_dim': Bound(1, 512), 'convffn_kernel_size': Bound(1, 31),
          'mlp_ratio': Bound(0, 16, real=True)}
# beyond the plumbing: window attention's layer norms, matmuls, softmax, GELU, run-time windows (cast, //, %), the
# bias table's gather and the shift mask; the dictionary's L2 norms and clip, sigmoid, the exp of the logit scale,
# argmax and argsort (the category sort), the instance norm's means and ** -0.5, the mirror pad's gathers, depthwise
# convs, the upsamplers (pixel shuffle; nearest and leaky ReLU) and '3conv''s leaky ReLU
EXPORT_OPS = (GELU_OPS | NORMALIZE_OPS | SIGMOID_OPS | ARGMAX_OPS | EXP_OPS | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX
              | ops.CAST | ops.FLOOR_DIVIDE | ops.MODULO | ops.MEAN | ops.POWER | ops.DEPTHWISE_CONV | ops.LEAKY_RELU
              | ops.PIXEL_SHUFFLE | ops.NEAREST | ops.DIVIDE
              | ops.ExportOps('gather range greater_equal not_equal argsort flatten_contiguous_range less_than squeeze2 '
                              'unsqueeze2',
                              'descending stable start_axis stop_axis',
                              '1.gather 1.arange 1.greater_equal 1.not_equal 1.argsort 1.flatten 1.less_than 1.squeeze '
                              '1.unsqueeze',
                              'descending stable start_axis stop_axis'))
SPEC = ArchSpec('ATD', ATD, detect=detect_atd, scale_key='upscale', bytes_per_pixel=atd_bytes, pad_mode='own',
                pad_multiple=lambda arch: int(arch.get('window_size', 8)), min_side=min_side,
                undetectable={'category_size': (256, 128), 'img_range': (1.0, 255.0),
                              'category_order': ('stable', 'torch_cpu')},
                bounds=BOUNDS, consistent=atd_consistent, export_ops=EXPORT_OPS)
