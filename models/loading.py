"""Read a checkpoint, get a network: the one path every tool takes.

``read_checkpoint(path)`` is where a weights file becomes ``(state, arch)``:
conversion (``models.convert``), the model zoo, ``load_network`` (inference,
export, the domain finetune), the trainer's pretrained weights and the
benchmarks all call it. It

1. reads the file with the restricted reader (``utils.checkpoint.load_state_file``:
   ``.pth`` zip and legacy, ``.safetensors``, ``.pdparams``; no code from the file runs),
2. picks ``param_key``, then ``params_ema``, ``params``, ``state_dict``, then a
   bare state dict (``utils.checkpoint.pick_params``),
3. maps foreign key layouts onto this project's names (``models.detect.normalize_state_dict``),
4. takes the ``arch`` stored in the file, else detects it from the key shapes
   (``models.detect.detect_arch``),
5. applies ``overrides`` named by their command-line spellings (``scale`` is the
   network's own scale key, ``upscale`` for SRVGGNetCompact; ``block`` is
   ``num_block``; ``type`` is ``--arch``), as each network's ``ArchSpec`` says.

Every problem is one line that starts with the path: ``FileNotFoundError``,
``UnsafeCheckpointError`` and ``CheckpointFormatError`` from the reader,
``CheckpointError`` (a ``ValueError``) for a file that reads but gives no network.
"""
from .specs import all_specs, find_spec, get_spec


class CheckpointError(ValueError):
    """A readable file that does not give a network (no tensors, unknown layout, an override that does not fit)."""


def apply_overrides(arch, overrides):
    """``arch`` completed by ``overrides``, whose names may be command-line spellings.

    ``scale`` becomes the network's own scale key (``upscale`` for
    SRVGGNetCompact), ``block`` becomes ``num_block``; names that do not apply
    are kept, so that ``build_network`` reports them. None values are skipped.
    """
    out = dict(arch)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if 'type' in overrides:
        out['type'] = overrides.pop('type')
    spec = get_spec(out)
    for k, v in overrides.items():
        out[spec.key_for(k) or k] = v
    return out


def _checked_overrides(arch, overrides, where):
    """``arch`` with ``overrides`` applied, each one checked: it must apply to the network and agree with
    what the weights show (values the weights cannot show, the spec's ``undetectable``, are free)."""
    spec = get_spec(arch, where)
    arch = dict(arch)
    for flag, value in overrides.items():
        key = spec.key_for(flag)
        if key is None:
            raise CheckpointError(f'{where}: --{flag} does not apply to {arch["type"]}')
        found = arch.get(key)
        free = spec.undetectable.get(key)
        if found is not None and found != value and not (free and found in free and value in free):
            raise CheckpointError(f'{where}: --{flag} {value} does not match the weights ({key}={found} found)')
        arch[key] = value
    return arch


def _resolve_arch(state, stored, overrides, check, where):
    """``(arch, 'file' or 'detected')``: the stored or detected arch with ``overrides`` applied."""
    from .detect import detect_arch
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    net_type = overrides.pop('type', None)
    if net_type is not None and find_spec(net_type) is None:
        raise CheckpointError(f'{where}: --arch {net_type}: unknown network; '
                              f'known: {[s.name for s in all_specs()]}')
    if stored:
        arch = dict(stored)
        if find_spec(arch.get('type')) is None:
            raise CheckpointError(f'{where}: stores an arch of unknown type {arch.get("type")!r}; '
                                  f'known: {[s.name for s in all_specs()]}')
    else:
        try:
            arch = detect_arch(state)
        except ValueError as e:
            raise CheckpointError(f'{where}: cannot detect the architecture: {e}') from None
    if not check:
        return apply_overrides(arch, {'type': net_type, **overrides}), ('file' if stored else 'detected')
    if net_type is not None and arch['type'] != net_type:
        raise CheckpointError(f'{where}: --arch {net_type} does not match the weights, which are {arch["type"]}')
    return _checked_overrides(arch, overrides, where), ('file' if stored else 'detected')


def read_checkpoint(path, param_key='params_ema', overrides=None, *, check=False, detect=True, raw=None,
                    with_info=False):
    """``(state, arch)`` of the weights file ``path``: a flat numpy state dict with this project's key names,
    and the ``arch`` dict that builds the network they fit.

    Args:
        path: ``.pdparams`` (ours carry their ``arch``), ``.pth``, ``.pt`` or ``.safetensors``.
        param_key: the state dict to take first (then ``params_ema``, ``params``, ``state_dict``, a bare dict).
        overrides: arch entries by command-line name (``scale``, ``block``, ``num_feat``, ``type``, any
            constructor key); None values are skipped.
        check: each override must apply to the network and agree with the weights (conversion); without it
            overrides simply replace (``load_network``: e.g. the VGG19 layers to return), and names that do
            not apply are kept so that building the network names them.
        detect: without an ``arch`` in the file, detect it from the key shapes. False: the caller already
            holds the network and needs the weights only; ``arch`` is then the stored one as it is, or None.
        raw: the file's content when the caller has already read it with ``utils.checkpoint.load_state_file``.
        with_info: also return ``{'param_key': key taken or None for a bare dict, 'arch_from': 'file' or
            'detected' (or None)}``.
    """
    from utils.checkpoint import load_state_file, pick_params  # lazy: keeps `import models` light

    from .detect import normalize_state_dict
    where = str(path)
    if raw is None:
        raw = load_state_file(path)
    try:
        state, stored, used = pick_params(raw, param_key, with_key=True)
    except ValueError as e:
        raise CheckpointError(f'{where}: {e}') from None
    state = normalize_state_dict(state)
    if not detect:  # the caller already holds the network: the weights are all it needs
        if overrides:
            raise TypeError('read_checkpoint: overrides need detect=True')
        arch, arch_from = (dict(stored), 'file') if stored else (None, None)
    else:
        arch, arch_from = _resolve_arch(state, stored, overrides, check, where)
    info = {'param_key': used, 'arch_from': arch_from}
    return (state, arch, info) if with_info else (state, arch)


def load_state_into(net, state, strict=True, where='checkpoint', assign=True):
    """Copy a numpy/paddle state dict into ``net`` with name and shape checks and one-line errors.

    ``assign=False`` only checks (the network may then be built under ``paddle.LazyGuard``).
    Returns ``(missing, unexpected)`` key lists.
    """
    import numpy as np
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise ValueError(f'{where}: the weights do not fit {type(net).__name__}: '
                         f'missing {missing[:5]}{"..." if len(missing) > 5 else ""}, '
                         f'unexpected {unexpected[:5]}{"..." if len(unexpected) > 5 else ""}')
    for k, v in own.items():
        if k not in state:
            continue
        value = state[k]
        shape = tuple(int(d) for d in value.shape)
        if shape != tuple(int(d) for d in v.shape):
            raise ValueError(f'{where}: {k} has shape {shape}, the network expects {tuple(v.shape)}')
        if assign:
            arr = np.asarray(value.numpy() if hasattr(value, 'numpy') else value)
            v.set_value(arr.astype(np.float32) if arr.dtype in (np.float16, np.float64) else arr)
    return missing, unexpected


def load_network(path, param_key='params_ema', arch=None, strict=True):
    """Build the network stored in ``path`` and load its weights; returns ``(net, arch)``.

    ``path`` as for ``read_checkpoint``; ``arch`` entries override or complete
    what the file says (command-line spellings such as ``scale`` are mapped by
    the network's ``ArchSpec``).
    """
    state, final = read_checkpoint(path, param_key, arch)
    net = get_spec(final, str(path)).build(final, where=str(path))
    load_state_into(net, state, strict=strict, where=str(path))
    net.eval()
    return net, final
