"""Swift-SRGAN's generator (Krishnan and Jain 2021, "Swift-SRGAN: Rethinking Super-Resolution for Efficient and
Real-time Inference"), and its spec.

SRGAN's generator with every convolution made depthwise-separable (a depthwise conv, then a 1x1 pointwise one):
a 9x9 separable conv to ``num_channels`` and a PReLU; ``num_blocks`` residual blocks (separable 3x3, batch norm,
PReLU, separable 3x3, batch norm, the input added back); a separable 3x3 and batch norm, the first features added
back; one upsampling block per factor of 2 (a separable 3x3 to 4x the channels, a pixel shuffle by 2, a PReLU);
a 9x9 separable conv to RGB, mapped to [0, 1] by ``(tanh + 1) / 2`` (computed as ``sigmoid(2 x)``, the same
function, which the legacy static graph traces).

Parameter names follow the authors' release and spandrel's ``SwiftSRGAN`` one to one (``initial.cnn.depthwise``,
``initial.act``, ``residual.<i>.block1`` / ``block2`` with ``cnn``, ``bn`` and ``act``, ``convblock``,
``upsampler.<i>.conv``, ``upsampler.<i>.act``, ``final_conv``), so their ``.pth`` files load as they are. As in
the release, a block without an activation (``block2``, ``convblock``) still holds its PReLU's weight, unused;
PyTorch's batch-norm counters are dropped on reading. Grey or 4-channel files (none released) are not ported.
"""
import re

import paddle.nn as nn

from ... import export_ops as ops
from ...legacy_ops import SIGMOID_OPS, sigmoid
from ...specs import ArchSpec, Bound, count_keys, shape_of
from ...torch_layout import BatchNorm2d
from ..compact.srvgg import PReLU

MARKERS = ('initial.cnn.depthwise.weight', 'final_conv.pointwise.weight')
SCALES = (1, 2, 4, 8)


class SeparableConv2d(nn.Layer):
    def __init__(self, cin, cout, k, bias=True):
        super().__init__()
        self.depthwise = nn.Conv2D(cin, cin, k, 1, k // 2, groups=cin, bias_attr=None if bias else False)
        self.pointwise = nn.Conv2D(cin, cout, 1, bias_attr=None if bias else False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class ConvBlock(nn.Layer):
    """A separable conv, a batch norm (``use_bn``: the conv then has no bias) and a PReLU (``use_act``; its weight
    is there either way, as in the release)."""

    def __init__(self, cin, cout, k, use_act=True, use_bn=True):
        super().__init__()
        self.use_act, self.use_bn = use_act, use_bn
        self.cnn = SeparableConv2d(cin, cout, k, bias=not use_bn)
        if use_bn:
            self.bn = BatchNorm2d(cout)
        self.act = PReLU(cout)

    def forward(self, x):
        x = self.cnn(x)
        if self.use_bn:
            x = self.bn(x)
        return self.act(x) if self.use_act else x


class ResidualBlock(nn.Layer):
    def __init__(self, c):
        super().__init__()
        self.block1 = ConvBlock(c, c, 3)
        self.block2 = ConvBlock(c, c, 3, use_act=False)

    def forward(self, x):
        return self.block2(self.block1(x)) + x


class UpsampleBlock(nn.Layer):
    def __init__(self, c):
        super().__init__()
        self.conv = SeparableConv2d(c, 4 * c, 3)
        self.ps = nn.PixelShuffle(2)
        self.act = PReLU(c)

    def forward(self, x):
        return self.act(self.ps(self.conv(x)))


class SwiftSRGAN(nn.Layer):
    def __init__(self, num_channels=64, num_blocks=16, upscale_factor=4):
        super().__init__()
        c = num_channels
        self.initial = ConvBlock(3, c, 9, use_bn=False)
        self.residual = nn.Sequential(*[ResidualBlock(c) for _ in range(num_blocks)])
        self.convblock = ConvBlock(c, c, 3, use_act=False)
        self.upsampler = nn.Sequential(*[UpsampleBlock(c) for _ in range(int(upscale_factor).bit_length() - 1)])
        self.final_conv = SeparableConv2d(c, 3, 9)

    def forward(self, x):
        initial = self.initial(x)
        x = self.convblock(self.residual(initial)) + initial
        return sigmoid(2 * self.final_conv(self.upsampler(x)))  # (tanh(y) + 1) / 2


def rename_swiftsrgan(state):
    """PyTorch's batch-norm counters dropped; None when there are none (or the state is not Swift-SRGAN's)."""
    if not all(k in state for k in MARKERS):
        return None
    counters = [k for k in state if k.endswith('.num_batches_tracked')]
    return {k: v for k, v in state.items() if k not in counters} if counters else None


def detect_swiftsrgan(state):
    if not all(k in state for k in MARKERS):
        return None
    cin = shape_of(state['initial.cnn.depthwise.weight'])[0]
    if cin != 3 or shape_of(state['final_conv.pointwise.weight'])[0] != 3:
        raise ValueError(f'Swift-SRGAN with {cin} input channels; RGB (3) files are supported')
    if 'initial.cnn.pointwise.weight' not in state:
        raise ValueError('Swift-SRGAN-like keys, but no initial.cnn.pointwise conv')
    c = shape_of(state['initial.cnn.pointwise.weight'])[0]
    blocks = count_keys(state, 'residual.{}.block1.cnn.depthwise.weight')
    ups = count_keys(state, 'upsampler.{}.conv.pointwise.weight')
    for name, n in (('residual', blocks), ('upsampler', ups)):
        found = {int(m.group(1)) for k in state for m in [re.match(rf'{name}\.(\d+)\.', k)] if m}
        stray = sorted(found - set(range(n)))
        if stray:
            raise ValueError(f'Swift-SRGAN-like keys, but {name}.{stray[0]} is not a whole block ({n} whole '
                             f'before it)')
    for i in range(ups):
        out = shape_of(state[f'upsampler.{i}.conv.pointwise.weight'])[0]
        if out != 4 * c:
            raise ValueError(f'Swift-SRGAN upsampler.{i} has {out} outputs, not 4 x {c} (a shuffle by 2)')
    return {'type': 'SwiftSRGAN', 'num_channels': c, 'num_blocks': blocks, 'upscale_factor': 2 ** ups}


def consistent(arch):
    if arch['upscale_factor'] not in SCALES:
        return [('upscale_factor', f'must be one of {SCALES} (one shuffle by 2 per factor), got '
                                   f'{arch["upscale_factor"]}')]
    return []


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few ``num_channels`` maps, the last upsampling's 4x map at its size (the
    output's over 4) and the 9x9 separable conv's input at the output's size."""
    c, s = int(arch.get('num_channels', 64)), int(arch.get('upscale_factor', 4))
    return 4.0 * (5 * c + 2 * c * s * s + 6 * s * s)


# released Swift-SRGANs: 64 channels, 16 blocks, x2 and x4
BOUNDS = {'num_channels': Bound(1, 512), 'num_blocks': Bound(0, 128)}
# what its exports hold beyond the plumbing (models/export_ops.py): the depthwise convs, batch norm, PReLU, the pixel
# shuffle and the sigmoid
EXPORT_OPS = (ops.DEPTHWISE_CONV | ops.PIXEL_SHUFFLE | SIGMOID_OPS
              | ops.ExportOps('batch_norm prelu', 'data_layout epsilon is_test momentum trainable_statistics '
                              'use_global_stats mode', '1.batch_norm_ 1.prelu',
                              'epsilon is_test momentum trainable_statistics use_global_stats mode'))
SPEC = ArchSpec('SwiftSRGAN', SwiftSRGAN, detect=detect_swiftsrgan, rename=rename_swiftsrgan,
                scale_key='upscale_factor', bytes_per_pixel=bytes_per_pixel, bounds=BOUNDS, consistent=consistent,
                export_ops=EXPORT_OPS)
