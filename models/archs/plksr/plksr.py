"""PLKSR and RealPLKSR (Partial Large Kernel CNNs for efficient SR, Lee et al. 2024; RealPLKSR is the
real-world variant of neosr/traiNNer), and their specs. spandrel's id for both is ``PLKSR``; names follow it one
to one (PLKSR's ``channe_mixer`` typo included, which is how the two are told apart).

A block: channel mixer (two convs around GELU, or Mish in RealPLKSR), a large-kernel conv on the first
``split_ratio`` of the channels, element-wise attention ``x * sigmoid(conv(x))``, a 1x1 refinement, in
RealPLKSR a GroupNorm (or a channel LayerNorm before the block), plus the skip. The trunk's output plus the input
repeated per output pixel goes through a pixel shuffle, or RealPLKSR's DySample.
"""
import math
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from .dysample import DYSAMPLE_OPS, DySample
from ...legacy_ops import GELU_OPS, SIGMOID_OPS, gelu, sigmoid
from ...specs import ArchSpec, Bound, shape_of
from ..compact.srvgg import pixel_shuffle_by_reshape
from ...torch_layout import LayerNorm2d

CCM_TYPES = ('CCM', 'ICCM', 'DCCM')
LK_TYPES = ('PLK', 'RectSparsePLK')
_MIXER_KERNELS = {'CCM': (3, 1), 'ICCM': (1, 3), 'DCCM': (3, 3)}


def _conv(cin, cout, k, trunc=False):
    """A conv with 'same' padding for an int or (h, w) kernel; ``trunc``: the truncated normal (std 0.02) init."""
    kh, kw = (k, k) if isinstance(k, int) else k
    attr = paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=0.02)) if trunc else None
    return nn.Conv2D(cin, cout, (kh, kw), 1, (kh // 2, kw // 2), weight_attr=attr)


def repeat_channels(x, n):
    """Each channel repeated ``n`` times in place (torch's ``repeat_interleave`` on axis 1), shape-free."""
    return paddle.concat([x[:, c:c + 1] for c in range(x.shape[1]) for _ in range(n)], axis=1)


class Mixer(nn.Sequential):
    """Conv (dim -> 2 dim), activation, conv (2 dim -> dim) with the kernel sizes of ``ccm_type``."""

    def __init__(self, dim, ccm_type='DCCM', mish=False):
        k1, k2 = _MIXER_KERNELS[ccm_type]
        super().__init__(_conv(dim, 2 * dim, k1), Mish() if mish else GELU(), _conv(2 * dim, dim, k2, trunc=True))


class GELU(nn.Layer):
    def forward(self, x):
        return gelu(x)


class Mish(nn.Layer):
    def forward(self, x):
        return F.mish(x)


class PartialConv(nn.Layer):
    """The large kernel on the first ``pdim`` channels (``with_idt``: plus those channels); RectSparsePLK sums an
    m x m/3, an m/3 x m and an m/3 x m/3 kernel instead (PLKSR's ablation)."""

    def __init__(self, pdim, kernel_size, lk_type='PLK', with_idt=False):
        super().__init__()
        self.pdim, self.with_idt, self.rect = pdim, with_idt, lk_type == 'RectSparsePLK'
        if self.rect:
            m, n = kernel_size, kernel_size // 3
            self.mn_conv, self.nm_conv, self.nn_conv = (_conv(pdim, pdim, k, True) for k in ((m, n), (n, m), (n, n)))
        else:
            self.conv = _conv(pdim, pdim, kernel_size, trunc=True)

    def forward(self, x):
        x1, x2 = x[:, :self.pdim], x[:, self.pdim:]
        y = self.mn_conv(x1) + self.nm_conv(x1) + self.nn_conv(x1) if self.rect else self.conv(x1)
        return paddle.concat([y + x1 if self.with_idt else y, x2], axis=1)


class EA(nn.Layer):
    """Element-wise attention ``x * sigmoid(conv3x3(x))`` (spandrel's ``attn.f.0``)."""

    def __init__(self, dim):
        super().__init__()
        self.f = nn.Sequential(_conv(dim, dim, 3, trunc=True))

    def forward(self, x):
        return x * sigmoid(self.f[0](x))


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` written with reshapes and means: paddle2onnx 2.1 converts Paddle's group_norm op with an
    error of several per cent on maps of small variance (RealPLKSR's refined features)."""

    def forward(self, x):
        y = paddle.reshape(x, [0, self._num_groups, -1])
        y = y - y.mean(axis=2, keepdim=True)
        y = y * ((y * y).mean(axis=2, keepdim=True) + self._epsilon) ** -0.5
        y = paddle.reshape(y, paddle.shape(x))
        return y * self.weight.reshape([1, -1, 1, 1]) + self.bias.reshape([1, -1, 1, 1])


class PLKBlock(nn.Layer):
    def __init__(self, dim, kernel_size, split_ratio, use_ea=True, real=False, ccm_type='CCM', lk_type='PLK',
                 with_idt=False, norm_groups=4, layer_norm=False):
        super().__init__()
        self.real = real
        if layer_norm:
            self.layer_norm = LayerNorm2d(dim)
        mixer = Mixer(dim, 'DCCM' if real else ccm_type, mish=real)
        if real:
            self.channel_mixer = mixer
        else:
            self.channe_mixer = mixer  # PLKSR's own spelling
        self.lk = PartialConv(int(dim * split_ratio), kernel_size, lk_type, with_idt)
        if use_ea:
            self.attn = EA(dim)
        self.refine = _conv(dim, dim, 1, trunc=True)
        if real and not layer_norm:
            self.norm = GroupNorm(norm_groups, dim)

    def forward(self, x):
        y = self.layer_norm(x) if hasattr(self, 'layer_norm') else x
        y = self.lk((self.channel_mixer if self.real else self.channe_mixer)(y))
        y = self.refine(self.attn(y) if hasattr(self, 'attn') else y)
        return (self.norm(y) if hasattr(self, 'norm') else y) + x


class PLKSR(nn.Layer):
    """PLKSR: conv, ``n_blocks`` PLKBlocks, conv to ``3 * s^2``, plus the repeated input, pixel shuffle."""

    def __init__(self, dim=64, n_blocks=28, upscaling_factor=4, ccm_type='CCM', kernel_size=17, split_ratio=0.25,
                 lk_type='PLK', with_idt=False, use_ea=True):
        super().__init__()
        if ccm_type not in CCM_TYPES or lk_type not in LK_TYPES:
            raise ValueError(f'PLKSR: ccm_type must be one of {CCM_TYPES}, lk_type one of {LK_TYPES}; '
                             f'got {ccm_type!r}, {lk_type!r}')
        self.upscale = upscaling_factor
        blocks = [PLKBlock(dim, kernel_size, split_ratio, use_ea, ccm_type=ccm_type, lk_type=lk_type,
                           with_idt=with_idt) for _ in range(n_blocks)]
        self.feats = nn.Sequential(_conv(3, dim, 3, True), *blocks, _conv(dim, 3 * upscaling_factor ** 2, 3, True))

    def forward(self, x):
        return pixel_shuffle_by_reshape(self.feats(x) + repeat_channels(x, self.upscale ** 2), self.upscale)


class RealPLKSR(nn.Layer):
    """RealPLKSR: PLKSR's trunk with DCCM/Mish mixers, GroupNorm (or LayerNorm), a dropout before the last conv,
    and a pixel shuffle or DySample (groups 4, 3 at odd scales; a 1x1 end conv unless x1)."""

    def __init__(self, dim=64, n_blocks=28, upscaling_factor=4, kernel_size=17, split_ratio=0.25, use_ea=True,
                 norm_groups=4, dropout=0.0, dysample=False, layer_norm=False):
        super().__init__()
        s = self.upscale = upscaling_factor
        blocks = [PLKBlock(dim, kernel_size, split_ratio, use_ea, real=True, norm_groups=norm_groups,
                           layer_norm=layer_norm) for _ in range(n_blocks)]
        self.feats = nn.Sequential(_conv(3, dim, 3, True), *blocks, nn.Dropout2D(dropout),
                                   _conv(dim, 3 * s * s, 3, True))
        self.dysample = dysample
        if dysample:
            self.to_img = DySample(3 * s * s, 3, s, groups=3 if s % 2 else 4, end_convolution=s != 1)

    def forward(self, x):
        y = self.feats(x) + repeat_channels(x, self.upscale ** 2)
        return self.to_img(y) if self.dysample else pixel_shuffle_by_reshape(y, self.upscale)


# ---------------------------------------------------------------- detection
def _trunk_length(state):
    idx = {int(m.group(1)) for k in state for m in [re.match(r'^feats\.(\d+)\.', k)] if m}
    return max(idx) + 1


def _common(state, name):
    """``(dim, scale, use_ea, kernel_size, split_ratio, lk_type, last conv index)`` from the trunk's tensors."""
    dim = shape_of(state['feats.0.weight'])[0]
    last = _trunk_length(state) - 1
    if f'feats.{last}.weight' not in state:
        raise ValueError(f'{name}-like keys, but feats.{last} (the last conv) has no weight')
    out = shape_of(state[f'feats.{last}.weight'])[0]
    scale = math.isqrt(out // 3)
    if 3 * scale * scale != out:
        raise ValueError(f'{name} last conv has {out} outputs, not 3 x scale^2')
    lk = next((k for k in ('conv', 'mn_conv') if f'feats.1.lk.{k}.weight' in state), None)
    if lk is None:
        raise ValueError(f'{name}: feats.1.lk holds a SparsePLK conv set, whose kernels and dilations the weights '
                         'do not show (not supported)')
    w = shape_of(state[f'feats.1.lk.{lk}.weight'])
    return dim, scale, 'feats.1.attn.f.0.weight' in state, w[2], w[0] / dim, \
        'PLK' if lk == 'conv' else 'RectSparsePLK', last


def _check_blocks(state, n_blocks, mixer, name):
    missing = [i for i in range(1, n_blocks + 1) if f'feats.{i}.{mixer}.0.weight' not in state]
    if missing:
        raise ValueError(f'{name}-like keys, but block feats.{missing[0]} has no {mixer}')


def detect_plksr(state):
    if 'feats.0.weight' not in state or 'feats.1.channe_mixer.0.weight' not in state:
        return None
    dim, scale, use_ea, kernel, ratio, lk_type, last = _common(state, 'PLKSR')
    _check_blocks(state, last - 1, 'channe_mixer', 'PLKSR')
    kernels = (shape_of(state['feats.1.channe_mixer.0.weight'])[2], shape_of(state['feats.1.channe_mixer.2.weight'])[2])
    ccm = next((t for t, k in _MIXER_KERNELS.items() if k == kernels), None)
    if ccm is None:
        raise ValueError(f'PLKSR channel mixer kernels {kernels} are none of CCM (3, 1), ICCM (1, 3), DCCM (3, 3)')
    return {'type': 'PLKSR', 'dim': dim, 'n_blocks': last - 1, 'upscaling_factor': scale, 'ccm_type': ccm,
            'kernel_size': kernel, 'split_ratio': ratio, 'lk_type': lk_type, 'use_ea': use_ea,
            'with_idt': False}  # the identity added to the large kernel's channels has no weights


def detect_realplksr(state):
    if 'feats.0.weight' not in state or 'feats.1.channel_mixer.0.weight' not in state:
        return None
    dim, scale, use_ea, kernel, ratio, lk_type, last = _common(state, 'RealPLKSR')
    if lk_type != 'PLK':
        raise ValueError('RealPLKSR keys with a RectSparsePLK conv (feats.1.lk.mn_conv), which RealPLKSR has not')
    _check_blocks(state, last - 2, 'channel_mixer', 'RealPLKSR')
    layer_norm = 'feats.1.layer_norm.weight' in state
    arch = {'type': 'RealPLKSR', 'dim': dim, 'n_blocks': last - 2, 'upscaling_factor': scale,
            'kernel_size': kernel, 'split_ratio': ratio, 'use_ea': use_ea, 'dysample': 'to_img.init_pos' in state,
            'layer_norm': layer_norm}
    if not layer_norm:  # GroupNorm: its group count is not in the weights (4, as spandrel assumes)
        arch['norm_groups'] = 4
    return arch


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: a few maps of ``dim`` and twice ``dim`` at LR plus the HR output (and
    DySample's grid)."""
    dim, s = int(arch.get('dim', 64)), int(arch.get('upscaling_factor', 4))
    return 4.0 * (6 * dim + 8 * 3 * s * s)


# released (Real)PLKSRs: dim 64, 12 or 28 blocks, kernel 13 or 17, split ratio 0.25, 4 norm groups
BOUNDS = {'dim': Bound(1, 512), 'n_blocks': Bound(1, 128), 'kernel_size': Bound(1, 51),
          'split_ratio': Bound(0, 1, real=True)}


def consistent(arch):
    """An odd kernel ('same' padding keeps the size), some channels for it, and groups that divide ``dim``."""
    dim, kernel = arch['dim'], arch['kernel_size']
    if kernel % 2 == 0:
        return [('kernel_size', f'must be odd (the padding keeps the size), got {kernel}')]
    if int(dim * arch['split_ratio']) < 1:
        return [('split_ratio', f'{arch["split_ratio"]} x dim {dim} leaves the large kernel no channel')]
    if arch.get('lk_type') == 'RectSparsePLK' and kernel < 3:
        return [('kernel_size', f'must be at least 3 for RectSparsePLK (kernels of kernel_size / 3), got {kernel}')]
    groups = arch.get('norm_groups')
    if groups is not None and not arch.get('layer_norm') and dim % groups:
        return [('norm_groups', f'must divide dim {dim}, got {groups}')]
    return []


# what their exports hold beyond the plumbing (models/export_ops.py): PLKSR's GELU mixers and sigmoid attention;
# RealPLKSR's Mish mixers, its norms (means and ** -0.5), the attention's sigmoid and DySample
PLKSR_OPS = GELU_OPS | SIGMOID_OPS
REAL_PLKSR_OPS = (SIGMOID_OPS | ops.MEAN | ops.POWER | DYSAMPLE_OPS
                  | ops.ExportOps('mish', 'threshold', '1.mish', 'lambda'))
PLKSR_SPEC = ArchSpec('PLKSR', PLKSR, detect=detect_plksr, scale_key='upscaling_factor',
                      bytes_per_pixel=bytes_per_pixel, undetectable={'with_idt': (False, True)}, bounds=BOUNDS,
                      consistent=consistent, export_ops=PLKSR_OPS)
SPEC = ArchSpec('RealPLKSR', RealPLKSR, detect=detect_realplksr, scale_key='upscaling_factor',
                bytes_per_pixel=bytes_per_pixel, undetectable={'norm_groups': (4,)},
                bounds={**BOUNDS, 'norm_groups': Bound(1, 512), 'dropout': Bound(0, 1, real=True)},
                consistent=consistent, export_ops=REAL_PLKSR_OPS)
