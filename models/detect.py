"""Architecture detection from state-dict keys and shapes, and key renaming.

Both ask the registered ``ArchSpec``s (``models.specs``), in registration order:

* ``normalize_state_dict`` strips a DataParallel ``module.`` prefix and lets the
  first spec whose ``rename`` recognises a foreign layout map it onto this
  project's names (which equal the official Real-ESRGAN/BasicSR names): old
  ESRGAN (RRDBNet), torchvision VGG19 ``features.N``, torch's
  ``parametrizations`` spectral-norm names (UNetDiscriminatorSN);
* ``detect_arch`` returns the ``arch`` dict (see docs/DESIGN.md) of the first
  spec whose ``detect`` recognises the keys. What weights cannot show is the
  spec's ``undetectable`` (SRVGGNetCompact's ReLU versus LeakyReLU: ``relu`` is
  assumed; the discriminator's ``skip_connection``: ``True`` is assumed). When none does, its one-line error
  names the closest network (``closest_arch``: the most key names in common, numbers aside) and the first of
  its keys the state lacks.

A spec's ``detect`` reads the keys it expects once its marker keys are there; a layout that starts like a known
network and then differs (RGT has DAT's marker keys, not its layout) would make it fail on a key or a shape it
cannot find. ``detect_with`` turns that failure into ``NearMiss``, a one-line ValueError naming the network and
what of it is not there, so no file makes detection raise anything else.
"""
import functools
import re

import paddle

from .specs import all_specs, candidates, shown


def normalize_state_dict(state):
    """Return ``state`` with keys renamed to this project's names (idempotent)."""
    state = dict(state)
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    for spec in candidates(state):
        renamed = spec.rename(state) if spec.rename else None
        if renamed is not None:
            return renamed
    return state


class NearMiss(ValueError):
    """A state dict with a network's marker keys whose layout then differs (``detect_with``): ``spec`` and
    ``what`` (its key the state lacks, or what did not read)."""

    def __init__(self, spec, what):
        super().__init__(f'{spec.name} keys in part, not its layout: {what}')
        self.spec, self.what = spec, what


def _failure(error):
    """What a ``detect`` that failed on a state dict did not find, in a few words from the file's own names."""
    if isinstance(error, KeyError) and error.args and isinstance(error.args[0], str):
        return f'no {shown(error.args[0], 60)}'
    return f'its tensors do not read as one ({type(error).__name__}: {shown(str(error), 60, bare=True)})'


def detect_with(spec, state):
    """``spec.detect(state)`` (None without a ``detect``); its own one-line ValueError passes, any other failure
    (a KeyError, IndexError, TypeError, ... on keys or shapes it expected) becomes ``NearMiss``."""
    if spec.detect is None:
        return None
    try:
        return spec.detect(state)
    except ValueError:
        raise
    except Exception as e:  # a near-miss of the layout (see the module docstring), never a crash
        raise NearMiss(spec, _failure(e)) from None


def detect_arch(state):
    """``arch`` dict for a state dict (any supported layout), or ValueError naming what was found and, when no
    network claims the keys, the closest one and what of it is not there (``closest_arch``; a network whose
    ``detect`` read part of the layout and then missed, ``NearMiss``, is the closest)."""
    state = normalize_state_dict(state)
    missed = None
    for spec in candidates(state):
        try:
            arch = detect_with(spec, state)
        except NearMiss as e:  # another network may still claim the keys; else this one is the closest
            missed = missed or e
            continue
        if arch is not None:
            return arch
    sample = [shown(k, 60, bare=True) for k in sorted(state)[:4]]
    near = closest_arch(state, missed.spec if missed else None)
    if missed:
        near = (missed.spec.name, (near[1].rsplit('; ', 1)[0] + '; ' if near else '') + missed.what)
    specs = [s for s in all_specs() if s.detect]
    ups = [s.name for s in specs if s.generator]  # the other networks counted: the line stays short
    known = ', '.join(ups) + (f' (and {len(specs) - len(ups)} other networks)' if len(specs) > len(ups) else '')
    closest = f'; closest: {near[0]} ({near[1]})' if near else f'; none of {known} has any of these key names'
    raise ValueError(f'unknown network layout: {len(state)} tensors, first keys {sample}{closest}')


def key_pattern(key):
    """A key with its numbers as ``#`` (``body.3.rdb1.conv2.weight`` -> ``body.#.rdb#.conv#.weight``): names that
    do not depend on a network's depth or its numbering."""
    return re.sub(r'\d+', '#', key)


@functools.lru_cache(maxsize=None)
def default_shapes(spec):
    """``{key: shape}`` of ``spec``'s network at its defaults (built shapes-only where it can be), or {} for a
    network that cannot be built at its defaults (it is not compared)."""
    try:
        if spec.lazy_build:
            with paddle.LazyGuard():
                net = spec.build({'type': spec.name})
        else:
            net = spec.build({'type': spec.name})
    except Exception:  # a network that cannot be built at its defaults is not compared
        return {}
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def closest_arch(state, only=None):
    """``(name, what did not fit)`` of the registered network whose key names (numbers aside) overlap ``state``'s
    most (Jaccard index of the two name sets), or None when none shares a name. ``state``: our key names;
    ``only``: that spec alone is compared."""
    have = {key_pattern(k) for k in state}
    best = None
    for spec in [only] if only is not None else all_specs():
        keys = tuple(default_shapes(spec)) if spec.detect else ()
        want = {key_pattern(k) for k in keys}
        shared = len(have & want)
        if shared and (best is None or shared / len(have | want) > best[0]):
            best = (shared / len(have | want), spec, keys, want, shared)
    if best is None:
        return None
    _, spec, keys, want, shared = best
    missing = next((k for k in keys if key_pattern(k) not in have), None)
    extra = next((k for k in sorted(state) if key_pattern(k) not in want), None)
    what = f'no {shown(missing, 60)}' if missing else f'{shown(extra, 60)} is not one of its keys'
    return spec.name, f'{shared} of its {len(want)} key names are there; {what}'
