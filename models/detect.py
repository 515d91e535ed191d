"""Architecture detection from state-dict keys and shapes, and key renaming.

``normalize_state_dict`` maps foreign layouts onto this project's names (which
equal the official Real-ESRGAN/BasicSR names):

* old ESRGAN ``RRDB_trunk.N.RDBk.convj(.0)``, ``trunk_conv``, ``upconv1/2``, ``HRconv``;
* the even older ESRGAN ``model.0 / model.1.sub.N.RDBk.convj.0 / model.1.sub.<nb> /
  model.3 / model.6 / model.8 / model.10`` layout;
* torchvision VGG19 ``features.N`` (the classifier is dropped);
* ``torch.nn.utils.parametrizations.spectral_norm`` names
  (``parametrizations.weight.original`` / ``.0._u`` / ``.0._v``).

Spectral-norm state needs no conversion otherwise: Paddle 3.3.1's
``paddle.nn.utils.spectral_norm`` keeps ``weight_orig`` plus buffers
``weight_u`` [out] and ``weight_v`` [in*kh*kw], the same names, shapes and
power iteration (v = normalize(W^T u), u = normalize(W v), sigma = u.(W v),
eps 1e-12) as ``torch.nn.utils.spectral_norm``, so training continues from
the stored u/v exactly.

``detect_arch`` returns an ``arch`` dict (see docs/DESIGN.md). Two things
cannot be read from weights: SRVGGNetCompact's ReLU versus LeakyReLU (neither
has parameters; ``relu`` is assumed, override with ``act_type``) and the
discriminator's ``skip_connection`` (``True``, as in Real-ESRGAN, is assumed).
"""
import math
import re

import numpy as np

from .vgg import _VGG19_CFG, torchvision_index_map

_RDB_RE = re.compile(r'RDB(\d)\.conv(\d)(?:\.0)?\.(weight|bias)$')
_ESRGAN_NAMES = {'trunk_conv': 'conv_body', 'upconv1': 'conv_up1', 'upconv2': 'conv_up2',
                 'HRconv': 'conv_hr', 'conv_first': 'conv_first', 'conv_last': 'conv_last'}
_OLD_MODEL_NAMES = {'0': 'conv_first', '3': 'conv_up1', '6': 'conv_up2', '8': 'conv_hr', '10': 'conv_last'}
_SN_PARAM_RE = re.compile(r'^(.*)\.parametrizations\.weight\.(original|0\._u|0\._v)$')
_SN_SUFFIX = {'original': 'weight_orig', '0._u': 'weight_u', '0._v': 'weight_v'}


def _shape(v):
    return tuple(int(s) for s in (v.shape if hasattr(v, 'shape') else np.shape(v)))


def _rdb_name(block, rest):
    m = _RDB_RE.match(rest)
    if not m:
        return None
    return f'body.{block}.rdb{m.group(1)}.conv{m.group(2)}.{m.group(3)}'


def _map_rrdb_trunk(key):
    """mmsr/old-BasicSR ESRGAN names -> ours; None when the key is not of that layout."""
    m = re.match(r'^RRDB_trunk\.(\d+)\.(.*)$', key)
    if m:
        return _rdb_name(m.group(1), m.group(2))
    head, _, tail = key.partition('.')
    if head in _ESRGAN_NAMES and tail in ('weight', 'bias'):
        return f'{_ESRGAN_NAMES[head]}.{tail}'
    return None


def _map_old_model(key, trunk_index):
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


def normalize_state_dict(state):
    """Return ``state`` with keys renamed to this project's names (idempotent)."""
    state = dict(state)
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    keys = list(state)
    if any(k.startswith('RRDB_trunk.') for k in keys) or 'trunk_conv.weight' in state:
        return _rename_all(state, _map_rrdb_trunk, 'old ESRGAN (RRDB_trunk)')
    if any(k.startswith('model.1.sub.') for k in keys):
        subs = {int(m.group(1)) for k in keys for m in [re.match(r'^model\.1\.sub\.(\d+)\.', k)] if m}
        plain = [i for i in subs if f'model.1.sub.{i}.weight' in state]
        trunk = str(plain[0] if len(plain) == 1 else max(subs))
        return _rename_all(state, lambda k: _map_old_model(k, trunk), 'old ESRGAN (model.N.sub)')
    if any(k.startswith('features.') for k in keys):
        state = {k: v for k, v in state.items() if not k.startswith('classifier.')}
        index = torchvision_index_map()

        def vgg(k):
            m = re.match(r'^features\.(\d+)\.(weight|bias)$', k)
            return f'{index[int(m.group(1))]}.{m.group(2)}' if m and int(m.group(1)) in index else None
        bad = [k for k in state if vgg(k) is None]
        if bad:  # not torchvision vgg19 (e.g. vgg16 or vgg19_bn): leave it for detect_arch to report
            return state
        return {vgg(k): v for k, v in state.items()}
    if any('.parametrizations.weight.' in k for k in keys):
        out = {}
        for k, v in state.items():
            m = _SN_PARAM_RE.match(k)
            out[f'{m.group(1)}.{_SN_SUFFIX[m.group(2)]}' if m else k] = v
        return out
    return state


# ---------------------------------------------------------------- detection
def _detect_rrdbnet(state):
    first = _shape(state['conv_first.weight'])
    last = _shape(state['conv_last.weight'])
    num_feat, in_ch = first[0], first[1]
    num_out_ch = last[0]
    blocks = {int(m.group(1)) for k in state for m in [re.match(r'^body\.(\d+)\.rdb1\.conv1\.weight$', k)] if m}
    if not blocks or blocks != set(range(len(blocks))):
        raise ValueError(f'RRDBNet keys found but body blocks are not numbered 0..N-1: {sorted(blocks)[:10]}')
    scale = None
    for s, unshuffle in ((4, 1), (2, 2), (1, 4)):
        if in_ch == num_out_ch * unshuffle ** 2:
            scale, num_in_ch = s, num_out_ch
            break
    if scale is None:
        raise ValueError(f'RRDBNet conv_first has {in_ch} input channels, which is not {num_out_ch} x 1, 4 or 16 '
                         '(scale 4, 2 or 1 for the output channel count); pass the scale and num_in_ch explicitly')
    return {'type': 'RRDBNet', 'num_in_ch': num_in_ch, 'num_out_ch': num_out_ch, 'scale': scale,
            'num_feat': num_feat, 'num_block': len(blocks),
            'num_grow_ch': _shape(state['body.0.rdb1.conv1.weight'])[0]}


def _detect_srvgg(state):
    convs = sorted(int(m.group(1)) for k, v in state.items()
                   for m in [re.match(r'^body\.(\d+)\.weight$', k)] if m and len(_shape(v)) == 4)
    if convs != list(range(0, 2 * len(convs), 2)) or len(convs) < 2:
        raise ValueError(f'SRVGGNetCompact-like keys, but the conv indices {convs[:8]} are not 0, 2, 4, ...')
    first = _shape(state['body.0.weight'])
    out_ch = _shape(state[f'body.{convs[-1]}.weight'])[0]
    num_in_ch, num_feat = first[1], first[0]
    upscale = None
    for num_out_ch in dict.fromkeys((num_in_ch, 3, 1)):
        r = math.isqrt(out_ch // num_out_ch) if out_ch % num_out_ch == 0 else 0
        if r >= 1 and r * r * num_out_ch == out_ch:
            upscale = r
            break
    if upscale is None:
        raise ValueError(f'SRVGGNetCompact last conv has {out_ch} outputs, not num_out_ch x upscale^2')
    act = 'prelu' if 'body.1.weight' in state else 'relu'  # relu/leakyrelu: not visible in weights
    return {'type': 'SRVGGNetCompact', 'num_in_ch': num_in_ch, 'num_out_ch': num_out_ch, 'num_feat': num_feat,
            'num_conv': len(convs) - 2, 'upscale': upscale, 'act_type': act}


def _detect_unet(state):
    first = _shape(state['conv0.weight'])
    return {'type': 'UNetDiscriminatorSN', 'num_in_ch': first[1], 'num_feat': first[0], 'skip_connection': True}


def _detect_vgg(state):
    expected = {}
    in_ch = 3
    for block, n, ch in _VGG19_CFG:
        for i in range(1, n + 1):
            expected[f'conv{block}_{i}'] = (ch, in_ch, 3, 3)
            in_ch = ch
    names = list(expected)
    present = [n for n in names if f'{n}.weight' in state]
    if present != names[:len(present)]:
        raise ValueError(f'VGG19 conv layers must be a prefix of {names}; found {present}')
    for n in present:
        if _shape(state[f'{n}.weight']) != expected[n]:
            raise ValueError(f'{n}.weight has shape {_shape(state[n + ".weight"])}, VGG19 has {expected[n]}')
    return {'type': 'VGG19FeatureExtractor', 'layer_name_list': [present[-1]],
            'use_input_norm': True, 'range_norm': False}


def detect_arch(state):
    """``arch`` dict for a state dict (any supported layout), or ValueError naming what was found."""
    state = normalize_state_dict(state)
    if 'conv_first.weight' in state and 'body.0.rdb1.conv1.weight' in state:
        return _detect_rrdbnet(state)
    if 'conv0.weight' in state and 'conv1.weight_orig' in state:
        return _detect_unet(state)
    if 'conv1_1.weight' in state:
        return _detect_vgg(state)
    if 'body.0.weight' in state and not any(k.startswith('conv') for k in state):
        return _detect_srvgg(state)
    if any(k.startswith('features.') for k in state):
        idx = sorted({int(m.group(1)) for k in state for m in [re.match(r'^features\.(\d+)\.', k)] if m})
        raise ValueError(f'features.* keys at indices {idx[:20]} are not the torchvision VGG19 layout '
                         f'(conv indices {sorted(torchvision_index_map())})')
    sample = sorted(state)[:6]
    raise ValueError(f'unknown network layout: {len(state)} tensors, first keys {sample}; '
                     'expected RRDBNet, SRVGGNetCompact, UNetDiscriminatorSN or VGG19 names')
