"""CRAFT (Li et al., ICCV 2023: the Cross-Refinement Adaptive Fusion Transformer) and its spec.

A shallow conv, residual cross-refinement groups (``models.archs.craft.craft_blocks``: each a CRFB and a 3x3
conv, its input added back), a channel LayerNorm, a conv after the body (``1conv``) or none (``identity``), the
shallow features added back, and one conv to ``in_chans x scale^2`` channels with a pixel shuffle. DIV2K's mean is
taken off first and added back last (one-channel networks: none), times ``img_range``.

Odd sizes, as spandrel runs it: the input is padded to a multiple of 16 (reflected as far as the image allows,
then the edge repeated: spandrel's size rule), then, as the original's inference does, by the mirror image of its
last rows and columns up to the next multiple of ``window_size`` above its size (a whole window when it is one
already); the output is cropped back to exactly scale x input. ``window_size`` is not in the weights (16, as
spandrel assumes; at most 16, so that the mirror never needs more rows than the image has); the rectangles (``split_size_0`` x ``split_size_1`` and their transposes) must divide it.

Parameter names are the official ones (and spandrel's). The network-level offset tables and index buffers
(``biases_h``/``_v``, ``relative_position_index_h``/``_v``) are kept: detection reads the rectangles from them, the
indexes are checked against the ones the network computes, and the tables must be the offsets they stand for.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn

from ... import export_ops as ops
from ...legacy_ops import GELU_OPS, NORMALIZE_OPS
from ...specs import ArchSpec, Bound, count_some, shape_of
from ..dat.dat import RGB_MEAN
from ..dat.dat_blocks import relative_tables
from ..drct.drct import pad_reflect_then_replicate
from ..swinir.window_attention import crop_to
from .craft_blocks import RCRFG, ChannelNorm

SIZE_RULE = 16  # spandrel pads CRAFT's input to a multiple of 16 (its SizeRequirements)
TABLES = ('biases_h', 'relative_position_index_h', 'biases_v', 'relative_position_index_v')


def pad_mirror(x, window):
    """``x`` (NCHW) padded at the bottom and right by its mirror image (the edge row repeated once) up to the next
    multiple of ``window`` above its size; H, W >= ``window`` (run-time sizes; the rows gathered in reverse, as
    ONNX has no flip of a run-time length)."""
    for axis in (2, 3):
        size = paddle.shape(x)[axis].astype('int64')
        rows = size - 1 - paddle.arange((size // window + 1) * window - size, dtype='int64')
        x = paddle.concat([x, paddle.gather(x, rows, axis=axis)], axis=axis)
    return x


class CRAFT(nn.Layer):
    """CRAFT for any input size (padded inside as spandrel and the original pad it, output cropped back).
    ``img_range`` is not in the weights (1 in every released model)."""

    def __init__(self, in_chans=3, window_size=16, embed_dim=48, depths=(2, 2, 2, 2), num_heads=(6, 6, 6, 6),
                 split_size_0=4, split_size_1=16, mlp_ratio=2.0, qkv_bias=True, upscale=4, img_range=1.0,
                 resi_connection='1conv'):
        super().__init__()
        if resi_connection not in ('1conv', 'identity'):
            raise ValueError(f"CRAFT resi_connection must be '1conv' or 'identity', got {resi_connection!r}")
        self.window, self.upscale, self.img_range = window_size, upscale, float(img_range)
        mean = RGB_MEAN if in_chans == 3 else (0.0,) * in_chans
        self.register_buffer('mean', paddle.to_tensor(np.array(mean, 'float32').reshape(1, -1, 1, 1)),
                             persistable=False)
        split = (split_size_0, split_size_1)
        for suffix, (h_sp, w_sp) in (('h', split), ('v', split[::-1])):
            biases, index = relative_tables(h_sp, w_sp)
            self.register_buffer(f'biases_{suffix}', paddle.to_tensor(biases))
            self.register_buffer(f'relative_position_index_{suffix}', paddle.to_tensor(index))
        self.conv_first = nn.Conv2D(in_chans, embed_dim, 3, 1, 1)
        self.layers = nn.LayerList([RCRFG(embed_dim, d, h, split, mlp_ratio, qkv_bias)
                                    for d, h in zip(depths, num_heads)])
        self.norm = ChannelNorm(embed_dim)
        self.conv_after_body = nn.Conv2D(embed_dim, embed_dim, 3, 1, 1) if resi_connection == '1conv' else None
        self.upsample = nn.Sequential(nn.Conv2D(embed_dim, upscale * upscale * in_chans, 3, 1, 1),
                                      nn.PixelShuffle(upscale))

    def forward(self, x):
        feat = pad_mirror(pad_reflect_then_replicate(x, SIZE_RULE), self.window)
        feat = self.conv_first((feat - self.mean) * self.img_range)
        body = feat
        for layer in self.layers:
            body = layer(body)
        body = self.norm(body)
        feat = (body if self.conv_after_body is None else self.conv_after_body(body)) + feat
        return crop_to(self.upsample(feat) / self.img_range + self.mean, x, self.upscale)


# ---------------------------------------------------------------- detection
CRAFT_KEY = 'layers.0.residual_group.hf_blocks.0.attn.temperature'


def _split_sizes(state):
    """``(split_size_0, split_size_1)`` from the offset table ``biases_h`` ((2 s0 - 1)(2 s1 - 1) rows, its last
    (s0 - 1, s1 - 1)); the tables must be the offsets of those rectangles."""
    table = np.asarray(state['biases_h'], np.float64)
    if table.ndim != 2 or table.shape[1] != 2 or not len(table):
        raise ValueError(f'CRAFT biases_h of shape {list(table.shape)} is not a (2h-1)(2w-1) x 2 offset table')
    s0, s1 = (int(round(v)) + 1 for v in table[-1])
    if min(s0, s1) < 1 or max(s0, s1) > 64:
        raise ValueError(f'CRAFT biases_h ends in offsets {table[-1].tolist()}: no rectangle of 1 to 64 px')
    for suffix, (h_sp, w_sp) in (('h', (s0, s1)), ('v', (s1, s0))):
        want = relative_tables(h_sp, w_sp)[0]
        got = np.asarray(state[f'biases_{suffix}'], np.float64)
        if got.shape != want.shape or not np.array_equal(got, want):
            raise ValueError(f'CRAFT biases_{suffix} is not the offset table of {h_sp} x {w_sp} rectangles')
    return s0, s1


def detect_craft(state):
    """CRAFT's arch from its weights (spandrel's reading); None for other networks."""
    if CRAFT_KEY not in state or 'conv_first.weight' not in state:
        return None
    missing = [k for k in TABLES + ('upsample.0.weight',) if k not in state]
    if missing:
        raise ValueError(f'CRAFT-like keys, but no {missing[0]}')
    embed, in_ch = shape_of(state['conv_first.weight'])[:2]
    groups = count_some(state, 'layers.{}.conv.weight', 'CRAFT', 'residual group (layers.0.conv)')
    depths = [count_some(state, f'layers.{i}.residual_group.hf_blocks.{{}}.attn.temperature', 'CRAFT',
                         f'fusion block in group {i}')
              for i in range(groups)]
    heads = [shape_of(state[f'layers.{i}.residual_group.hf_blocks.0.attn.temperature'])[0] for i in range(groups)]
    out = shape_of(state['upsample.0.weight'])[0]
    scale = math.isqrt(out // max(in_ch, 1))
    if scale < 1 or scale * scale * in_ch != out:
        raise ValueError(f'CRAFT upsample.0 conv has {out} outputs, not {in_ch} x scale^2')
    s0, s1 = _split_sizes(state)
    srwa = 'layers.0.residual_group.srwa_blocks.0.'
    return {'type': 'CRAFT', 'in_chans': in_ch, 'window_size': 16, 'embed_dim': embed, 'depths': depths,
            'num_heads': heads, 'split_size_0': s0, 'split_size_1': s1,
            'mlp_ratio': shape_of(state[srwa + 'mlp.fc1.weight'])[0] / embed, 'qkv_bias': srwa + 'qkv.bias' in state,
            'upscale': scale, 'resi_connection': '1conv' if 'conv_after_body.weight' in state else 'identity'}


def craft_consistent(arch):
    """Even ``embed_dim`` (HFERB halves it); heads that divide it and whose halves divide half of it; rectangles
    that divide the window; an MLP with width."""
    dim, window = arch['embed_dim'], arch['window_size']
    if len(arch['num_heads']) != len(arch['depths']):
        return [('num_heads', f'must have one entry per group ({len(arch["depths"])} in depths), got '
                              f'{len(arch["num_heads"])}')]
    if dim % 2 or dim < 32:
        return [('embed_dim', f'must be even and at least 32 (halves, each with a position MLP of a sixteenth of '
                              f'a half), got {dim}')]
    odd = next((h for h in arch['num_heads'] if dim % h or h < 2 or (dim // 2) % (h // 2)), None)
    if odd is not None:
        return [('num_heads', f'each must divide embed_dim {dim}, and half of it half the width, got {odd}')]
    split = (arch['split_size_0'], arch['split_size_1'])
    if any(window % s for s in split):
        return [('window_size', f'{window} must be a multiple of the rectangles {split[0]} x {split[1]}')]
    if int(dim * arch['mlp_ratio']) < 1:
        return [('mlp_ratio', f'{arch["mlp_ratio"]} x embed_dim {dim} leaves the MLP no width')]
    return []


def craft_bytes(arch):
    """fp32 working set per LR pixel (of the padded map): token maps, the MLP's and the fusion feed-forward's
    hidden ones (2 x 2.66 C), the window attention rows (heads x rectangle), the HR output."""
    c, s = int(arch.get('embed_dim', 48)), int(arch.get('upscale', 4))
    window = int(arch.get('split_size_0', 4)) * int(arch.get('split_size_1', 16))
    heads = max(arch.get('num_heads', (6,)))
    return 4.0 * (12 * c + 2 * float(arch.get('mlp_ratio', 2.0)) * c + 6 * c + heads * window + 2 * 3 * s * s)


# released CRAFTs: embed 48, 4 groups of depth 2, 6 heads, rectangles 4 x 16, window 16, MLP ratio 2, x2/x3/x4
BOUNDS = {'in_chans': Bound(1, 16), 'window_size': Bound(1, SIZE_RULE), 'embed_dim': Bound(1, 512),
          'depths': Bound(1, 32, count=(1, 16)), 'num_heads': Bound(2, 64, count=(1, 16)),
          'split_size_0': Bound(1, 64), 'split_size_1': Bound(1, 64), 'mlp_ratio': Bound(0, 16, real=True)}
# beyond the plumbing: DAT's window attention (matmul, softmax, the position MLP's layer norms, ReLUs and gather),
# flattens, the rolls' slices, GELU, the channel norms (means, ** -0.5), the fusion attention's L2 norms, the max pool,
# depthwise convs, chunks, the pixel shuffle; the pads: reflect then replicate (spandrel's), the mirror (a
# reversed run-time range gathered)
EXPORT_OPS = (GELU_OPS | NORMALIZE_OPS | ops.PAD | ops.CAST | ops.MODULO | ops.FLOOR_DIVIDE | ops.PIXEL_SHUFFLE
              | ops.RELU | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.DEPTHWISE_CONV | ops.POOL | ops.SPLIT
              | ops.MEAN | ops.POWER | ops.DIVIDE
              | ops.ExportOps('flatten_contiguous_range gather greater_than range', 'start_axis stop_axis',
                              '1.flatten 1.gather 1.greater_than 1.arange', 'start_axis stop_axis'))
SPEC = ArchSpec('CRAFT', CRAFT, detect=detect_craft, scale_key='upscale', bytes_per_pixel=craft_bytes,
                pad_multiple=lambda arch: SIZE_RULE, undetectable={'img_range': (1.0, 255.0), 'window_size': (16,)},
                bounds=BOUNDS, consistent=craft_consistent, export_ops=EXPORT_OPS)
