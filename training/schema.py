"""The schema of an option: the one field type and its check, and the ``type:`` sections' schemas read from their
constructors, with one ``validate`` and one ``build`` per kind.

A ``Field`` carries everything one option's value must satisfy: its kind, default, whether it is required, list
item kind and length, the allowed values, the range, and what must exist on disk; :func:`check_field` checks a
value against it, one line per problem starting with the option's key path. The trainer's own settings
(``training.option_file.SCHEMA``), the loader keys of a dataset section (``LOADER`` below), the sources'
sections (``training.loss_terms``) and the options read from constructors are all ``Field``s.

A ``type:`` section of the options (``network_g``, an entry of ``train.losses``, ``datasets.train``,
``train.scheduler``, ``train.optim_g``) names a constructor in the registry of its kind. The keys the section
accepts, which of them are required and their defaults are read from that constructor's signature; the accepted
types come from its annotations, else from its defaults (``1.0`` takes a number, ``True`` a bool, ``None``
anything). A constructor may add ``OPTION_CHOICES = {key: allowed values}`` and, when it takes ``**kwargs``,
``OPTION_EXTRAS = {key: default}``. The ranges, narrower choices and paths on disk that training adds to
constructor options are ``LIMITS`` below.

The up-front check (``training.option_file.validate_options``) and the trainer both call
:func:`validate`/:func:`build`, so what is accepted is what gets built. Each kind's registry is
imported the first time that kind is asked for: validating a loss does not import datasets.
"""
import copy
import inspect
import math
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True, eq=False)
class Field:
    kind: str = 'any'     # 'int', 'float', 'bool', 'str', 'list', 'dict', 'any', 'num_or_str'
    default: object = None
    required: bool = False
    min: float = None     # lowest allowed number (inclusive), None = unbounded
    max: float = None     # highest allowed number (inclusive)
    choices: tuple = None
    exists: str = None    # 'file', 'dir', 'path' or 'model' (a file or a model-zoo name); for a list: every item
    item: str = None      # kind of each list item ('int', 'float'), from list[int] / tuple[float, float]
    length: int = None    # fixed list length, from tuple[float, float]
    children: dict = None  # {key: Field} of a mapping with fixed keys
    free: bool = False    # a mapping without fixed keys


def narrowed(field, limit):
    """``field`` with the range, choices and path check ``limit`` adds (choices: those both allow)."""
    changes = {k: getattr(limit, k) for k in ('min', 'max', 'exists') if getattr(limit, k) is not None}
    if limit.choices is not None:
        changes['choices'] = tuple(c for c in field.choices if c in limit.choices) if field.choices else limit.choices
    return replace(field, **changes) if changes else field


def coerce_number(value):
    """PyYAML reads "1e-4" as a string (YAML 1.1): a float where it looks like one."""
    if isinstance(value, str):
        try:
            f = float(value)
            if any(c in value.lower() for c in 'e.') and value.strip().lower() not in ('nan', 'inf', '-inf'):
                return f
        except ValueError:
            pass
    return value


def check_value(kind, value):
    """``(ok, value)``: is ``value`` of ``kind``, with integral floats made ints and ints made floats where that
    is the kind."""
    if kind == 'any':
        return True, value
    if kind == 'int':
        if isinstance(value, float) and value.is_integer():  # BasicSR files write `!!float 5e3` for counts
            return True, int(value)
        return (isinstance(value, int) and not isinstance(value, bool)), value
    if kind == 'float':
        value = coerce_number(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if kind == 'bool':
        return isinstance(value, bool), value
    if kind == 'str':
        return isinstance(value, str), value
    if kind == 'list':
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    if kind == 'dict':
        return isinstance(value, dict), value
    if kind == 'num_or_str':
        return isinstance(value, (int, str)) and not isinstance(value, bool), value
    raise AssertionError(kind)


def check_field(field, value, path, problems):
    """The checked (converted) value; appends one line per problem to ``problems``."""
    given = value
    ok, value = check_value(field.kind, given)
    if not ok:
        problems.append(f'{path}: expected {field.kind}, got {type(given).__name__} {given!r}')
        return given
    if field.kind == 'float' and not math.isfinite(value):
        problems.append(f'{path}: expected a finite number, got {given!r}')
        return value
    if field.item and field.kind == 'list':
        conv = [check_value(field.item, x) for x in value]
        if not all(c[0] for c in conv) or (field.length and len(value) != field.length):
            n = f'{field.length} ' if field.length else 'a list of '
            problems.append(f'{path}: expected {n}{field.item}s, got {given!r}')
        else:
            value = [c[1] for c in conv]
    if field.choices and value not in field.choices:
        problems.append(f'{path}: {value!r} is not one of {list(field.choices)}')
    _check_range(field, value, path, problems)
    if field.exists:
        _check_exists(field.exists, value, path, problems)
    return value


def _check_range(field, value, path, problems):
    if (field.min is None and field.max is None) or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if (field.min is not None and value < field.min) or (field.max is not None and value > field.max):
        want = f'>= {field.min}' if field.max is None else (
            f'<= {field.max}' if field.min is None else f'between {field.min} and {field.max}')
        problems.append(f'{path}: must be {want}, got {value!r}')


def _check_exists(kind, value, path, problems):
    for item in (value if isinstance(value, (list, tuple)) else [value]):
        if _found(kind, item):
            continue
        if kind == 'model':
            problems.append(f'{path}: file (or model-zoo name) not found: {item}' + _zoo_hint(path, item))
        else:
            problems.append(f'{path}: {kind} not found: {item}')


def _found(kind, value):
    """Whether ``value`` is on disk or, for ``model``, names a file, an export folder or a model-zoo entry
    (``models.zoo.parse_model_ref``'s one rule)."""
    if kind == 'model':
        zoo = _zoo()
        try:
            return zoo.parse_model_ref(value).kind != 'bicubic'
        except zoo.ModelRefError:
            return False
    return Path(str(value)).exists()


def _zoo_hint(path, value):
    """'; the model zoo has NAME ...' when the missing file is named like a zoo model (official option files)."""
    try:
        entry = _zoo().get_entry(Path(str(value)).stem)
    except KeyError:
        return ''
    return f'; the model zoo has it: write `{path.split(".")[-1]}: {entry.name}` (fetched into the cache on first use)'


# ------------------------------------------------------------------------------ what training adds
# kind of ``type:`` section -> {constructor option: the range, choices or path training requires}: a zero batch, a
# negative crop or a NaN learning rate is reported with its key path before anything is built, instead of
# surfacing later as an internal Paddle error
LIMITS = {
    # network sizes are the networks' own (``models.specs.ArchSpec.bounds`` and ``GENERIC_BOUNDS``), checked by
    # ``validate`` for every network section, and by every path that reads weights or builds a network
    'dataset': {'crop_pad_size': Field(min=1), 'scale': Field(min=1, max=8),
                'dataroot_gt': Field(exists='dir'), 'dataroot_lq': Field(exists='dir'),
                'meta_info': Field(exists='file')},
    'loss': {'reduction': Field(choices=('mean', 'sum'))},  # a loss must give one number
    'optimizer': {'lr': Field(min=0)},
    'scheduler': {'gamma': Field(min=0)},
}

# The loader keys of a ``datasets:`` section: the keys ``training.data_setup``'s loaders and pair maker read from
# the section, not the dataset. ``validate`` accepts them beside the dataset's own keys and fills in their
# defaults; where a dataset takes a key of the same name (``PairedImageDataset``'s ``gt_size``), these limits
# apply to it too.
# the pair maker's crop after the degradation (GT pixels); also a top-level option
# (``training.option_file.SCHEMA``, BasicSR's place for it), where it wins over the dataset section's
GT_SIZE = Field('int', None, min=1)
# one batch: 20x the published 12 per GPU; 1000000000 went past 3 GiB in 23 s before any check (issue 64, O07)
MAX_BATCH = 256

LOADER = {
    'name': Field('str', None),
    'phase': Field('str', None),  # set from the section: train or val
    'batch_size_per_gpu': Field('int', 1, min=1, max=MAX_BATCH),
    'num_worker_per_gpu': Field('int', 0, min=0, max=64),
    'use_shuffle': Field('bool', True),
    'dataset_enlarge_ratio': Field('int', 1, min=1),
    'gt_size': GT_SIZE,
}


class SchemaError(ValueError):
    """Every problem of one section, each starting with its key path."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('; '.join(self.problems))


_PLAIN = {bool: 'bool', int: 'int', float: 'float', str: 'str', dict: 'dict', list: 'list', tuple: 'list'}


def _kind(annotation, default):
    """``(kind, item, length)`` from an annotation (Optional[...] unwrapped), else from the default."""
    if annotation is not None:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            rest = [a for a in args if a is not type(None)]
            return _kind(rest[0], None) if len(rest) == 1 else ('any', None, None)
        if origin in (list, tuple):
            items = [a for a in args if a is not Ellipsis]
            item = _PLAIN.get(items[0]) if items and len(set(items)) == 1 else None
            length = len(args) if origin is tuple and args and Ellipsis not in args else None
            return 'list', item, length
        if origin is dict:
            return 'dict', None, None
        if annotation in _PLAIN:
            return _PLAIN[annotation], None, None
        return 'any', None, None
    return _PLAIN.get(type(default), 'any'), None, None


def _hints(factory):
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the defaults
        return {}


def params(factory, hidden=()):
    """The options of ``factory`` as ``{name: Field}``, in signature order, without ``hidden`` ones."""
    hints, choices = _hints(factory), dict(getattr(factory, 'OPTION_CHOICES', {}))
    out = {}
    for p in inspect.signature(factory).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            for k, d in getattr(factory, 'OPTION_EXTRAS', {}).items():
                out.setdefault(k, Field(_kind(None, d)[0], copy.deepcopy(d)))
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) or p.name in hidden:
            continue
        required = p.default is p.empty
        default = None if required else p.default
        kind, item, length = _kind(hints.get(p.name), default)
        ch = choices.get(p.name)
        out[p.name] = Field(kind, default, required, choices=tuple(ch) if ch else None, item=item, length=length)
    return out


# --------------------------------------------------------------------------------------- registry
def _models():
    from realesrgan_paddle import models
    return models


def _zoo():
    from realesrgan_paddle.models import zoo
    return zoo


def _networks():
    return dict(_models().NETWORKS)


def _network_values(name, section, where, problems):
    """The network's own ranges and consistency (``ArchSpec.bounds``, ``consistent``: windows, depths, heads,
    widths, kernels), one line per problem with its key path, before anything is built."""
    spec = _models().find_spec(name)
    if spec is not None:
        problems += [f'{where}.{key}: {problem}' for key, problem in spec.value_problems(section)]


def _losses():
    from realesrgan_paddle.loss import LOSSES
    return dict(LOSSES)


def _datasets():
    from realesrgan_paddle.data.datasets import DATASETS
    return dict(DATASETS)


def _schedulers():
    from .schedulers import SCHEDULERS
    return dict(SCHEDULERS)


def _optimizers():
    from .schedulers import OPTIMIZERS
    return dict(OPTIMIZERS)


@dataclass(frozen=True)
class Kind:
    """A kind of ``type:`` section.

    ``hidden``: constructor arguments the trainer always passes (never options);
    ``offered``: options the trainer fills when the section leaves them out (so never missing);
    ``companion``: ``{key: Field}`` of options that share the section (the data loader's, ``LOADER``);
    ``fill``: whether validation writes the defaults into the section.
    """
    noun: str
    load: typing.Callable
    hidden: tuple = ()
    offered: tuple = ()
    companion: dict = None
    fill: bool = True


KINDS = {
    'network': Kind('network', _networks, fill=False),
    'loss': Kind('loss', _losses),
    'dataset': Kind('dataset', _datasets, offered=('scale', 'seed', 'phase', 'degradation'), companion=LOADER,
                    fill=False),
    'scheduler': Kind('scheduler', _schedulers, hidden=('learning_rate', 'warmup_iter', 'last_epoch', 'verbose')),
    'optimizer': Kind('optimizer', _optimizers, hidden=('parameters', 'learning_rate', 'grad_clip')),
}
_ADDED = {k: {} for k in KINDS}


def register(kind, name, factory):
    """Add ``factory`` as ``type: name`` of ``kind`` (networks: use ``models.register(ArchSpec)``)."""
    if kind == 'network':
        raise ValueError('networks are registered with models.register(ArchSpec(...))')
    _ADDED[kind][name] = factory
    return factory


def unregister(kind, name):
    _ADDED[kind].pop(name, None)


def factories(kind):
    """``{type name: constructor}`` of ``kind``."""
    return {**KINDS[kind].load(), **_ADDED[kind]}


def options_of(kind, name):
    """``{key: Field}`` a ``type: name`` section of ``kind`` accepts: the constructor's options (with the limits
    training adds, ``LIMITS``) and the companion's (whose limits also narrow a constructor option of the same
    name)."""
    k = KINDS[kind]
    out = params(factories(kind)[name], k.hidden)
    for key, limit in LIMITS.get(kind, {}).items():
        if key in out:
            out[key] = narrowed(out[key], limit)
    for key, f in (k.companion or {}).items():
        out[key] = narrowed(out[key], f) if key in out else f
    return out


def validate(kind, section, where, problems=None, types=None, default_type=None):
    """The checked ``section`` (values converted, defaults filled for kinds that fill).

    ``types`` narrows the accepted ``type`` names (the loss of one trainer slot), ``default_type``
    applies when ``type`` is left out. Problems name their key path (``where.key``); they are
    appended to ``problems`` when given, else raised together as one ``SchemaError``.
    """
    own, problems = problems is None, ([] if problems is None else problems)
    out = _validate(KINDS[kind], kind, section, where, problems, types, default_type)
    if own and problems:
        raise SchemaError(problems)
    return out


def _validate(k, kind, section, where, problems, types, default_type):
    if not isinstance(section, dict):
        problems.append(f'{where}: expected a mapping, got {type(section).__name__} {section!r}')
        return section
    name = default_type if section.get('type') is None else section['type']
    known = factories(kind)
    if name is None:
        problems.append(f'{where}.type: missing required key')
        return dict(section)
    if types is not None and name not in types:  # reported; the keys are checked as the slot's own type's
        problems.append(f'{where}.type: {name!r} is not one of {list(types)}')
        name = types[0]
    if not isinstance(name, str) or name not in known:
        problems.append(f'{where}.type: unknown {k.noun} {name!r} (known: {", ".join(sorted(known))})')
        return dict(section)
    accepted = options_of(kind, name)
    filled = set(accepted) if k.fill else set(k.companion or ())
    out = {'type': name}
    for key in section:
        if key != 'type' and key not in accepted:
            problems.append(f'{where}.{key}: unknown key for {name} (valid: {", ".join(sorted(accepted))})')
    before = len(problems)
    for key, field in accepted.items():
        value = section.get(key)
        if value is not None:
            out[key] = check_field(field, value, f'{where}.{key}', problems)
        elif field.required and key not in k.offered:
            problems.append(f'{where}.{key}: missing required key for {name}')
        elif key in filled:  # kinds that do not fill keep only the keys the section set
            out[key] = list(field.default) if isinstance(field.default, tuple) else copy.deepcopy(field.default)
    if kind == 'network' and len(problems) == before:
        _network_values(name, {key: v for key, v in out.items() if key != 'type'}, where, problems)
    return out


def build(kind, section, where, **given):
    """Validate ``section`` and build its constructor; ``given`` are the trainer's arguments (hidden
    ones, and offered ones, which the section's own values override). Raises ``SchemaError``."""
    section = validate(kind, section, where)
    if kind == 'network':
        return _models().build_network(section, where)
    factory = factories(kind)[section['type']]
    named, own = inspect.signature(factory).parameters, params(factory)
    return factory(**{**{key: v for key, v in given.items() if key in named},
                      **{key: v for key, v in section.items() if key in own and v is not None}})
