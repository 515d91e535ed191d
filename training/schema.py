"""Option schemas derived from the constructors: one ``validate`` and one ``build`` per kind.

A ``type:`` section of the options (``network_g``, ``train.pixel_opt``, ``datasets.train``,
``train.scheduler``, ``train.optim_g``) names a constructor in the registry of its kind. The keys
the section accepts, which of them are required and their defaults are read from that
constructor's signature; the accepted types come from its annotations, else from its defaults
(``1.0`` takes a number, ``True`` a bool, ``None`` anything). A constructor may add
``OPTION_CHOICES = {key: allowed values}`` and, when it takes ``**kwargs``,
``OPTION_EXTRAS = {key: default}``. Value ranges of training options are in
``training.option_values``.

The up-front check (``training.options.validate_options``) and the trainer both call
:func:`validate`/:func:`build`, so what is accepted is what gets built. Each kind's registry is
imported the first time that kind is asked for: validating a loss does not import datasets.
"""
import copy
import inspect
import math
import types
import typing
from dataclasses import dataclass


class SchemaError(ValueError):
    """Every problem of one section, each starting with its key path."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('; '.join(self.problems))


# ----------------------------------------------------------------------------------------- values
def coerce_number(v):
    """PyYAML reads "1e-4" as a string (YAML 1.1): a float where it looks like one."""
    if isinstance(v, str):
        try:
            f = float(v)
            if any(c in v.lower() for c in 'e.') and v.strip().lower() not in ('nan', 'inf', '-inf'):
                return f
        except ValueError:
            pass
    return v


def check_value(kind, v):
    """``(ok, value)``: is ``v`` of ``kind`` ('int', 'float', 'bool', 'str', 'list', 'dict', 'any',
    'num_or_str'), with integral floats made ints and ints made floats where that is the kind."""
    if kind == 'any':
        return True, v
    if kind == 'int':
        if isinstance(v, float) and v.is_integer():  # BasicSR files write `!!float 5e3` for counts
            return True, int(v)
        return (isinstance(v, int) and not isinstance(v, bool)), v
    if kind == 'float':
        v = coerce_number(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return True, float(v)
        return False, v
    if kind == 'bool':
        return isinstance(v, bool), v
    if kind == 'str':
        return isinstance(v, str), v
    if kind == 'list':
        return isinstance(v, (list, tuple)), list(v) if isinstance(v, (list, tuple)) else v
    if kind == 'dict':
        return isinstance(v, dict), v
    if kind == 'num_or_str':
        return isinstance(v, (int, str)) and not isinstance(v, bool), v
    raise AssertionError(kind)


_PLAIN = {bool: 'bool', int: 'int', float: 'float', str: 'str', dict: 'dict', list: 'list', tuple: 'list'}


@dataclass(frozen=True)
class Param:
    """One option of a constructor: its accepted kind, default, and list item kind/length."""
    name: str
    kind: str
    default: object = None
    required: bool = False
    item: str = None      # kind of each list item ('int', 'float'), from list[int] / tuple[float, float]
    length: int = None    # fixed list length, from tuple[float, float]
    choices: tuple = None


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
    """The options of ``factory`` as ``{name: Param}``, in signature order, without ``hidden`` ones."""
    hints, choices = _hints(factory), dict(getattr(factory, 'OPTION_CHOICES', {}))
    out = {}
    for p in inspect.signature(factory).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            for k, d in getattr(factory, 'OPTION_EXTRAS', {}).items():
                out.setdefault(k, Param(k, _kind(None, d)[0], copy.deepcopy(d)))
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) or p.name in hidden:
            continue
        required = p.default is p.empty
        default = None if required else p.default
        kind, item, length = _kind(hints.get(p.name), default)
        ch = choices.get(p.name)
        out[p.name] = Param(p.name, kind, default, required, item, length, tuple(ch) if ch else None)
    return out


def check_param(param, value, path, problems):
    """The checked (converted) value; appends one problem per fault to ``problems``."""
    ok, v = check_value(param.kind, value)
    if not ok:
        problems.append(f'{path}: expected {param.kind}, got {type(value).__name__} {value!r}')
        return value
    if param.kind == 'float' and not math.isfinite(v):
        problems.append(f'{path}: expected a finite number, got {value!r}')
    if param.item and param.kind == 'list':
        conv = [check_value(param.item, x) for x in v]
        if not all(c[0] for c in conv) or (param.length and len(v) != param.length):
            n = f'{param.length} ' if param.length else 'a list of '
            problems.append(f'{path}: expected {n}{param.item}s, got {value!r}')
        else:
            v = [c[1] for c in conv]
    if param.choices and v not in param.choices:
        problems.append(f'{path}: {v!r} is not one of {list(param.choices)}')
    return v


# --------------------------------------------------------------------------------------- registry
def _networks():
    import models
    return dict(models.NETWORKS)


def _losses():
    from loss import LOSSES
    return dict(LOSSES)


def _datasets():
    from data.datasets import DATASETS
    return dict(DATASETS)


def _schedulers():
    from .schedulers import SCHEDULERS
    return dict(SCHEDULERS)


def _optimizers():
    from .schedulers import OPTIMIZERS
    return dict(OPTIMIZERS)


def _loader():
    from .loader_options import LoaderOptions
    return LoaderOptions


@dataclass(frozen=True)
class Kind:
    """A kind of ``type:`` section.

    ``hidden``: constructor arguments the trainer always passes (never options);
    ``offered``: options the trainer fills when the section leaves them out (so never missing);
    ``companion``: a second constructor whose options share the section (the data loader's);
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
    """``{key: Param}`` a ``type: name`` section of ``kind`` accepts (the companion's keys included)."""
    k = KINDS[kind]
    out = params(factories(kind)[name], k.hidden)
    if k.companion is not None:
        for key, p in params(k.companion()).items():
            out.setdefault(key, p)
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
    filled = set(accepted) if k.fill else set(params(k.companion())) if k.companion is not None else set()
    out = {'type': name}
    for key in cfg:
        if key != 'type' and key not in accepted:
            problems.append(f'{where}.{key}: unknown key for {name} (valid: {", ".join(sorted(accepted))})')
    for key, p in accepted.items():
        value = cfg.get(key)
        if value is not None:
            out[key] = check_param(p, value, f'{where}.{key}', problems)
        elif p.required and key not in k.offered:
            problems.append(f'{where}.{key}: missing required key for {name}')
        elif key in filled:  # kinds that do not fill keep only the keys the section set
            out[key] = list(p.default) if isinstance(p.default, tuple) else copy.deepcopy(p.default)
    return out


def build(kind, cfg, where, **given):
    """Validate ``cfg`` and build its constructor; ``given`` are the trainer's arguments (hidden
    ones, and offered ones, which the section's own values override). Raises ``SchemaError``."""
    cfg = validate(kind, cfg, where)
    if kind == 'network':
        import models
        return models.build_network(cfg, where)
    factory = factories(kind)[cfg['type']]
    named = inspect.signature(factory).parameters
    kw = {key: v for key, v in given.items() if key in named}
    kw.update({key: v for key, v in cfg.items() if key in params(factory) and v is not None})
    return factory(**kw)
