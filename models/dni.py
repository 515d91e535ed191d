"""ESRGAN's network interpolation (DNI): the weights ``weight * model + (1 - weight) * other`` of two weights
files of one architecture, written once to the cache (``blend``) or to a given file (``write_dni``). Floating
weights are blended; integer buffers (DAT's position indices) are kept, and must be equal in both files.

``models.zoo.dni`` takes zoo names as well (it resolves them, then calls ``blend``); ``denoise_strength`` is
this blend of realesr-general-x4v3 and its wdn variant. numpy on the state dicts; no network is built.
"""
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.utils.cli_parser import check_dni_weight
from realesrgan_paddle.utils.fileio import cache_root, sha256_file

from .loading import read_checkpoint
from .specs import get_spec

log = logging.getLogger('models')


def interpolate_states(a, b, weight_a):
    """``weight_a * a + (1 - weight_a) * b`` for two state dicts with the same keys and shapes: floating tensors
    blended (in float32), integer and bool ones (position indices, counters) kept as they are, which they must be
    in both."""
    if set(a) != set(b):
        raise ValueError(f'cannot interpolate: the state dicts differ in keys {sorted(set(a) ^ set(b))[:5]}')
    out = {}
    for k in a:
        va, vb = np.asarray(a[k]), np.asarray(b[k])
        if va.shape != vb.shape:
            raise ValueError(f'cannot interpolate {k}: shapes {va.shape} and {vb.shape}')
        if va.dtype.kind == 'f' and vb.dtype.kind == 'f':
            out[k] = (weight_a * va.astype('float32') + (1.0 - weight_a) * vb.astype('float32')).astype('float32')
        elif va.dtype != vb.dtype or not np.array_equal(va, vb):
            raise ValueError(f'cannot interpolate {k}: a {va.dtype} tensor in one model and a {vb.dtype} one in the '
                             'other, or integers that differ (only floating weights are blended)')
        else:
            out[k] = va.copy()
    return out


def _full_arch(arch):
    """``arch`` with every constructor key, defaults filled in (``scale: 4`` written or not is one network)."""
    spec = get_spec(arch)
    return {'type': arch['type'], **{k: arch.get(k, spec.default(k)) for k in spec.keys}}


# Keys a blend takes from ``model`` (the finetune); ``other``'s weights go in as they are. A finetune of
# realesr-animevideov3 with a bilinear skip blends with the base's weights in its own network: the network it
# started from, the official weights' faint mesh included (models/skip_refit.py, docs/experiments/gan_cpu.md).
BLEND_FROM_MODEL = ('skip',)


def _blendable(arch):
    return {k: v for k, v in _full_arch(arch).items() if k not in BLEND_FROM_MODEL}


def blend(pa, pb, weight):
    """The weights ``weight * pa + (1 - weight) * pb`` of two local weights files: ``pa`` itself at weight 1,
    ``pb`` at 0; a weight in between is written once to ``<cache>/dni/`` under a name made from both files'
    sha256 and the weight, and that file is returned. The weights read are those every tool loads
    (``params_ema``, else ``params``). A file found under that name is used only when it holds this blend
    (computed again and compared: 26 ms of CPU for animevideov3's 2.4 MB files, benchmarks/cache_checks.py);
    another one (planted, damaged) is written over, with one line."""
    w = check_dni_weight(weight)
    if w == 1.0:
        return Path(pa)
    if w == 0.0:
        return Path(pb)
    key = hashlib.sha256(f'{sha256_file(pa)}|{sha256_file(pb)}|{w!r}'.encode()).hexdigest()[:16]
    dst = cache_root() / 'dni' / f'{Path(pa).stem}+{Path(pb).stem}-{w:.4f}-{key}.pdparams'
    state, arch, meta = dni_state(pa, pb, w)
    if os.path.lexists(dst):
        why = _not_the_blend(dst, state, arch)
        if why is None:
            return dst
        log.warning('%s: %s, not the blend its name says; written again', dst, why)
    return _save(dst, state, arch, meta)


def _not_the_blend(dst, state, arch):
    """Why the file ``dst`` does not hold the weights ``state`` of ``arch`` (a link, unreadable, other weights), or
    None."""
    if os.path.islink(dst) or not os.path.isfile(dst):
        return 'a link, or not a regular file'
    try:
        held, held_arch = read_checkpoint(dst)
    except (OSError, ValueError) as e:
        return f'not a readable checkpoint ({str(e).removeprefix(f"{dst}: ")[:120]})'
    if held_arch != arch or set(held) != set(state) or not all(np.array_equal(held[k], state[k]) for k in state):
        return 'other weights'
    return None


def dni_state(model, other, weight):
    """``(state, arch, meta)`` of the weights ``weight * model + (1 - weight) * other`` (two weights files of one
    architecture); ValueError (one line) for files that cannot be blended."""
    w = check_dni_weight(weight)
    sa, arch_a = read_checkpoint(model)
    sb, arch_b = read_checkpoint(other)
    partner = get_spec(arch_a).dni_partner  # LowBandRRDBNet: a plain RRDBNet as itself, so W scales its strength
    if partner is not None:
        sb, arch_b = partner(sa, arch_a, sb, arch_b)
    if _blendable(arch_a) != _blendable(arch_b):  # a finetune's options may leave defaults out
        raise ValueError(f'DNI needs two networks of one architecture: {model} is {arch_a}, {other} is {arch_b}')
    try:
        state = interpolate_states(sa, sb, w)
    except ValueError as e:
        raise ValueError(f'DNI of {model} and {other}: {e}') from None
    meta = {'dni': {'model': str(model), 'other': str(other), 'weight': w},
            'source': f'{w} * {model} + {1 - w} * {other}'}
    return state, arch_a, meta


def _save(dst, state, arch, meta):
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dst, params=state, arch=arch, meta=meta)  # atomic: a link under the name is replaced
    return dst


def write_dni(model, other, weight, dst):
    """Write the weights ``weight * model + (1 - weight) * other`` (two weights files of one architecture) to
    ``dst`` (atomically, with the arch and the blend in its meta) and return ``dst``; ValueError (one line)
    for files that cannot be blended."""
    return _save(dst, *dni_state(model, other, weight))
