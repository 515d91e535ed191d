"""The options file: YAML in the BasicSR layout, ``-o key.sub=value`` overrides, the BasicSR spellings, the trainer's
own settings and the checks across sections.

``load_options`` returns a plain dict with defaults filled in, or raises ``OptionsError`` listing every problem
with its key path (unknown keys, wrong types, missing files) before anything is built or trained.

The trainer's own settings are the ``SCHEMA`` below: each a ``training.schema.Field`` holding its kind, default,
range, choices and path check. The ``type:`` sections (networks, datasets, scheduler, optimisers) have no schema
here: ``training.schema`` derives theirs from the constructors, and the trainer builds them through the same
``schema.build``; ``train.losses`` (and the official ``*_opt`` loss sections) is ``training.loss_terms``'s.

Official Real-ESRGAN / BasicSR files are read unchanged: ``basicsr_spellings`` rewrites their spellings into this
project's layout before the check and returns one warning per key that has no effect here:

* the degradation keys BasicSR keeps at the top level (``resize_prob``, ``noise_range``, ``jpeg_range2``, ...) move
  under ``degradation:``;
* RealESRNet's ``gt_usm`` becomes ``l1_gt_usm``;
* the dataset type ``RealESRGANPairedDataset`` is ``PairedImageDataset`` here;
* the keys in ``IGNORED`` (``num_gpu``, ``dist_params``, ``logger.wandb``, the loader keys ``io_backend`` (disk),
  ``prefetch_mode``, ``pin_memory``, ``persistent_workers``, ...) are dropped with one warning line each, naming
  the key path, in any options file;
* the ``train.<slot>`` loss sections become ``train.losses`` entries (``training.loss_terms.losses_from_slots``).

Everything else goes through the normal check, so a truly unknown key is still an error with its key path.
"""
import copy
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from realesrgan_paddle.utils.yaml_bounded import YAMLTooLarge, safe_load_bounded

from .loss_terms import SLOTS, check_losses, dataset_fields, entry_names, read_losses, slot_override
from .schema import GT_SIZE, Field as F, check_field, coerce_number  # F: the one field type, short for the tables
from .schema import validate as validate_section


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
        # the extra sources (real_lq, real_lq_pairs, real_pairs, ...): training/loss_terms.py, added by _schema()
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
        # the loss terms (training/loss_terms.py); the official *_opt sections are mapped onto it
        'losses': F('list', None),
        **{k: F('dict', None, free=True) for k in SLOTS},
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
    key, written = text.split('=', 1)
    parts = [p for p in key.strip().split('.')]
    if not all(parts):
        raise ValueError(f'override {text!r}: empty key part')
    try:
        value = safe_load_bounded(written) if written.strip() else ''
    except YAMLTooLarge as exc:
        raise ValueError(f'override {key.strip()}: {exc}') from None
    except yaml.YAMLError:
        value = written
    return parts, coerce_number(value)


def apply_overrides(opt, overrides):
    """Set each ``a.b.c=value`` in ``opt`` (``=~`` unsets). In a list of named mappings (``train.losses``) a key
    part names an entry: ``train.losses.l_g_pix.weight=0.5`` sets that entry's weight, ``train.losses.l_g_fft={type:
    FFTAmplitudeLoss}`` adds or replaces one, ``train.losses.l_g_fft=~`` removes it. An official ``train.<slot>...``
    key goes to the entry of its name when the options carry one (``loss_terms.slot_override``)."""
    for text in overrides or ():
        parts, value = slot_override(opt, *parse_override(text))
        node = _parent(opt, parts)
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
        elif parts[1] in SLOTS:
            given = value.get('type') if isinstance(value, dict) and len(parts) == 2 else None
            types = [given or SLOTS[parts[1]][0][0]]
        else:
            continue
        if any(getattr(LOSSES.get(t) if isinstance(t, str) else None, 'LOSS_DATASET', None) == key for t in types):
            return True
    return False


def _named(losses, name):
    """The index of the entry named ``name`` in a list of named mappings (``train.losses``), or None."""
    return next((i for i, n in enumerate(entry_names(losses)) if n == name), None)


def _parent(opt, parts):
    """The mapping (or list of named mappings) of ``opt`` that holds key ``parts[-1]``; the ones on the way are made
    when missing (in a list, an entry of that name)."""
    node = opt
    for p in parts[:-1]:
        if isinstance(node, list):
            i = _named(node, p)
            if i is None:
                node.append({'name': p})
                i = len(node) - 1
            node = node[i]
            continue
        if not isinstance(node.get(p), (dict, list)):
            node[p] = {}
        node = node[p]
    return node


def _set_named(losses, name, value):
    i = _named(losses, name)
    if value is None:
        if i is not None:
            del losses[i]
        return
    section = {**value, 'name': name} if isinstance(value, dict) else value
    if i is None:
        losses.append(section)
    else:
        losses[i] = section


# ------------------------------------------------------------------------------------------- BasicSR spellings
# key path ('*' = any dataset phase) -> why it has no effect here
IGNORED = {
    'num_gpu': 'the device comes from `device` (auto, cpu or gpu) and the process count from '
               'python -m paddle.distributed.launch',
    'dist_params': 'multi-process settings come from python -m paddle.distributed.launch',
    'logger.wandb': 'no Weights & Biases logging; curves go to VisualDL (logger.use_tb_logger)',
    'datasets.*.io_backend': 'images are always read from disk',
    'datasets.*.prefetch_mode': 'batches are prepared by paddle.io.DataLoader',
    'datasets.*.pin_memory': 'paddle.io.DataLoader manages its own memory',
    'datasets.*.persistent_workers': 'paddle.io.DataLoader starts its workers once per run',
    'dist.backend': 'python -m paddle.distributed.launch picks the communication backend',
}
DATASET_ALIASES = {'RealESRGANPairedDataset': 'PairedImageDataset'}
USM_ALIASES = {'gt_usm': 'l1_gt_usm'}  # RealESRNetModel sharpens the GT of its only (L1) loss
USM_FLAGS = ('l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm')


def force_yml_overrides(entries):
    """BasicSR's ``--force_yml a:b=v`` entries as ``-o a.b=v`` overrides (':' or '.' between keys)."""
    out = []
    for text in entries or ():
        key, sep, value = text.partition('=')
        out.append(key.replace(':', '.') + sep + value)
    return out


def _pop_ignored(opt, spec, problems, warnings):
    """Drop every key matching ``spec`` ('*' = any dataset phase) with one warning line each."""
    *parents, last = spec.split('.')
    nodes = [([], opt)]
    for part in parents:
        nodes = [(path + [k], v) for path, node in nodes if isinstance(node, dict)
                 for k, v in node.items() if part in ('*', k)]
    for path, node in nodes:
        if not isinstance(node, dict) or last not in node:
            continue
        where = '.'.join(path + [last])
        value = node.pop(last)
        if last == 'io_backend':
            kind = value.get('type', 'disk') if isinstance(value, dict) else value
            if kind != 'disk':
                problems.append(f'{where}.type: {kind!r} is not supported (only disk: point dataroot_gt to a folder)')
                continue
        warnings.append(f'{where}: has no effect here; {IGNORED[spec]}')


def official_spellings(opt, problems, warnings):
    """Rewrite the BasicSR spellings of ``opt`` in place (the module's docstring); append problems and warnings (one
    line each)."""
    for old, new in USM_ALIASES.items():
        if old in opt:
            value = opt.pop(old)
            if opt.get(new) is None:
                opt[new] = value
            elif opt[new] != value:
                problems.append(f'{old}: contradicts {new} ({value!r} vs {opt[new]!r})')
    keys = degradation_keys()
    top = [k for k in opt if k in keys and k not in USM_FLAGS]
    if top:
        deg = opt.get('degradation')
        if deg is None:
            deg = opt['degradation'] = {}
        if isinstance(deg, dict):
            for k in top:
                value = opt.pop(k)
                if k in deg and deg[k] != value:
                    problems.append(f'{k}: set both at the top level and in degradation ({value!r} vs {deg[k]!r})')
                deg[k] = value
    for spec in IGNORED:
        _pop_ignored(opt, spec, problems, warnings)
    datasets = opt.get('datasets')
    for ds in (datasets.values() if isinstance(datasets, dict) else ()):
        if isinstance(ds, dict) and ds.get('type') in DATASET_ALIASES:
            ds['type'] = DATASET_ALIASES[ds['type']]
    return opt


# -------------------------------------------------------------------------------------------------- the check
def _check_tree(opt, schema, prefix, problems):
    """``opt`` (the options, or one of their mappings at key path ``prefix``) checked against ``schema``."""
    out = {}
    for key in opt:
        if key not in schema:
            problems.append(f'{prefix}{key}: unknown key (valid: {", ".join(sorted(schema))})')
    for key, field in schema.items():
        path = f'{prefix}{key}'
        if key not in opt or opt[key] is None:
            if field.required:
                problems.append(f'{path}: missing required key')
            out[key] = copy.deepcopy(field.default)
            if field.children is not None and isinstance(out[key], dict):
                out[key] = _check_tree(out[key], field.children, path + '.', problems)
            continue
        value = check_field(field, opt[key], path, problems)
        if field.children is not None and isinstance(value, dict):
            value = _check_tree(value, field.children, path + '.', problems)
        out[key] = value
    return out


def _check_typed(opt, problems):
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


def _check_dataset_kernels(section, where, problems):
    """Values of the degradation keys a dataset section sets (the dataset samples its kernels)."""
    keys = degradation_keys()
    deg = {k: v for k, v in section.items() if k in keys}
    if isinstance(section.get('degradation'), dict):
        deg.update(section['degradation'])
    try:
        _degradation().resolve_options(deg)
    except ValueError as exc:
        problems.append(f'{where}: {exc}')


def _degradation():
    """``data.degrade.second_order``: the degradation's keys and their check (it loads Paddle, so it is imported when
    an options file is checked, not with this module: ``train.py --help`` comes before Paddle)."""
    from realesrgan_paddle.data.degrade import second_order
    return second_order


def degradation_keys():
    return set(_degradation().DEFAULT_DEGRADATION)


def _resolve_usm_flags(opt, problems):
    keys, deg = degradation_keys(), _d(opt.get('degradation'))
    try:
        resolved = _degradation().resolve_options({k: v for k, v in deg.items() if k in keys})
    except ValueError as exc:
        problems.append(f'degradation: {exc}')
        resolved = {'l1_gt_usm': True, 'percep_gt_usm': True, 'gan_gt_usm': False}
    for k in USM_FLAGS:
        if opt.get(k) is None:
            opt[k] = bool(resolved[k])


def _schema():
    """``SCHEMA`` with the ``datasets.<key>`` section of every registered source (training/loss_terms.py)."""
    ds = SCHEMA['datasets']
    return {**SCHEMA, 'datasets': replace(ds, children={**ds.children, **dataset_fields()})}


def _d(mapping):
    """``mapping`` when it is one, else {} (its type error is already reported)."""
    return mapping if isinstance(mapping, dict) else {}


def validate_options(opt, source='options', warnings=None):
    """The checked options with defaults (a new mapping: ``opt`` is left as it is); BasicSR-only keys add a line to
    ``warnings`` (a list)."""
    problems = []
    if not isinstance(opt, dict):
        raise OptionsError(source, [f'top level must be a mapping, got {type(opt).__name__}'])
    opt = official_spellings(copy.deepcopy(opt), problems, warnings if warnings is not None else [])
    opt = _check_tree(opt, _schema(), '', problems)
    _check_typed(opt, problems)
    deg_keys = degradation_keys()
    if isinstance(opt.get('degradation'), dict):
        for k in opt['degradation']:
            if k not in deg_keys:
                problems.append(f'degradation.{k}: unknown key (valid: {", ".join(sorted(deg_keys))})')
    _resolve_usm_flags(opt, problems)
    read_losses(opt, problems)
    _check_data_kind(opt, problems)
    check_losses(opt, problems)
    _check_metrics(opt, problems)
    check_across(opt, problems)
    if problems:
        raise OptionsError(source, problems, opt)
    return opt


def _check_data_kind(opt, problems):
    """The training dataset's kind against ``high_order_degradation``: fine alone, contradicting each other."""
    kind = _d(_d(opt.get('datasets')).get('train')).get('type')
    if kind == 'RealESRGANDataset' and not opt.get('high_order_degradation'):
        problems.append('high_order_degradation: false needs LQ images: use datasets.train.type PairedImageDataset')
    if kind == 'PairedImageDataset' and opt.get('high_order_degradation'):
        problems.append('high_order_degradation: true degrades HR images on the fly: use datasets.train.type '
                        'RealESRGANDataset, or set high_order_degradation: false for paired data')


def _check_metrics(opt, problems):
    if not isinstance(opt.get('val'), dict):
        return
    for mname, m in _d(opt['val'].get('metrics')).items():
        if not isinstance(m, dict):
            problems.append(f'val.metrics.{mname}: expected a mapping')
            continue
        opt['val']['metrics'][mname] = _check_tree(m, METRIC, f'val.metrics.{mname}.', problems)
    if opt['val'] and not _d(opt.get('datasets')).get('val'):
        problems.append('datasets.val: required when the val section is set')


def check_across(opt, problems):
    """The checks of one option against another: the experiment name, crops that are multiples of the scale."""
    check_name(opt.get('name'), problems)
    scale = opt.get('scale')
    sizes = [('gt_size', opt['gt_size'])] if 'gt_size' in opt else []
    sizes += [(f'datasets.{k}.gt_size', ds['gt_size']) for k, ds in _d(opt.get('datasets')).items()
              if isinstance(ds, dict) and 'gt_size' in ds]
    for path, v in sizes:
        if isinstance(v, int) and isinstance(scale, int) and scale > 0 and v > 0 and v % scale:
            problems.append(f'{path}: must be a multiple of scale {scale}, got {v}')


def check_name(name, problems):
    """The experiment ``name`` is one folder name under ``experiments_root``: no separator, no '..', no
    control character (``name: ../../x`` made folders outside it)."""
    if not isinstance(name, str):
        return  # missing or of the wrong type: reported already
    if (not name.strip() or name in ('.', '..') or any(c in name for c in '/\\')
            or any(ord(c) < 32 for c in name)):
        problems.append(f'name: must be one folder name (no /, \\, .. or control characters), got {name[:80]!r}')


# -------------------------------------------------------------------------------------------------- the file
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
        opt = safe_load_bounded(p.read_text(encoding='utf-8')) or {}
    except UnicodeDecodeError:
        raise OptionsError(str(yml_path), ['not a YAML text file (binary content)']) from None
    except OSError as exc:
        raise OptionsError(str(yml_path), [f'cannot read it ({exc.strerror or exc})']) from None
    except yaml.YAMLError as exc:
        raise OptionsError(str(yml_path), [f'not valid YAML ({str(exc).splitlines()[0]})']) from None
    if not isinstance(opt, dict):
        raise OptionsError(str(yml_path), [f'top level must be a mapping of options, got a {type(opt).__name__}'])
    try:
        apply_overrides(opt, overrides)
    except ValueError as exc:
        raise OptionsError(str(yml_path), [str(exc)]) from None
    notes = [] if warnings is None else warnings
    opt = validate_options(opt, str(yml_path), notes)
    if warnings is None:
        for line in notes:
            print(f'warning: {yml_path}: {line}', file=sys.stderr)
    return opt


def dump_options(opt):
    return yaml.safe_dump(opt, sort_keys=False)
