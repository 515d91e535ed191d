"""Options: YAML in the BasicSR layout, ``-o key.sub=value`` overrides, and validation.

``load_options`` returns a plain dict with defaults filled in, or raises
``OptionsError`` listing every problem with its key path (unknown keys, wrong
types, missing files) before anything is built or trained.
"""
import copy
import math
import sys
from pathlib import Path

import yaml

from data import LOADER_KEYS  # the package itself imports nothing

from . import basicsr_compat


class OptionsError(ValueError):
    def __init__(self, source, problems):
        self.problems = list(problems)
        super().__init__(f'{source}: ' + '; '.join(self.problems))


class F:
    """One option field: accepted kind, default, and checks."""

    def __init__(self, kind, default=None, required=False, choices=None, exists=None, children=None, free=False):
        self.kind = kind          # 'int', 'float', 'bool', 'str', 'list', 'dict', 'any', 'num_or_str'
        self.default = default
        self.required = required
        self.choices = choices
        self.exists = exists      # 'file', 'dir', 'path' (file or dir) checked when set
        self.children = children  # schema for dict fields
        self.free = free          # dict without fixed keys


def _loss_schema(type_default, extra):
    base = {'type': F('str', type_default), 'loss_weight': F('float', 1.0), 'reduction': F('str', 'mean',
                                                                                             choices=('mean', 'sum'))}
    base.update(extra)
    return base


PIXEL = _loss_schema('L1Loss', {})
PERCEPTUAL = {
    'type': F('str', 'PerceptualLoss', choices=('PerceptualLoss',)),
    'layer_weights': F('dict', free=True),
    'vgg_type': F('str', 'vgg19', choices=('vgg19',)),
    'vgg_weights': F('str', None),
    'use_input_norm': F('bool', True),
    'range_norm': F('bool', False),
    'perceptual_weight': F('float', 1.0),
    'style_weight': F('float', 0.0),
    'criterion': F('str', 'l1', choices=('l1', 'l2', 'fro')),
}
# detail losses (loss/frequency.py) and LDL artefact weighting (loss/ldl.py); all compare with the plain GT
HF_ENERGY = _loss_schema('HFEnergyLoss', {'type': F('str', 'HFEnergyLoss', choices=('HFEnergyLoss',)),
                                          'window': F('int', 8)})
FFT_AMPLITUDE = _loss_schema('FFTAmplitudeLoss', {'type': F('str', 'FFTAmplitudeLoss', choices=('FFTAmplitudeLoss',))})
LOWPASS_L1 = _loss_schema('LowPassL1Loss', {'type': F('str', 'LowPassL1Loss', choices=('LowPassL1Loss',)),
                                           'sigma': F('float', 1.0)})
GRADIENT = _loss_schema('GradientLoss', {'type': F('str', 'GradientLoss', choices=('GradientLoss',))})
LDL = _loss_schema('LDLLoss', {'type': F('str', 'LDLLoss', choices=('LDLLoss',)), 'window': F('int', 7)})
GAN = {
    'type': F('str', 'GANLoss', choices=('GANLoss',)),
    'gan_type': F('str', 'vanilla', choices=('vanilla', 'lsgan', 'wgan', 'wgan_softplus', 'hinge')),
    'real_label_val': F('float', 1.0),
    'fake_label_val': F('float', 0.0),
    'loss_weight': F('float', 0.1),
}
OPTIM = {'type': F('str', 'Adam', choices=('Adam', 'AdamW')), 'lr': F('float', 1e-4),
         'weight_decay': F('float', 0.0), 'betas': F('list', [0.9, 0.99])}
SCHED = {'type': F('str', 'MultiStepLR', choices=('MultiStepLR',)), 'milestones': F('list', []),
         'gamma': F('float', 0.5)}
METRIC = {'type': F('str', None, choices=('calculate_psnr', 'calculate_ssim', 'psnr', 'ssim', 'detail_ratio')),
          'crop_border': F('int', 4), 'test_y_channel': F('bool', True), 'better': F('str', 'higher')}

DATASET_COMMON = {
    'name': F('str', None), 'type': F('str', None, required=True,
                                      choices=('RealESRGANDataset', 'PairedImageDataset')),
    'dataroot_gt': F('any', None), 'dataroot_lq': F('any', None), 'meta_info': F('any', None),
    'gt_size': F('int', None),
    'use_hflip': F('bool', True), 'use_rot': F('bool', False), 'use_shuffle': F('bool', True),
    'batch_size_per_gpu': F('int', 1), 'num_worker_per_gpu': F('int', 0), 'dataset_enlarge_ratio': F('int', 1),
    'filename_tmpl': F('str', '{}'),
    'phase': F('str', None), 'scale': F('int', None), 'crop_pad_size': F('int', None), 'seed': F('int', None),
    'degradation': F('dict', None, free=True),
}
# keys the loader (not the dataset) reads, with their defaults
LOADER_DEFAULTS = {'batch_size_per_gpu': 1, 'num_worker_per_gpu': 0, 'use_shuffle': True, 'dataset_enlarge_ratio': 1}

SCHEMA = {
    'name': F('str', required=True),
    'model_type': F('str', 'RealESRGANModel', choices=('RealESRNetModel', 'RealESRGANModel')),
    'scale': F('int', 4),
    'device': F('str', 'auto', choices=('auto', 'cpu', 'gpu')),
    'manual_seed': F('int', 0),
    'high_order_degradation': F('bool', True),
    'gt_size': F('int', None),
    'queue_size': F('int', 180),
    # BasicSR places these at the top level; they may also sit in `degradation:` (top level wins)
    'l1_gt_usm': F('bool', None), 'percep_gt_usm': F('bool', None), 'gan_gt_usm': F('bool', None),
    'degradation': F('dict', {}, free=True),
    'datasets': F('dict', required=True, children={
        'train': F('dict', required=True, free=True),
        'val': F('dict', None, free=True),
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
        'ema_decay': F('float', 0.999),
        'optim_g': F('dict', {}, children=OPTIM), 'optim_d': F('dict', {}, children=OPTIM),
        'scheduler': F('dict', {}, children=SCHED),
        'total_iter': F('int', required=True), 'warmup_iter': F('int', -1),
        'pixel_opt': F('dict', None, children=PIXEL),
        'perceptual_opt': F('dict', None, children=PERCEPTUAL),
        'gan_opt': F('dict', None, children=GAN),
        'hf_opt': F('dict', None, children=HF_ENERGY), 'fft_opt': F('dict', None, children=FFT_AMPLITUDE),
        'gradient_opt': F('dict', None, children=GRADIENT), 'ldl_opt': F('dict', None, children=LDL),
        'lowpass_opt': F('dict', None, children=LOWPASS_L1),
        'net_d_iters': F('int', 1), 'net_d_init_iters': F('int', 0),
        'grad_clip': F('float', None), 'use_amp': F('bool', False),
        'nan_max_consecutive': F('int', 5),
    }),
    'val': F('dict', None, children={
        'val_freq': F('int', 5000), 'save_img': F('bool', True), 'suffix': F('str', None),
        'val_at_start': F('bool', False),
        'max_images': F('int', None), 'metrics': F('dict', {}, free=True),
    }),
    'logger': F('dict', {}, children={
        'print_freq': F('int', 100), 'save_checkpoint_freq': F('int', 5000), 'use_tb_logger': F('bool', True),
        'keep_last': F('int', 3),
    }),
    'dist': F('dict', {}, children={'backend': F('str', 'auto'), 'find_unused_parameters': F('bool', False)}),
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
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError:
        value = raw
    return parts, _coerce_number(value)


def _coerce_number(v):
    # PyYAML reads "1e-4" as a string (YAML 1.1); make it a float where it looks like one
    if isinstance(v, str):
        try:
            f = float(v)
            if any(c in v.lower() for c in 'e.') and v.strip().lower() not in ('nan', 'inf', '-inf'):
                return f
        except ValueError:
            pass
    return v


def apply_overrides(opt, overrides):
    for text in overrides or ():
        parts, value = parse_override(text)
        node = opt
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        if value is None:  # key=~ unsets: the default applies
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return opt


def _type_ok(kind, v):
    if kind == 'any':
        return True, v
    if kind == 'int':
        if isinstance(v, float) and v.is_integer():  # BasicSR files write `!!float 5e3` for counts
            return True, int(v)
        return (isinstance(v, int) and not isinstance(v, bool)), v
    if kind == 'float':
        v = _coerce_number(v)
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


def _exists(kind, v):
    if Path(str(v)).exists():
        return True
    if kind == 'model':  # a model-zoo name such as RealESRGAN_x4plus or realesr-animevideov3
        try:
            from models.zoo import get_entry, looks_like_path
            if looks_like_path(v):
                return False
            get_entry(v)
            return True
        except (KeyError, ImportError):
            return False
    return False


def _zoo_hint(key, v):
    """'; the model zoo has NAME ...' when the missing file is named like a zoo model (official option files)."""
    try:
        from models.zoo import get_entry
        entry = get_entry(Path(str(v)).stem)
    except (KeyError, ImportError):
        return ''
    return f'; the model zoo has it: write `{key}: {entry.name}` (fetched into the cache on first use)'


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
        ok, v = _type_ok(field.kind, node[key])
        if not ok:
            problems.append(f'{path}: expected {field.kind}, got {type(node[key]).__name__} {node[key]!r}')
            out[key] = node[key]
            continue
        if field.kind == 'float' and not math.isfinite(v):
            problems.append(f'{path}: expected a finite number, got {node[key]!r}')
        if field.choices and v not in field.choices:
            problems.append(f'{path}: {v!r} is not one of {list(field.choices)}')
        if field.exists and not _exists(field.exists, v):
            what = 'file (or model-zoo name)' if field.exists == 'model' else field.exists
            problems.append(f'{path}: {what} not found: {v}' + (_zoo_hint(key, v) if field.exists == 'model' else ''))
        if field.children is not None:
            v = _validate(v, field.children, path + '.', problems)
        out[key] = v
    return out


def _validate_network(arch, path, problems):
    if 'type' not in arch:
        problems.append(f'{path}.type: missing required key')
        return
    import inspect
    try:
        from models import NETWORKS
    except Exception as exc:  # pragma: no cover - models always importable in the repo
        problems.append(f'{path}: cannot import models ({exc})')
        return
    cls = NETWORKS.get(arch['type'])
    if cls is None:
        problems.append(f'{path}.type: unknown network {arch["type"]!r} (known: {sorted(NETWORKS)})')
        return
    params = inspect.signature(cls.__init__).parameters
    for k in arch:
        if k != 'type' and k not in params:
            problems.append(f'{path}.{k}: unknown key for {arch["type"]} (valid: {[p for p in params if p != "self"]})')


def dataset_keys(ds_type):
    """Keys a dataset type accepts (its own plus the loader keys), or None when data/ is absent."""
    try:
        from data import datasets as D
        from data.pipeline import DEFAULT_DEGRADATION
    except ImportError:
        return None
    cls = getattr(D, ds_type, None)
    if cls is None:
        return None
    keys = set(getattr(cls, 'KEYS', ())) | set(LOADER_KEYS)
    if ds_type == 'RealESRGANDataset':
        keys |= set(DEFAULT_DEGRADATION)
    return keys


def _validate_dataset(ds, path, problems, phase):
    """Type-check the keys the user gave; add only the loader defaults the trainer reads."""
    schema = dict(DATASET_COMMON)
    accepted = dataset_keys(ds.get('type')) if isinstance(ds.get('type'), str) else None
    if accepted is not None:
        for k in accepted:
            schema.setdefault(k, F('any', None))
        schema = {k: v for k, v in schema.items() if k in accepted or k == 'type'}
    out = _validate(ds, schema, path + '.', problems)
    out = {k: v for k, v in out.items() if k in ds or k in LOADER_DEFAULTS}
    out['phase'] = phase
    for key, kind in (('dataroot_gt', 'dir'), ('dataroot_lq', 'dir'), ('meta_info', 'file')):
        val = ds.get(key)
        if val is None:
            continue
        for item in (val if isinstance(val, (list, tuple)) else [val]):
            if not Path(str(item)).exists():
                problems.append(f'{path}.{key}: {kind} not found: {item}')
    if ds.get('type') == 'PairedImageDataset' and 'dataroot_lq' not in ds:
        problems.append(f'{path}.dataroot_lq: missing required key for PairedImageDataset')
    if 'dataroot_gt' not in ds:
        problems.append(f'{path}.dataroot_gt: missing required key')
    return out


def degradation_keys():
    try:
        from data.pipeline import DEFAULT_DEGRADATION
        return set(DEFAULT_DEGRADATION)
    except ImportError:
        return None


def _resolve_usm_flags(opt, problems):
    deg = _d(opt.get('degradation'))
    try:
        from data.pipeline import DEFAULT_DEGRADATION, resolve_options
        resolved = resolve_options({k: v for k, v in deg.items() if k in DEFAULT_DEGRADATION})
    except ImportError:
        resolved = {'l1_gt_usm': True, 'percep_gt_usm': True, 'gan_gt_usm': False}
    except ValueError as exc:
        problems.append(f'degradation: {exc}')
        resolved = {'l1_gt_usm': True, 'percep_gt_usm': True, 'gan_gt_usm': False}
    for k in ('l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm'):
        if opt.get(k) is None:
            opt[k] = bool(resolved[k])


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
    opt = _validate(raw, SCHEMA, '', problems)
    for net in ('network_g', 'network_d'):
        if isinstance(opt.get(net), dict):
            _validate_network(opt[net], net, problems)
    ds = _d(opt.get('datasets'))
    for phase in ('train', 'val'):
        if isinstance(ds.get(phase), dict):
            ds[phase] = _validate_dataset(ds[phase], f'datasets.{phase}', problems, phase)
    deg_keys = degradation_keys()
    if deg_keys is not None and isinstance(opt.get('degradation'), dict):
        for k in opt['degradation']:
            if k not in deg_keys:
                problems.append(f'degradation.{k}: unknown key (valid: {", ".join(sorted(deg_keys))})')
    _resolve_usm_flags(opt, problems)
    tr_type = _d(ds.get('train')).get('type')
    if tr_type == 'RealESRGANDataset' and not opt.get('high_order_degradation'):
        problems.append('high_order_degradation: false needs LQ images: use datasets.train.type PairedImageDataset')
    if tr_type == 'PairedImageDataset' and opt.get('high_order_degradation'):
        problems.append('high_order_degradation: true degrades HR images on the fly: use datasets.train.type '
                        'RealESRGANDataset, or set high_order_degradation: false for paired data')
    train = _d(opt.get('train'))
    if opt.get('model_type') == 'RealESRGANModel':
        if not opt.get('network_d'):
            problems.append('network_d: required for model_type RealESRGANModel')
        if not train.get('gan_opt'):
            problems.append('train.gan_opt: required for model_type RealESRGANModel')
    if opt.get('model_type') == 'RealESRNetModel' and not train.get('pixel_opt'):
        problems.append('train.pixel_opt: required for model_type RealESRNetModel')
    if not train.get('pixel_opt') and not train.get('perceptual_opt') and not train.get('gan_opt'):
        problems.append('train: no loss configured (pixel_opt, perceptual_opt, gan_opt)')
    for name in ('optim_g', 'optim_d'):
        betas = _d(train.get(name)).get('betas')
        if isinstance(betas, list) and (len(betas) != 2 or not all(isinstance(b, (int, float)) for b in betas)):
            problems.append(f'train.{name}.betas: expected two numbers, got {betas!r}')
    ms = _d(train.get('scheduler')).get('milestones')
    if isinstance(ms, list) and not all(isinstance(m, int) for m in ms):
        problems.append(f'train.scheduler.milestones: expected a list of ints, got {ms!r}')
    if isinstance(opt.get('val'), dict):
        for mname, m in _d(opt['val'].get('metrics')).items():
            if not isinstance(m, dict):
                problems.append(f'val.metrics.{mname}: expected a mapping')
                continue
            opt['val']['metrics'][mname] = _validate(m, METRIC, f'val.metrics.{mname}.', problems)
        if opt['val'] and not ds.get('val'):
            problems.append('datasets.val: required when the val section is set')
    from .option_values import check_ranges
    check_ranges(opt, problems)
    if problems:
        raise OptionsError(source, problems)
    return opt


def load_options(yml_path, overrides=(), warnings=None):
    """Read, override and validate; raises OptionsError (with every problem) or FileNotFoundError.

    Keys that have no effect here (BasicSR's ``num_gpu``, ``dist_params``...) are
    appended to ``warnings`` when it is a list, else printed, one line each.
    """
    p = Path(yml_path)
    if not p.is_file():
        raise OptionsError(str(yml_path), ['file not found'])
    try:
        raw = yaml.safe_load(p.read_text(encoding='utf-8')) or {}
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
