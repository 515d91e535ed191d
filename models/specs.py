"""``ArchSpec``: everything the code base knows about one network type, in one place.

Each network module ends with its spec (``rrdbnet.SPEC``, ``srvgg.SPEC``, ...)
and ``models/__init__.py`` registers each as a ``Family`` (its name, its module, its marker ``keys``), imported
when it is first needed. Every other part of the code asks the spec instead of testing ``arch['type']``:

=====================  ==============================================  =============================
fact                   field                                           asked by
=====================  ==============================================  =============================
constructor and keys   ``cls`` (keys and defaults from its signature)  ``models.build_network``
scale key              ``scale_key`` (``scale``, ``upscale``, ...)     ``models.net_scale``, overrides
generator or not       ``generator``                                   ``models.net_scale``
foreign key layouts    ``rename(state)``                               ``models.detect.normalize_state_dict``
detection              ``detect(state)``                               ``models.detect.detect_arch``
pad multiple           ``pad_multiple(arch)``                          ``models.pad_multiple`` (tiling, export)
who pads to it         ``pad_mode`` ('reflect' or 'own')               ``models.pads_itself`` (``Upscaler``, tiling)
tile memory            ``bytes_per_pixel(arch)``                       ``inference.memory.auto_tile``
static export          ``export_layer(net)``                           ``inference.export.paddle_export.export_static``
CPU engine             ``cpu_engine``                                  ``inference.backends`` (engine 'auto')
command-line flags     ``aliases`` (+ ``scale`` -> ``scale_key``)      ``models.read_checkpoint`` overrides
weight-less choices    ``undetectable``                                ``models.read_checkpoint`` (check),
                                                                       ``models.convert`` (notes)
shape-only build       ``lazy_build``                                  ``models.convert.check_fit``
value ranges           ``bounds``, ``consistent`` (``GENERIC_BOUNDS``)   ``ArchSpec.build``, ``read_checkpoint``,
                                                                       ``training.schema`` (network_g)
ops its exports hold   ``export_ops`` (``models.export_ops``)            ``checkpoint_io.graph_check``
DNI with another net   ``dni_partner``                                 ``models.dni.dni_state``
=====================  ==============================================  =============================

Adding a network means writing its Layer and one ``ArchSpec``, then one line in ``models/__init__.py``:
``register(Family('Name', 'archs.family.module', keys=(...)))`` (an ``ArchSpec`` built already is registered as it
is: ``models.register(spec)``). Registration order is detection order: the first spec whose ``detect`` recognises
a state dict wins.
"""
import importlib
import inspect
import math
from collections import abc
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple, Optional

from realesrgan_paddle.checkpoint_io import graph_check
from realesrgan_paddle.checkpoint_io.objects import clean, quote

from .export_ops import NONE, ExportOps

CPU_ENGINES = ('onednn', 'openvino')
# who brings an input to the network's size rule: 'reflect', the caller (reflect at the bottom and right up to
# ``pad_multiple``, then crops, as Real-ESRGAN's and spandrel's own inference do); 'own', the network itself
PAD_MODES = ('reflect', 'own')


def shown(value, limit=80, bare=False):
    """A short, printable quote of a value that may come from a file (bounded length and work); ``bare``:
    strings without their quotes."""
    return clean(value, limit) if bare and isinstance(value, str) else quote(value, limit)


def shape_of(v):
    """Shape of a numpy array or paddle tensor as a tuple of ints."""
    return tuple(int(d) for d in v.shape)


def count_keys(state, fmt):
    """How many of ``fmt.format(0)``, ``fmt.format(1)``, ... are keys of ``state``, counted up to the first missing
    one (blocks numbered from 0 in a state dict)."""
    n = 0
    while fmt.format(n) in state:
        n += 1
    return n


def count_some(state, fmt, family, what):
    """``count_keys``, at least one: else ValueError "<family>-like keys, but no <what>" (a detect's one line)."""
    n = count_keys(state, fmt)
    if not n:
        raise ValueError(f'{family}-like keys, but no {what}')
    return n


def no_padding(arch):
    """Pad multiple of networks that take any H and W."""
    return 1


def generic_bytes_per_pixel(arch):
    """Fallback tile-memory estimate: 64 fp32 maps of 64 channels per LR pixel."""
    return 4.0 * 64 * 64


@dataclass(frozen=True)
class Bound:
    """The numbers an arch key may hold: each from ``lo`` to ``hi`` (each item, for a list), whole numbers unless
    ``real``, and for a list value from ``count[0]`` to ``count[1]`` items. Generous (several times what released
    models use) but finite, so that no stored value can ask for unbounded memory before anything is allocated."""
    lo: float
    hi: float
    count: Optional[tuple] = None
    real: bool = False

    def problems(self, key, value):
        """``[(key, problem)]`` of ``value``: numbers out of range, not numbers, a list of the wrong length (for a
        list, its first bad item)."""
        if self.count is None:
            return [(key, p) for p in [_range_problem(value, self.lo, self.hi, self.real)] if p]
        if type(value) not in (list, tuple):
            return [(key, f'expected a list of numbers, got {shown(value, 40)}')]
        if not self.count[0] <= len(value) <= self.count[1]:
            return [(key, f'must have {self.count[0]} to {self.count[1]} entries, got {len(value)}')]
        bad = [(f'{key}[{i}]', p) for i, v in enumerate(value) for p in [_range_problem(v, self.lo, self.hi, self.real)]
               if p]
        return bad[:1]  # one line per key


def _range_problem(value, lo, hi, real):
    if type(value) not in ((int, float) if real else (int,)):
        return f'expected a {"number" if real else "whole number"}, got {shown(value, 40)}'
    if not math.isfinite(value):
        return f'expected a finite number, got {value}'
    if not lo <= value <= hi:
        return f'must be between {lo:g} and {hi:g}, got {shown(value, 40)}'
    return None


# ranges of keys many networks share (a spec's own ``bounds`` take precedence): 16x the published models
# (64 features, 23 RRDB blocks, 32 SRVGG convs, 32 growth channels); num_feat 100000 reached Paddle's allocator
GENERIC_BOUNDS = {'num_in_ch': Bound(1, 16), 'num_out_ch': Bound(1, 16), 'in_chans': Bound(1, 16),
                  'num_feat': Bound(1, 1024), 'num_block': Bound(1, 368), 'num_conv': Bound(1, 512),
                  'num_grow_ch': Bound(1, 512), 'img_range': Bound(1, 65535, real=True)}
SCALE_BOUND = Bound(1, 8)  # every generator's scale key: x1 to x8, the scales released models have


def _numbers(value):
    """The numbers in an arch value (a number or a flat list of them)."""
    items = value if type(value) in (list, tuple) else [value]
    return [v for v in items if type(v) in (int, float)]


class NetFacts(NamedTuple):
    """What running a network needs to know of it (``ArchSpec.facts``): the upscaler reads them once when it is set
    up, and the tile planner (``inference.memory``) takes them from it."""
    type: str
    scale: int
    mod: int  # input H and W multiples of it (a network that pads itself: its tiles' grid)
    pads_itself: bool
    min_side: int
    bytes_per_pixel: float  # fp32 working set per LR pixel
    out_channels: int


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class ArchSpec:
    """The facts about one network type (``arch['type'] == name``).

    Attributes:
        name: the ``type`` of its ``arch`` dicts.
        cls: the paddle Layer; its ``__init__`` keyword arguments are the arch keys.
        detect: ``state -> arch`` for a state dict with this project's key names;
            returns None when the keys are not this network's, raises ValueError
            (naming what was found) when they are but do not add up.
        rename: ``state -> state`` mapping foreign key layouts (old ESRGAN,
            torchvision, ...) to this project's names; None when ``state`` is not one.
        generator: an image-to-image super-resolution network (needs ``scale_key``).
        scale_key: the constructor key holding the upscale factor.
        pad_multiple: ``arch -> int``: input H and W must be multiples of it (``pad_mode`` 'reflect'), or the grid
            tiles start on (``pad_mode`` 'own').
        pad_mode: 'reflect': callers pad H and W up to ``pad_multiple`` by reflection at the bottom and right and
            crop the output back (what the network's reference inference does: RRDBNet's unshuffle, SwinIR's and
            HAT's windows); 'own': the network pads any input itself, by its own rule (Real-CUGAN reflects 18 px
            a side and more at the bottom and right, waifu2x's CUNet repeats the edge), so callers give it the
            image as it is; another pad first would change its output at the borders.
        bytes_per_pixel: ``arch -> float``: fp32 working set of one forward per LR pixel.
        export_layer: ``net -> Layer`` (a new one) traced by the static export
            in place of ``net``: same weights, only ops the legacy static graph
            can shape-infer with unknown H and W.
        cpu_engine: Paddle Inference CPU engine that ``engine='auto'`` picks.
        aliases: command-line flag -> constructor key, besides the keys themselves
            and ``scale`` (which always means ``scale_key``).
        undetectable: constructor key -> values the weights cannot tell apart.
        complete: ``arch -> arch`` with the keys an absent value stands for filled in (RRDBNet: the unshuffle
            factor its scale implies), so a stored arch and the weights' are compared by what they build.
        undetectable_when: ``(arch, key) -> bool``, for a key whose values the weights tell apart in some
            layouts only (RRDBNet's x2 and x3 share one upsampling conv; its x2plus layout is x2 alone); None:
            always.
        min_side: ``arch`` -> the smallest input side the network runs on (None: any); the tiler pads smaller
            images and raises smaller tiles to it.
        lazy_build: the network can be built under ``paddle.LazyGuard``
            (shape checks without initialising the weights).
        bounds: constructor key -> ``Bound``: the values the network is built with (window, depths, heads,
            embed, kernel...), beside ``GENERIC_BOUNDS`` and the scale key's ``SCALE_BOUND``.
        consistent: ``arch`` (completed with the constructor's defaults) -> ``[(key, problem)]`` of values that
            do not fit each other (embed_dim not a multiple of the heads, a zero-width layer).
        export_ops: ``ExportOps``: the op types and attribute names its exported graphs hold beyond the plumbing
            every export has; ``checkpoint_io.graph_check`` allows the union over the registered specs, and nothing
            else (none: a network that is not exported, or whose layers write only the plumbing).
        dni_partner: ``(state, arch, other_state, other_arch) -> (other_state, other_arch)``: the other weights of
            a DNI blend made this network's (LowBandRRDBNet: a plain RRDBNet base at strength 0 with the
            checkpoint's corrector); None: blended as they are.
    """

    name: str
    cls: type
    detect: Optional[Callable] = None
    rename: Optional[Callable] = None
    generator: bool = True
    scale_key: Optional[str] = None
    pad_multiple: Callable = no_padding
    pad_mode: str = 'reflect'
    min_side: Optional[Callable] = None
    bytes_per_pixel: Callable = generic_bytes_per_pixel
    export_layer: Optional[Callable] = None
    cpu_engine: str = 'onednn'
    aliases: Mapping = field(default_factory=dict)
    undetectable: Mapping = field(default_factory=dict)
    undetectable_when: Optional[Callable] = None
    complete: Optional[Callable] = None
    lazy_build: bool = True
    bounds: Mapping = field(default_factory=dict)
    consistent: Optional[Callable] = None
    export_ops: ExportOps = NONE
    dni_partner: Optional[Callable] = None

    def __post_init__(self):
        keys = self.keys
        if self.generator and self.scale_key not in keys:
            raise ValueError(f'ArchSpec {self.name}: a generator needs scale_key, one of {list(keys)}')
        if self.cpu_engine not in CPU_ENGINES:
            raise ValueError(f'ArchSpec {self.name}: cpu_engine must be one of {CPU_ENGINES}')
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f'ArchSpec {self.name}: pad_mode must be one of {PAD_MODES}')
        if not isinstance(self.export_ops, ExportOps):
            raise ValueError(f'ArchSpec {self.name}: export_ops must be an ExportOps (models.export_ops)')
        bad = sorted(set(self.aliases.values()) - set(keys)) + sorted(set(self.undetectable) - set(keys)) \
            + sorted(set(self.bounds) - set(keys))
        if bad:
            raise ValueError(f'ArchSpec {self.name}: {bad} are not constructor keys of {self.cls.__name__}')
        object.__setattr__(self, 'aliases', MappingProxyType(dict(self.aliases)))
        object.__setattr__(self, 'undetectable', MappingProxyType(dict(self.undetectable)))
        object.__setattr__(self, 'bounds', MappingProxyType(dict(self.bounds)))

    @property
    def keys(self):
        """Constructor keys, in signature order."""
        return tuple(p for p in inspect.signature(self.cls.__init__).parameters if p != 'self')

    def default(self, key):
        return inspect.signature(self.cls.__init__).parameters[key].default

    def scale(self, arch):
        """Upscale factor of ``arch`` (the constructor default when the key is absent)."""
        if not self.generator:
            raise ValueError(f'{self.name} is not a super-resolution generator')
        return int(arch.get(self.scale_key, self.default(self.scale_key)))

    def facts(self, arch):
        """``NetFacts`` of ``arch``: the spec's own facts first, then the functions its network module gives, so a
        set-up reads them in one visit (tests/inference/test_call_path.py)."""
        scale = self.scale(arch) if self.generator else 1
        return NetFacts(arch['type'], scale, int(self.pad_multiple(arch)), self.pad_mode == 'own',
                        int(self.min_side(arch)) if self.min_side else 1, float(self.bytes_per_pixel(arch)),
                        int(arch.get('num_out_ch', 3)))

    def checked_facts(self, arch, where):
        """``facts(arch)`` of an arch read from a file (an export's ``model_info.json``, an ONNX sidecar), its values
        first within the network's bounds (``check_values``: one line naming ``where``)."""
        self.check_values(arch, where)
        return self.facts(arch)

    def key_for(self, flag):
        """Constructor key a command-line flag / override name sets here, or None if it does not apply."""
        if flag == 'scale' and self.scale_key:
            return self.scale_key
        if flag in self.aliases:
            return self.aliases[flag]
        return flag if flag in self.keys else None

    def completed(self, arch):
        """``arch`` with its implied values (``complete``) filled in."""
        return self.complete(dict(arch)) if self.complete is not None else dict(arch)

    def free_values(self, arch, key):
        """The values of ``key`` that the weights of ``arch`` (as detected or stored) cannot tell apart, or ()."""
        values = self.undetectable.get(key, ())
        if values and self.undetectable_when is not None and not self.undetectable_when(arch, key):
            return ()
        return values

    def flag_for(self, key):
        """The command-line spelling of a constructor key (the reverse of ``key_for``)."""
        if key == self.scale_key:
            return 'scale'
        return next((f for f, k in self.aliases.items() if k == key), key)

    def check_kwargs(self, kwargs, where):
        unknown = [k for k in kwargs if k not in self.keys]
        if unknown:
            names = ', '.join(shown(k, 40) for k in unknown[:5]) + (', ...' if len(unknown) > 5 else '')
            raise ValueError(f'{where}: unknown key(s) [{names}] for {self.name}; valid keys are {list(self.keys)}')

    def bound(self, key):
        """The ``Bound`` of constructor key ``key``, or None."""
        if key in self.bounds:
            return self.bounds[key]
        if self.generator and key == self.scale_key:
            return SCALE_BOUND
        return GENERIC_BOUNDS.get(key)

    def value_problems(self, arch):
        """``[(key, problem)]`` of the values ``arch`` sets (the constructor's defaults fill the rest): every
        number finite, each bounded key within its ``Bound``, then the spec's ``consistent`` check. Keys the
        constructor does not take are left to ``check_kwargs``. Nothing here allocates."""
        params = inspect.signature(self.cls.__init__).parameters
        full = {k: p.default for k, p in params.items() if p.default is not p.empty}
        full.update({k: v for k, v in arch.items() if k in params and k != 'self'})
        problems = []
        for key, value in full.items():
            if any(not math.isfinite(v) for v in _numbers(value)):
                problems.append((key, f'expected finite numbers, got {shown(value, 40)}'))
                continue
            limit = self.bound(key)
            if limit is not None and value is not None:
                problems += limit.problems(key, value)
        if problems or self.consistent is None:
            return problems
        return list(self.consistent(full))

    def check_values(self, arch, where):
        """ValueError, one line naming ``where`` and the key, for the first of ``value_problems``."""
        problems = self.value_problems(arch)
        if problems:
            key, problem = problems[0]
            raise ValueError(f'{where}: {self.name} {key}: {problem}')
        return arch

    def build(self, arch, where='network'):
        kwargs = {k: v for k, v in arch.items() if k != 'type'}
        self.check_kwargs(kwargs, where)
        self.check_values(kwargs, where)
        return self.cls(**kwargs)


_SPECS = {}  # type name -> its ArchSpec, or its Family until the family's module is imported
_FAMILIES = {}  # type name -> the Family it was registered as (kept once its module is imported)


@dataclass(frozen=True)
class Family:
    """A network type the registry knows by its name before its module is imported: ``module`` (dotted, below
    ``models``: ``'archs.compact.srvgg'``) holds its ``ArchSpec`` as ``attr``. The module is imported the first time
    the type is asked for (``find_spec``, ``get_spec``, ``NETWORKS[name]``), when a state dict may be its
    (``candidates``: one of ``keys`` is within one of the state's key names; ``keys`` None: every state), or when
    every type is (``all_specs``: the lines that list the networks), so a run that builds one network imports that
    family alone (docs/DESIGN.md, "Where new things go"). ``keys`` must hold for every state the spec's ``detect``
    or ``rename`` answers (a dict, or an error) and not None: tests/models/test_lazy_registry.py checks them."""
    name: str
    module: str
    attr: str = 'SPEC'
    keys: Optional[tuple] = None

    def load(self):
        """The family's ``ArchSpec`` (its module imported); TypeError when the module's is not this type's."""
        spec = getattr(importlib.import_module(f'.{self.module}', __package__), self.attr, None)
        if not isinstance(spec, ArchSpec) or spec.name != self.name:
            raise TypeError(f'models.{self.module}.{self.attr} is not the ArchSpec of {self.name}')
        return spec

    def may_claim(self, names):
        """Whether the state dict whose key names, joined by newlines, are ``names`` may be this family's."""
        return self.keys is None or any(k in names for k in self.keys)


class _Networks(abc.Mapping):
    """type -> network class, kept in step with the registry (read by training.schema); a family's module is
    imported when its class is asked for, not when its name is."""

    def __getitem__(self, name):
        spec = find_spec(name)
        if spec is None:
            raise KeyError(name)
        return spec.cls

    def __contains__(self, name):
        return isinstance(name, str) and name in _SPECS

    def __iter__(self):
        return iter(list(_SPECS))

    def __len__(self):
        return len(_SPECS)


NETWORKS = _Networks()
# the union of the loaded specs' export_ops, declared to checkpoint_io.graph_check at each change (the check, a room
# below, calls nothing in this one: it is handed ``all_specs`` to load the families not yet imported before it
# refuses a graph, so a graph passes exactly when the union over every registered family allows it)
DECLARED_OPS = NONE


def _declare():
    global DECLARED_OPS
    union = NONE
    for spec in _SPECS.values():
        if isinstance(spec, ArchSpec):
            union = union | spec.export_ops
    DECLARED_OPS = union
    pending = any(isinstance(s, Family) for s in _SPECS.values())
    graph_check.declare(union, all_specs if pending else None)


def register(spec, replace=False):
    """Add ``spec`` (an ``ArchSpec``, or a ``Family`` imported when first asked for) to the registry: detection
    tries it after the ones before."""
    if not isinstance(spec, (ArchSpec, Family)):
        raise TypeError(f'expected an ArchSpec or a Family, got {type(spec).__name__}')
    if spec.name in _SPECS and not replace:
        raise ValueError(f'network type {spec.name!r} is already registered')
    _SPECS[spec.name] = spec
    if isinstance(spec, Family):
        _FAMILIES[spec.name] = spec
    else:
        _FAMILIES.pop(spec.name, None)
    _declare()
    return spec


def unregister(name):
    _SPECS.pop(name, None)
    _FAMILIES.pop(name, None)
    _declare()


def family_of(name):
    """The ``Family`` network type ``name`` was registered as, or None (an ``ArchSpec`` registered itself)."""
    return _FAMILIES.get(name)


def _loaded(name):
    """The ArchSpec registered as ``name`` (its family's module imported the first time), or None."""
    entry = _SPECS.get(name)
    if isinstance(entry, Family):
        spec = entry.load()
        if _SPECS.get(name) is entry:  # not unregistered or replaced meanwhile
            _SPECS[name] = spec
            _declare()
        return spec
    return entry


def find_spec(name):
    """The spec of network type ``name``, or None."""
    return _loaded(name) if isinstance(name, str) else None


def get_spec(arch_or_name, where='network'):
    """The spec of an ``arch`` dict or type name; ValueError naming the known types otherwise."""
    if not isinstance(arch_or_name, str):
        if not isinstance(arch_or_name, Mapping) or 'type' not in arch_or_name:
            raise ValueError(f'{where}: expected a mapping with a "type" key, got {shown(arch_or_name)}')
        name, where = arch_or_name['type'], f'{where}.type'
    else:
        name = arch_or_name
    spec = find_spec(name)
    if spec is None:
        raise ValueError(f'{where}: unknown network {shown(name)}; known: {sorted(_SPECS)}')
    return spec


def candidates(state):
    """The specs whose ``detect`` or ``rename`` may answer ``state`` (str keys), in registration (= detection)
    order: every imported one, and the families not imported yet whose ``keys`` the state holds (imported now)."""
    names = '\n'.join(state)
    return [_loaded(name) for name, entry in list(_SPECS.items())
            if not isinstance(entry, Family) or entry.may_claim(names)]


def all_specs():
    """Registered specs in registration (= detection) order, every family's module imported."""
    return [_loaded(name) for name in list(_SPECS)]
