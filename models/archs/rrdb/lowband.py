"""LowBandRRDBNet: a frozen RRDBNet (x4plus) plus a small trained low-band corrector, and its ``ArchSpec``.

``out = rrdb(x) + strength * up(corrector(x, rrdb(x)))``. The corrector is a few 3x3 convs at the input's
resolution; it sees the input and the RRDB output pixel-unshuffled by the scale, and returns a 3-channel
correction that a bilinear upsample brings to the output size. So the correction is low band by
construction (nothing above the input's own Nyquist band) and the RRDB's texture is left as it is. The last
conv starts at zero: an untrained corrector *is* the base network.

``corr_up`` (1, 2 or 4, a divisor of the scale; 1 by default) widens the band: the last conv then gives
``3 * u * u`` channels, pixel-shuffled by ``u`` (the correction at ``u`` x the input's resolution), and the bilinear
upsample is by ``scale / u``. ``u = 1`` is the network as first written (same keys, same outputs); ``u = 2``
corrects up to twice the input's Nyquist band, ``u = scale`` the full band. It is read back from the last
conv's out channels.

The RRDB parameters are frozen when the network is built (``stop_gradient``; ``trainable_parameters`` is
what an optimiser gets): the corrector is the only thing a finetune trains, and no backward pass goes
through the trunk. ``correct(x, base)`` takes the trunk's output from elsewhere (a Paddle Inference copy of
the base on the CPU, ``training/teacher.py``), which is the cheap way to train it.

``strength`` is a persistable buffer (saved with the weights, baked into an export): 0 is the base exactly,
1 the trained corrector. It is this network's fidelity knob in place of a weight blend: DNI of such a
checkpoint with its own base (``models.dni.write_dni``, ``--dni BASE W``) scales ``strength`` by ``W``.
"""
import re

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from . import rrdbnet
from .rrdbnet import UNSHUFFLE, RRDBNet, StaticShapeRRDBNet, bytes_per_pixel, detect_rrdbnet, static_unshuffle
from ...specs import ArchSpec, Bound, shape_of
from ..compact.srvgg import pixel_shuffle_by_reshape

PREFIX = 'corrector.'


class LowBandCorrector(nn.Layer):
    """``num_conv`` 3x3 convs (LeakyReLU 0.2 between them) from ``cin`` channels to ``cout``; the last is
    zero-initialised."""

    def __init__(self, cin, cout=3, num_feat=48, num_conv=5):
        super().__init__()
        if num_conv < 2:
            raise ValueError(f'the corrector needs at least 2 convs, got corr_conv={num_conv}')
        chans = [cin] + [num_feat] * (num_conv - 1) + [cout]
        zero = nn.initializer.Constant(0.0)
        self.convs = nn.LayerList([
            nn.Conv2D(a, b, 3, 1, 1, **({'weight_attr': zero, 'bias_attr': zero} if i == num_conv - 1 else {}))
            for i, (a, b) in enumerate(zip(chans[:-1], chans[1:]))])

    def forward(self, x):
        for conv in self.convs[:-1]:
            x = F.leaky_relu(conv(x), 0.2)
        return self.convs[-1](x)


def lowband_correction(layer, x, base):
    """The low-band correction of ``layer`` (a ``LowBandRRDBNet`` or ``LowBandHead``) at the output's size,
    before ``strength``: its corrector on ``x`` and the trunk's output ``base`` pixel-unshuffled."""
    c = layer.corrector(paddle.concat([x, static_unshuffle(base, layer.scale)], axis=1))
    if layer.corr_up > 1:  # reshape/transpose: the same op in the dynamic graph and the export
        c = pixel_shuffle_by_reshape(c, layer.corr_up)
    up = layer.scale // layer.corr_up
    return F.interpolate(c, scale_factor=up, mode='bilinear', align_corners=False) if up > 1 else c


def _check_corr_up(corr_up, scale):
    if corr_up < 1 or scale % corr_up:
        raise ValueError(f'corr_up must be a divisor of the scale {scale} (1, 2 or 4 for x4), got {corr_up}')
    return int(corr_up)


class LowBandRRDBNet(RRDBNet):
    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32,
                 corr_feat=48, corr_conv=5, corr_up=1):
        super().__init__(num_in_ch, num_out_ch, scale, num_feat, num_block, num_grow_ch)
        self.corr_up = _check_corr_up(corr_up, scale)
        for p in self.parameters():  # the base is frozen: only the corrector below trains
            p.stop_gradient = True
        self.corrector = LowBandCorrector(num_in_ch + num_out_ch * scale * scale, num_out_ch * corr_up * corr_up,
                                          corr_feat, corr_conv)
        self.register_buffer('strength', paddle.ones([1], dtype='float32'), persistable=True)

    def trainable_parameters(self):
        return self.corrector.parameters()

    def base(self, x):
        """The frozen RRDBNet's output (no gradient is recorded through it)."""
        with paddle.no_grad():
            return RRDBNet.forward(self, x).detach()

    def correction(self, x, base):
        """The low-band correction at the output's size, before ``strength``."""
        return lowband_correction(self, x, base)

    def correct(self, x, base):
        """``base + strength * correction``, ``base`` being the trunk's output on ``x``."""
        return base + self.strength * self.correction(x, base)

    def forward(self, x):
        return self.correct(x, self.base(x))


class LowBandHead(nn.Layer):
    """A ``LowBandRRDBNet`` without its trunk: the corrector and ``strength`` under the same key names, for a
    trunk output computed elsewhere (``correct(x, base)``; ``evaluation.shared_trunk`` runs one trunk for many
    such heads). The trunk's keys of the arch are accepted and ignored."""

    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, corr_feat=48, corr_conv=5, corr_up=1, **_trunk):
        super().__init__()
        self.scale, self.corr_up = int(scale), _check_corr_up(corr_up, scale)
        self.corrector = LowBandCorrector(num_in_ch + num_out_ch * scale * scale, num_out_ch * corr_up * corr_up,
                                          corr_feat, corr_conv)
        self.register_buffer('strength', paddle.ones([1], dtype='float32'), persistable=True)

    correction = LowBandRRDBNet.correction
    correct = LowBandRRDBNet.correct

    def correct_arrays(self, x, base):
        """``correct`` on float32 NCHW arrays, without gradient; returns an array."""
        with paddle.no_grad():
            y = self.correct(paddle.to_tensor(np.ascontiguousarray(x, dtype=np.float32)), paddle.to_tensor(base))
        return y.numpy()


def split_lowband(state, arch):
    """``(trunk state, trunk arch, head state)`` of a ``LowBandRRDBNet``'s weights: the RRDBNet part as a plain
    RRDBNet, and the corrector with ``strength`` (``LowBandHead``'s keys)."""
    head = {k: v for k, v in state.items() if k.startswith(PREFIX) or k == 'strength'}
    trunk = {k: v for k, v in state.items() if k not in head}
    trunk_arch = {k: v for k, v in arch.items() if not k.startswith('corr_')}
    return trunk, {**trunk_arch, 'type': 'RRDBNet'}, head


class StaticShapeLowBand(nn.Layer):
    """The network for the static export: the trunk through ``StaticShapeRRDBNet`` (its pixel unshuffle)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.trunk = StaticShapeRRDBNet(net)

    def forward(self, x):
        return self.net.correct(x, self.trunk(x))


def detect_lowband(state):
    convs = {int(m.group(1)) for k in state for m in [re.match(r'^corrector\.convs\.(\d+)\.weight$', k)] if m}
    if not convs:
        return None
    trunk = detect_rrdbnet({k: v for k, v in state.items() if not k.startswith(PREFIX) and k != 'strength'})
    if trunk is None:
        raise ValueError('LowBandRRDBNet corrector keys found without the RRDBNet trunk (conv_first, body.0)')
    if convs != set(range(len(convs))) or 'strength' not in state:
        raise ValueError(f'LowBandRRDBNet: corrector convs numbered {sorted(convs)[:10]} (expected 0..N-1) '
                         f'and strength {"present" if "strength" in state else "missing"}')
    first, last = shape_of(state['corrector.convs.0.weight']), shape_of(state[f'corrector.convs.{len(convs) - 1}.weight'])
    c, s = trunk['num_out_ch'], trunk['scale']
    outs = {c * u * u: u for u in range(1, s + 1) if s % u == 0}  # corr_up u: the last conv gives c * u * u
    if first[1] != trunk['num_in_ch'] + c * s * s or last[0] not in outs:
        raise ValueError(f'LowBandRRDBNet: corrector takes {first[1]} channels and gives {last[0]}; a x{s} '
                         f'trunk of {c} channels needs {trunk["num_in_ch"] + c * s * s} in and one of '
                         f'{sorted(outs)} out (corr_up {", ".join(map(str, sorted(outs.values())))})')
    up = {'corr_up': outs[last[0]]} if outs[last[0]] > 1 else {}  # 1, the default, is left out
    return {**trunk, 'type': 'LowBandRRDBNet', 'corr_feat': first[0], 'corr_conv': len(convs), **up}


def _pad(arch):
    return UNSHUFFLE.get(SPEC.scale(arch), 1)


def _bytes(arch):
    return bytes_per_pixel(arch) + 4.0 * 3 * int(arch.get('corr_feat', 48))


# the trunk's ops (RRDBNet's) and the corrector's input: the image upsampled bilinearly (models/export_ops.py)
EXPORT_OPS = rrdbnet.EXPORT_OPS | ops.BILINEAR


def base_as_lowband(state, arch, base_state, base_arch):
    """For DNI of a ``LowBandRRDBNet`` checkpoint (``state``, ``arch``) with a plain RRDBNet (its base): the base
    as this network at strength 0 with the checkpoint's own corrector, so that the blend ``W`` scales
    ``strength`` by ``W`` and keeps the corrector as trained (the correction is linear in its last conv, not in
    all of them). Any other pair is returned as it is."""
    if arch.get('type') != 'LowBandRRDBNet' or base_arch.get('type') != 'RRDBNet':
        return base_state, base_arch
    extra = {k: v for k, v in state.items() if k.startswith(PREFIX)}
    strength = state['strength']
    zero = strength * 0 if hasattr(strength, 'shape') else 0.0
    corr = {k: arch[k] for k in ('corr_feat', 'corr_conv', 'corr_up') if k in arch}
    return {**base_state, **extra, 'strength': zero}, {**base_arch, **corr, 'type': 'LowBandRRDBNet'}


SPEC = ArchSpec('LowBandRRDBNet', LowBandRRDBNet, detect=detect_lowband, scale_key='scale', pad_multiple=_pad,
                bytes_per_pixel=_bytes, export_layer=StaticShapeLowBand, cpu_engine='openvino',
                aliases={'block': 'num_block'},
                bounds={'corr_feat': Bound(1, 1024), 'corr_conv': Bound(1, 64), 'corr_up': Bound(1, 8)},
                export_ops=EXPORT_OPS, dni_partner=base_as_lowband)
