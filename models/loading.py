"""Read a checkpoint, get a network: the one path every tool takes.

``read_checkpoint(path)`` is where a weights file becomes ``(state, arch)``:
conversion (``models.convert``), the model zoo, ``load_network`` (inference,
export, the domain finetune), the trainer's pretrained weights and the
benchmarks all call it. It

1. reads the file with the restricted reader (``checkpoint_io.state_file.load_state_file``:
   ``.pth`` zip and legacy, ``.safetensors``, ``.pdparams``; no code from the file runs),
2. picks ``param_key``, then ``params_ema``, ``params``, ``state_dict``, then a
   bare state dict (``checkpoint_io.state_file.pick_params``),
3. maps foreign key layouts onto this project's names (``models.detect.normalize_state_dict``),
4. takes the ``arch`` stored in the file, else detects it from the key shapes
   (``models.detect.detect_arch``),
5. applies ``overrides`` named by their command-line spellings (``scale`` is the
   network's own scale key, ``upscale`` for SRVGGNetCompact; ``block`` is
   ``num_block``; ``type`` is ``--arch``), as each network's ``ArchSpec`` says,
6. checks the arch's values against the spec's bounds (``ArchSpec.check_values``: windows, depths, heads,
   widths, kernels, finite numbers that fit each other) before anything is built.

Weights holding NaN or Inf are refused after step 3, before detection reads any value.

Every problem is one line that starts with the path: ``FileNotFoundError``,
``UnsafeCheckpointError`` and ``CheckpointFormatError`` from the reader,
``CheckpointError`` (a ``ValueError``) for a file that reads but gives no network.
"""
import numpy as np
import paddle

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
from realesrgan_paddle.utils.host_memory import available_memory

from .detect import detect_arch, detect_with, normalize_state_dict
from .specs import all_specs, find_spec, get_spec, shown


class CheckpointError(ValueError):
    """A readable file that does not give a network (no tensors, unknown layout, an override that does not fit)."""


class NetworkTooLarge(ValueError):
    """A network whose parameters would not fit in the memory this process can still take."""


_ARCH_VALUES = (str, int, float, bool, type(None))


def _plain_arch(stored, where, known=True):
    """``stored`` when it is an arch dict of plain values (a str type, str keys, numbers, strings, short flat
    lists) and, with ``known``, of a registered type; a one-line CheckpointError otherwise. Nothing here
    builds, hashes or prints more than a line."""
    def plain(v):
        return type(v) in _ARCH_VALUES or (type(v) in (list, tuple) and len(v) <= 64
                                            and all(type(x) in _ARCH_VALUES for x in v))
    kind = stored.get('type')
    if type(kind) is not str:
        raise CheckpointError(f'{where}: the stored arch has a {type(kind).__name__} as its type '
                              f'({shown(kind)}), not a network name')
    bad = next((k for k, v in stored.items() if type(k) is not str or not plain(v)), None)
    if bad is not None or len(stored) > 64:
        what = f'its {shown(bad)} entry' if bad is not None else f'{len(stored)} entries'
        raise CheckpointError(f'{where}: the stored arch is not a short mapping of plain values ({what})')
    if known and find_spec(kind) is None:
        raise CheckpointError(f'{where}: stores an arch of unknown type {shown(kind)}; '
                              f'known: {known_names()}')
    return dict(stored)


def known_names():
    """The registered upscalers, comma-separated, then how many other networks (discriminators, feature networks)
    there are: the one-line errors that name them stay under 400 characters as families are added."""
    specs = all_specs()
    ups = [s.name for s in specs if s.generator]
    rest = len(specs) - len(ups)
    return ', '.join(ups) + (f' (and {rest} discriminators and feature networks)' if rest else '')


def check_finite(state, where):
    """CheckpointError naming the first float tensor of ``state`` that holds NaN or Inf: such weights give a black
    or noisy image (or a NaN loss) and an exit status 0. Checked in blocks of rows, so the check holds about
    ``_FINITE_SLICE`` booleans at a time (x4plus's 16.7 M values: 36 ms)."""
    for key, value in state.items():
        dtype = getattr(value, 'dtype', None)
        if not isinstance(value, np.ndarray) or dtype.kind != 'f':
            continue
        if not _all_finite(value):
            raise CheckpointError(f'{where}: {shown(key, 80, bare=True)} holds NaN or Inf values; the weights are '
                                  'damaged (or were saved after a diverged training step)')
    return state


_FINITE_SLICE = 1 << 22


def _all_finite(value):
    """``np.isfinite(value).all()`` over blocks of rows (views, never a copy of ``value``)."""
    if value.ndim == 0 or value.size == 0:
        return bool(np.isfinite(value).all())
    rows = max(1, _FINITE_SLICE // max(1, value.size // value.shape[0]))
    return all(np.isfinite(value[i:i + rows]).all() for i in range(0, value.shape[0], rows))


def checked_values(arch, where):
    """``arch`` when its spec's bounds and consistency hold (``ArchSpec.check_values``), else a one-line
    CheckpointError naming ``where``, the key and the range; nothing is built or allocated."""
    spec = find_spec(arch.get('type'))
    if spec is not None:
        try:
            spec.check_values(arch, where)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    return arch


_DETECT_ERRORS = (ValueError, ArithmeticError, KeyError, IndexError)


def _reason(e):
    """A detection error as words: a missing tensor is named as such."""
    if isinstance(e, KeyError):
        return f'no tensor {shown(e.args[0] if e.args else "?", 100)} where the others call for one'
    return str(e)


def check_stored_arch(arch, state, where):
    """The stored ``arch`` agrees with the weights' shapes, before anything is built: every value the network's
    ``detect`` reads from the weights (feature and block counts, channels, scale) must be the stored one, so a
    file cannot ask for num_feat 4096 or 100,000 blocks and get them allocated. Values the weights cannot show
    (the spec's ``undetectable``) are free. Networks without ``detect`` are checked when they are built."""
    spec = get_spec(arch, where)
    spec.check_kwargs({k: v for k, v in arch.items() if k != 'type'}, where)
    if spec.detect is None:
        return checked_values(arch, where)
    try:
        found = detect_with(spec, state)
    except _DETECT_ERRORS as e:  # a near-miss of the layout (detect.NearMiss), a zero-width shape: one line too
        raise CheckpointError(f'{where}: the weights do not add up to the stored {spec.name}: {_reason(e)}') from None
    if found is None:
        raise CheckpointError(f'{where}: stores a {spec.name} arch, but its weights are not a {spec.name}\'s')
    full = spec.completed(arch)
    for key, value in spec.completed(found).items():
        if key == 'type':
            continue
        stored = full.get(key, spec.default(key))
        free = spec.free_values(found, key)
        if stored != value and not (free and stored in free and value in free):
            raise CheckpointError(f'{where}: the stored arch says {key}={shown(stored, bare=True)}, the weights have '
                                  f'{key}={value}')
    return checked_values(arch, where)


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
        free = spec.free_values(arch, key)
        if found is not None and found != value and not (free and found in free and value in free):
            raise CheckpointError(f'{where}: --{flag} {value} does not match the weights ({key}={shown(found, bare=True)} found)')
        arch[key] = value
    return arch


def _resolve_arch(state, stored, overrides, check, where):
    """``(arch, 'file' or 'detected')``: the stored or detected arch with ``overrides`` applied."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    net_type = overrides.pop('type', None)
    if net_type is not None and find_spec(net_type) is None:
        raise CheckpointError(f'{where}: --arch {net_type}: unknown network; '
                              f'known: {known_names()}')
    if stored:
        arch = check_stored_arch(_plain_arch(stored, where), state, where)
    else:
        try:
            arch = detect_arch(state)
        except _DETECT_ERRORS as e:
            raise CheckpointError(f'{where}: cannot detect the architecture: {_reason(e)}') from None
    origin = 'file' if stored else 'detected'
    if not check:
        return checked_values(apply_overrides(arch, {'type': net_type, **overrides}), where), origin
    if net_type is not None and arch['type'] != net_type:
        raise CheckpointError(f'{where}: --arch {net_type} does not match the weights, which are {arch["type"]}')
    return checked_values(_checked_overrides(arch, overrides, where), where), origin


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
        raw: the file's content when the caller has already read it with ``checkpoint_io.state_file.load_state_file``.
        with_info: also return ``{'param_key': key taken or None for a bare dict, 'arch_from': 'file' or
            'detected' (or None)}``.
    """
    where = str(path)
    if raw is None:
        raw = load_state_file(path)
    try:
        state, stored, used = pick_params(raw, param_key, with_key=True)
    except ValueError as e:
        raise CheckpointError(f'{where}: {e}') from None
    state = check_finite(normalize_state_dict(state), where)
    if not detect:  # the caller already holds the network: the weights are all it needs
        if overrides:
            raise TypeError('read_checkpoint: overrides need detect=True')
        arch, arch_from = (_plain_arch(stored, where, known=False), 'file') if stored else (None, None)
    else:
        arch, arch_from = _resolve_arch(state, stored, overrides, check, where)
    info = {'param_key': used, 'arch_from': arch_from}
    return (state, arch, info) if with_info else (state, arch)


def load_state_into(net, state, strict=True, where='checkpoint', assign=True):
    """Copy a numpy/paddle state dict into ``net`` with name and shape checks and one-line errors.

    ``assign=False`` only checks (the network may then be built under ``paddle.LazyGuard``).
    Returns ``(missing, unexpected)`` key lists.
    """
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise ValueError(f'{where}: the weights do not fit {type(net).__name__}: '
                         f'missing {missing[:5]}{"..." if len(missing) > 5 else ""}, '
                         f'unexpected [{", ".join(shown(k, 60) for k in unexpected[:5])}]'
                         f'{"..." if len(unexpected) > 5 else ""}')
    for k, v in own.items():
        if k not in state:
            continue
        value = state[k]
        kind = getattr(getattr(value, 'dtype', None), 'kind', 'f')
        if kind not in 'fiub':
            raise ValueError(f'{where}: {k} holds {value.dtype} values; network weights are real numbers')
        shape = tuple(int(d) for d in value.shape)
        if shape != tuple(int(d) for d in v.shape):
            raise ValueError(f'{where}: {k} has shape {shape}, the network expects {tuple(v.shape)}')
        _check_index(k, v, value, where)
        if assign:
            arr = np.asarray(value.numpy() if hasattr(value, 'numpy') else value)
            v.set_value(arr.astype(np.float32) if arr.dtype in (np.float16, np.float64) else arr)
    return missing, unexpected


def _check_index(key, own, value, where):
    """An integer tensor of the network is an index it computes from its arch (DAT's relative-position index):
    the file's must be the same integers, or the network would gather outside its tables."""
    if 'int' not in str(own.dtype).lower():
        return
    kind = getattr(getattr(value, 'dtype', None), 'kind', 'f')
    if kind not in 'iu':
        raise ValueError(f'{where}: {key} holds {value.dtype} values where the network has an integer index')
    if not np.array_equal(np.asarray(value), own.numpy()):
        raise ValueError(f'{where}: {key} is not the index the network computes for its arch (out of range or '
                         'reordered: a damaged or edited file)')


def format_gib(n):
    return f'{n / (1 << 30):.2f} GiB' if n >= 1 << 30 else f'{n / (1 << 20):.0f} MiB'


def shapes_only(arch, where='network'):
    """The network of ``arch`` built under ``paddle.LazyGuard`` (parameters of the right shapes, never
    allocated), or None for a network that cannot be built so (``ArchSpec.lazy_build``)."""
    spec = get_spec(arch, where)
    if not spec.lazy_build:
        return None
    with paddle.LazyGuard():
        return spec.build(arch, where)


def check_memory(net, arch, where, copies=2, what='loading it'):
    """NetworkTooLarge (one line naming ``where``) when ``copies`` x the fp32 parameters of ``net`` (a shapes-only
    build will do) exceed what this process can still allocate (``utils.host_memory``: the host and its
    cgroup). ``copies``: 2 to load (the file's arrays and the network's), 5 to train (gradients, Adam's two
    moments, the EMA copy)."""
    count = sum(int(np.prod(p.shape)) for p in net.parameters())
    need, room = 4 * count * copies, available_memory()
    if need > room:
        raise NetworkTooLarge(f'{where}: this {arch["type"]} has {count / 1e6:.1f} M parameters, {format_gib(need)} for '
                          f'{what}, more than the {format_gib(room)} this process can still take')
    return count


def build_for_state(arch, state, where, strict=True):
    """The network of ``arch``, allocated only once a shapes-only build has shown that ``state`` fits it (names
    and shapes: a file whose detection reads a width of 30,000 from one small tensor is refused here, not in
    Paddle's allocator) and that its parameters fit in memory. Weights not loaded yet."""
    lazy = shapes_only(arch, where)
    if lazy is not None:
        check_memory(lazy, arch, where)
        load_state_into(lazy, state, strict=strict, where=where, assign=False)
        del lazy
    return get_spec(arch, where).build(arch, where=where)


def load_network(path, param_key='params_ema', arch=None, strict=True):
    """Build the network stored in ``path`` and load its weights; returns ``(net, arch)``.

    ``path`` as for ``read_checkpoint``; ``arch`` entries override or complete
    what the file says (command-line spellings such as ``scale`` are mapped by
    the network's ``ArchSpec``).
    """
    state, final = read_checkpoint(path, param_key, arch)
    try:
        net = build_for_state(final, state, str(path), strict)
        load_state_into(net, state, strict=strict, where=str(path))
    except ValueError:
        if arch:  # an override such as --block 6 on a 23-block file: name it instead of listing keys
            read_checkpoint(path, param_key, arch, check=True)
        raise
    net.eval()
    return net, final
