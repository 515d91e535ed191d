"""RCAN (Zhang et al. 2018, "Image Super-Resolution Using Very Deep Residual Channel Attention Networks"), and its spec.

The input (times ``rgb_range``, DIV2K's mean taken off by a 1x1 conv, when ``norm``), a head conv to ``n_feats``
features (after a pixel unshuffle by ``4 // scale`` in the x1/x2 ``unshuffle_mod`` form, whose tail then
upsamples x4), ``n_resgroups`` residual groups and a conv, the head's features added back, the tail (pixel-shuffle
upsampling: a 3x3 conv to 4x the features and a shuffle by 2 per factor of 2, or one to 9x and a shuffle by 3) and
a conv to RGB; the mean added back by a 1x1 conv and the result divided by ``rgb_range``. Each residual group is
``n_resblocks`` residual channel-attention blocks and a conv, its input added back; each block is conv, ReLU,
conv and a channel attention (the map's global average, a 1x1 conv down to ``n_feats // reduction`` channels,
ReLU, a 1x1 conv back, a sigmoid that scales each channel), its input added back.

Parameter names follow the authors' release (EDSR-PyTorch's ``rcan.py``) and spandrel's ``RCAN`` one to one
(``sub_mean``, ``head.0`` / ``head.1``, ``body.<g>.body.<b>.body.0`` / ``.2`` / ``.3.conv_du.0`` / ``.2``,
``body.<g>.body.<n_resblocks>``, ``body.<n_resgroups>``, ``tail.0.<2i>``, ``tail.1``, ``add_mean``), so their
``.pth`` files load as they are. The channel attention averages the whole map: a tiled run is an approximation
of the whole image's (as for every network whose layers see the whole input).

Not ported: the release's ``res_scale`` (its blocks never apply it) and ``act_mode`` (ReLU in every released
file, and not in the weights); grey or 4-channel RCANs (none released: the mean shift is RGB's).
"""
import math
import re

import numpy as np
import paddle
import paddle.nn as nn

from ... import export_ops as ops
from ...legacy_ops import SIGMOID_OPS, Sigmoid
from ...specs import ArchSpec, Bound, count_keys, shape_of
from ..rrdb.rrdbnet import static_unshuffle

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # the RGB mean the release's MeanShift convs start from
SCALES = (1, 2, 3, 4, 8)


def conv(cin, cout, k):
    return nn.Conv2D(cin, cout, k, 1, k // 2)


class MeanShift(nn.Conv2D):
    """A 1x1 conv that adds (``sign`` 1) or takes off (-1) ``rgb_range`` x DIV2K's mean (its weights as loaded)."""

    def __init__(self, rgb_range, sign):
        super().__init__(3, 3, 1)
        self.weight.set_value(paddle.eye(3).reshape([3, 3, 1, 1]))
        self.bias.set_value(paddle.to_tensor([sign * rgb_range * m for m in DIV2K_MEAN], 'float32'))


class Unshuffle(nn.Layer):
    """Pixel unshuffle by ``r`` (reshape/transpose: H and W read at run time, so the static export traces it)."""

    def __init__(self, r):
        super().__init__()
        self.r = r

    def forward(self, x):
        return static_unshuffle(x, self.r)


class ChannelAttention(nn.Layer):
    def __init__(self, n_feats, reduction):
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2D(n_feats, n_feats // reduction, 1), nn.ReLU(),
                                     nn.Conv2D(n_feats // reduction, n_feats, 1), Sigmoid())

    def forward(self, x):
        return x * self.conv_du(paddle.mean(x, axis=[2, 3], keepdim=True))


class RCAB(nn.Layer):
    """Residual channel-attention block."""

    def __init__(self, n_feats, k, reduction):
        super().__init__()
        self.body = nn.Sequential(conv(n_feats, n_feats, k), nn.ReLU(), conv(n_feats, n_feats, k),
                                  ChannelAttention(n_feats, reduction))

    def forward(self, x):
        return self.body(x) + x


class ResidualGroup(nn.Layer):
    def __init__(self, n_feats, k, reduction, n_resblocks):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(n_feats, k, reduction) for _ in range(n_resblocks)],
                                  conv(n_feats, n_feats, k))

    def forward(self, x):
        return self.body(x) + x


def upsampler(n_feats, scale):
    """The tail's upsampling: per factor of 2 a 3x3 conv to 4x the features and a shuffle by 2; x3 one conv to 9x
    and a shuffle by 3; x1 nothing."""
    if scale == 3:
        return nn.Sequential(conv(n_feats, 9 * n_feats, 3), nn.PixelShuffle(3))
    layers = []
    for _ in range(int(math.log2(scale))):
        layers += [conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


def unshuffle_factor(arch):
    """The input's pixel-unshuffle factor: ``4 // scale`` in the x1/x2 ``unshuffle_mod`` form, else 1."""
    scale = int(arch.get('scale', 4))
    return 4 // scale if arch.get('unshuffle_mod', False) and scale <= 2 else 1


class RCAN(nn.Layer):
    def __init__(self, scale=4, n_resgroups=10, n_resblocks=20, n_feats=64, kernel_size=3, reduction=16, norm=True,
                 rgb_range=255.0, unshuffle_mod=False):
        super().__init__()
        self.norm, self.rgb_range = norm, float(rgb_range) if norm else 1.0
        d = unshuffle_factor({'scale': scale, 'unshuffle_mod': unshuffle_mod})
        if norm:
            self.sub_mean = MeanShift(self.rgb_range, -1)
            self.add_mean = MeanShift(self.rgb_range, 1)
        k = kernel_size
        self.head = nn.Sequential(Unshuffle(d), conv(3 * d * d, n_feats, k)) if d > 1 else \
            nn.Sequential(conv(3, n_feats, k))
        self.body = nn.Sequential(*[ResidualGroup(n_feats, k, reduction, n_resblocks) for _ in range(n_resgroups)],
                                  conv(n_feats, n_feats, k))
        self.tail = nn.Sequential(upsampler(n_feats, 4 if d > 1 else scale), conv(n_feats, 3, k))

    def forward(self, x):
        if self.norm:
            x = self.sub_mean(x * self.rgb_range)
        x = self.head(x)
        x = self.tail(self.body(x) + x)
        return self.add_mean(x) / self.rgb_range if self.norm else x


def _groups(state):
    """``(n_resgroups, n_resblocks)``: every group with the same number of blocks, its closing conv, and the body's
    conv after the last group; no block or group beyond them."""
    groups = count_keys(state, 'body.{}.body.0.body.0.weight')
    blocks = count_keys(state, 'body.0.body.{}.body.0.weight')
    for g in range(groups):
        n = count_keys(state, f'body.{g}.body.{{}}.body.0.weight')
        if n != blocks:
            raise ValueError(f'RCAN-like keys, but group body.{g} has {n} blocks and body.0 has {blocks}')
        if f'body.{g}.body.{blocks}.weight' not in state:
            raise ValueError(f'RCAN-like keys, but group body.{g} has no closing conv body.{g}.body.{blocks}')
    if f'body.{groups}.weight' not in state:
        raise ValueError(f'RCAN-like keys, but no body.{groups} conv after the last residual group')
    stray = sorted({int(m.group(1)) for k in state for m in [re.match(r'body\.(\d+)\.', k)] if m}
                   - set(range(groups + 1)))
    if stray:
        raise ValueError(f'RCAN-like keys, but body.{stray[0]} comes after the body\'s last conv (body.{groups})')
    return groups, blocks


def _upscale(state, n_feats):
    """The tail's upsampling factor from its convs ``tail.0.<2i>`` (4x the features each, or one 9x)."""
    factor, i = 1, 0
    while f'tail.0.{i}.weight' in state:
        out, cin = shape_of(state[f'tail.0.{i}.weight'])[:2]
        r = {4 * n_feats: 2, 9 * n_feats: 3}.get(out) if cin == n_feats else None
        if r is None or (r == 3 and i > 0):
            raise ValueError(f'RCAN tail.0.{i} maps {cin} to {out} channels, not {n_feats} to 4x or 9x')
        factor, i = factor * r, i + 2
    if factor == 3 and i > 2:
        raise ValueError('RCAN tail: an x3 step only alone')
    return factor


def _rgb_range(state):
    """1 or 255, from the input mean shift: ``sub_mean`` is built as weight ``1 / std`` and bias
    ``-rgb_range x mean / std``, so ``-bias / weight`` is ``rgb_range x mean``, a mean in (0, 1): under 16 (DIV2K's or
    ImageNet's mean at range 1, up to 2.1 with ImageNet's std) reads as 1, else 255 (the release's; spandrel assumes it
    always; a shift trained far from its start reads as 255 too)."""
    w = np.asarray(state['sub_mean.weight'], np.float64)
    b = np.asarray(state['sub_mean.bias'], np.float64).reshape(-1)
    if w.shape != (3, 3, 1, 1) or b.shape != (3,):
        raise ValueError(f'RCAN sub_mean is {w.shape} with bias {b.shape}, not a 1x1 conv of 3 channels')
    diag = np.diagonal(w.reshape(3, 3))
    ratio = np.median(-b / np.where(np.abs(diag) > 1e-6, diag, np.inf))
    return 1.0 if 0 < ratio < 16 else 255.0


def detect_rcan(state):
    if 'tail.1.weight' not in state or 'body.0.body.0.body.3.conv_du.0.weight' not in state:
        return None
    head = 'head.1' if 'head.1.weight' in state else 'head.0'
    if f'{head}.weight' not in state:
        raise ValueError('RCAN-like keys, but no head conv (head.0 or head.1)')
    n_feats, cin, k = shape_of(state[f'{head}.weight'])[:3]
    out = shape_of(state['tail.1.weight'])[0]
    if out != 3:
        raise ValueError(f'RCAN last conv (tail.1) has {out} outputs; RGB RCANs (3) are supported')
    n_resgroups, n_resblocks = _groups(state)
    squeezed = shape_of(state['body.0.body.0.body.3.conv_du.0.weight'])[0]
    reduction = n_feats // max(squeezed, 1)
    if not squeezed or n_feats // reduction != squeezed:
        raise ValueError(f'RCAN channel attention squeezes {n_feats} features to {squeezed}, which no reduction gives')
    up = _upscale(state, n_feats)
    unshuffle = head == 'head.1'
    if unshuffle:
        d = math.isqrt(cin // 3)
        if 3 * d * d != cin or d not in (2, 4) or up != 4:
            raise ValueError(f'RCAN head.1 takes {cin} channels after the unshuffle and the tail upsamples x{up}: '
                             f'not the x2 (12 channels) or x1 (48) unshuffle form, which upsamples x4')
        scale = 4 // d
    elif cin != 3:
        raise ValueError(f'RCAN head.0 takes {cin} channels; RGB RCANs (3) are supported')
    else:
        scale = up
    norm = 'sub_mean.weight' in state
    if norm != ('add_mean.weight' in state):
        raise ValueError('RCAN-like keys, but only one of the mean shifts (sub_mean, add_mean)')
    arch = {'type': 'RCAN', 'scale': scale, 'n_resgroups': n_resgroups, 'n_resblocks': n_resblocks,
            'n_feats': n_feats, 'kernel_size': k, 'reduction': reduction, 'norm': norm,
            'rgb_range': _rgb_range(state) if norm else 255.0}
    return {**arch, 'unshuffle_mod': True} if unshuffle else arch


def consistent(arch):
    if arch['scale'] not in SCALES:
        return [('scale', f'must be one of {SCALES} (its tail upsamples by 2s, or by 3 once), got {arch["scale"]}')]
    if arch['unshuffle_mod'] and arch['scale'] > 2:
        return [('unshuffle_mod', f'applies to x1 and x2 only, got scale {arch["scale"]}')]
    if arch['kernel_size'] % 2 == 0:
        return [('kernel_size', f'must be odd, got {arch["kernel_size"]}')]
    if arch['n_feats'] // arch['reduction'] < 1:
        return [('reduction', f'{arch["reduction"]} leaves the channel attention of {arch["n_feats"]} features no '
                              'channel')]
    return []


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few ``n_feats`` maps (the head's, the group's, a block's two), the tail's
    widest map (4x the features at half the output's size) and the output."""
    n, s = int(arch.get('n_feats', 64)), int(arch.get('scale', 4))
    d = unshuffle_factor(arch)
    lr = 6 * n / (d * d)  # the unshuffle form works at 1 / d of the size
    return 4.0 * (lr + 2 * n * max(s, 2) ** 2 + 6 * s * s)


# released RCANs: 64 features, 10 groups of 20 blocks, reduction 16, kernel 3; x2/x3/x4/x8, and the unshuffle x2/x1
BOUNDS = {'n_resgroups': Bound(1, 64), 'n_resblocks': Bound(1, 128), 'n_feats': Bound(1, 512),
          'kernel_size': Bound(1, 11), 'reduction': Bound(1, 512), 'rgb_range': Bound(1, 65535, real=True)}
# what its exports hold beyond the plumbing (models/export_ops.py): ReLU, the channel attention's global mean and
# sigmoid (the legacy graph's mean carries the dtype attributes), the pixel shuffle; the unshuffle's run-time H // r
EXPORT_OPS = (ops.RELU | ops.MEAN | ops.ExportOps(legacy_attrs='in_dtype out_dtype') | SIGMOID_OPS
              | ops.PIXEL_SHUFFLE | ops.FLOOR_DIVIDE)
SPEC = ArchSpec('RCAN', RCAN, detect=detect_rcan, scale_key='scale', pad_multiple=unshuffle_factor,
                bytes_per_pixel=bytes_per_pixel, bounds=BOUNDS, consistent=consistent, export_ops=EXPORT_OPS,
                aliases={'img_range': 'rgb_range'}, undetectable={'rgb_range': (255.0, 1.0)},
                undetectable_when=lambda arch, key: not arch.get('norm', True))  # a mean shift shows it (_rgb_range)
