"""Options: YAML in the BasicSR layout, ``-o key.sub=value`` overrides, and validation.

``load_options`` returns a plain dict with defaults filled in, or raises
``OptionsError`` listing every problem with its key path (unknown keys, wrong
types, missing files) before anything is built or trained.

The trainer's own settings are the ``SCHEMA`` below: each a ``training.fields.Field`` holding its
kind, default, range, choices and path check. The ``type:`` sections (networks,
losses, datasets, scheduler, optimisers) have no schema here: ``training.schema`` derives
theirs from the constructors, and the trainer builds them through the same ``schema.build``.
"""
import copy
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from realesrgan_paddle.utils.yaml_bounded import YAMLTooLarge, safe_load_bounded

from . import basicsr_compat
from .fields import Field as F, check_field, coerce_number  # F: the one field type, short for the tables
from .loader_options import GT_SIZE
from .loss_list import entry_names, pair_usable, targets, validate_losses, where
from .option_values import check_across
from .schema import validate as validate_section
from .targets import about, dataset_fields


class OptionsError(ValueError):
    """``problems``: one line each. ``opt``: the options as read, when the file parsed and only their values
    are wrong (so that the weights they name can be checked in the same pass), else None."""

    def __init__(self, source, problems, opt=None):
        self.problems = list(problems)
        self.opt = opt
        super().__init__(f'{source}: ' + '; '.join(self.problems))


# section -> (kind, default type) of the sections built by training.schema
TYPED = {'network_g': ('network', None), 'network_d': ('network', None),
         'datasets.train': ('dataset', None), 'datasets.val': ('dataset', None),
         'train.optim_g': ('optimizer', 'Adam'), 'train.optim_d': ('optimizer', 'Adam'),
         'train.scheduler': ('scheduler', 'MultiStepLR')}
METRIC = {'type': F('str', None, choices=('calculate_psnr', 'calculate_ssim', 'psnr', 'ssim', 'detail_ratio')),
          'crop_border': F('int', 4), 'test_y_channel': F('bool', True), 'better': F('str', 'higher')}

SCHEMA = {
    'name': F('str', required=True),
    'model_type': F('str', 'RealESRGANModel', choices=('RealESRNetModel', 'RealESRGANModel')),
    'scale': F('int', 4, min=1, max=8),
    'device': F('str', 'auto', choices=('auto', 'cpu', 'gpu')),
    'manual_seed': F('int', 0, min=0),
    'high_order_degradation': F('bool', True),
    'gt_size': GT_SIZE,
    'queue_size': F('int', 180, min=0),
    # BasicSR places these at the top level; they may also sit in `degradation:` (top level wins)
    'l1_gt_usm': F('bool', None), 'percep_gt_usm': F('bool', None), 'gan_gt_usm': F('bool', None),
    'degradation': F('dict', {}, free=True),
    'datasets': F('dict', required=True, children={
        'train': F('dict', required=True, free=True),  # free: the TYPED sections are checked by training.schema
        'val': F('dict', None, free=True),
        # the extra sources (real_lq, real_lq_pairs, real_pairs, ...): training/targets.py, added by _schema()
    }),
    'network_g': F('dict', required=True, free=True),
    'network_d': F('dict', None, free=True),
    'path': F('dict', {}, children={
        'pretrain_network_g': F('str', None, exists='model'), 'param_key_g': F('str', 'params_ema'),
        'strict_load_g': F('bool', True),
        'pretrain_network_d': F('str', None, exists='model'), 'param_key_d': F('str', 'params'),
        'strict_load_d': F('bool', True),
        'resume_state': F('str', None, exists='file'),
        'experiments_root': F('str', 'experiments'),
    }),
    'train': F('dict', required=True, children={
        'ema_decay': F('float', 0.999, min=0, max=1),
        'optim_g': F('dict', {}, free=True), 'optim_d': F('dict', {}, free=True),
        'scheduler': F('dict', {}, free=True),
        'total_iter': F('int', required=True, min=1, max=10 ** 9), 'warmup_iter': F('int', -1),
        # the loss terms (training/loss_list.py); the official *_opt sections are mapped onto it
        'losses': F('list', None),
        **{k: F('dict', None, free=True) for k in basicsr_compat.SLOTS},
        'net_d_iters': F('int', 1, min=1), 'net_d_init_iters': F('int', 0, min=0),
        'grad_clip': F('float', None, min=0), 'use_amp': F('bool', False),
        'nan_max_consecutive': F('int', 5, min=1),
        'teacher_backend': F('str', 'auto', choices=('auto', 'predictor', 'dynamic')),
        'teacher': F('str', None, exists='model'),  # the anchor's teacher (default: path.pretrain_network_g)
        'trunk_reuse': F('int', 1, min=1),  # LowBandRRDBNet: corrector steps per pass of the frozen trunk
        # what the discriminator is shown as real: the GT, or the anchor's teacher on the same degraded input
        'gan_real': F('str', 'gt', choices=('gt', 'teacher')),
    }),
    'val': F('dict', None, children={
        'val_freq': F('int', 5000, min=1), 'save_img': F('bool', True), 'suffix': F('str', None),
        'val_at_start': F('bool', False),
        'max_images': F('int', None, min=1), 'metrics': F('dict', {}, free=True),
    }),
    'logger': F('dict', {}, children={
        'print_freq': F('int', 100, min=1), 'save_checkpoint_freq': F('int', 5000, min=0),
        'use_tb_logger': F('bool', True),
        'keep_last': F('int', 3, min=0),
    }),
    'dist': F('dict', {}, children={'find_unused_parameters': F('bool', False)}),
}


def parse_override(text):
    """``a.b.c=value`` -> (['a', 'b', 'c'], parsed value); the value is YAML (8, 1e-4, true, [1, 2], ~)."""
    if '=' not in text:
        raise ValueError(f'override {text!r} must look like key.sub=value')
    key, raw = text.split('=', 1)
    parts = [p for p in key.strip().split('.')]
    if not all(parts):
        raise ValueError(f'override {text!r}: empty key part')
    try:
        value = safe_load_bounded(raw) if raw.strip() else ''
    except YAMLTooLarge as exc:
        raise ValueError(f'override {key.strip()}: {exc}') from None
    except yaml.YAMLError:
        value = raw
    return parts, coerce_number(value)


def apply_overrides(opt, overrides):
    """Set each ``a.b.c=value`` in ``opt`` (``=~`` unsets). In a list of named mappings (``train.losses``) a key
    part names an entry: ``train.losses.l_g_pix.weight=0.5`` sets that entry's weight, ``train.losses.l_g_fft={type:
    FFTAmplitudeLoss}`` adds or replaces one, ``train.losses.l_g_fft=~`` removes it. An official ``train.<slot>...``
    key goes to the entry of its name when the options carry one (``basicsr_compat.slot_override``)."""
    for text in overrides or ():
        parts, value = basicsr_compat.slot_override(opt, *parse_override(text))
        node = opt
        for p in parts[:-1]:
            node = _child(node, p)
        if isinstance(node, list):
            _set_named(node, parts[-1], value)
        elif value is None:  # key=~ unsets: the default applies
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return opt


def overrides_need(overrides, key):
    """Whether ``-o`` ``overrides`` switch on a loss that needs ``datasets.<key>`` (its registry entry's
    ``dataset``): an entry of ``train.losses`` by its ``type``, or an official section by its type or default."""
    if not overrides:
        return False  # without them, no need of the loss registry (which imports Paddle)
    from realesrgan_paddle.loss import LOSSES
    for text in overrides:
        parts, value = parse_override(text)
        if value is None or parts[0] != 'train' or len(parts) < 2:
            continue
        if parts[1] == 'losses':
            items = value if isinstance(value, list) else [value]
            types = [v.get('type') for v in items if isinstance(v, dict)] + ([value] if parts[-1] == 'type' else [])
        elif parts[1] in basicsr_compat.SLOTS:
            given = value.get('type') if isinstance(value, dict) and len(parts) == 2 else None
            types = [given or basicsr_compat.SLOTS[parts[1]][0][0]]
        else:
            continue
        if any(getattr(LOSSES.get(t) if isinstance(t, str) else None, 'LOSS_DATASET', None) == key for t in types):
            return True
    return False


def _named(items, name):
    return next((i for i, n in enumerate(entry_names(items)) if n == name), None)


def _child(node, p):
    """The mapping (or list of named mappings) under key ``p`` of ``node``, made when missing."""
    if isinstance(node, list):
        i = _named(node, p)
        if i is None:
            node.append({'name': p})
            i = len(node) - 1
        return node[i]
    if not isinstance(node.get(p), (dict, list)):
        node[p] = {}
    return node[p]


def _set_named(items, name, value):
    i = _named(items, name)
    if value is None:
        if i is not None:
            del items[i]
        return
    entry = {**value, 'name': name} if isinstance(value, dict) else value
    if i is None:
        items.append(entry)
    else:
        items[i] = entry


def _validate(node, schema, prefix, problems):
    out = {}
    for key in node:
        if key not in schema:
            problems.append(f'{prefix}{key}: unknown key (valid: {", ".join(sorted(schema))})')
    for key, field in schema.items():
        path = f'{prefix}{key}'
        if key not in node or node[key] is None:
            if field.required:
                problems.append(f'{path}: missing required key')
            out[key] = copy.deepcopy(field.default)
            if field.children is not None and isinstance(out[key], dict):
                out[key] = _validate(out[key], field.children, path + '.', problems)
            continue
        v = check_field(field, node[key], path, problems)
        if field.children is not None and isinstance(v, dict):
            v = _validate(v, field.children, path + '.', problems)
        out[key] = v
    return out


def _validate_typed(opt, problems):
    """Check the TYPED sections with training.schema (in place), and the kernel values of the dataset sections."""
    for dotted, (kind, default_type) in TYPED.items():
        *parents, key = dotted.split('.')
        node = opt
        for part in parents:
            node = _d(node.get(part))
        if node.get(key) is None:
            continue
        node[key] = validate_section(kind, node[key], dotted, problems, default_type=default_type)
        if kind == 'dataset' and isinstance(node[key], dict):
            node[key]['phase'] = key
            _check_dataset_kernels(node[key], dotted, problems)


def _check_dataset_kernels(ds, where, problems):
    """Values of the degradation keys a dataset section sets (the dataset samples its kernels)."""
    from realesrgan_paddle.data.degrade.second_order import DEFAULT_DEGRADATION, resolve_options
    deg = {k: v for k, v in ds.items() if k in DEFAULT_DEGRADATION}
    if isinstance(ds.get('degradation'), dict):
        deg.update(ds['degradation'])
    try:
        resolve_options(deg)
    except ValueError as exc:
        problems.append(f'{where}: {exc}')


def degradation_keys():
    from realesrgan_paddle.data.degrade.second_order import DEFAULT_DEGRADATION
    return set(DEFAULT_DEGRADATION)


def _resolve_usm_flags(opt, problems):
    from realesrgan_paddle.data.degrade.second_order import DEFAULT_DEGRADATION, resolve_options
    deg = _d(opt.get('degradation'))
    try:
        resolved = resolve_options({k: v for k, v in deg.items() if k in DEFAULT_DEGRADATION})
    except ValueError as exc:
        problems.append(f'degradation: {exc}')
        resolved = {'l1_gt_usm': True, 'percep_gt_usm': True, 'gan_gt_usm': False}
    for k in ('l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm'):
        if opt.get(k) is None:
            opt[k] = bool(resolved[k])


def _schema():
    """``SCHEMA`` with the ``datasets.<key>`` section of every registered source (training/targets.py)."""
    ds = SCHEMA['datasets']
    return {**SCHEMA, 'datasets': replace(ds, children={**ds.children, **dataset_fields()})}


def _d(v):
    """``v`` when it is a mapping, else {} (its type error is already reported)."""
    return v if isinstance(v, dict) else {}


def validate_options(raw, source='options', warnings=None):
    """The checked options with defaults; BasicSR-only keys add a line to ``warnings`` (a list)."""
    problems = []
    if not isinstance(raw, dict):
        raise OptionsError(source, [f'top level must be a mapping, got {type(raw).__name__}'])
    raw = basicsr_compat.normalize(copy.deepcopy(raw), degradation_keys(), problems,
                                   warnings if warnings is not None else [])
    opt = _validate(raw, _schema(), '', problems)
    _validate_typed(opt, problems)
    ds = _d(opt.get('datasets'))
    deg_keys = degradation_keys()
    if isinstance(opt.get('degradation'), dict):
        for k in opt['degradation']:
            if k not in deg_keys:
                problems.append(f'degradation.{k}: unknown key (valid: {", ".join(sorted(deg_keys))})')
    _resolve_usm_flags(opt, problems)
    basicsr_compat.losses_from_slots(opt, problems)
    if isinstance(opt.get('train'), dict) and not any(p.startswith('train.losses:') for p in problems):
        opt['train']['losses'] = validate_losses(opt['train'].get('losses'), problems)
    _check_combinations(opt, ds, problems)
    if isinstance(opt.get('val'), dict):
        for mname, m in _d(opt['val'].get('metrics')).items():
            if not isinstance(m, dict):
                problems.append(f'val.metrics.{mname}: expected a mapping')
                continue
            opt['val']['metrics'][mname] = _validate(m, METRIC, f'val.metrics.{mname}.', problems)
        if opt['val'] and not ds.get('val'):
            problems.append('datasets.val: required when the val section is set')
    check_across(opt, problems)
    if problems:
        raise OptionsError(source, problems, opt)
    return opt


def _check_combinations(opt, ds, problems):
    """Settings that are fine alone but contradict each other."""
    tr_type = _d(ds.get('train')).get('type')
    if tr_type == 'RealESRGANDataset' and not opt.get('high_order_degradation'):
        problems.append('high_order_degradation: false needs LQ images: use datasets.train.type PairedImageDataset')
    if tr_type == 'PairedImageDataset' and opt.get('high_order_degradation'):
        problems.append('high_order_degradation: true degrades HR images on the fly: use datasets.train.type '
                        'RealESRGANDataset, or set high_order_degradation: false for paired data')
    train = _d(opt.get('train'))
    if any(p.startswith('train.losses:') for p in problems):
        return  # the list itself is wrong: its line says so
    entries = train.get('losses') if isinstance(train.get('losses'), list) else []
    wanted = targets(e for e in entries if isinstance(e, dict))
    if opt.get('model_type') == 'RealESRGANModel':
        if not opt.get('network_d'):
            problems.append('network_d: required for model_type RealESRGANModel')
        if sum(1 for e in entries if isinstance(e, dict) and e.get('target') == 'gan') != 1:
            problems.append('train.losses: model_type RealESRGANModel needs one loss with target gan '
                            '(train.gan_opt in the official files)')
    elif 'gan' in wanted:
        problems.append('train.losses: a gan target needs model_type RealESRGANModel (a discriminator)')
    if opt.get('model_type') == 'RealESRNetModel' and not entries:
        problems.append('train.losses: RealESRNetModel needs at least one loss (train.pixel_opt in the official '
                        'files)')
    own = targets(e for e in entries if isinstance(e, dict) and not e.get('from'))  # the official ones: compat
    if 'teacher' in own and not (train.get('teacher') or _d(opt.get('path')).get('pretrain_network_g')):
        problems.append('train.losses: a teacher target needs path.pretrain_network_g or train.teacher (the frozen '
                        'model whose output the term compares with)')
    _check_datasets(entries, ds, problems)
    if train.get('gan_real') == 'teacher' and not (opt.get('model_type') == 'RealESRGANModel'
                                                  and 'teacher' in wanted):
        problems.append('train.gan_real: teacher needs model_type RealESRGANModel and a loss with target teacher '
                        '(train.anchor_opt in the official spelling; its teacher gives the real samples)')
    if not entries:
        problems.append('train: no loss configured (train.losses, or pixel_opt, perceptual_opt, gan_opt)')
    _check_pair_losses(entries, _d(ds.get('real_pairs')).get('losses'), problems)


def _check_datasets(entries, ds, problems):
    """A loss that needs a source (``dataset`` of its registry entry) needs ``datasets.<key>`` set, and a source
    set that only such losses read (not a target's optional one, nor the real pairs) needs one of them."""
    from realesrgan_paddle.loss.registry import LOSS_REGISTRY, needing

    kinds = [(i, LOSS_REGISTRY.get(e.get('type'))) for i, e in enumerate(entries) if isinstance(e, dict)]
    for key in sorted({c.LOSS_DATASET for c in LOSS_REGISTRY.values() if getattr(c, 'LOSS_DATASET', None)}):
        users = [i for i, c in kinds if c is not None and c.LOSS_DATASET == key]
        if users and not ds.get(key):
            problems.append(f'{where(entries, users[0])}: a {entries[users[0]]["type"]} needs datasets.{key} '
                            f'({about(key)})')
        if ds.get(key) and not users and not _slot_problem(key, problems):
            problems.append(f'datasets.{key}: no loss reads it (one of {", ".join(needing(key))})')


def _slot_problem(key, problems):
    """Whether an official ``train.<slot>`` section of a loss that reads ``datasets.<key>`` already has its line (a
    bad section is not a missing loss: one line, naming the section)."""
    from realesrgan_paddle.loss.registry import LOSS_REGISTRY
    slots = [s for s, (types, _, _) in basicsr_compat.SLOTS.items()
             if any(getattr(LOSS_REGISTRY.get(t), 'LOSS_DATASET', None) == key for t in types)]
    return any(p.startswith(f'train.{s}') for s in slots for p in problems)


def _check_pair_losses(entries, names, problems):
    usable = [e['name'] for e in entries if isinstance(e, dict) and pair_usable(e)]
    for name in names or []:
        if name not in usable:
            problems.append(f'datasets.real_pairs.losses: {name!r} is not a configured loss the pairs can go through '
                            f'(configured: {", ".join(usable) or "none"})')


def load_options(yml_path, overrides=(), warnings=None):
    """Read, override and validate; raises OptionsError (with every problem) or FileNotFoundError.

    Keys that have no effect here (BasicSR's ``num_gpu``, ``dist_params``...) are
    appended to ``warnings`` when it is a list, else printed, one line each.
    """
    p = Path(yml_path)
    if not p.is_file():
        why = ('a folder, not an options file' if p.is_dir() else 'not a regular file (a device, a FIFO or a socket), '
               'not an options file' if p.exists() else 'file not found')
        raise OptionsError(str(yml_path), [why])
    try:
        raw = safe_load_bounded(p.read_text(encoding='utf-8')) or {}
    except UnicodeDecodeError:
        raise OptionsError(str(yml_path), ['not a YAML text file (binary content)']) from None
    except OSError as exc:
        raise OptionsError(str(yml_path), [f'cannot read it ({exc.strerror or exc})']) from None
    except yaml.YAMLError as exc:
        raise OptionsError(str(yml_path), [f'not valid YAML ({str(exc).splitlines()[0]})']) from None
    if not isinstance(raw, dict):
        raise OptionsError(str(yml_path), [f'top level must be a mapping of options, got a {type(raw).__name__}'])
    try:
        apply_overrides(raw, overrides)
    except ValueError as exc:
        raise OptionsError(str(yml_path), [str(exc)]) from None
    notes = [] if warnings is None else warnings
    opt = validate_options(raw, str(yml_path), notes)
    if warnings is None:
        for line in notes:
            print(f'warning: {yml_path}: {line}', file=sys.stderr)
    return opt


def dump_options(opt):
    return yaml.safe_dump(opt, sort_keys=False)
