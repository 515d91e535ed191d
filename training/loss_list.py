"""``train.losses``: the list of loss terms the trainer sums, each ``{type, weight, target, name, ...}``.

``type`` is a registered loss (``loss.registry.register_loss``); its other keys are the constructor's options,
checked by ``training.schema`` (``loss_weight`` is not one: ``weight`` multiplies the term). ``target`` says
what the term compares the output with (a target of ``training/targets.py``; default: the one the class registered):
``gt``, ``gt_usm``, ``teacher`` (the frozen teacher's output on the same input, ``train.teacher``), ``lq`` (the
output on real LQ frames, ``datasets.real_lq``, against those frames; the training LQ when there are none) or
``lq_pair`` (the outputs on two consecutive real LQ frames, ``datasets.real_lq_pairs``, with the motion between
them) or ``gan`` (the discriminator: the term is the generator's adversarial loss and the discriminator trains
against it). ``name`` is the term's name in the logs (default ``l_g_<the class's log name>``, numbered when repeated);
``from``: the official section an entry was mapped from (``train.perceptual_opt``), which messages name.
The official ``*_opt`` sections become entries in ``training/basicsr_compat.py``.
"""
import math
from dataclasses import dataclass

from .schema import build, validate
from .targets import TARGET_REGISTRY

ENTRY_KEYS = ('type', 'weight', 'target', 'name', 'from')


def _registry():
    from realesrgan_paddle.loss import LOSSES
    return LOSSES


def validate_losses(entries, problems, where='train.losses'):
    """The checked entries (constructor defaults filled, composites expanded to their parts); one problem line per
    key with its path."""
    if entries is None:
        return None
    if not isinstance(entries, list):
        problems.append(f'{where}: expected a list of {{type, weight, target, ...}} mappings, got '
                        f'{type(entries).__name__}')
        return entries
    out, seen = [], set()
    for i, e in enumerate(entries):
        out.extend(_entry(e, f'{where}[{i}]', seen, problems))
    return out


def _entry(e, at, seen, problems):
    """The checked entries ``e`` stands for: itself, or a composite's parts (``parts``, each checked like one)."""
    if not isinstance(e, dict):
        problems.append(f'{at}: expected a mapping with a type, got {type(e).__name__} {e!r}')
        return []
    if 'loss_weight' in e:
        problems.append(f'{at}.loss_weight: not a key of a train.losses entry; use weight')
    ctor = validate('loss', {k: v for k, v in e.items() if k not in ENTRY_KEYS[1:] and k != 'loss_weight'},
                    at, problems)
    cls = _registry().get(ctor.get('type')) if isinstance(ctor, dict) else None
    if cls is None:
        return []
    ctor.pop('loss_weight', None)
    src = e.get('from') if isinstance(e.get('from'), str) else None  # an official section: its own key
    weight = _weight(e.get('weight', 1.0), f'{src}.loss_weight' if src else f'{at}.weight', problems)
    target = e.get('target') or cls.LOSS_TARGET
    _check_target(target, cls, f'{at}.target', problems)
    name = _name(e.get('name'), cls, seen, f'{at}.name', problems)
    if hasattr(cls, 'inactive') and cls.inactive(ctor):  # every term of it at 0: nothing to compute
        return []
    if hasattr(cls, 'parts'):  # a composite: its parts, named after it
        made = cls.parts(ctor, weight, name)
        return [x for p in made for x in _entry({**p, **({'from': e['from']} if isinstance(e.get('from'), str)
                                                        else {})}, at, seen, problems)]
    made = {'type': ctor['type'], 'weight': weight, 'target': target, 'name': name}
    if isinstance(e.get('from'), str):
        made['from'] = e['from']
    return [{**made, **{k: v for k, v in ctor.items() if k != 'type'}}]


def _own(target):
    """Whether only the losses registered with ``target`` can take it: no fetch (gan: the discriminator's step) or
    inputs of its own (lq_pair)."""
    t = TARGET_REGISTRY.get(target)
    return t is not None and (t.fetch is None or t.inputs is not None)


def _check_target(target, cls, at, problems):
    """A known target, and one the loss can take (a target with its own inputs only with the losses made for it)."""
    if target not in TARGET_REGISTRY:
        problems.append(f'{at}: must be one of {", ".join(TARGET_REGISTRY)}, got {target!r}')
    elif cls.LOSS_TARGET not in TARGET_REGISTRY:
        problems.append(f'{at}: {cls.__name__} is registered with target {cls.LOSS_TARGET!r}, which no '
                        f'register_target made (training/targets.py)')
    elif target != cls.LOSS_TARGET and _own(cls.LOSS_TARGET):
        problems.append(f'{at}: {cls.__name__} ' + ("is the discriminator's loss: its target is gan"
                                                    if cls.LOSS_TARGET == 'gan' else
                                                    f'takes the inputs of target {cls.LOSS_TARGET} only: its target '
                                                    f'is {cls.LOSS_TARGET}'))
    elif target != cls.LOSS_TARGET and _own(target):
        made = sorted(k for k, c in _registry().items() if c.LOSS_TARGET == target)
        problems.append(f'{at}: {cls.__name__} ' + ("cannot judge the discriminator's output (only a gan loss can)"
                                                    if target == 'gan' else
                                                    f'does not take the inputs of target {target} (only '
                                                    f'{", ".join(made)} does)'))


def _weight(v, at, problems):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        problems.append(f'{at}: expected a finite number >= 0, got {v!r}')
        return 1.0
    return float(v)


def _name(v, cls, seen, at, problems):
    if v is not None and (not isinstance(v, str) or not v.strip()):
        problems.append(f'{at}: expected a non-empty string, got {v!r}')
        v = None
    if v is None:
        base = f'l_g_{cls.LOSS_LOG}'
        v, n = base, 2
        while v in seen:
            v, n = f'{base}_{n}', n + 1
    elif v in seen:
        problems.append(f'{at}: {v!r} names another entry already (each term needs its own name in the logs)')
    seen.add(v)
    return v


def entry_names(entries):
    """The log name of each entry as validation will give it (``name``, else the class's default, numbered); None
    for an entry that is not a mapping of a known type."""
    seen, out = {e.get('name') for e in entries if isinstance(e, dict) and isinstance(e.get('name'), str)}, []
    for e in entries:
        cls = _registry().get(e.get('type')) if isinstance(e, dict) and isinstance(e.get('type'), str) else None
        named = isinstance(e, dict) and isinstance(e.get('name'), str)
        out.append(e['name'] if named else _name(None, cls, seen, '', []) if cls is not None else None)
    return out


def where(entries, i):
    """The key path messages give entry ``i``: the official section it came from, else ``train.losses[i]``."""
    return entries[i].get('from') or f'train.losses[{i}]'


def find(entries, key):
    """The entry named ``key`` (its log name, or the official section it came from: ``train.hf_opt``), or None."""
    return next((e for e in entries or () if key in (e.get('name'), e.get('from'))), None)


def targets(entries):
    return {e['target'] for e in entries or ()}


def pair_usable(entry):
    """Whether the real pairs' batch can go through ``entry``: a GT or teacher target, called (output, target)."""
    return entry['target'] in ('gt', 'gt_usm', 'teacher') and _registry()[entry['type']].LOSS_INPUTS == (
        'output', 'target')


def default_pair_names(entries):
    return [e['name'] for e in entries or () if pair_usable(e) and e['target'] != 'teacher']


@dataclass
class LossTerm:
    """One built entry: ``weight * loss(*inputs)`` logged as ``name``."""
    name: str
    target: str
    weight: float
    loss: object
    inputs: tuple


def build_terms(entries):
    """The ``LossTerm`` of each validated entry, in order."""
    out = []
    for i, e in enumerate(entries or ()):
        cfg = {k: v for k, v in e.items() if k not in ENTRY_KEYS[1:]}
        loss = build('loss', cfg, f'train.losses[{i}]')
        out.append(LossTerm(e['name'], e['target'], float(e['weight']), loss, type(loss).LOSS_INPUTS))
    return out


def style_name(name):
    """The log name of a perceptual loss's second (style) term."""
    return name.replace('percep', 'style') if 'percep' in name else f'{name}_style'


def evaluate(terms, refs):
    """``{log name: weighted term}`` of ``terms`` (no gan ones) on one step's ``refs`` (``StepRefs``)."""
    out = {}
    for t in terms:
        if t.target == 'gan':
            continue
        v = t.loss(*(refs.get(i, t) for i in t.inputs))
        if isinstance(v, tuple):  # the perceptual loss: (features, style), either None when its weight is 0
            for name, part in ((t.name, v[0]), (style_name(t.name), v[1])):
                if part is not None:
                    out[name] = t.weight * part
        else:
            out[t.name] = t.weight * v
    return out


class StepRefs:
    """What one step's terms read, each computed once when a term first asks for it (``once``).

    The term's target gives its inputs (``training/targets.py``: ``output``, ``target``, ``input``, and a target's
    own, as ``lq_pair``'s); every target shares ``ema_output``, the EMA generator's output on the training LQ (the
    current output, detached, without EMA), and ``redrawn``, the output on the target's input with its noise and
    codec drawn again (the term's ``noise_sigma``/``jpeg_quality``). ``values``: the step's ``gt``, ``gt_usm`` and
    ``output``; ``lq``: its training LQ; ``model``: the trainer (its ``net_g``, ``sources``, ...)."""

    def __init__(self, model, lq, gt, gt_usm, output, teacher=None):
        self.model, self.lq, self.values = model, lq, {'gt': gt, 'gt_usm': gt_usm, 'output': output}
        self.teacher = teacher or model.teacher_out  # the real pairs' batch runs the teacher itself

    def once(self, key, make):
        if key not in self.values:
            self.values[key] = make()
        return self.values[key]

    def get(self, what, term):
        t = TARGET_REGISTRY[term.target]
        if t.inputs is not None and what not in t.inputs:
            raise ValueError(f'a term with target {term.target} takes {t.inputs}, not {what!r}')
        v = t.fetch(self, what, term) if t.fetch is not None else None
        if v is not None:
            return v
        if what == 'ema_output':
            return self.once('ema', lambda: self.model.ema_output(self.lq))
        if what == 'redrawn':
            return self.once(('redrawn', id(term)), lambda: self.model.redrawn_output(self.get('input', term),
                                                                                       term.loss))
        raise ValueError(f'unknown loss input {what!r} for target {term.target}')
