"""Option schemas derived from the constructors: one ``validate`` and one ``build`` per kind.

A ``type:`` section of the options (``network_g``, an entry of ``train.losses``, ``datasets.train``,
``train.scheduler``, ``train.optim_g``) names a constructor in the registry of its kind. The keys
the section accepts, which of them are required and their defaults are read from that
constructor's signature; the accepted types come from its annotations, else from its defaults
(``1.0`` takes a number, ``True`` a bool, ``None`` anything). A constructor may add
``OPTION_CHOICES = {key: allowed values}`` and, when it takes ``**kwargs``,
``OPTION_EXTRAS = {key: default}``. Each option is a ``training.fields.Field``; the ranges, narrower
choices and paths on disk that training adds to constructor options are ``training.option_values.LIMITS``.

The up-front check (``training.option_file.validate_options``) and the trainer both call
:func:`validate`/:func:`build`, so what is accepted is what gets built. Each kind's registry is
imported the first time that kind is asked for: validating a loss does not import datasets.
"""
import copy
import inspect
import types
import typing
from dataclasses import dataclass

from .fields import Field, check_field, narrowed
from .loader_options import LOADER
from .option_values import LIMITS


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


def _networks():
    return dict(_models().NETWORKS)


def _network_values(name, cfg, where, problems):
    """The network's own ranges and consistency (``ArchSpec.bounds``, ``consistent``: windows, depths, heads,
    widths, kernels), one line per problem with its key path, before anything is built."""
    spec = _models().find_spec(name)
    if spec is not None:
        problems += [f'{where}.{key}: {problem}' for key, problem in spec.value_problems(cfg)]


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


def _loader():
    return LOADER


@dataclass(frozen=True)
class Kind:
    """A kind of ``type:`` section.

    ``hidden``: constructor arguments the trainer always passes (never options);
    ``offered``: options the trainer fills when the section leaves them out (so never missing);
    ``companion``: ``{key: Field}`` of options that share the section (the data loader's);
    ``fill``: whether validation writes the defaults into the section.
    """
    noun: str
    load: typing.Callable
    hidden: tuple = ()
    offered: tuple = ()
    companion: typing.Callable = None
    fill: bool = True


KINDS = {
    'network': Kind('network', _networks, fill=False),
    'loss': Kind('loss', _losses),
    'dataset': Kind('dataset', _datasets, offered=('scale', 'seed', 'phase', 'degradation'), companion=_loader,
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
    training adds, ``option_values.LIMITS``) and the companion's (whose limits also narrow a constructor option
    of the same name)."""
    k = KINDS[kind]
    out = params(factories(kind)[name], k.hidden)
    for key, limit in LIMITS.get(kind, {}).items():
        if key in out:
            out[key] = narrowed(out[key], limit)
    for key, f in (k.companion() if k.companion is not None else {}).items():
        out[key] = narrowed(out[key], f) if key in out else f
    return out


def validate(kind, cfg, where, problems=None, types=None, default_type=None):
    """The checked section ``cfg`` (values converted, defaults filled for kinds that fill).

    ``types`` narrows the accepted ``type`` names (the loss of one trainer slot), ``default_type``
    applies when ``type`` is left out. Problems name their key path (``where.key``); they are
    appended to ``problems`` when given, else raised together as one ``SchemaError``.
    """
    own, problems = problems is None, ([] if problems is None else problems)
    out = _validate(KINDS[kind], kind, cfg, where, problems, types, default_type)
    if own and problems:
        raise SchemaError(problems)
    return out


def _validate(k, kind, cfg, where, problems, types, default_type):
    if not isinstance(cfg, dict):
        problems.append(f'{where}: expected a mapping, got {type(cfg).__name__} {cfg!r}')
        return cfg
    name = default_type if cfg.get('type') is None else cfg['type']
    known = factories(kind)
    if name is None:
        problems.append(f'{where}.type: missing required key')
        return dict(cfg)
    if types is not None and name not in types:  # reported; the keys are checked as the slot's own type's
        problems.append(f'{where}.type: {name!r} is not one of {list(types)}')
        name = types[0]
    if not isinstance(name, str) or name not in known:
        problems.append(f'{where}.type: unknown {k.noun} {name!r} (known: {", ".join(sorted(known))})')
        return dict(cfg)
    accepted = options_of(kind, name)
    filled = set(accepted) if k.fill else set(k.companion()) if k.companion is not None else set()
    out = {'type': name}
    for key in cfg:
        if key != 'type' and key not in accepted:
            problems.append(f'{where}.{key}: unknown key for {name} (valid: {", ".join(sorted(accepted))})')
    before = len(problems)
    for key, p in accepted.items():
        value = cfg.get(key)
        if value is not None:
            out[key] = check_field(p, value, f'{where}.{key}', problems)
        elif p.required and key not in k.offered:
            problems.append(f'{where}.{key}: missing required key for {name}')
        elif key in filled:  # kinds that do not fill keep only the keys the section set
            out[key] = list(p.default) if isinstance(p.default, tuple) else copy.deepcopy(p.default)
    if kind == 'network' and len(problems) == before:
        _network_values(name, {key: v for key, v in out.items() if key != 'type'}, where, problems)
    return out


def build(kind, cfg, where, **given):
    """Validate ``cfg`` and build its constructor; ``given`` are the trainer's arguments (hidden
    ones, and offered ones, which the section's own values override). Raises ``SchemaError``."""
    cfg = validate(kind, cfg, where)
    if kind == 'network':
        return _models().build_network(cfg, where)
    factory = factories(kind)[cfg['type']]
    named = inspect.signature(factory).parameters
    kw = {key: v for key, v in given.items() if key in named}
    kw.update({key: v for key, v in cfg.items() if key in params(factory) and v is not None})
    return factory(**kw)
