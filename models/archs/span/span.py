"""SPAN (Swift Parameter-free Attention Network, NTIRE 2024 efficient SR), training and fused forms, and its spec.

Parameter names follow spandrel's ``SPAN`` one to one (``conv_1.sk``, ``block_1.c1_r.conv.0``, ``conv_cat``,
``upsampler.0``, the ``no_norm`` buffer when the input is not normalised), so its ``.pth`` files load as they are.

Each ``Conv3XC`` is trained as a 1x1 -> 3x3 -> 1x1 chain on the zero-padded input plus a 1x1 skip; that sum is
one 3x3 convolution (``fuse_conv3xc``). The *fused* form (``fused=True``) holds only that conv, named
``eval_conv`` as in the training form, which is what the ncnn files ship; ``fuse_state`` turns a training-form
state dict into it. The training form keeps ``eval_conv`` for its key layout only; in eval mode it convolves with
the fused kernel computed from the chain (as spandrel does), in training mode it runs the chain.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...legacy_ops import SIGMOID_OPS, sigmoid, silu
from ...specs import ArchSpec, Bound, shape_of
from ..compact.srvgg import pixel_shuffle_by_reshape

N_BLOCKS = 6
RGB_MEAN = (0.4488, 0.4371, 0.4040)
_CENTRE = np.zeros((3, 3), np.float32)
_CENTRE[1, 1] = 1.0


def fuse_conv3xc(w1, b1, w2, b2, w3, b3, sk_w, sk_b, einsum=np.einsum, centre=_CENTRE):
    """The one 3x3 kernel and bias of a Conv3XC: ``w3 . (w2 * (w1 . x + b1) + b2) + b3 + sk(x)``.

    The 3x3 conv sees the 1x1 conv of the zero-padded input, so its border taps see ``b1`` exactly as the fused
    conv's zero padding does: the fusion is exact. ``einsum``/``centre``: numpy arrays, or paddle's for tensors.
    """
    a, c = w1[:, :, 0, 0], w3[:, :, 0, 0]  # two operands per einsum: a three-operand one is slow in numpy
    weight = einsum('on,nchw->ochw', c, einsum('nmhw,mc->nchw', w2, a))
    weight = weight + einsum('oc,hw->ochw', sk_w[:, :, 0, 0], centre)
    bias = einsum('on,n->o', c, einsum('nmhw,m->n', w2, b1) + b2) + b3 + sk_b
    return weight, bias


def conv(c_in, c_out, k, padding=0):
    """A conv initialised as PyTorch's default (uniform, bound 1/sqrt(fan_in), bias too): SPAN's chains and
    normalised input (x 255) overflow in training with Paddle's default initialisation."""
    bound = 1.0 / math.sqrt(c_in * k * k)
    init = nn.initializer.Uniform(-bound, bound)
    return nn.Conv2D(c_in, c_out, k, 1, padding, weight_attr=paddle.ParamAttr(initializer=init),
                     bias_attr=paddle.ParamAttr(initializer=init))


class Conv3XC(nn.Layer):
    """A 3x3 convolution trained as 1x1 (x gain) -> 3x3 -> 1x1 plus a 1x1 skip; ``fused``: the 3x3 alone."""

    def __init__(self, c_in, c_out, gain=2, fused=False):
        super().__init__()
        self.fused = fused
        self.eval_conv = conv(c_in, c_out, 3, 1)
        if fused:
            return
        self.eval_conv.weight.stop_gradient = self.eval_conv.bias.stop_gradient = True
        self.sk = conv(c_in, c_out, 1)
        self.conv = nn.Sequential(conv(c_in, c_in * gain, 1), conv(c_in * gain, c_out * gain, 3),
                                  conv(c_out * gain, c_out, 1))

    def fused_kernel(self):
        """``(weight, bias)`` of the equivalent 3x3 conv, as paddle tensors (differentiable)."""
        args = [t for c in (self.conv[0], self.conv[1], self.conv[2], self.sk) for t in (c.weight, c.bias)]
        return fuse_conv3xc(*args, einsum=paddle.einsum, centre=paddle.to_tensor(_CENTRE))

    def forward(self, x):
        if self.fused:
            return self.eval_conv(x)
        if self.training:
            return self.conv(F.pad(x, [1, 1, 1, 1])) + self.sk(x)
        weight, bias = self.fused_kernel()
        return F.conv2d(x, weight, bias, padding=1)


class SPAB(nn.Layer):
    """Three Conv3XC with SiLU between, then the parameter-free attention ``(out3 + x) * (sigmoid(out3) - 0.5)``.

    Returns the block output and the first conv's activated output (spandrel's in-place SiLU makes the
    second value it returns the activated one; the concatenation of the last block reads it).
    """

    def __init__(self, channels, fused=False):
        super().__init__()
        self.c1_r = Conv3XC(channels, channels, fused=fused)
        self.c2_r = Conv3XC(channels, channels, fused=fused)
        self.c3_r = Conv3XC(channels, channels, fused=fused)

    def forward(self, x):
        out1 = silu(self.c1_r(x))
        out3 = self.c3_r(silu(self.c2_r(out1)))
        return (out3 + x) * (sigmoid(out3) - 0.5), out1


class SPAN(nn.Layer):
    """SPAN; ``norm``: the input is ``(x - rgb_mean) * img_range`` first; ``fused``: each Conv3XC is one conv."""

    def __init__(self, num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4, norm=True, img_range=255.0,
                 rgb_mean=RGB_MEAN, fused=False):
        super().__init__()
        if len(rgb_mean) != num_in_ch and norm:
            raise ValueError(f'SPAN rgb_mean has {len(rgb_mean)} values for {num_in_ch} input channels')
        self.upscale, self.norm, self.img_range, self.fused = upscale, norm, float(img_range), fused
        self.rgb_mean = [float(m) for m in rgb_mean]
        if not norm:  # spandrel's marker of an un-normalised SPAN
            self.register_buffer('no_norm', paddle.zeros([1]))
        ch = feature_channels
        self.conv_1 = Conv3XC(num_in_ch, ch, fused=fused)
        for i in range(1, N_BLOCKS + 1):
            setattr(self, f'block_{i}', SPAB(ch, fused=fused))
        self.conv_cat = conv(ch * 4, ch, 1)
        self.conv_2 = Conv3XC(ch, ch, fused=fused)
        self.upsampler = nn.Sequential(conv(ch, num_out_ch * upscale * upscale, 3, 1),
                                       nn.PixelShuffle(upscale))

    def trainable_parameters(self):
        """What the optimiser updates: the training form's ``eval_conv`` is derived, never trained."""
        return [p for p in self.parameters() if not p.stop_gradient]

    def features(self, x):
        """Everything before the pixel shuffle."""
        if self.norm:
            # one constant per channel: fill_constant ops, which the export's graph check allows (not assign_value)
            mean = paddle.concat([paddle.full([1, 1, 1, 1], m, dtype=x.dtype) for m in self.rgb_mean], axis=1)
            x = (x - mean) * self.img_range
        first = self.conv_1(x)
        out, out_b1 = first, None
        for i in range(1, N_BLOCKS + 1):
            out, inner = getattr(self, f'block_{i}')(out)
            out_b1 = out if i == 1 else out_b1
        out = self.conv_cat(paddle.concat([first, self.conv_2(out), out_b1, inner], axis=1))
        return self.upsampler[0](out)

    def forward(self, x):
        return self.upsampler[1](self.features(x))


# ---------------------------------------------------------------- the fused form
_CHAIN = ('conv.0', 'conv.1', 'conv.2', 'sk')


def _conv3xc_prefixes(state):
    return sorted({k[:-len('.sk.weight')] for k in state if k.endswith('.sk.weight')})


def fuse_state(state, arch):
    """A training-form SPAN state dict and arch -> the fused form's (each Conv3XC chain collapsed into
    ``eval_conv``; the stored ``eval_conv`` values, which may be stale, are not read)."""
    if arch.get('fused'):
        return dict(state), dict(arch)
    out = {k: v for k, v in state.items() if not any(f'.{c}.' in k for c in _CHAIN)}
    for p in _conv3xc_prefixes(state):
        args = [np.asarray(state[f'{p}.{c}.{t}'], np.float32) for c in _CHAIN for t in ('weight', 'bias')]
        out[f'{p}.eval_conv.weight'], out[f'{p}.eval_conv.bias'] = fuse_conv3xc(*args)
    return out, {**arch, 'fused': True}


class FusedSPAN(nn.Layer):
    """The static export's form: a fused copy of ``net`` and a pixel shuffle that reads H and W at run time."""

    def __init__(self, net):
        super().__init__()
        self.net = net if net.fused else fused_copy(net)
        self.upscale = net.upscale

    def forward(self, x):
        return pixel_shuffle_by_reshape(self.net.features(x), self.upscale)


def fused_copy(net):
    """A fused SPAN (eval mode) with the same function as the training-form ``net``."""
    first = net.conv_1.eval_conv.weight
    fused = SPAN(num_in_ch=first.shape[1], num_out_ch=net.upsampler[0].weight.shape[0] // net.upscale ** 2,
                 feature_channels=first.shape[0], upscale=net.upscale, norm=net.norm, img_range=net.img_range,
                 rgb_mean=net.rgb_mean, fused=True)
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    state, _ = fuse_state(state, {'fused': False})
    fused.set_state_dict({k: state[k] for k in fused.state_dict()})
    fused.eval()
    return fused


# ---------------------------------------------------------------- detection and sizing
def _scale_and_out(out_ch, num_in_ch, where):
    for num_out in dict.fromkeys((num_in_ch, 3, 1)):
        r = math.isqrt(out_ch // num_out) if out_ch % num_out == 0 else 0
        if r >= 1 and r * r * num_out == out_ch:
            return r, num_out
    raise ValueError(f'{where} has {out_ch} outputs, not output channels x upscale^2')


def detect_span(state):
    """SPAN from its keys: fused when the Conv3XC chains are absent; ``norm`` unless ``no_norm`` is stored."""
    if 'conv_1.eval_conv.weight' not in state or 'block_1.c1_r.eval_conv.weight' not in state:
        return None
    fused = 'conv_1.sk.weight' not in state
    first = shape_of(state['conv_1.eval_conv.weight'])
    num_in_ch, ch = first[1], first[0]
    need = ['conv_cat.weight', 'upsampler.0.weight', 'conv_2.eval_conv.weight']
    need += [f'block_{i}.c{j}_r.eval_conv.weight' for i in range(1, N_BLOCKS + 1) for j in (1, 2, 3)]
    if not fused:
        need += [f'{p}.{c}.weight' for p in ['conv_1', 'conv_2'] + [n[:-len('.eval_conv.weight')] for n in need[3:]]
                 for c in _CHAIN]
    missing = [k for k in need if k not in state]
    if missing:
        raise ValueError(f'SPAN-like keys, but {len(missing)} of its tensors are missing (first: {missing[0]})')
    if shape_of(state['conv_cat.weight'])[:2] != (ch, 4 * ch):
        raise ValueError(f'SPAN conv_cat has shape {shape_of(state["conv_cat.weight"])}, '
                         f'expected ({ch}, {4 * ch}, 1, 1)')
    upscale, num_out = _scale_and_out(shape_of(state['upsampler.0.weight'])[0], num_in_ch, 'SPAN upsampler.0')
    norm = 'no_norm' not in state
    arch = {'type': 'SPAN', 'num_in_ch': num_in_ch, 'num_out_ch': num_out, 'feature_channels': ch,
            'upscale': upscale, 'norm': norm, **({'img_range': 255.0} if norm else {})}  # img_range: not in weights
    return {**arch, 'fused': True} if fused else arch


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: about eight feature maps (the concatenation of four, the block's live
    maps; the training form's chain doubles one) plus the HR output."""
    ch, s = int(arch.get('feature_channels', 48)), SPEC.scale(arch)
    return 4.0 * (8 * ch + 2 * 3 * s * s)


# the fused export converts whole to OpenVINO, the engine bf16 runs on (spanx4_ch48, 256x256: docs/benchmarks.md)
def _consistent(arch):
    means, channels = arch['rgb_mean'], arch['num_in_ch']
    if arch['norm'] and len(means) != channels:
        return [('rgb_mean', f'must have one value per input channel ({channels}), got {len(means)}')]
    return []


# released SPANs: 48 or 52 channels; rgb_mean is DIV2K's, img_range 255 (1 in some community models)
# beyond the plumbing its exports hold only its attention's sigmoids (models/legacy_ops.py)
SPEC = ArchSpec('SPAN', SPAN, detect=detect_span, scale_key='upscale', bytes_per_pixel=bytes_per_pixel,
                export_layer=FusedSPAN, undetectable={'img_range': (255.0, 1.0)}, cpu_engine='openvino',
                bounds={'feature_channels': Bound(1, 512), 'rgb_mean': Bound(0, 1, count=(1, 16), real=True)},
                consistent=_consistent, export_ops=SIGMOID_OPS)
