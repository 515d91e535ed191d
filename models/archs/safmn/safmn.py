"""SAFMN (Sun et al. 2023, "Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution"), and its spec.

A 3x3 conv to ``dim`` features, ``n_blocks`` attention blocks, the features added back, a 3x3 conv to
``3 x scale^2`` channels and a pixel shuffle. Each block is two residual halves, each after a channel LayerNorm:

* SAFM: the features cut into four channel groups; the first through a depthwise 3x3 conv at full size, group
  ``i`` max-pooled down by ``2^i``, through its depthwise 3x3 conv and brought back up (nearest); the four
  concatenated, mixed by a 1x1 conv, and the GELU of that multiplies the block's (normed) input;
* CCM: a 3x3 conv to ``ffn_scale x dim`` channels, GELU, a 1x1 conv back to ``dim``.

Parameter names follow the authors' release and spandrel's ``SAFMN`` one to one (``to_feat``,
``feats.<i>.norm1``, ``feats.<i>.safm.mfr.<j>``, ``feats.<i>.safm.aggr``, ``feats.<i>.ccm.ccm.0``/``.2``,
``to_img.0``), so their ``.pth`` files load as they are. The pooling works on whole ``2^i`` cells: input H and W
are multiples of 8 (the spec's ``pad_multiple``; callers reflect-pad up to it, as spandrel's size requirement asks).
"""
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import GELU, GELU_OPS, gelu
from ...specs import ArchSpec, Bound, shape_of
from ...torch_layout import LayerNorm2d

LEVELS = 4  # SAFM's channel groups; group i works at 1 / 2^i of the size
MULTIPLE = 2 ** (LEVELS - 1)


def hidden_width(dim, ffn_scale):
    """CCM's hidden channels, ``int(dim x ffn_scale)`` (a ratio read back from the weights may sit a hair under)."""
    return int(dim * ffn_scale + 1e-6)


class SAFM(nn.Layer):
    """Spatially-adaptive feature modulation: multi-scale depthwise features gate the input."""

    def __init__(self, dim):
        super().__init__()
        chunk = dim // LEVELS
        self.mfr = nn.LayerList([nn.Conv2D(chunk, chunk, 3, 1, 1, groups=chunk) for _ in range(LEVELS)])
        self.aggr = nn.Conv2D(dim, dim, 1)

    def forward(self, x):
        parts = paddle.split(x, LEVELS, axis=1)
        out = [self.mfr[0](parts[0])]
        for i in range(1, LEVELS):
            cell = 2 ** i
            s = self.mfr[i](F.max_pool2d(parts[i], cell, cell))
            out.append(F.interpolate(s, scale_factor=cell, mode='nearest'))
        return gelu(self.aggr(paddle.concat(out, axis=1))) * x


class CCM(nn.Layer):
    """Convolutional channel mixer: 3x3 conv up to the hidden width, GELU, 1x1 conv back."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.ccm = nn.Sequential(nn.Conv2D(dim, hidden, 3, 1, 1), GELU(), nn.Conv2D(hidden, dim, 1))

    def forward(self, x):
        return self.ccm(x)


class AttBlock(nn.Layer):
    def __init__(self, dim, hidden):
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.norm2 = LayerNorm2d(dim)
        self.safm = SAFM(dim)
        self.ccm = CCM(dim, hidden)

    def forward(self, x):
        x = self.safm(self.norm1(x)) + x
        return self.ccm(self.norm2(x)) + x


class SAFMN(nn.Layer):
    def __init__(self, dim=36, n_blocks=8, ffn_scale=2.0, upscaling_factor=4):
        super().__init__()
        hidden = hidden_width(dim, ffn_scale)
        self.to_feat = nn.Conv2D(3, dim, 3, 1, 1)
        self.feats = nn.Sequential(*[AttBlock(dim, hidden) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(nn.Conv2D(dim, 3 * upscaling_factor ** 2, 3, 1, 1),
                                    nn.PixelShuffle(upscaling_factor))

    def forward(self, x):
        x = self.to_feat(x)
        return self.to_img(self.feats(x) + x)


def _blocks(state):
    """The number of attention blocks: ``feats.0`` ... ``feats.<n-1>`` each with its SAFM and CCM, none after."""
    n = 0
    while f'feats.{n}.safm.aggr.weight' in state:
        n += 1
    found = {int(m.group(1)) for k in state for m in [re.match(r'feats\.(\d+)\.', k)] if m}
    stray = sorted(found - set(range(n)))
    if stray:
        raise ValueError(f'SAFMN-like keys, but block feats.{stray[0]} comes after the last whole block '
                         f'(feats.{n - 1})')
    missing = [i for i in range(n) if f'feats.{i}.ccm.ccm.0.weight' not in state]
    if missing:
        raise ValueError(f'SAFMN-like keys, but block feats.{missing[0]} has no ccm.ccm.0 conv')
    return n


def detect_safmn(state):
    if 'to_feat.weight' not in state or 'feats.0.safm.aggr.weight' not in state:
        return None
    dim = shape_of(state['to_feat.weight'])[0]
    levels = sum(f'feats.0.safm.mfr.{j}.weight' in state for j in range(LEVELS + 1))
    if levels != LEVELS:
        raise ValueError(f'SAFMN-like keys, but feats.0.safm has {levels} mfr convs, not {LEVELS}')
    if 'to_img.0.weight' not in state:
        raise ValueError('SAFMN-like keys, but no to_img.0 (the last conv)')
    out = shape_of(state['to_img.0.weight'])[0]
    scale = int(round((out / 3) ** 0.5))
    if 3 * scale * scale != out:
        raise ValueError(f'SAFMN last conv has {out} outputs, not 3 x scale^2')
    n_blocks = _blocks(state)
    hidden = shape_of(state['feats.0.ccm.ccm.0.weight'])[0]
    return {'type': 'SAFMN', 'dim': dim, 'n_blocks': n_blocks, 'ffn_scale': hidden / dim, 'upscaling_factor': scale}


def consistent(arch):
    """Four equal channel groups for SAFM, and a CCM at least one channel wide."""
    if arch['dim'] % LEVELS:
        return [('dim', f'must be a multiple of {LEVELS} (SAFM cuts it into {LEVELS} groups), got {arch["dim"]}')]
    if hidden_width(arch['dim'], arch['ffn_scale']) < 1:
        return [('ffn_scale', f'{arch["ffn_scale"]} x dim {arch["dim"]} leaves the channel mixer no channel')]
    return []


def pad_multiple(arch):
    """Input H and W are multiples of 8: SAFM's coarsest group pools whole 8x8 cells."""
    return MULTIPLE


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few ``dim`` maps, the CCM's hidden map, and the HR output."""
    dim, s = int(arch.get('dim', 36)), int(arch.get('upscaling_factor', 4))
    return 4.0 * (6 * dim + 2 * hidden_width(dim, float(arch.get('ffn_scale', 2.0))) + 6 * s * s)


# released SAFMNs: dim 36 (x2, x3, x4) or 128 (the large x4), 8 or 16 blocks, ffn_scale 2.0
BOUNDS = {'dim': Bound(4, 512), 'n_blocks': Bound(1, 64), 'ffn_scale': Bound(0, 8, real=True)}
# what its exports hold beyond the plumbing (models/export_ops.py): the channel groups (split), max pooling and
# nearest upsampling by whole cells (the legacy graph's upsampling carries the dtype attributes of its scale), the
# depthwise convs, the channel norms (means and ** -0.5), GELU, the pixel shuffle
EXPORT_OPS = (ops.SPLIT | ops.POOL | ops.NEAREST | ops.ExportOps(legacy_attrs='in_dtype out_dtype')
              | ops.DEPTHWISE_CONV | ops.MEAN | ops.POWER | ops.PIXEL_SHUFFLE | GELU_OPS)
SPEC = ArchSpec('SAFMN', SAFMN, detect=detect_safmn, scale_key='upscaling_factor', pad_multiple=pad_multiple,
                bytes_per_pixel=bytes_per_pixel, bounds=BOUNDS, consistent=consistent, export_ops=EXPORT_OPS)
