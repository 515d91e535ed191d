"""SRVGGNetCompact: the compact VGG-style net of realesr-animevideov3 and realesr-general-x4v3, and its ``ArchSpec``."""
import math
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...specs import ArchSpec, Bound, shape_of


class PReLU(nn.Layer):
    """Channel-wise PReLU whose parameter is called ``weight`` (as in PyTorch).

    ``paddle.nn.PReLU`` names it ``_weight``, which would break one-to-one
    state-dict names with the official checkpoints.
    """

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = self.create_parameter(
            [num_parameters], default_initializer=nn.initializer.Constant(init))

    def forward(self, x):
        return F.prelu(x, self.weight)


ACTIVATIONS = ('prelu', 'relu', 'leakyrelu')
UPSCALES = (1, 2, 3, 4, 8)  # the scales the rest of the pipeline takes (checkpoint_io.graph_check.SCALES)
SKIPS = ('nearest', 'bilinear')
# the fixed unsharp mask on the output (sharpen.py): its amount (0: none) and its Gaussian's sigma in HR pixels
SHARPEN_BOUNDS = {'sharpen': Bound(0, 2, real=True), 'sharpen_sigma': Bound(0.5, 3, real=True)}


def _activation(act_type, num_feat):
    if act_type == 'prelu':
        return PReLU(num_feat)
    if act_type == 'relu':
        return nn.ReLU()
    if act_type == 'leakyrelu':
        return nn.LeakyReLU(0.1)
    raise ValueError(f'act_type must be one of {ACTIVATIONS}, got {act_type!r}')


class SRVGGNetCompact(nn.Layer):
    """Conv/activation stack at LR resolution, pixel shuffle, plus the input upsampled as a skip: ``nearest`` (the
    official networks) or ``bilinear`` (no 4x4 cell edges for the body to cancel; docs/experiments/gan_cpu.md).
    ``sharpen`` > 0: a fixed unsharp mask of that amount (Gaussian ``sharpen_sigma`` HR px) on the output
    (``sharpen.UnsharpMask``: no weights, nothing in the state dict); 0 adds nothing to forward or the export."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type='prelu',
                 skip='nearest', sharpen=0.0, sharpen_sigma=1.5):
        super().__init__()
        if upscale not in UPSCALES:
            raise ValueError(f'SRVGGNetCompact supports upscale {", ".join(map(str, UPSCALES))}, got {upscale}')
        if skip not in SKIPS:
            raise ValueError(f'SRVGGNetCompact skip must be one of {SKIPS}, got {skip!r}')
        for key, value in (('sharpen', sharpen), ('sharpen_sigma', sharpen_sigma)):
            for _, problem in SHARPEN_BOUNDS[key].problems(key, value):
                raise ValueError(f'SRVGGNetCompact {key}: {problem}')
        self.upscale, self.skip = upscale, skip
        self.usm = _unsharp_mask(num_out_ch, sharpen_sigma, sharpen) if sharpen else None
        layers = [nn.Conv2D(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2D(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2D(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        out = F.pixel_shuffle(self.body(x), self.upscale) + upsample_skip(x, self.upscale, self.skip)
        return out if self.usm is None else self.usm(out)


def _unsharp_mask(channels, sigma, amount):
    """``sharpen.UnsharpMask``, its module loaded only by a network that has the mask (an image run of a plain
    compact network loads no more than before)."""
    from .sharpen import UnsharpMask
    return UnsharpMask(channels, sigma, amount)


def upsample_skip(x, scale, mode):
    """The skip: ``x`` upsampled by ``scale``, nearest (the official nets) or bilinear (half-pixel centres)."""
    if mode == 'nearest':
        return F.interpolate(x, scale_factor=scale, mode='nearest')
    return F.interpolate(x, scale_factor=scale, mode='bilinear', align_corners=False, align_mode=0)


def detect_srvgg(state):
    """ReLU versus LeakyReLU has no weights: ``relu`` is assumed (``undetectable``)."""
    if 'body.0.weight' not in state or any(k.startswith('conv') for k in state):
        return None
    convs = sorted(int(m.group(1)) for k, v in state.items()
                   for m in [re.match(r'^body\.(\d+)\.weight$', k)] if m and len(shape_of(v)) == 4)
    if convs != list(range(0, 2 * len(convs), 2)) or len(convs) < 2:
        raise ValueError(f'SRVGGNetCompact-like keys, but the conv indices {convs[:8]} are not 0, 2, 4, ...')
    first = shape_of(state['body.0.weight'])
    out_ch = shape_of(state[f'body.{convs[-1]}.weight'])[0]
    num_in_ch, num_feat = first[1], first[0]
    upscale = None
    for num_out_ch in dict.fromkeys((num_in_ch, 3, 4, 1)):  # spandrel's order: likely the input's, then RGB(A), grey
        r = math.isqrt(out_ch // num_out_ch) if out_ch % num_out_ch == 0 else 0
        if r >= 1 and r * r * num_out_ch == out_ch:
            upscale = r
            break
    if upscale not in UPSCALES:
        raise ValueError(f'SRVGGNetCompact last conv has {out_ch} outputs, not num_out_ch (1, 3 or 4) x upscale^2 '
                         f'(upscale {", ".join(map(str, UPSCALES))})')
    act = 'prelu' if 'body.1.weight' in state else 'relu'
    return {'type': 'SRVGGNetCompact', 'num_in_ch': num_in_ch, 'num_out_ch': num_out_ch, 'num_feat': num_feat,
            'num_conv': len(convs) - 2, 'upscale': upscale, 'act_type': act}


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few feature maps at LR plus the HR output and skip (and, with the unsharp
    mask, its padded copy, two blurs and the difference at HR)."""
    s, f = SPEC.scale(arch), int(arch.get('num_feat', 64))
    usm = 4 * int(arch.get('num_out_ch', 3)) * s * s if arch.get('sharpen') else 0
    return 4.0 * (3 * f + 3 * 3 * s * s + usm)


# ---------------------------------------------------------------- static export
def prelu_by_relu(x, weight):
    """Channel-wise PReLU as ``relu(x) - w * relu(-x)``: ops OpenVINO's Paddle front end converts."""
    w = paddle.reshape(weight, [1, -1, 1, 1])
    return F.relu(x) - w * F.relu(-x)


def pixel_shuffle_by_reshape(x, r):
    """``pixel_shuffle`` as reshape/transpose with H and W read at run time (any H, W)."""
    if x.shape[1] % (r * r):
        raise ValueError(f'pixel shuffle by {r}: {x.shape[1]} channels are not a multiple of {r * r}')
    shape = paddle.shape(x)
    c = x.shape[1] // (r * r)
    x = paddle.reshape(x, [-1, c, r, r, shape[2], shape[3]])
    x = paddle.transpose(x, [0, 1, 4, 2, 5, 3])
    return paddle.reshape(x, [-1, c, shape[2] * r, shape[3] * r])


class ConvertibleSRVGG(nn.Layer):
    """``net`` written with ops that OpenVINO converts, so the whole graph runs there (and so in bf16).

    OpenVINO's Paddle front end has no ``prelu`` and no ``pixel_shuffle``;
    ``relu(x) - w*relu(-x)`` and a reshape/transpose shuffle compute the same
    function (fp32 outputs agree to ~1e-6).
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = x
        for layer in self.net.body:
            out = prelu_by_relu(out, layer.weight) if isinstance(layer, PReLU) else layer(out)
        out = pixel_shuffle_by_reshape(out, self.net.upscale) + upsample_skip(x, self.net.upscale, self.net.skip)
        return out if self.net.usm is None else self.net.usm(out)


# The export is the OpenVINO-convertible form: on OpenVINO it runs fp32 as fast as the original graph on
# oneDNN, and bf16 about 2x faster on CPUs with native bf16 (benchmarks/infer_speed.py).
# what its exports hold beyond the plumbing (models/export_ops.py): the skip (nearest, bilinear; for ONNX, a
# one-channel input's nearest is a plain conv2d_transpose), PReLU as ReLUs, LeakyReLU; and export_rev 1's form (the
# network itself: prelu, pixel_shuffle), which exports written before revision 2 still hold; the unsharp mask
# (sharpen > 0): a replicate pad and depthwise convolutions, its kernel a parameter
EXPORT_OPS = (ops.NEAREST | ops.BILINEAR | ops.RELU | ops.LEAKY_RELU | ops.ExportOps(pir='1.conv2d_transpose')
              | ops.ExportOps('prelu pixel_shuffle', 'mode upscale_factor') | ops.PAD | ops.DEPTHWISE_CONV)
# num_conv 0 is the official network too (conv_first, its activation, the last conv): no body convs
BOUNDS = {'num_conv': Bound(0, 512), **SHARPEN_BOUNDS}
SPEC = ArchSpec('SRVGGNetCompact', SRVGGNetCompact, detect=detect_srvgg, scale_key='upscale', bounds=BOUNDS,
                bytes_per_pixel=bytes_per_pixel, undetectable={'act_type': ('relu', 'leakyrelu'), 'skip': SKIPS},
                export_layer=ConvertibleSRVGG, cpu_engine='openvino', export_ops=EXPORT_OPS)
