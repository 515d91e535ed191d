"""waifu2x: UpConv7 (anime and photo, x2) and CUNet (x1 denoise, x2), and their ``ArchSpec``s.

Both are valid-convolution networks: their output shrinks at the borders. The waifu2x ncnn wrapper pads its
input by repeating the edge pixels ("prepadding": 7 for UpConv7, 18 for CUNet x2, 28 for CUNet x1) and the
graph's shrinkage takes exactly that away again. These networks do the same inside ``forward`` (edge
replication, amounts read at run time, so the same forward exports with dynamic H and W): any input size gives
exactly ``scale`` x input, and the borders match what waifu2x-ncnn-vulkan makes.

* ``UpConv7``: six 3x3 valid convs (16, 32, 64, 128, 128, 256 channels, LeakyReLU 0.1) and a 4x4 stride-2
  transposed conv (padding 3) to the output; keys ``net.0`` ... ``net.12`` (the convs at even indices).
* ``CUNet``: Real-CUGAN's two cascaded U-Nets (``models.archs.cugan.cugan``: same blocks, same key names, SE blocks
  always on); x2's ``unet1`` ends in a 4x4 stride-2 transposed conv, x1's in a 3x3 conv. H and W are padded up to a
  multiple of 2 (x2) or 4 (x1) as well, and the output cropped back.

A CUNet x2 state dict has exactly Real-CUGAN se x2's keys and shapes: the weights cannot tell them apart, and
detection gives ``RealCUGAN`` (reflect instead of edge padding: only the outermost pixels differ). CUNet x2 is
told from the ncnn graph (``models.archs.cugan.ncnn_unet``) or from the ``arch`` a converted checkpoint stores.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ..cugan.cugan import UNET_OPS, UNet1, UNet2, crop, pad_to, shape_or_none
from ...specs import ArchSpec, shape_of

UPCONV7_CHANNELS = (16, 32, 64, 128, 128, 256)
# CUNet scale -> (edge pad on each side, H and W padded up to a multiple of)
CUNET_BORDER = {1: (28, 4), 2: (18, 2)}


class UpConv7(nn.Layer):
    """waifu2x UpConv7, x2 (see the module docstring: edge padding 7 px, output exactly 2 x input)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, scale=2):
        super().__init__()
        if scale != 2:
            raise ValueError(f'UpConv7 upscales x2, got scale {scale}')
        self.scale = scale
        layers, cin = [], num_in_ch
        for cout in UPCONV7_CHANNELS:
            layers += [nn.Conv2D(cin, cout, 3), nn.LeakyReLU(0.1)]
            cin = cout
        layers.append(nn.Conv2DTranspose(cin, num_out_ch, 4, 2, 3))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(F.pad(x, [7] * 4, mode='replicate'))


class CUNet(nn.Layer):
    """waifu2x CUNet x1 (denoise only) or x2 (see the module docstring for the borders)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, scale=2):
        super().__init__()
        if scale not in CUNET_BORDER:
            raise ValueError(f'CUNet supports scale 1 or 2, got {scale}')
        self.scale = scale
        self.unet1 = UNet1(num_in_ch, num_out_ch, se=True, up=scale)
        self.unet2 = UNet2(num_out_ch, num_out_ch, se=True)

    def forward(self, x):
        hw = paddle.shape(x)[2:4]
        y = self.unet1(pad_to(x, *CUNET_BORDER[self.scale], mode='replicate'))
        y = self.unet2(y) + crop(y, 20)
        return y[:, :, :hw[0] * self.scale, :hw[1] * self.scale]


def detect_upconv7(state):
    if 'net.0.weight' not in state or 'net.12.weight' not in state:
        return None
    convs = [shape_or_none(state, f'net.{i}.weight') for i in range(0, 13, 2)]
    widths = tuple(s[0] for s in convs[:-1] if len(s) == 4)
    if widths != UPCONV7_CHANNELS or len(convs[-1]) != 4 or convs[-1][2:] != (4, 4):
        raise ValueError(f'UpConv7-like keys (net.0 ... net.12), but the conv widths {widths} are not '
                         f'{UPCONV7_CHANNELS} followed by a 4x4 transposed conv')
    return {'type': 'UpConv7', 'num_in_ch': convs[0][1], 'num_out_ch': convs[-1][1], 'scale': 2}


def detect_cunet(state):
    """x1: a 3x3 ``unet1.conv_bottom``; x2: a 4x4 one, which is also Real-CUGAN se x2's layout, claimed first by
    ``RealCUGAN`` (registered before): this answer serves a checkpoint that stores a CUNet x2 ``arch``."""
    bottom = shape_or_none(state, 'unet1.conv_bottom.weight')
    if 'unet2.conv_bottom.weight' not in state or len(bottom) != 4 or bottom[2:] not in ((3, 3), (4, 4)):
        return None
    if 'pro' in state or 'conv_final.weight' in state:
        return None
    if 'unet1.conv2.seblock.conv1.weight' not in state:
        raise ValueError('CUNet keys, but without the SE blocks (unet1.conv2.seblock.*)')
    return {'type': 'CUNet', 'num_in_ch': shape_of(state['unet1.conv1.conv.0.weight'])[1],
            'num_out_ch': shape_of(state['unet2.conv_bottom.weight'])[0], 'scale': 1 if bottom[2] == 3 else 2}


def _upconv7_bytes(arch):
    return 4.0 * (2 * 256 + 3 * 4)


def _cunet_bytes(arch):
    s = int(arch.get('scale', 2))
    return 4.0 * (6 * 64 * s * s + 3 * 2 * s * s)


# oneDNN: OpenVINO converts it and runs bf16 (--engine openvino), but its fp32 is 1.4x slower there (benchmarks.md)
# beyond the plumbing (models/export_ops.py): UpConv7's edge pad, leaky ReLUs and transposed conv; CUNet's U-Nets
UPCONV7_SPEC = ArchSpec('UpConv7', UpConv7, detect=detect_upconv7, scale_key='scale',
                        bytes_per_pixel=_upconv7_bytes, export_ops=ops.PAD | ops.LEAKY_RELU | ops.CONV_TRANSPOSE)
CUNET_SPEC = ArchSpec('CUNet', CUNet, detect=detect_cunet, scale_key='scale', bytes_per_pixel=_cunet_bytes,
                      # as models.archs.cugan.cugan
                      pad_multiple=lambda arch: CUNET_BORDER[int(arch.get('scale', 2))][1],
                      pad_mode='own', export_ops=UNET_OPS)
