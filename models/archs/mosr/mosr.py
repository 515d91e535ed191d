"""MoSR ("Mamba Out Super-Resolution", from the traiNNer/neosr community, 2024) and its spec.

A 3x3 conv to ``dim`` features, ``n_block`` gated CNN blocks (MambaOut's unit), then a conv to twice the
features, Mish, a conv back, Mish and a 1x1 conv; a shortcut from the input (two 3x3 convs with Mish, plus a 1x1
conv) is added, less 0.5, and an upsampler makes the image. Each gated block: a channel LayerNorm (eps 1e-6), a
3x3 conv to ``2 x hidden`` channels cut into a gate (``hidden``), an identity part and a depthwise
``kernel_size`` conv part (``int(conv_ratio x dim)`` channels), ``fc2(mish(gate) x [identity, conv])`` through
Mish, plus the block's input less 0.5.

Upsamplers: ``ps`` (a 3x3 conv to ``out x scale^2`` channels and a pixel shuffle), ``gps`` (a 3x3 conv to eight
such sets, their mean, a pixel shuffle) and ``dys`` (DySample, RealPLKSR's: ``models.archs.plksr.dysample``).

Parameter names follow spandrel's ``MoSR`` one to one (``gblocks.<i>``, ``gblocks.<i>.norm`` / ``fc1`` / ``conv``
/ ``fc2``, ``shortcut.block.0`` / ``.2``, ``shortcut.conv11``, ``upsampler.0`` / ``upsampler.in_to_k`` /
DySample's), so their ``.pth`` files load as they are. Every layer is local: any H and W, tiles exact.
Not ported: the drop path (training only; 0 in the released configs).
"""
import math
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...specs import ArchSpec, Bound, shape_of
from ...torch_layout import LayerNorm2d
from ..plksr.dysample import DYSAMPLE_OPS, DySample

UPSAMPLERS = ('ps', 'gps', 'dys')
GEO = 8  # the geo-ensemble upsampler's sets
TAIL = 5  # conv, Mish, conv, Mish, 1x1 conv after the blocks


def widths(dim, expansion_ratio, conv_ratio):
    """``(hidden, conv channels)`` of a gated block (the official ``int`` of each product; a hair added so that a
    ratio read back from the weights as a quotient gives the same whole number)."""
    return int(expansion_ratio * dim + 1e-6), int(conv_ratio * dim + 1e-6)


class Mish(nn.Layer):
    def forward(self, x):
        return F.mish(x)


class GatedCNNBlock(nn.Layer):
    def __init__(self, dim, expansion_ratio, conv_ratio, kernel_size):
        super().__init__()
        hidden, conv = widths(dim, expansion_ratio, conv_ratio)
        self.sections = [hidden, hidden - conv, conv]
        self.norm = LayerNorm2d(dim)
        self.fc1 = nn.Conv2D(dim, 2 * hidden, 3, 1, 1)
        self.conv = nn.Conv2D(conv, conv, kernel_size, 1, kernel_size // 2, groups=conv)
        self.fc2 = nn.Conv2D(hidden, dim, 3, 1, 1)

    def forward(self, x):
        gate, ident, part = paddle.split(self.fc1(self.norm(x)), self.sections, axis=1)
        mixed = paddle.concat([ident, self.conv(part)], axis=1)
        return F.mish(self.fc2(F.mish(gate) * mixed)) + (x - 0.5)


class ConvBlock(nn.Layer):
    """The shortcut: two 3x3 convs with Mish, plus a 1x1 conv of the input."""

    def __init__(self, cin, cout):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2D(cin, cout, 3, 1, 1), Mish(), nn.Conv2D(cout, cout, 3, 1, 1), Mish())
        self.conv11 = nn.Conv2D(cin, cout, 1)

    def forward(self, x):
        return self.block(x) + self.conv11(x)


class GPS(nn.Layer):
    """Geo-ensemble pixel shuffle: eight sets of ``out x scale^2`` channels averaged, then shuffled."""

    def __init__(self, dim, scale, out_ch):
        super().__init__()
        self.in_to_k = nn.Conv2D(dim, scale * scale * out_ch * GEO, 3, 1, 1)
        self.ps = nn.PixelShuffle(scale)

    def forward(self, x):
        x = self.in_to_k(x)
        shape = paddle.shape(x)
        x = paddle.reshape(x, [-1, GEO, x.shape[1] // GEO, shape[2], shape[3]])
        return self.ps(paddle.mean(x, axis=1))


def make_upsampler(kind, dim, out_ch, scale):
    if kind == 'ps':
        return nn.Sequential(nn.Conv2D(dim, out_ch * scale * scale, 3, 1, 1), nn.PixelShuffle(scale))
    if kind == 'gps':
        return GPS(dim, scale, out_ch)
    return DySample(dim, out_ch, scale)


class MoSR(nn.Layer):
    def __init__(self, in_ch=3, out_ch=3, upscale=4, n_block=24, dim=64, upsampler='ps', kernel_size=7,
                 expansion_ratio=1.5, conv_ratio=1.0):
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f'MoSR upsampler must be one of {UPSAMPLERS}, got {upsampler!r}')
        out_ch = in_ch if upsampler != 'dys' else out_ch  # the official network's rule
        blocks = [GatedCNNBlock(dim, expansion_ratio, conv_ratio, kernel_size) for _ in range(n_block)]
        self.gblocks = nn.Sequential(nn.Conv2D(in_ch, dim, 3, 1, 1), *blocks, nn.Conv2D(dim, 2 * dim, 3, 1, 1),
                                     Mish(), nn.Conv2D(2 * dim, dim, 3, 1, 1), Mish(), nn.Conv2D(dim, dim, 1))
        self.shortcut = ConvBlock(in_ch, dim)
        self.upsampler = make_upsampler(upsampler, dim, out_ch, upscale)

    def forward(self, x):
        return self.upsampler(self.gblocks(x) + (self.shortcut(x) - 0.5))


# ---------------------------------------------------------------- detection
def _length(state):
    """The number of ``gblocks`` entries (the highest index with weights, plus one)."""
    return max(int(m.group(1)) for k in state for m in [re.match(r'^gblocks\.(\d+)\.', k)] if m) + 1


def _upsampler(state, dim, in_ch):
    """``(kind, out_ch, scale)`` from the upsampler's weights."""
    if 'upsampler.init_pos' in state:
        out_ch, n = shape_of(state['upsampler.end_conv.weight'])[0], shape_of(state['upsampler.offset.weight'])[0]
        kind, per = 'dys', 8
    elif 'upsampler.in_to_k.weight' in state:
        kind, out_ch, n, per = 'gps', in_ch, shape_of(state['upsampler.in_to_k.weight'])[0], GEO * in_ch
    elif 'upsampler.0.weight' in state:
        kind, out_ch, n, per = 'ps', in_ch, shape_of(state['upsampler.0.weight'])[0], in_ch
    else:
        raise ValueError('MoSR-like keys, but no upsampler (upsampler.0, upsampler.in_to_k or DySample\'s)')
    scale = math.isqrt(n // per)
    if scale < 1 or scale * scale * per != n:
        raise ValueError(f'MoSR {kind} upsampler has {n} outputs, not {per} x scale^2')
    return kind, out_ch, scale


def detect_mosr(state):
    """MoSR's arch from its weights (spandrel's reading); None for other networks."""
    if 'gblocks.0.weight' not in state or 'gblocks.1.fc1.weight' not in state or 'shortcut.conv11.weight' not in state:
        return None
    n_block = _length(state) - 1 - TAIL
    if n_block < 1:
        raise ValueError(f'MoSR-like keys, but gblocks has {n_block + 1 + TAIL} entries: no room for its '
                         f'{TAIL}-layer tail')
    missing = [i for i in range(1, n_block + 1) if f'gblocks.{i}.fc1.weight' not in state]
    if missing or f'gblocks.{n_block + 1}.weight' not in state:
        raise ValueError(f'MoSR-like keys, but gblocks.{missing[0] if missing else n_block + 1} is not where '
                         'the blocks and the tail put it')
    dim, in_ch = shape_of(state['gblocks.0.weight'])[:2]
    fc1, conv = shape_of(state['gblocks.1.fc1.weight']), shape_of(state['gblocks.1.conv.weight'])
    kind, out_ch, scale = _upsampler(state, dim, in_ch)
    return {'type': 'MoSR', 'in_ch': in_ch, 'out_ch': out_ch, 'upscale': scale, 'n_block': n_block, 'dim': dim,
            'upsampler': kind, 'kernel_size': conv[2], 'expansion_ratio': fc1[0] / 2 / dim,
            'conv_ratio': conv[0] / dim}


def consistent(arch):
    dim, kernel = arch['dim'], arch['kernel_size']
    hidden, conv = widths(dim, arch['expansion_ratio'], arch['conv_ratio'])
    if hidden < 1:
        return [('expansion_ratio', f'{arch["expansion_ratio"]} x dim {dim} leaves the gated blocks no width')]
    if not 1 <= conv <= hidden:
        return [('conv_ratio', f'{arch["conv_ratio"]} x dim {dim} gives {conv} conv channels, not 1 to the '
                               f'{hidden} hidden ones')]
    if kernel % 2 == 0:
        return [('kernel_size', f'must be odd (the padding keeps the size), got {kernel}')]
    if arch['upsampler'] == 'dys' and dim % 4:
        return [('dim', f'must be a multiple of 4 for the DySample upsampler (4 groups), got {dim}')]
    return []


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few ``dim`` maps, a gated block's ``2 x hidden`` and gate products, the
    upsampler's widest map (eight sets for ``gps``) and the output."""
    dim, s = int(arch.get('dim', 64)), int(arch.get('upscale', 4))
    hidden = int(float(arch.get('expansion_ratio', 1.5)) * dim)
    return 4.0 * (6 * dim + 4 * hidden + (GEO + 4) * 3 * s * s)


# released MoSRs: dim 64 (48 in the small one), 24 blocks (6 small), kernel 7, expansion 1.5, conv_ratio 1.0
BOUNDS = {'in_ch': Bound(1, 16), 'out_ch': Bound(1, 16), 'n_block': Bound(1, 128), 'dim': Bound(1, 512),
          'kernel_size': Bound(1, 51), 'expansion_ratio': Bound(0, 16, real=True), 'conv_ratio': Bound(0, 16, real=True)}
# what its exports hold beyond the plumbing (models/export_ops.py): Mish, the channel LayerNorm (means, ** -0.5),
# the gate's split (by sections), depthwise convs, the pixel shuffle; gps's mean over the eight sets; DySample's sampling
EXPORT_OPS = (ops.ExportOps('mish split', 'threshold num sections', '1.mish 1.split 0.split', 'lambda') | ops.MEAN
              | ops.POWER | ops.DEPTHWISE_CONV | ops.PIXEL_SHUFFLE | DYSAMPLE_OPS)
SPEC = ArchSpec('MoSR', MoSR, detect=detect_mosr, scale_key='upscale', bytes_per_pixel=bytes_per_pixel,
                bounds=BOUNDS, consistent=consistent, export_ops=EXPORT_OPS)
