"""The one field type of the training options, and its check.

A ``Field`` carries everything one option's value must satisfy: its kind, default, whether it
is required, list item kind and length, the allowed values, the range, and what must exist on
disk. The trainer's own settings (``training.option_file.SCHEMA``), the loader keys of a dataset
section (``training.loader_options``) and the options read from constructors (``training.schema``)
are all ``Field``s, checked by :func:`check_field`; each problem is one line starting with the
option's key path.
"""
import math
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
    """``(ok, value)``: is ``v`` of ``kind``, with integral floats made ints and ints made floats where that
    is the kind."""
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


def check_field(field, value, path, problems):
    """The checked (converted) value; appends one line per problem to ``problems``."""
    ok, v = check_value(field.kind, value)
    if not ok:
        problems.append(f'{path}: expected {field.kind}, got {type(value).__name__} {value!r}')
        return value
    if field.kind == 'float' and not math.isfinite(v):
        problems.append(f'{path}: expected a finite number, got {value!r}')
        return v
    if field.item and field.kind == 'list':
        conv = [check_value(field.item, x) for x in v]
        if not all(c[0] for c in conv) or (field.length and len(v) != field.length):
            n = f'{field.length} ' if field.length else 'a list of '
            problems.append(f'{path}: expected {n}{field.item}s, got {value!r}')
        else:
            v = [c[1] for c in conv]
    if field.choices and v not in field.choices:
        problems.append(f'{path}: {v!r} is not one of {list(field.choices)}')
    _check_range(field, v, path, problems)
    if field.exists:
        _check_exists(field.exists, v, path, problems)
    return v


def _check_range(field, v, path, problems):
    if (field.min is None and field.max is None) or not isinstance(v, (int, float)) or isinstance(v, bool):
        return
    if (field.min is not None and v < field.min) or (field.max is not None and v > field.max):
        want = f'>= {field.min}' if field.max is None else (
            f'<= {field.max}' if field.min is None else f'between {field.min} and {field.max}')
        problems.append(f'{path}: must be {want}, got {v!r}')


def _check_exists(kind, v, path, problems):
    for item in (v if isinstance(v, (list, tuple)) else [v]):
        if _found(kind, item):
            continue
        if kind == 'model':
            problems.append(f'{path}: file (or model-zoo name) not found: {item}' + _zoo_hint(path, item))
        else:
            problems.append(f'{path}: {kind} not found: {item}')


def _found(kind, v):
    """Whether ``v`` is on disk or, for ``model``, names a file, an export folder or a model-zoo entry
    (``models.zoo.parse_model_ref``'s one rule)."""
    if kind == 'model':
        from realesrgan_paddle.models.zoo import ModelRefError, parse_model_ref
        try:
            return parse_model_ref(v).kind != 'bicubic'
        except ModelRefError:
            return False
    return Path(str(v)).exists()


def _zoo_hint(path, v):
    """'; the model zoo has NAME ...' when the missing file is named like a zoo model (official option files)."""
    from realesrgan_paddle.models.zoo import get_entry
    try:
        entry = get_entry(Path(str(v)).stem)
    except KeyError:
        return ''
    return f'; the model zoo has it: write `{path.split(".")[-1]}: {entry.name}` (fetched into the cache on first use)'
