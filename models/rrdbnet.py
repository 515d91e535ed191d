"""RRDBNet (ESRGAN / Real-ESRGAN generator) with the official parameter names, and its ``ArchSpec``.

Scale 2 and 1 pixel-unshuffle the input first, so ``conv_first`` sees 12 or 48
channels and the trunk always upsamples by 4.
"""
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .specs import ArchSpec, shape_of

# scale -> pixel-unshuffle factor of the input (the trunk always upsamples x4)
UNSHUFFLE = {4: 1, 2: 2, 1: 4}


def _conv3(cin, cout):
    return nn.Conv2D(cin, cout, 3, 1, 1)


class ResidualDenseBlock(nn.Layer):
    """Five densely connected convs; the output is scaled by 0.2 and added back."""

    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        g = num_grow_ch
        self.conv1 = _conv3(num_feat, g)
        self.conv2 = _conv3(num_feat + g, g)
        self.conv3 = _conv3(num_feat + 2 * g, g)
        self.conv4 = _conv3(num_feat + 3 * g, g)
        self.conv5 = _conv3(num_feat + 4 * g, num_feat)

    def forward(self, x):
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(paddle.concat(feats, axis=1)), 0.2))
        return self.conv5(paddle.concat(feats, axis=1)) * 0.2 + x


class RRDB(nn.Layer):
    """Residual-in-residual dense block: three RDBs, residual scaled by 0.2."""

    def __init__(self, num_feat, num_grow_ch=32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Layer):
    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32):
        super().__init__()
        if scale not in UNSHUFFLE:
            raise ValueError(f'RRDBNet supports scale 1, 2 or 4, got {scale}')
        self.scale = scale
        self.unshuffle = UNSHUFFLE[scale]
        self.conv_first = _conv3(num_in_ch * self.unshuffle ** 2, num_feat)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = _conv3(num_feat, num_feat)
        self.conv_up1 = _conv3(num_feat, num_feat)
        self.conv_up2 = _conv3(num_feat, num_feat)
        self.conv_hr = _conv3(num_feat, num_feat)
        self.conv_last = _conv3(num_feat, num_out_ch)

    def forward(self, x):
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        return self.forward_unshuffled(x)

    def forward_unshuffled(self, x):
        """The network after the input's pixel unshuffle."""
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode='nearest')), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


# ---------------------------------------------------------------- static export
class StaticShapeRRDBNet(nn.Layer):
    """``net`` with a pixel unshuffle the legacy static graph can shape-infer.

    Paddle's ``pixel_unshuffle`` cannot infer shapes with unknown H/W in the
    legacy graph; this reshape/transpose equivalent reads H and W with
    ``paddle.shape`` at run time. H and W must be multiples of the factor.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_unshuffled(static_unshuffle(x, self.net.unshuffle))


def static_unshuffle(x, r):
    """Pixel unshuffle by ``r`` as reshape/transpose, H and W read with ``paddle.shape`` at run time."""
    if r == 1:
        return x
    shape = paddle.shape(x)
    c = x.shape[1]
    x = paddle.reshape(x, [-1, c, shape[2] // r, r, shape[3] // r, r])
    x = paddle.transpose(x, [0, 1, 3, 5, 2, 4])
    return paddle.reshape(x, [-1, c * r * r, shape[2] // r, shape[3] // r])


# ---------------------------------------------------------------- old ESRGAN key layouts
_RDB_RE = re.compile(r'RDB(\d)\.conv(\d)(?:\.0)?\.(weight|bias)$')
_ESRGAN_NAMES = {'trunk_conv': 'conv_body', 'upconv1': 'conv_up1', 'upconv2': 'conv_up2',
                 'HRconv': 'conv_hr', 'conv_first': 'conv_first', 'conv_last': 'conv_last'}
_OLD_MODEL_NAMES = {'0': 'conv_first', '3': 'conv_up1', '6': 'conv_up2', '8': 'conv_hr', '10': 'conv_last'}


def _rdb_name(block, rest):
    m = _RDB_RE.match(rest)
    if not m:
        return None
    return f'body.{block}.rdb{m.group(1)}.conv{m.group(2)}.{m.group(3)}'


def _map_rrdb_trunk(key):
    """mmsr/old-BasicSR ``RRDB_trunk.N.RDBk.convj(.0)``, ``trunk_conv``, ``upconv1/2``, ``HRconv``."""
    m = re.match(r'^RRDB_trunk\.(\d+)\.(.*)$', key)
    if m:
        return _rdb_name(m.group(1), m.group(2))
    head, _, tail = key.partition('.')
    if head in _ESRGAN_NAMES and tail in ('weight', 'bias'):
        return f'{_ESRGAN_NAMES[head]}.{tail}'
    return None


def _map_old_model(key, trunk_index):
    """The older ``model.0 / model.1.sub.N.RDBk.convj.0 / model.1.sub.<nb> / model.3/6/8/10`` layout."""
    m = re.match(r'^model\.1\.sub\.(\d+)\.(.*)$', key)
    if m:
        if m.group(1) == trunk_index:
            return f'conv_body.{m.group(2)}'
        return _rdb_name(m.group(1), m.group(2))
    m = re.match(r'^model\.(\d+)\.(weight|bias)$', key)
    if m and m.group(1) in _OLD_MODEL_NAMES:
        return f'{_OLD_MODEL_NAMES[m.group(1)]}.{m.group(2)}'
    return None


def _rename_all(state, mapper, layout):
    out = {}
    for k, v in state.items():
        new = mapper(k)
        if new is None:
            raise ValueError(f'key {k!r} does not fit the {layout} layout')
        out[new] = v
    return out


def rename_old_esrgan(state):
    """Old ESRGAN layouts -> the official names; None when ``state`` is neither."""
    keys = list(state)
    if any(k.startswith('RRDB_trunk.') for k in keys) or 'trunk_conv.weight' in state:
        return _rename_all(state, _map_rrdb_trunk, 'old ESRGAN (RRDB_trunk)')
    if any(k.startswith('model.1.sub.') for k in keys):
        subs = {int(m.group(1)) for k in keys for m in [re.match(r'^model\.1\.sub\.(\d+)\.', k)] if m}
        plain = [i for i in subs if f'model.1.sub.{i}.weight' in state]
        trunk = str(plain[0] if len(plain) == 1 else max(subs))
        return _rename_all(state, lambda k: _map_old_model(k, trunk), 'old ESRGAN (model.N.sub)')
    return None


# ---------------------------------------------------------------- detection and sizing
def detect_rrdbnet(state):
    if 'conv_first.weight' not in state or 'body.0.rdb1.conv1.weight' not in state:
        return None
    first = shape_of(state['conv_first.weight'])
    num_out_ch = shape_of(state['conv_last.weight'])[0]
    num_feat, in_ch = first[0], first[1]
    blocks = {int(m.group(1)) for k in state for m in [re.match(r'^body\.(\d+)\.rdb1\.conv1\.weight$', k)] if m}
    if blocks != set(range(len(blocks))):
        raise ValueError(f'RRDBNet keys found but body blocks are not numbered 0..N-1: {sorted(blocks)[:10]}')
    scale = next((s for s, u in UNSHUFFLE.items() if in_ch == num_out_ch * u * u), None)
    if scale is None:
        raise ValueError(f'RRDBNet conv_first has {in_ch} input channels, which is not {num_out_ch} x 1, 4 or 16 '
                         '(scale 4, 2 or 1 for the output channel count); pass the scale and num_in_ch explicitly')
    return {'type': 'RRDBNet', 'num_in_ch': num_out_ch, 'num_out_ch': num_out_ch, 'scale': scale,
            'num_feat': num_feat, 'num_block': len(blocks),
            'num_grow_ch': shape_of(state['body.0.rdb1.conv1.weight'])[0]}


def _unshuffle_of(arch):
    return UNSHUFFLE.get(SPEC.scale(arch), 1)


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: 17 KB/px for x4plus (measured: 18, see ``inference.memory``)."""
    s, u = SPEC.scale(arch), _unshuffle_of(arch)
    f, g = int(arch.get('num_feat', 64)), int(arch.get('num_grow_ch', 32))
    trunk = 3 * (f + 4 * g) / (u * u)  # a few dense-block concatenations live at once, at LR / u
    up = (f * 2 * 4 + f * 3 * 16) / (u * u)  # interp + conv outputs at 2x and 4x the trunk size
    return 4.0 * (trunk + up + 2 * 3 * s * s)


# cpu_engine: Paddle Inference's OpenVINO engine runs x4plus 15-20 % faster than its oneDNN kernels on the CPU
SPEC = ArchSpec('RRDBNet', RRDBNet, detect=detect_rrdbnet, rename=rename_old_esrgan, scale_key='scale',
                pad_multiple=_unshuffle_of, bytes_per_pixel=bytes_per_pixel, export_layer=StaticShapeRRDBNet,
                cpu_engine='openvino', aliases={'block': 'num_block'})
