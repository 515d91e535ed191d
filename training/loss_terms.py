"""``train.losses``: the loss terms the trainer sums, their targets and data sources, and the official ``*_opt``
spelling of them.

An **entry** of ``train.losses`` is a ``type:`` section with keys of its own, ``{type, weight, target, name,
samples, ...}``: ``type`` is a registered loss (``loss.registry.register_loss``) and its other keys are the
constructor's options, checked by ``training.schema`` (``loss_weight`` is not one: ``weight`` multiplies the term).
``target`` says what the term compares the output with (default: the one the class registered); ``name`` is the
term's name in the logs (default ``l_g_<the class's log name>``, numbered when repeated); ``samples``: the term on
the first ``samples`` images of each batch only (default all; terms asking for one tensor with one count share its
slice, so the VGG16 terms' feature memo still serves both: a cost cut, not in any recipe); ``from``: the
official section an entry was mapped from (``train.perceptual_opt``), which messages name.

A **target** (``gt``, ``gt_usm``, ``teacher``, ``lq``, ``lq_pair``, ``gan``) owns how a step gets a term's inputs:
``fetch(refs, what, term)`` gives the tensor of loss input ``what`` (``input``, ``output``, ``target``, or any
other name the target defines) for one step (``refs``: ``training.step_terms.StepRefs``, which caches), or None for
the inputs every target shares (``ema_output``, ``redrawn``). ``dataset`` names the source it reads
(``datasets.<key>``; optional unless a loss registers that it needs it); ``inputs``, when set, are the only inputs
its terms may take (``lq_pair``'s). ``teacher`` is the frozen teacher's output on the same input
(``train.teacher``), ``lq`` the output on real LQ frames (``datasets.real_lq``; the training LQ when there are
none) against those frames, ``lq_pair`` the outputs on two consecutive real LQ frames (``datasets.real_lq_pairs``)
with the motion between them, ``gan`` the discriminator (the generator's adversarial term).

A **source** is an extra ``datasets.<key>`` section: its option ``fields`` (``schema.Field``s, checked with the
options), ``make(section, opt, rank, logger)`` building it once in the trainer (an object with ``batch()``), and
``about``, what it holds, for messages. A new loss with a new target is one file: ``register_source(...)``,
``register_target(...)`` and the loss class with ``@register_loss(target=..., dataset=...)``
(``tests/training/test_targets.py`` trains such a loss).

The **official spelling**: the ``train.<slot>`` sections of Real-ESRGAN/BasicSR files (``pixel_opt``,
``perceptual_opt``, ``gan_opt``) and this project's older ``*_opt`` ones become entries (``losses_from_slots``), and
an ``-o train.<slot>...`` on options that carry that slot's entry by name goes to the entry (``slot_override``: the
templates and recipes write entries).
"""
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from .schema import MAX_BATCH, Field, build, validate

ENTRY_KEYS = ('type', 'weight', 'target', 'name', 'samples', 'from')


def _registry():
    """``loss.registry``, every loss of the project registered (importing the ``loss`` room imports Paddle)."""
    from realesrgan_paddle.loss import registry
    return registry


def _losses():
    return _registry().LOSS_REGISTRY


# ----------------------------------------------------------------------------------------- targets and sources
class Target(NamedTuple):
    name: str
    fetch: Optional[Callable] = None   # (refs, what, term) -> tensor, or None for the shared inputs
    dataset: Optional[str] = None      # the datasets.<key> it reads
    inputs: Optional[tuple] = None     # the only inputs its terms may take (None: any)


class Source(NamedTuple):
    key: str
    fields: dict                       # {option: Field} of datasets.<key>
    make: Callable                     # (section, opt, rank, logger) -> an object with batch()
    about: str = ''


TARGET_REGISTRY, SOURCE_REGISTRY = {}, {}


def register_target(name, fetch=None, dataset=None, inputs=None):
    TARGET_REGISTRY[name] = Target(name, fetch, dataset, tuple(inputs) if inputs else None)
    return TARGET_REGISTRY[name]


def register_source(key, fields, make, about=''):
    SOURCE_REGISTRY[key] = Source(key, dict(fields), make, about)
    return SOURCE_REGISTRY[key]


def unregister(name=None, source=None):
    TARGET_REGISTRY.pop(name, None)
    SOURCE_REGISTRY.pop(source, None)


def dataset_fields():
    """``{key: Field}`` of every source's ``datasets.<key>`` section (unset: None)."""
    return {k: Field('dict', None, children=s.fields) for k, s in SOURCE_REGISTRY.items()}


def about(key):
    s = SOURCE_REGISTRY.get(key)
    return s.about if s is not None else ''


# ------------------------------------------------------------------------------------------------ the entries
def validate_losses(losses, problems, where='train.losses'):
    """The checked entries (constructor defaults filled, composites expanded to their parts); one problem line per
    key with its path."""
    if losses is None:
        return None
    if not isinstance(losses, list):
        problems.append(f'{where}: expected a list of {{type, weight, target, ...}} mappings, got '
                        f'{type(losses).__name__}')
        return losses
    out, seen = [], set()
    for i, section in enumerate(losses):
        out.extend(_entry(section, f'{where}[{i}]', seen, problems))
    return out


def _entry(section, at, seen, problems):
    """The checked entries ``section`` stands for: itself, or a composite's parts (``parts``, each checked like
    one)."""
    if not isinstance(section, dict):
        problems.append(f'{at}: expected a mapping with a type, got {type(section).__name__} {section!r}')
        return []
    if 'loss_weight' in section:
        problems.append(f'{at}.loss_weight: not a key of a train.losses entry; use weight')
    checked = validate('loss', {k: v for k, v in section.items() if k not in ENTRY_KEYS[1:] and k != 'loss_weight'},
                       at, problems)
    cls = _losses().get(checked.get('type')) if isinstance(checked, dict) else None
    if cls is None:
        return []
    checked.pop('loss_weight', None)
    src = section.get('from') if isinstance(section.get('from'), str) else None  # an official section: its own key
    weight = _weight(section.get('weight', 1.0), f'{src}.loss_weight' if src else f'{at}.weight', problems)
    target = section.get('target') or cls.LOSS_TARGET
    _check_target(target, cls, f'{at}.target', problems)
    name = _name(section.get('name'), cls, seen, f'{at}.name', problems)
    samples = _samples(section.get('samples'), f'{at}.samples', problems)
    if hasattr(cls, 'inactive') and cls.inactive(checked):  # every term of it at 0: nothing to compute
        return []
    origin = {'from': src} if src is not None else {}
    origin.update({'samples': samples} if samples is not None else {})
    if hasattr(cls, 'parts'):  # a composite: its parts, named after it
        return [x for p in cls.parts(checked, weight, name) for x in _entry({**p, **origin}, at, seen, problems)]
    return [{'type': checked['type'], 'weight': weight, 'target': target, 'name': name, **origin,
             **{k: v for k, v in checked.items() if k != 'type'}}]


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
                        f'register_target made (training/loss_terms.py)')
    elif target != cls.LOSS_TARGET and _own(cls.LOSS_TARGET):
        problems.append(f'{at}: {cls.__name__} ' + ("is the discriminator's loss: its target is gan"
                                                    if cls.LOSS_TARGET == 'gan' else
                                                    f'takes the inputs of target {cls.LOSS_TARGET} only: its target '
                                                    f'is {cls.LOSS_TARGET}'))
    elif target != cls.LOSS_TARGET and _own(target):
        made = sorted(k for k, c in _losses().items() if c.LOSS_TARGET == target)
        problems.append(f'{at}: {cls.__name__} ' + ("cannot judge the discriminator's output (only a gan loss can)"
                                                    if target == 'gan' else
                                                    f'does not take the inputs of target {target} (only '
                                                    f'{", ".join(made)} does)'))


def _weight(v, at, problems):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        problems.append(f'{at}: expected a finite number >= 0, got {v!r}')
        return 1.0
    return float(v)


def _samples(v, at, problems):
    """None (every image of the batch) or an int from 1 to MAX_BATCH."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_BATCH:
        problems.append(f'{at}: expected a whole number of images from 1 to {MAX_BATCH}, got {v!r}')
        return None
    return v


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


def entry_names(losses):
    """The log name of each entry as validation will give it (``name``, else the class's default, numbered); None
    for an entry that is not a mapping of a known type."""
    seen, out = {s.get('name') for s in losses if isinstance(s, dict) and isinstance(s.get('name'), str)}, []
    for section in losses:
        kind = section.get('type') if isinstance(section, dict) else None
        cls = _losses().get(kind) if isinstance(kind, str) else None
        named = isinstance(section, dict) and isinstance(section.get('name'), str)
        out.append(section['name'] if named else _name(None, cls, seen, '', []) if cls is not None else None)
    return out


def where(losses, i):
    """The key path messages give entry ``i``: the official section it came from, else ``train.losses[i]``."""
    return losses[i].get('from') or f'train.losses[{i}]'


def find(losses, key):
    """The entry named ``key`` (its log name, or the official section it came from: ``train.hf_opt``), or None."""
    return next((s for s in losses or () if key in (s.get('name'), s.get('from'))), None)


def targets(losses):
    return {s['target'] for s in losses or ()}


def pair_usable(section):
    """Whether the real pairs' batch can go through an entry: a GT or teacher target, called (output, target)."""
    return section['target'] in ('gt', 'gt_usm', 'teacher') and _losses()[section['type']].LOSS_INPUTS == (
        'output', 'target')


def default_pair_names(losses):
    return [s['name'] for s in losses or () if pair_usable(s) and s['target'] != 'teacher']


# --------------------------------------------------------------------------- the entries within the options
def read_losses(opt, problems):
    """``train.losses`` of ``opt`` checked, after the official ``train.<slot>`` sections are mapped onto it (run
    once the usm flags are set)."""
    losses_from_slots(opt, problems)
    if isinstance(opt.get('train'), dict) and not any(p.startswith('train.losses:') for p in problems):
        opt['train']['losses'] = validate_losses(opt['train'].get('losses'), problems)


def check_losses(opt, problems):
    """The losses against the rest of the options: the model type's (one gan term for the GAN model), the teacher,
    the data sources they need, the real pairs' terms."""
    if any(p.startswith('train.losses:') for p in problems):
        return  # the list itself is wrong: its line says so
    train, ds = _d(opt.get('train')), _d(opt.get('datasets'))
    losses = [s for s in train.get('losses') or [] if isinstance(s, dict)] if isinstance(train.get('losses'),
                                                                                         list) else []
    wanted = targets(losses)
    if opt.get('model_type') == 'RealESRGANModel':
        if not opt.get('network_d'):
            problems.append('network_d: required for model_type RealESRGANModel')
        if sum(1 for s in losses if s.get('target') == 'gan') != 1:
            problems.append('train.losses: model_type RealESRGANModel needs one loss with target gan '
                            '(train.gan_opt in the official files)')
    elif 'gan' in wanted:
        problems.append('train.losses: a gan target needs model_type RealESRGANModel (a discriminator)')
    if opt.get('model_type') == 'RealESRNetModel' and not losses:
        problems.append('train.losses: RealESRNetModel needs at least one loss (train.pixel_opt in the official '
                        'files)')
    own = targets(s for s in losses if not s.get('from'))  # the official ones: their own checks (_slot_pairings)
    if 'teacher' in own and not (train.get('teacher') or _d(opt.get('path')).get('pretrain_network_g')):
        problems.append('train.losses: a teacher target needs path.pretrain_network_g or train.teacher (the frozen '
                        'model whose output the term compares with)')
    _check_datasets(losses, ds, problems)
    if train.get('gan_real') == 'teacher' and not (opt.get('model_type') == 'RealESRGANModel'
                                                  and 'teacher' in wanted):
        problems.append('train.gan_real: teacher needs model_type RealESRGANModel and a loss with target teacher '
                        '(train.anchor_opt in the official spelling; its teacher gives the real samples)')
    if not losses:
        problems.append('train: no loss configured (train.losses, or pixel_opt, perceptual_opt, gan_opt)')
    _check_pair_losses(losses, _d(ds.get('real_pairs')).get('losses'), problems)


def _d(mapping):
    """``mapping`` when it is one, else {} (its type error is already reported)."""
    return mapping if isinstance(mapping, dict) else {}


def _check_datasets(losses, ds, problems):
    """A loss that needs a source (``dataset`` of its registry entry) needs ``datasets.<key>`` set, and a source
    set that only such losses read (not a target's optional one, nor the real pairs) needs one of them."""
    registry = _losses()
    kinds = [(i, registry.get(s.get('type'))) for i, s in enumerate(losses)]
    for key in sorted({c.LOSS_DATASET for c in registry.values() if getattr(c, 'LOSS_DATASET', None)}):
        users = [i for i, c in kinds if c is not None and c.LOSS_DATASET == key]
        if users and not ds.get(key):
            problems.append(f'{where(losses, users[0])}: a {losses[users[0]]["type"]} needs datasets.{key} '
                            f'({about(key)})')
        if ds.get(key) and not users and not _slot_problem(key, registry, problems):
            problems.append(f'datasets.{key}: no loss reads it (one of {", ".join(_registry().needing(key))})')


def _slot_problem(key, registry, problems):
    """Whether an official ``train.<slot>`` section of a loss that reads ``datasets.<key>`` already has its line (a
    bad section is not a missing loss: one line, naming the section)."""
    slots = [s for s, (kinds, _, _) in SLOTS.items()
             if any(getattr(registry.get(t), 'LOSS_DATASET', None) == key for t in kinds)]
    return any(p.startswith(f'train.{s}') for s in slots for p in problems)


def _check_pair_losses(losses, names, problems):
    usable = [s['name'] for s in losses if pair_usable(s)]
    for name in names or []:
        if name not in usable:
            problems.append(f'datasets.real_pairs.losses: {name!r} is not a configured loss the pairs can go through '
                            f'(configured: {", ".join(usable) or "none"})')


# ------------------------------------------------------------------------------------- the official spelling
# ``train.<slot>`` of the official files and of this project's ``*_opt`` spelling -> (the loss types it takes, the
# first the default; its name in the logs; its target: a fixed one, or the usm flag that picks gt_usm over gt).
# ``losses_from_slots`` turns them into ``train.losses`` entries in this order (the order of the old trainer's sum).
SLOTS = {
    'pixel_opt': (('L1Loss', 'MSELoss'), 'l_g_pix', 'l1_gt_usm'),
    'hf_opt': (('HFEnergyLoss',), 'l_g_hf', 'gt'), 'fft_opt': (('FFTAmplitudeLoss',), 'l_g_fft', 'gt'),
    'gradient_opt': (('GradientLoss',), 'l_g_grad', 'gt'), 'lowpass_opt': (('LowPassL1Loss',), 'l_g_lowpass', 'gt'),
    'grid_opt': (('SubpixelGridLoss',), 'l_g_grid', 'gt'), 'swd_opt': (('SlicedWassersteinLoss',), 'l_g_swd', 'gt'),
    'randvgg_opt': (('RandomVGGLoss',), 'l_g_rvgg', 'gt'),
    'ldl_opt': (('LDLLoss',), 'l_g_ldl', 'l1_gt_usm'),
    'anchor_opt': (('SelfAnchorLoss',), 'l_g_anchor', 'teacher'),
    'consistency_opt': (('ConsistencyLoss',), 'l_g_cons', 'lq'),
    'stability_opt': (('StabilityLoss',), 'l_g_stab', 'lq'),
    'temporal_opt': (('TemporalLoss',), 'l_g_temp', 'lq_pair'),
    'perceptual_opt': (('PerceptualLoss',), 'l_g_percep', 'percep_gt_usm'),
    'gan_opt': (('GANLoss',), 'l_g_gan', 'gan'),
}
DETAIL_SLOTS = ('hf_opt', 'fft_opt', 'gradient_opt', 'lowpass_opt', 'grid_opt', 'swd_opt', 'randvgg_opt')
GAN_ONLY = ('perceptual_opt', 'gan_opt')  # RealESRNetModel never used them


def _slot_entry(slot, section, opt):
    """The ``train.losses`` entry of one validated slot section."""
    _, name, target = SLOTS[slot]
    rest = {k: v for k, v in section.items() if k not in ('type', 'loss_weight')}
    if target.endswith('_usm'):
        target = 'gt_usm' if opt.get(target) else 'gt'
    return {'type': section['type'], 'weight': float(section.get('loss_weight', 1.0)), 'target': target,
            'name': name, **rest, 'from': f'train.{slot}'}


def losses_from_slots(opt, problems):
    """Move the ``train.<slot>`` sections of ``opt`` (validated from their constructors, with their key paths) onto
    ``train.losses``, after the entries it already has; ``datasets.real_pairs.losses`` naming slots is rewritten to
    the entries' names (left out: the pixel and detail slots, the old default). Run after the usm flags are set."""
    train = _d(opt.get('train'))
    pairs = _d(opt.get('datasets')).get('real_pairs')
    losses, names = list(train.get('losses') or []), _listed_names(train.get('losses'))
    made_any = False
    gan = opt.get('model_type') == 'RealESRGANModel'
    _slot_pairings(opt, problems)
    for slot, (kinds, _, _) in SLOTS.items():
        section = train.pop(slot, None)
        if section is None or not isinstance(section, dict) or (slot in GAN_ONLY and not gan):
            continue  # not a mapping: the options' schema has its line (training/option_file.py)
        section = validate('loss', section, f'train.{slot}', problems, types=kinds, default_type=kinds[0])
        if not isinstance(section, dict) or section.get('type') not in kinds or any(p.startswith(f'train.{slot}')
                                                                                    for p in problems):
            continue
        made = _slot_entry(slot, section, opt)
        names[slot] = _part_names(made)
        losses.append(made)
        made_any = True
    if losses or 'losses' in train:
        train['losses'] = losses
    if isinstance(pairs, dict) and (made_any or isinstance(pairs.get('losses'), list)):
        _pair_names(pairs, names)
    return opt


def _slot_pairings(opt, problems):
    """The official spelling's own checks, named by its keys (the entries' checks skip entries made here)."""
    train = _d(opt.get('train'))
    if train.get('anchor_opt') and not (train.get('teacher') or _d(opt.get('path')).get('pretrain_network_g')):
        problems.append('train.anchor_opt: needs path.pretrain_network_g or train.teacher (the frozen model whose '
                        'output anchors the high band)')


def _pair_names(pairs, names):
    """``datasets.real_pairs.losses`` of slot names as entry names; unset: the pixel and detail slots' entries."""
    wanted = pairs.get('losses')
    if wanted is None:
        wanted = ['pixel_opt', *DETAIL_SLOTS]
        pairs['losses'] = [n for s in wanted for n in names.get(s, [])]
    elif isinstance(wanted, list):
        pairs['losses'] = [n for s in wanted for n in (names.get(s, [s]) if s in SLOTS else [s])]


def _part_names(section):
    """The log names an entry's terms get: its own, or a composite's parts' (``section``: its options filled)."""
    cls = _losses()[section['type']]
    if not hasattr(cls, 'parts'):
        return [section['name']]
    return [p['name'] for p in cls.parts(section, section.get('weight', 1.0), section['name'])]


def _listed_names(losses):
    """``{slot: its term names}`` of the ``train.losses`` entries named after a slot (a template's ``l_g_pix``), so
    that ``datasets.real_pairs.losses`` may name them by slot."""
    out = {}
    if not isinstance(losses, list):
        return out
    for slot, (kinds, name, _) in SLOTS.items():
        section = next((s for s, n in zip(losses, entry_names(losses)) if n == name), None)
        checked = validate('loss', {k: v for k, v in section.items() if k not in ENTRY_KEYS[1:]}, '',
                           []) if isinstance(section, dict) else None
        if isinstance(checked, dict) and checked.get('type') in kinds:
            out[slot] = _part_names({**checked, 'name': name, 'weight': section.get('weight', 1.0)})
    return out


def slot_override(opt, parts, value):
    """``-o train.<slot>...`` (``parts``, ``value``) on options that carry the slot's term as a ``train.losses``
    entry of its name (the templates, a recipe's entries): the same change on that entry (``loss_weight`` is its
    ``weight``), so the official spellings of the docs and of users' commands keep working; else unchanged."""
    train = opt.get('train') if isinstance(opt, dict) else None
    if len(parts) < 2 or parts[0] != 'train' or parts[1] not in SLOTS or not isinstance(train, dict) \
            or parts[1] in train or not isinstance(train.get('losses'), list):
        return parts, value
    name = SLOTS[parts[1]][1]
    names = entry_names(train['losses'])
    if name not in names:
        return parts, value
    rest = ['weight' if parts[2:3] == ['loss_weight'] else p for p in parts[2:3]] + parts[3:]
    if not rest and isinstance(value, dict):
        old = train['losses'][names.index(name)]
        value = {'weight' if k == 'loss_weight' else k: v for k, v in value.items()}
        if old.get('target') and 'target' not in value:
            value['target'] = old['target']
    return ['train', 'losses', name, *rest], value


def flag_targets(losses, flags):
    """``-o`` overrides that give the ``train.losses`` entries named after a slot the official usm ``flags`` govern
    (``{'l1_gt_usm': False, ...}``: the pixel and LDL terms, the perceptual term) the target the flag picks, as
    the slot would have had (a fitted degradation turns the sharpened GT off)."""
    governed = {name: flag for _, name, flag in SLOTS.values() if flag in flags}
    return [f'train.losses.{n}.target={"gt_usm" if flags[governed[n]] else "gt"}'
            for n in entry_names(losses) if n in governed]


# ------------------------------------------------------------------------------------------------ the terms
@dataclass
class LossTerm:
    """One built entry: ``weight * loss(*inputs)`` logged as ``name``; ``samples``: on the batch's first images
    only (None: all)."""
    name: str
    target: str
    weight: float
    loss: object
    inputs: tuple
    samples: Optional[int] = None


def build_terms(losses):
    """The ``LossTerm`` of each validated entry, in order."""
    out = []
    for i, section in enumerate(losses or ()):
        loss = build('loss', {k: v for k, v in section.items() if k not in ENTRY_KEYS[1:]}, f'train.losses[{i}]')
        out.append(LossTerm(section['name'], section['target'], float(section['weight']), loss,
                            type(loss).LOSS_INPUTS, section.get('samples')))
    return out


# ------------------------------------------------------------------------------------- the built-in sources
def _seed(opt, rank, *more):
    return [int(opt.get('manual_seed') or 0), rank, *more]


def _make_real_lq(section, opt, rank, logger):
    from realesrgan_paddle.data.datasets.real_lq_crops import RealLQCrops
    return RealLQCrops(section['dataroot_lq'], section.get('crop', 32), section.get('batch_size', 4),
                       seed=_seed(opt, rank))


def _make_real_lq_pairs(section, opt, rank, logger):
    from realesrgan_paddle.data.datasets.real_lq_flow_pairs import RealLQFlowPairs
    made = RealLQFlowPairs(section['dataroot_lq'], section['crop'], section['batch_size'], seed=_seed(opt, rank, 3))
    logger.info(f'real LQ pairs: {len(made)} pairs of consecutive frames from {section["dataroot_lq"]}; '
                f'{100 * made.moving:.1f} % of their pixels move, mean confidence {made.confident:.2f}')
    return made


def _make_real_pairs(section, opt, rank, logger):
    from realesrgan_paddle.data.datasets.real_pair_crops import RealPairCrops
    return RealPairCrops(section['dataroot_lq'], section['dataroot_gt'], section['crop'], section['batch_size'],
                         opt['scale'], seed=_seed(opt, rank, 1))


register_source('real_lq', {'dataroot_lq': Field('str', required=True, exists='dir'), 'crop': Field('int', 32, min=4),
                            'batch_size': Field('int', 4, min=1, max=MAX_BATCH)}, _make_real_lq,
                'real LQ frames (no GT), data/datasets/real_lq_crops.py: the loss compares the output on them '
                'with those frames')
register_source('real_lq_pairs', {'dataroot_lq': Field('str', required=True, exists='dir'),
                                  'crop': Field('int', 32, min=4),
                                  'batch_size': Field('int', 2, min=1, max=MAX_BATCH)},
                _make_real_lq_pairs,
                'a folder of <name>_t0.png, <name>_t1.png pairs of consecutive real LQ frames; the one command '
                'makes it from --lq-videos')
register_source('real_pairs', {'dataroot_lq': Field('str', required=True, exists='dir'),
                               'dataroot_gt': Field('str', required=True, exists='dir'),
                               'crop': Field('int', 32, min=4), 'batch_size': Field('int', 2, min=1, max=MAX_BATCH),
                               'weight': Field('float', 1.0, min=0),
                               # the names of the train.losses entries it goes through (default: those with
                               # target gt/gt_usm; official *_opt names: SLOTS above)
                               'losses': Field('list', None)}, _make_real_pairs,
                'real (LQ, HR) frame pairs, a second batch through some of the loss terms')


# ------------------------------------------------------------------------------------- the built-in targets
def _training(key):
    """gt, gt_usm: the output on the training LQ against the batch's GT (plain or sharpened)."""
    def fetch(refs, what, term):
        if what == 'target':
            return refs.values[key]
        return refs.lq if what == 'input' else refs.values['output'] if what == 'output' else None
    return fetch


def _teacher(refs, what, term):
    """The output on the training LQ against the frozen teacher's output on it."""
    if what == 'target':
        return refs.once('teacher', lambda: refs.teacher(refs.lq))
    return _GT(refs, what, term)


def _lq(refs, what, term):
    """The output on a real LQ batch (``datasets.real_lq``; the training LQ when unset) against that batch."""
    src = refs.model.sources.get('real_lq')
    if what not in ('input', 'output', 'target'):
        return None
    if src is None:
        lq, out = refs.lq, refs.values['output']
    else:
        lq, out = refs.once('real_lq', lambda: (lambda s: (s, refs.model.net_g(s)))(src.batch()))
    return out if what == 'output' else lq


PAIR_INPUTS = ('output', 'next_output', 'flow', 'flow_mask')  # what a term with target lq_pair reads, in order


def _lq_pair(refs, what, term):
    """(output on frame t, output on frame t+1, flow, mask) of a batch of consecutive real LQ frames
    (``datasets.real_lq_pairs``), both frames through the generator in one call."""
    def make():
        import paddle
        a, b, flow, mask = refs.model.sources['real_lq_pairs'].batch()
        out = refs.model.net_g(paddle.concat([a, b], axis=0))
        return out[:a.shape[0]], out[a.shape[0]:], flow, mask
    return refs.once('lq_pair', make)[PAIR_INPUTS.index(what)]


_GT = _training('gt')
register_target('gt', _GT)
register_target('gt_usm', _training('gt_usm'))
register_target('teacher', _teacher)
register_target('lq', _lq, dataset='real_lq')
register_target('lq_pair', _lq_pair, dataset='real_lq_pairs', inputs=PAIR_INPUTS)
register_target('gan')  # the discriminator: the trainer's GAN step, no fetch
