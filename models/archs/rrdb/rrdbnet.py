"""RRDBNet (ESRGAN / Real-ESRGAN generator) with the official parameter names, and its ``ArchSpec``.

The trunk upsamples by ``2 ** n`` with ``n`` nearest-x2 + conv steps (``conv_up1`` ... ``conv_upN``: none for the
1x ESRGAN files, three for x8), or by 3 with one nearest-x3 + conv step (the x3 ESRGAN files: their weights are
those of an x2 file, so the scale comes from ``--scale 3``, as ``undetectable`` declares). A pixel unshuffle of
the input by ``shuffle_factor`` (Real-ESRGAN's x2plus: 2, x1: 4) lets the trunk run at a lower resolution; the
network's scale is ``2 ** n / shuffle_factor``. By default scale 2 and 1 unshuffle by 2 and 4 (the Real-ESRGAN
layouts) and larger scales not at all.

ESRGAN+ (``plus``): each dense block has a 1x1 convolution ``conv1x1`` (no bias) from its input added to the
second conv's activation, and the second conv's activation added to the fourth's.
"""
import math
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...specs import ArchSpec, Bound, shape_of, shown

# scale -> the default pixel-unshuffle factor of the input (Real-ESRGAN: the trunk upsamples x4)
UNSHUFFLE = {4: 1, 2: 2, 1: 4}
SHUFFLE_FACTORS = (1, 2, 4)
MAX_UPSAMPLINGS = 3  # x8 trunks: the largest scale the rest of the pipeline takes


def _conv3(cin, cout):
    return nn.Conv2D(cin, cout, 3, 1, 1)


def _lrelu(x):
    return F.leaky_relu(x, 0.2)


def default_shuffle(scale):
    """The pixel-unshuffle factor of a ``scale`` when the arch does not give one."""
    return UNSHUFFLE.get(scale, 1)


def upsamplings(scale, shuffle_factor):
    """Number of nearest + conv steps (each ``up_factor``) of a ``scale`` trunk after an unshuffle by
    ``shuffle_factor``."""
    if shuffle_factor == 1 and up_factor(scale, shuffle_factor) == 3:
        return 1
    n = math.log2(scale * shuffle_factor) if scale >= 1 else -1
    if shuffle_factor not in SHUFFLE_FACTORS or n != int(n) or not 0 <= n <= MAX_UPSAMPLINGS:
        raise ValueError(f'RRDBNet supports scale 1, 2, 3, 4 or 8 (0 to {MAX_UPSAMPLINGS} x2 upsamplings after an '
                         f'unshuffle by one of {SHUFFLE_FACTORS}, or one x3 without an unshuffle); got scale {scale} '
                         f'with shuffle_factor {shuffle_factor}')
    return int(n)


def up_factor(scale, shuffle_factor):
    """The factor of each upsampling step: 3 for an x3 trunk, else 2."""
    return 3 if scale * shuffle_factor == 3 else 2


class ResidualDenseBlock(nn.Layer):
    """Five densely connected convs; the output is scaled by 0.2 and added back (ESRGAN+: ``plus``)."""

    def __init__(self, num_feat=64, num_grow_ch=32, plus=False):
        super().__init__()
        g = num_grow_ch
        self.conv1 = _conv3(num_feat, g)
        self.conv2 = _conv3(num_feat + g, g)
        self.conv3 = _conv3(num_feat + 2 * g, g)
        self.conv4 = _conv3(num_feat + 3 * g, g)
        self.conv5 = _conv3(num_feat + 4 * g, num_feat)
        self.conv1x1 = nn.Conv2D(num_feat, g, 1, bias_attr=False) if plus else None

    def forward(self, x):
        x1 = _lrelu(self.conv1(x))
        x2 = _lrelu(self.conv2(paddle.concat([x, x1], axis=1)))
        if self.conv1x1 is not None:
            x2 = x2 + self.conv1x1(x)
        x3 = _lrelu(self.conv3(paddle.concat([x, x1, x2], axis=1)))
        x4 = _lrelu(self.conv4(paddle.concat([x, x1, x2, x3], axis=1)))
        if self.conv1x1 is not None:
            x4 = x4 + x2
        return self.conv5(paddle.concat([x, x1, x2, x3, x4], axis=1)) * 0.2 + x


class RRDB(nn.Layer):
    """Residual-in-residual dense block: three RDBs, residual scaled by 0.2."""

    def __init__(self, num_feat, num_grow_ch=32, plus=False):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch, plus)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch, plus)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch, plus)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Layer):
    """``shuffle_factor`` None: ``default_shuffle(scale)``; ``plus``: the ESRGAN+ dense blocks."""

    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32,
                 plus=False, shuffle_factor=None):
        super().__init__()
        self.scale = scale
        self.unshuffle = default_shuffle(scale) if shuffle_factor is None else int(shuffle_factor)
        self.num_up = upsamplings(scale, self.unshuffle)
        self.up_factor = up_factor(scale, self.unshuffle)
        self.conv_first = _conv3(num_in_ch * self.unshuffle ** 2, num_feat)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch, plus) for _ in range(num_block)])
        self.conv_body = _conv3(num_feat, num_feat)
        for i in range(1, self.num_up + 1):
            self.add_sublayer(f'conv_up{i}', _conv3(num_feat, num_feat))
        self.conv_hr = _conv3(num_feat, num_feat)
        self.conv_last = _conv3(num_feat, num_out_ch)

    def forward(self, x):
        """Any H and W: a reflect pad to the unshuffle factor's multiple is cropped off the output."""
        r = self.unshuffle
        if r == 1:
            return self.forward_unshuffled(x)
        h, w = x.shape[-2:]
        ph, pw = -h % r, -w % r
        if ph or pw:
            x = F.pad(x, [0, pw, 0, ph], mode='reflect')
        out = self.forward_unshuffled(F.pixel_unshuffle(x, r))
        return out[:, :, :h * self.scale, :w * self.scale] if ph or pw else out

    def forward_unshuffled(self, x):
        """The network after the input's pixel unshuffle."""
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.num_up + 1):
            conv = getattr(self, f'conv_up{i}')
            feat = _lrelu(conv(F.interpolate(feat, scale_factor=self.up_factor, mode='nearest')))
        return self.conv_last(_lrelu(self.conv_hr(feat)))


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
_RDB_RE = re.compile(r'RDB(\d)\.conv(\d|1x1)(?:\.0)?\.(weight|bias)$')
_ESRGAN_NAMES = {'trunk_conv': 'conv_body', 'HRconv': 'conv_hr', 'conv_first': 'conv_first', 'conv_last': 'conv_last'}


def _rdb_name(block, rest):
    m = _RDB_RE.match(rest)
    if not m:
        return None
    return f'body.{block}.rdb{m.group(1)}.conv{m.group(2)}.{m.group(3)}'


def _map_rrdb_trunk(key):
    """mmsr/old-BasicSR ``RRDB_trunk.N.RDBk.convj(.0)``, ``trunk_conv``, ``upconvN``, ``HRconv``."""
    m = re.match(r'^RRDB_trunk\.(\d+)\.(.*)$', key)
    if m:
        return _rdb_name(m.group(1), m.group(2))
    m = re.match(r'^upconv(\d)\.(weight|bias)$', key)
    if m:
        return f'conv_up{m.group(1)}.{m.group(2)}'
    head, _, tail = key.partition('.')
    if head in _ESRGAN_NAMES and tail in ('weight', 'bias'):
        return f'{_ESRGAN_NAMES[head]}.{tail}'
    return None


def _old_model_names(state):
    """``model.<i>`` index -> our name in the sequential layout: ``0`` conv_first, ``1`` the trunk, then one
    (upsample, conv, act) triple per x2 step, the HR conv and the last conv (after an activation)."""
    top = {int(m.group(1)) for k in state for m in [re.match(r'^model\.(\d+)\.', k)] if m}
    n_up = max(0, (max(top, default=0) - 3) // 3)
    names = {'0': 'conv_first', str(3 * n_up + 2): 'conv_hr', str(3 * n_up + 4): 'conv_last'}
    names.update({str(3 * i): f'conv_up{i}' for i in range(1, n_up + 1)})
    return names


def _map_old_model(key, trunk_index, names):
    """The older ``model.0 / model.1.sub.N.RDBk.convj.0 / model.1.sub.<nb> / model.3/6/8/10`` layout."""
    m = re.match(r'^model\.1\.sub\.(\d+)\.(.*)$', key)
    if m:
        if m.group(1) == trunk_index:
            return f'conv_body.{m.group(2)}'
        return _rdb_name(m.group(1), m.group(2))
    m = re.match(r'^model\.(\d+)\.(weight|bias)$', key)
    if m and m.group(1) in names:
        return f'{names[m.group(1)]}.{m.group(2)}'
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
        subs = {int(m.group(1)) for k in keys for m in [re.match(r'^model\.1\.sub\.(\d+)\.weight$', k)] if m}
        trunk = str(max(subs)) if subs else None  # none: a truncated file (detection names what is missing)
        names = _old_model_names(state)
        return _rename_all(state, lambda k: _map_old_model(k, trunk, names), 'old ESRGAN (model.N.sub)')
    return None


# ---------------------------------------------------------------- detection and sizing
_OWN_KEY = re.compile(r'^(conv_first|conv_body|conv_hr|conv_last|conv_up\d+|body\.\d+\.rdb\d\.conv(\d|1x1))\.'
                      r'(weight|bias)$')


def _numbered(state, pattern):
    return {int(m.group(1)) for k in state for m in [re.match(pattern, k)] if m}


def _rrdb_shuffle(in_ch, out_ch):
    """The pixel-unshuffle factor that ``conv_first``'s input channels show (spandrel's rule: 4 or 16 times the
    output channels mean an unshuffle by 2 or 4)."""
    return next((u for u in (2, 4) if in_ch == out_ch * u * u), 1)


def detect_rrdbnet(state):
    if 'conv_first.weight' not in state or 'body.0.rdb1.conv1.weight' not in state:
        return None
    missing = [k for k in ('conv_body.weight', 'conv_hr.weight', 'conv_last.weight') if k not in state]
    if missing:
        raise ValueError(f'RRDBNet keys (conv_first, body.0) found, but {missing[0]} is missing')
    foreign = next((k for k in state if not _OWN_KEY.match(k)), None)
    if foreign is not None:  # e.g. MM-RealSR: an RRDBNet with degradation-modulation layers
        raise ValueError(f'RRDBNet keys (conv_first, body.0) found, but also {shown(foreign, 60)}, which no '
                         'RRDBNet has (an RRDBNet with extra layers, such as MM-RealSR, is not supported)')
    blocks = _numbered(state, r'^body\.(\d+)\.rdb1\.conv1\.weight$')
    ups = _numbered(state, r'^conv_up(\d+)\.weight$')
    if blocks != set(range(len(blocks))) or ups != set(range(1, len(ups) + 1)):
        raise ValueError(f'RRDBNet keys found, but the body blocks {sorted(blocks)[:10]} are not numbered 0..N-1 '
                         f'or the upsampling convs conv_up{sorted(ups)} not 1..N')
    num_feat, in_ch = shape_of(state['conv_first.weight'])[:2]
    num_out_ch = shape_of(state['conv_last.weight'])[0]
    shuffle = _rrdb_shuffle(in_ch, num_out_ch)
    if len(ups) > MAX_UPSAMPLINGS:
        raise ValueError(f'RRDBNet with {len(ups)} upsampling convs: x{2 ** len(ups)} trunks are not supported '
                         f'(up to {MAX_UPSAMPLINGS}: x8)')
    if 2 ** len(ups) < shuffle:
        raise ValueError(f'RRDBNet with {len(ups)} upsampling convs and conv_first taking {in_ch} channels '
                         f'({num_out_ch} out: a pixel unshuffle by {shuffle}) is not an upscaling network')
    scale = 2 ** len(ups) // shuffle
    arch = {'type': 'RRDBNet', 'num_in_ch': in_ch // shuffle ** 2, 'num_out_ch': num_out_ch, 'scale': scale,
            'num_feat': num_feat, 'num_block': len(blocks),
            'num_grow_ch': shape_of(state['body.0.rdb1.conv1.weight'])[0]}
    if 'body.0.rdb1.conv1x1.weight' in state:
        arch['plus'] = True
    if shuffle != default_shuffle(scale):  # the defaults are left out: the arch dicts of the official layouts
        arch['shuffle_factor'] = shuffle
    return arch


def _one_upsampling(arch, key):
    """x2 and x3 look alike in the weights when the trunk has one upsampling conv and no unshuffle (the old ESRGAN
    x2 and x3 files); the x2plus layout (an unshuffle by 2, two upsamplings) is x2 alone."""
    return key == 'scale' and _unshuffle_of(arch) == 1 and SPEC.scale(arch) in (2, 3)


def _with_shuffle(arch):
    """An absent unshuffle factor filled in with the one the scale implies; a given one left as it is (a stored
    arch's value, checked against the weights' as it stands)."""
    if arch.get('shuffle_factor') is None:
        scale = arch.get('scale', SPEC.default('scale'))
        arch['shuffle_factor'] = UNSHUFFLE.get(scale, 1) if isinstance(scale, int) else None
    return arch


def _unshuffle_of(arch):
    factor = arch.get('shuffle_factor')
    return default_shuffle(SPEC.scale(arch)) if factor is None else int(factor)


def bytes_per_pixel(arch):
    """fp32 working set per LR pixel: 17 KB/px for x4plus (measured: 18, see ``inference.memory``)."""
    s, u = SPEC.scale(arch), _unshuffle_of(arch)
    f, g = int(arch.get('num_feat', 64)), int(arch.get('num_grow_ch', 32))
    n, k = upsamplings(s, u), up_factor(s, u)
    trunk = 3 * (f + 4 * g) / (u * u)  # a few dense-block concatenations live at once, at LR / u
    # interp + conv outputs at each step (the last one's also feed conv_hr), relative to the trunk's size
    up = sum(f * (3 if i == n else 2) * k ** (2 * i) for i in range(1, n + 1)) / (u * u)
    return 4.0 * (trunk + up + 2 * 3 * s * s)


# cpu_engine: Paddle Inference's OpenVINO engine runs x4plus 15-20 % faster than its oneDNN kernels on the CPU
# what its exports hold beyond the plumbing (models/export_ops.py): the nearest upsamplings and the leaky ReLUs,
# and static_unshuffle's run-time sizes (h // r)
EXPORT_OPS = ops.NEAREST | ops.LEAKY_RELU | ops.FLOOR_DIVIDE
SPEC = ArchSpec('RRDBNet', RRDBNet, detect=detect_rrdbnet, rename=rename_old_esrgan, scale_key='scale',
                pad_multiple=_unshuffle_of, bytes_per_pixel=bytes_per_pixel, export_layer=StaticShapeRRDBNet,
                cpu_engine='openvino', aliases={'block': 'num_block'}, undetectable={'scale': (2, 3)},
                undetectable_when=_one_upsampling, complete=_with_shuffle, bounds={'shuffle_factor': Bound(1, 8)},
                export_ops=EXPORT_OPS)
