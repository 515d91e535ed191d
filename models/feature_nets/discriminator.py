"""U-Net discriminator with spectral normalisation (Real-ESRGAN), and its ``ArchSpec``.

Spectral-norm state needs no conversion beyond names: Paddle 3.3.1's
``paddle.nn.utils.spectral_norm`` keeps ``weight_orig`` plus buffers
``weight_u`` [out] and ``weight_v`` [in*kh*kw], the same names, shapes and
power iteration (v = normalize(W^T u), u = normalize(W v), sigma = u.(W v),
eps 1e-12) as ``torch.nn.utils.spectral_norm``, so training continues from
the stored u/v exactly.
"""
import re

import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.utils import spectral_norm

from ..specs import ArchSpec, shape_of

_SN_PARAM_RE = re.compile(r'^(.*)\.parametrizations\.weight\.(original|0\._u|0\._v)$')
_SN_SUFFIX = {'original': 'weight_orig', '0._u': 'weight_u', '0._v': 'weight_v'}


def _sn_conv(cin, cout, k, s, p):
    return spectral_norm(nn.Conv2D(cin, cout, k, s, p, bias_attr=False))


class UNetDiscriminatorSN(nn.Layer):
    """Per-pixel realness map. Spectral-normalised convs keep the official
    ``convN.weight_orig / weight_u / weight_v`` names."""

    def __init__(self, num_in_ch=3, num_feat=64, skip_connection=True):
        super().__init__()
        f = num_feat
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2D(num_in_ch, f, 3, 1, 1)
        self.conv1 = _sn_conv(f, f * 2, 4, 2, 1)
        self.conv2 = _sn_conv(f * 2, f * 4, 4, 2, 1)
        self.conv3 = _sn_conv(f * 4, f * 8, 4, 2, 1)
        self.conv4 = _sn_conv(f * 8, f * 4, 3, 1, 1)
        self.conv5 = _sn_conv(f * 4, f * 2, 3, 1, 1)
        self.conv6 = _sn_conv(f * 2, f, 3, 1, 1)
        self.conv7 = _sn_conv(f, f, 3, 1, 1)
        self.conv8 = _sn_conv(f, f, 3, 1, 1)
        self.conv9 = nn.Conv2D(f, 1, 3, 1, 1)

    def forward(self, x):
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode='bilinear', align_corners=False)  # noqa: E731
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        out = x3
        for conv, skip in ((self.conv4, x2), (self.conv5, x1), (self.conv6, x0)):
            out = act(conv(up(out)))
            if self.skip_connection:
                out = out + skip
        out = act(self.conv7(out))
        out = act(self.conv8(out))
        return self.conv9(out)


def rename_parametrizations(state):
    """``torch.nn.utils.parametrizations.spectral_norm`` names (``parametrizations.weight.original``,
    ``.0._u``, ``.0._v``) -> ``weight_orig``, ``weight_u``, ``weight_v``; None when there are none."""
    if not any('.parametrizations.weight.' in k for k in state):
        return None
    out = {}
    for k, v in state.items():
        m = _SN_PARAM_RE.match(k)
        out[f'{m.group(1)}.{_SN_SUFFIX[m.group(2)]}' if m else k] = v
    return out


def detect_unet(state):
    """``skip_connection`` has no weights: ``True``, as in Real-ESRGAN, is assumed (``undetectable``)."""
    if 'conv0.weight' not in state or 'conv1.weight_orig' not in state:
        return None
    first = shape_of(state['conv0.weight'])
    return {'type': 'UNetDiscriminatorSN', 'num_in_ch': first[1], 'num_feat': first[0], 'skip_connection': True}


# spectral_norm needs real weights at construction: no LazyGuard build
SPEC = ArchSpec('UNetDiscriminatorSN', UNetDiscriminatorSN, detect=detect_unet, rename=rename_parametrizations,
                generator=False, undetectable={'skip_connection': (True, False)}, lazy_build=False)
