"""Convert a checkpoint (``.pth``, ``.pt``, ``.safetensors``, ``.pdparams``) into this project's ``.pdparams``.

    from realesrgan_paddle.models.convert import convert_checkpoint
    convert_checkpoint('RealESRGAN_x4plus.pth', 'weights/x4plus.pdparams')
    convert_checkpoint('RRDB_ESRGAN_x4.pth', 'esrgan.pdparams', overrides={'block': 23})

The weights are read by ``models.read_checkpoint`` (restricted reader, key
choice, old layouts mapped, architecture detected) with every override checked
against them; they are stored as float32 with the ``arch`` and the source's name
and sha256, so that no later tool needs a flag. ``tools/convert_torch.py`` is the
command line over ``convert_checkpoint``.

Checking a conversion against PyTorch (``--verify``) needs torch and lives outside the
product's rooms: ``reference.conversion_check.verify_conversion`` on this function's result.
"""
import time
from pathlib import Path

import numpy as np
import paddle

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint, sha256_file

from .loading import load_state_into, read_checkpoint
from .ncnn.ncnn_import import save_imported
from .specs import get_spec


class ConvertError(ValueError):
    """A conversion refused before anything is written (one line, starting with the source path)."""


def check_fit(arch, state, where='checkpoint'):
    """The weights fit the network ``arch`` describes: same names, same shapes (nothing is assigned).

    Networks whose spec allows it are built under ``paddle.LazyGuard``: shapes
    only, no random initialisation of millions of weights.
    """
    spec = get_spec(arch, where)
    if spec.lazy_build:
        with paddle.LazyGuard():
            net = spec.build(arch, where)
    else:  # e.g. spectral_norm needs real weights at construction
        net = spec.build(arch, where)
    load_state_into(net, state, strict=True, where=where, assign=False)


def _float32(state):
    dtypes = sorted({str(v.dtype) for v in state.values()})
    out = {k: (v.astype(np.float32) if v.dtype.kind == 'f' and v.dtype != np.float32 else v)
           for k, v in state.items()}
    return out, dtypes


def note_assumed(arch, overrides, log=print):
    """One note per detected value the weights cannot show (e.g. SRVGG ReLU vs LeakyReLU)."""
    spec = get_spec(arch)
    for key in spec.undetectable:
        values, flag = spec.free_values(arch, key), spec.flag_for(key)
        if flag not in overrides and arch.get(key) in values:
            others = ', '.join(str(v).lower() for v in values if v != arch[key])
            log(f'  note: {key} is not visible in the weights; assumed {str(arch[key]).lower()} '
                f'(use --{flag} {others} if needed)')


def convert_checkpoint(src, dst, param_key='params_ema', overrides=None, log=print, raw=None):
    """Convert ``src`` into ``dst`` (written atomically); returns what happened as a dict
    (``src``, ``dst``, ``arch``, ``seconds``, ``param_key``).

    ``overrides`` are architecture flags by their command-line names (``scale``, ``block``, ``num_feat``,
    ``act_type``, ``type`` for ``--arch``, ...): each must apply to the network and agree with the weights.
    ``raw``: the source already read by ``checkpoint_io.state_file.load_state_file``.
    Raises ``ConvertError`` / ``models.CheckpointError`` (both ``ValueError``) and the reader's errors, each
    one line starting with ``src``.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise ConvertError(f'{src}: the output would overwrite the input; choose another output path')
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    t0 = time.perf_counter()
    state, arch, info = read_checkpoint(src, param_key, overrides, check=True, raw=raw, with_info=True)
    used = info['param_key']
    state, dtypes = _float32(state)
    check_fit(arch, state, where=str(src))
    meta = {'source': src.name, 'sha256': sha256_file(src), 'param_key': used, 'source_dtypes': dtypes,
            'converted_by': 'tools/convert_torch.py'}
    save_checkpoint(dst, params=state, arch=arch, meta=meta)
    seconds = time.perf_counter() - t0
    n_params = sum(int(v.size) for v in state.values())
    desc = ', '.join(f'{k}={v}' for k, v in arch.items() if k != 'type')
    log(f'{src} -> {dst}: {arch["type"]}({desc}), {n_params / 1e6:.2f}M values from '
        f'{used or "a bare state dict"}, {seconds:.1f} s')
    if info['arch_from'] == 'detected':
        note_assumed(arch, overrides, log)
    return {'src': src, 'dst': dst, 'arch': arch, 'seconds': seconds, 'param_key': used}


def convert_ncnn(src, dst, log=print):
    """Convert an ncnn ``.param`` with its ``.bin`` beside it (same stem) into ``dst`` (``models.ncnn.ncnn_import``:
    every graph the importer maps); returns the same dict as ``convert_checkpoint`` (``param_key`` None)."""
    src, dst = Path(src), Path(dst)
    weights = src.with_suffix('.bin')
    if not weights.is_file():
        raise ConvertError(f'{src}: an ncnn graph needs its weights beside it, and there is no {weights.name}')
    t0 = time.perf_counter()
    _, arch = save_imported(src, weights, dst, meta={'source': src.name, 'sha256': sha256_file(src),
                                                     'converted_by': 'tools/convert_torch.py'})
    seconds = time.perf_counter() - t0
    desc = ', '.join(f'{k}={v}' for k, v in arch.items() if k != 'type')
    log(f'{src} (+ {weights.name}) -> {dst}: {arch["type"]}({desc}) from the ncnn graph, {seconds:.1f} s')
    return {'src': src, 'dst': dst, 'arch': arch, 'seconds': seconds, 'param_key': None}
