"""The targets of ``train.losses`` entries and the extra data sources of a run, each one registry entry.

A **target** (``gt``, ``gt_usm``, ``teacher``, ``lq``, ``lq_pair``, ``gan``) says what a term compares the
generator's output with and owns how a step gets that term's inputs: ``fetch(refs, what, term)`` gives the tensor
of loss input ``what`` (``input``, ``output``, ``target``, or any other name the target defines) for one step
(``refs``: ``training.loss_list.StepRefs``, which caches), or None for the inputs every target shares
(``ema_output``, ``redrawn``). ``dataset`` names the source it reads (``datasets.<key>``; optional unless a loss
registers that it needs it); ``inputs``, when set, are the only inputs its terms may take (``lq_pair``'s).

A **source** is an extra ``datasets.<key>`` section: its option ``fields`` (checked with the options, ``Field``s),
``make(cfg, opt, rank, logger)`` building it once in the trainer (an object with ``batch()``), and ``about``, what
it holds, for messages.

A new loss with a new target is one file: ``register_source(...)``, ``register_target(...)`` and the loss class
with ``@register_loss(target=..., dataset=...)`` (``tests/training/test_targets.py`` trains such a loss).
"""
from typing import Callable, NamedTuple, Optional

from .fields import Field as F
from .loader_options import MAX_BATCH


class Target(NamedTuple):
    name: str
    fetch: Optional[Callable] = None   # (refs, what, term) -> tensor, or None for the shared inputs
    dataset: Optional[str] = None      # the datasets.<key> it reads
    inputs: Optional[tuple] = None     # the only inputs its terms may take (None: any)


class Source(NamedTuple):
    key: str
    fields: dict                       # {option: Field} of datasets.<key>
    make: Callable                     # (cfg, opt, rank, logger) -> an object with batch()
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
    return {k: F('dict', None, children=s.fields) for k, s in SOURCE_REGISTRY.items()}


def build_sources(opt, rank, logger):
    """``{key: source}`` of every registered source the options set, each built once."""
    ds, out = opt.get('datasets') or {}, {}
    for key, s in SOURCE_REGISTRY.items():
        if ds.get(key):
            out[key] = s.make(ds[key], opt, rank, logger)
    return out


def _seed(opt, rank, *more):
    return [int(opt.get('manual_seed') or 0), rank, *more]


# ------------------------------------------------------------------------------------------- the built-in ones
def _make_real_lq(cfg, opt, rank, logger):
    from realesrgan_paddle.data.datasets.real_lq_crops import RealLQCrops
    return RealLQCrops(cfg['dataroot_lq'], cfg.get('crop', 32), cfg.get('batch_size', 4), seed=_seed(opt, rank))


def _make_real_lq_pairs(cfg, opt, rank, logger):
    from realesrgan_paddle.data.datasets.real_lq_flow_pairs import RealLQFlowPairs
    made = RealLQFlowPairs(cfg['dataroot_lq'], cfg['crop'], cfg['batch_size'], seed=_seed(opt, rank, 3))
    logger.info(f'real LQ pairs: {len(made)} pairs of consecutive frames from {cfg["dataroot_lq"]}; '
                f'{100 * made.moving:.1f} % of their pixels move, mean confidence {made.confident:.2f}')
    return made


def _make_real_pairs(cfg, opt, rank, logger):
    from realesrgan_paddle.data.datasets.real_pair_crops import RealPairCrops
    return RealPairCrops(cfg['dataroot_lq'], cfg['dataroot_gt'], cfg['crop'], cfg['batch_size'], opt['scale'],
                         seed=_seed(opt, rank, 1))


register_source('real_lq', {'dataroot_lq': F('str', required=True, exists='dir'), 'crop': F('int', 32, min=4),
                            'batch_size': F('int', 4, min=1, max=MAX_BATCH)}, _make_real_lq,
                'real LQ frames (no GT), data/datasets/real_lq_crops.py: the loss compares the output on them '
                'with those frames')
register_source('real_lq_pairs', {'dataroot_lq': F('str', required=True, exists='dir'),
                                  'crop': F('int', 32, min=4), 'batch_size': F('int', 2, min=1, max=MAX_BATCH)},
                _make_real_lq_pairs,
                'a folder of <name>_t0.png, <name>_t1.png pairs of consecutive real LQ frames; the one command '
                'makes it from --lq-videos')
register_source('real_pairs', {'dataroot_lq': F('str', required=True, exists='dir'),
                               'dataroot_gt': F('str', required=True, exists='dir'),
                               'crop': F('int', 32, min=4), 'batch_size': F('int', 2, min=1, max=MAX_BATCH),
                               'weight': F('float', 1.0, min=0),
                               # the names of the train.losses entries it goes through (default: those with
                               # target gt/gt_usm; official *_opt names: training/basicsr_compat.py)
                               'losses': F('list', None)}, _make_real_pairs,
                'real (LQ, HR) frame pairs, a second batch through some of the loss terms')


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


def about(key):
    s = SOURCE_REGISTRY.get(key)
    return s.about if s is not None else ''
