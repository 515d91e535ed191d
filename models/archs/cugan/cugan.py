"""Real-CUGAN (UpCunet 2x/3x/4x, with or without SE blocks, plain or ``pro``) and its ``ArchSpec``.

Two cascaded U-Nets of valid (unpadded) convolutions. ``unet1`` upsamples (a transposed convolution: 4/2/3
for x2 and x4, 5/3/2 for x3); ``unet2`` refines at the upsampled size and is added to ``unet1``'s output cropped
by 20 px. x4 runs both U-Nets at 64 channels and ends with ``conv_final`` + pixel shuffle x2 plus the input
upsampled x4 (nearest).

Borders: the network reflect-pads the input itself (18 px for x2, 14 for x3, 19 for x4, plus up to one or three
more px at the bottom and right to make H and W multiples of 2, or 4 for x3) and crops the output back, so any
input of at least 20 px a side gives exactly ``scale`` x input. The pad amounts are computed from the run-time
shape (``paddle.shape``), so the same forward exports with dynamic H and W.

Variants, all told by the weights (key names as the official checkpoints and spandrel use them):

* ``se``: SE blocks (``*.seblock.conv1/conv2``, global mean -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid ->
  scale) after ``unet1.conv2`` and ``unet2.conv2/3/4``; the ``nose`` models have none.
* ``pro``: the file holds a ``pro`` tensor (a persistable buffer here too); the network maps its input to
  ``0.7 x + 0.15`` and its output back by ``(y - 0.15) / 0.7``.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import SIGMOID_OPS, sigmoid
from ...specs import ArchSpec, shape_of

# scale -> (reflect pad on each side, H and W padded up to a multiple of)
BORDER = {2: (18, 2), 3: (14, 4), 4: (19, 2)}


def _leaky(x):
    return F.leaky_relu(x, 0.1)


def crop(x, n):
    """Drop ``n`` px on every side (torch's ``F.pad(x, (-n,) * 4)``)."""
    return x[:, :, n:-n, n:-n]


class SEBlock(nn.Layer):
    """Squeeze-and-excitation: channel weights from the global mean (works with any run-time H, W)."""

    def __init__(self, channels, reduction=8):
        super().__init__()
        self.conv1 = nn.Conv2D(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2D(channels // reduction, channels, 1)

    def forward(self, x):
        w = paddle.mean(x, axis=[2, 3], keepdim=True)
        return x * sigmoid(self.conv2(F.relu(self.conv1(w))))


class UNetConv(nn.Layer):
    """Two valid 3x3 convs with LeakyReLU(0.1) (each trims 1 px a side), then an optional SE block."""

    def __init__(self, cin, mid, cout, se):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2D(cin, mid, 3), nn.LeakyReLU(0.1), nn.Conv2D(mid, cout, 3),
                                  nn.LeakyReLU(0.1))
        self.seblock = SEBlock(cout) if se else None

    def forward(self, x):
        x = self.conv(x)
        return self.seblock(x) if self.seblock is not None else x


class UNet1(nn.Layer):
    """One down/up level; ``conv_bottom`` is the upsampling transposed conv (``up`` 2 or 3) or, for waifu2x's
    CUNet x1 (``up`` 1), a 3x3 conv."""

    def __init__(self, cin, cout, se, up):
        super().__init__()
        self.conv1 = UNetConv(cin, 32, 64, se=False)
        self.conv1_down = nn.Conv2D(64, 64, 2, 2)
        self.conv2 = UNetConv(64, 128, 64, se=se)
        self.conv2_up = nn.Conv2DTranspose(64, 64, 2, 2)
        self.conv3 = nn.Conv2D(64, 64, 3)
        if up == 1:
            self.conv_bottom = nn.Conv2D(64, cout, 3)
        else:
            self.conv_bottom = nn.Conv2DTranspose(64, cout, *((4, 2, 3) if up == 2 else (5, 3, 2)))

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(_leaky(self.conv1_down(x1)))
        x2 = _leaky(self.conv2_up(x2))
        return self.conv_bottom(_leaky(self.conv3(crop(x1, 4) + x2)))


class UNet2(nn.Layer):
    """Two down/up levels; keeps the size (minus 20 px a side)."""

    def __init__(self, cin, cout, se):
        super().__init__()
        self.conv1 = UNetConv(cin, 32, 64, se=False)
        self.conv1_down = nn.Conv2D(64, 64, 2, 2)
        self.conv2 = UNetConv(64, 64, 128, se=se)
        self.conv2_down = nn.Conv2D(128, 128, 2, 2)
        self.conv3 = UNetConv(128, 256, 128, se=se)
        self.conv3_up = nn.Conv2DTranspose(128, 128, 2, 2)
        self.conv4 = UNetConv(128, 64, 64, se=se)
        self.conv4_up = nn.Conv2DTranspose(64, 64, 2, 2)
        self.conv5 = nn.Conv2D(64, 64, 3)
        self.conv_bottom = nn.Conv2D(64, cout, 3)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(_leaky(self.conv1_down(x1)))
        x3 = self.conv3(_leaky(self.conv2_down(x2)))
        x4 = self.conv4(crop(x2, 4) + _leaky(self.conv3_up(x3)))
        x5 = _leaky(self.conv5(crop(x1, 16) + _leaky(self.conv4_up(x4))))
        return self.conv_bottom(x5)


def pad_to(x, border, multiple, mode='reflect'):
    """Pad ``border`` px a side (``reflect`` or ``replicate``), plus up to ``multiple - 1`` px at the bottom/right
    so that H and W become multiples of ``multiple``; the amounts are read at run time (tensors), so they export."""
    hw = paddle.shape(x)[2:4].astype('int32')
    extra = (hw + multiple - 1) // multiple * multiple - hw
    pad = paddle.concat([paddle.full([1], border, 'int32'), border + extra[1:2],
                         paddle.full([1], border, 'int32'), border + extra[0:1]])
    return F.pad(x, pad, mode=mode)


class RealCUGAN(nn.Layer):
    """UpCunet x2 / x3 / x4 (see the module docstring for the borders and the variants)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, scale=2, se=True, pro=False):
        super().__init__()
        if scale not in BORDER:
            raise ValueError(f'RealCUGAN supports scale 2, 3 or 4, got {scale}')
        self.scale, self.is_pro = scale, bool(pro)
        if pro:
            self.register_buffer('pro', paddle.zeros([1], dtype='float32'), persistable=True)
        mid = 64 if scale == 4 else num_out_ch
        self.unet1 = UNet1(num_in_ch, mid, se, up=3 if scale == 3 else 2)
        self.unet2 = UNet2(mid, mid, se)
        if scale == 4:
            self.conv_final = nn.Conv2D(64, 4 * num_out_ch, 3)

    def forward(self, x):
        if self.is_pro:
            x = x * 0.7 + 0.15
        hw = paddle.shape(x)[2:4]
        border, multiple = BORDER[self.scale]
        if paddle.in_dynamic_mode() and min(x.shape[2:]) <= border:
            raise ValueError(f'Real-CUGAN x{self.scale} needs an input larger than {border} px a side (its reflect '
                             f'padding), got {x.shape[2]}x{x.shape[3]}')
        y = self.unet1(pad_to(x, border, multiple))
        y = self.unet2(y) + crop(y, 20)
        if self.scale == 4:
            y = F.pixel_shuffle(crop(self.conv_final(y), 1), 2)
        y = y[:, :, :hw[0] * self.scale, :hw[1] * self.scale]
        if self.scale == 4:
            y = y + F.interpolate(x, scale_factor=4, mode='nearest')
        return (y - 0.15) / 0.7 if self.is_pro else y


def shape_or_none(state, key):
    """The shape of ``state[key]``, or ``()`` when the key is missing."""
    return shape_of(state[key]) if key in state else ()


def detect_cugan(state):
    """Scale from the structure (``conv_final``: x4; ``unet1.conv_bottom`` 5x5: x3, 4x4: x2), ``se`` from the
    SE blocks' keys, ``pro`` from the ``pro`` marker tensor. A 3x3 ``unet1.conv_bottom`` is waifu2x's CUNet x1
    (``models.archs.waifu2x.waifu2x``): not claimed here."""
    if 'unet1.conv1.conv.0.weight' not in state or 'unet2.conv_bottom.weight' not in state:
        return None
    num_in = shape_of(state['unet1.conv1.conv.0.weight'])[1]
    bottom = shape_or_none(state, 'unet1.conv_bottom.weight')
    if len(bottom) != 4:
        raise ValueError('Real-CUGAN keys, but unet1.conv_bottom.weight is missing or not 4-D')
    if 'conv_final.weight' in state:
        num_out, scale = shape_of(state['conv_final.weight'])[0] // 4, 4
        if num_in == 4 * num_out:
            raise ValueError(f'Real-CUGAN UpCunet2x_fast ({num_in} pixel-unshuffled input channels) is not supported')
    elif bottom[2] == 3:
        return None
    elif bottom[2] in (4, 5):
        num_out, scale = shape_of(state['unet2.conv_bottom.weight'])[0], {4: 2, 5: 3}[bottom[2]]
    else:
        raise ValueError(f'Real-CUGAN keys, but unet1.conv_bottom is {bottom[2]}x{bottom[3]} '
                         '(x2 and x4 have 4x4, x3 5x5, waifu2x CUNet x1 3x3)')
    return {'type': 'RealCUGAN', 'num_in_ch': num_in, 'num_out_ch': num_out, 'scale': scale,
            'se': 'unet1.conv2.seblock.conv1.weight' in state, 'pro': 'pro' in state}


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few 64-128 channel maps at the U-Nets' (upsampled) size."""
    s = SPEC.scale(arch)
    inner = 2 if s == 4 else s
    return 4.0 * (6 * 64 * inner * inner + 3 * 3 * s * s)


def grid_multiple(arch):
    """The U-Nets' stride-2 grid (2; 4 for x3, whose input is padded to a multiple of 4): the network takes any size
    and pads it itself (``pad_mode`` 'own': a caller's pad first changes the borders, 48 dB against spandrel for a
    pro x2 on a 43x51 crop), but tiles must start on this grid to give what the whole image gives (tested: 62 dB
    against 37 dB off-grid for a nose x2 on a photo; the SE blocks' global means still differ per tile)."""
    return BORDER[SPEC.scale(arch)][1]


def min_side(arch):
    """More than the reflect padding a side (see ``BORDER``)."""
    return BORDER[SPEC.scale(arch)][0] + 1


# what the U-Nets write beyond the plumbing (models/export_ops.py; waifu2x's CUNet has the same): transposed
# convs, leaky ReLUs, the reflect pad to run-time sizes (cast, //), the SE blocks' mean, ReLU and sigmoid
UNET_OPS = (ops.CONV_TRANSPOSE | ops.LEAKY_RELU | ops.PAD | ops.CAST | ops.FLOOR_DIVIDE | ops.MEAN | ops.RELU
            | SIGMOID_OPS)
EXPORT_OPS = UNET_OPS | ops.PIXEL_SHUFFLE | ops.NEAREST  # x4's pixel shuffle and nearest skip
SPEC = ArchSpec('RealCUGAN', RealCUGAN, detect=detect_cugan, scale_key='scale', pad_multiple=grid_multiple,
                pad_mode='own', bytes_per_pixel=bytes_per_pixel, min_side=min_side, export_ops=EXPORT_OPS)
