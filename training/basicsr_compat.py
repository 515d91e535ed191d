"""Official Real-ESRGAN / BasicSR option files, read unchanged.

``normalize(raw)`` rewrites the BasicSR spellings into this project's layout
before validation and returns one warning per key that has no effect here:

* the degradation keys BasicSR keeps at the top level (``resize_prob``,
  ``noise_range``, ``jpeg_range2``, ...) move under ``degradation:``;
* RealESRNet's ``gt_usm`` becomes ``l1_gt_usm``;
* the dataset type ``RealESRGANPairedDataset`` is ``PairedImageDataset`` here;
* the ``train.<slot>`` loss sections (``pixel_opt``, ``perceptual_opt``, ``gan_opt`` and this project's older
  ``*_opt``) become ``train.losses`` entries (``losses_from_slots``), and an ``-o train.<slot>...`` on options that
  carry that slot's entry by name goes to the entry (``slot_override``: the templates and recipes write entries);
* the keys in ``IGNORED`` (``num_gpu``, ``dist_params``, ``logger.wandb``, the loader keys
  ``io_backend`` (disk), ``prefetch_mode``, ``pin_memory``, ``persistent_workers``, ...) are
  dropped with one warning line each, naming the key path, in any options file.

Everything else goes through the normal validation, so a truly unknown key is
still an error with its key path.
"""

from .loss_list import entry_names
from .schema import validate

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


def force_yml_overrides(entries):
    """BasicSR's ``--force_yml a:b=v`` entries as ``-o a.b=v`` overrides (':' or '.' between keys)."""
    out = []
    for text in entries or ():
        key, sep, value = text.partition('=')
        out.append(key.replace(':', '.') + sep + value)
    return out


def _pop_ignored(raw, spec, problems, warnings):
    """Drop every key matching ``spec`` ('*' = any dataset phase) with one warning line each."""
    *parents, last = spec.split('.')
    nodes = [([], raw)]
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


def normalize(raw, degradation_keys, problems, warnings):
    """Rewrite BasicSR spellings of ``raw`` in place; append problems and warnings (one line each)."""
    if not isinstance(raw, dict):
        return raw
    for old, new in USM_ALIASES.items():
        if old in raw:
            value = raw.pop(old)
            if raw.get(new) is None:
                raw[new] = value
            elif raw[new] != value:
                problems.append(f'{old}: contradicts {new} ({value!r} vs {raw[new]!r})')
    top = [k for k in raw if k in (degradation_keys or ()) and k not in ('l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm')]
    if top:
        deg = raw.get('degradation')
        if deg is None:
            deg = raw['degradation'] = {}
        if isinstance(deg, dict):
            for k in top:
                value = raw.pop(k)
                if k in deg and deg[k] != value:
                    problems.append(f'{k}: set both at the top level and in degradation ({value!r} vs {deg[k]!r})')
                deg[k] = value
    for spec in IGNORED:
        _pop_ignored(raw, spec, problems, warnings)
    datasets = raw.get('datasets')
    for ds in (datasets.values() if isinstance(datasets, dict) else ()):
        if isinstance(ds, dict) and ds.get('type') in DATASET_ALIASES:
            ds['type'] = DATASET_ALIASES[ds['type']]
    return raw


# ------------------------------------------------------------------------------------ losses
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


def _slot_entries(slot, cfg, opt):
    """The ``train.losses`` entries of one validated slot section."""
    types, name, target = SLOTS[slot]
    rest = {k: v for k, v in cfg.items() if k not in ('type', 'loss_weight')}
    if target.endswith('_usm'):
        target = 'gt_usm' if opt.get(target) else 'gt'
    return [{'type': cfg['type'], 'weight': float(cfg.get('loss_weight', 1.0)), 'target': target, 'name': name,
             **rest}]


def losses_from_slots(opt, problems):
    """Move the ``train.<slot>`` sections of ``opt`` (validated from their constructors, with their key paths) onto
    ``train.losses``, after the entries it already has; ``datasets.real_pairs.losses`` naming slots is rewritten to
    the entries' names (left out: the pixel and detail slots, the old default). Run after the usm flags are set."""
    train = opt.get('train') if isinstance(opt.get('train'), dict) else {}
    pairs = (opt.get('datasets') or {}).get('real_pairs') if isinstance(opt.get('datasets'), dict) else None
    entries, names = list(train.get('losses') or []), _listed_names(train.get('losses'))
    made_any = False
    gan = opt.get('model_type') == 'RealESRGANModel'
    _slot_pairings(opt, train, problems)
    for slot, (types, _, _) in SLOTS.items():
        cfg = train.pop(slot, None)
        if cfg is None or not isinstance(cfg, dict) or (slot in GAN_ONLY and not gan):
            continue  # not a mapping: the options' schema has its line (training/option_file.py)
        cfg = validate('loss', cfg, f'train.{slot}', problems, types=types, default_type=types[0])
        if not isinstance(cfg, dict) or cfg.get('type') not in types or any(p.startswith(f'train.{slot}')
                                                                            for p in problems):
            continue
        made = [{**e, 'from': f'train.{slot}'} for e in _slot_entries(slot, cfg, opt)]
        names[slot] = [n for e in made for n in _part_names(e)]
        entries.extend(made)
        made_any = True
    if entries or 'losses' in train:
        train['losses'] = entries
    if isinstance(pairs, dict) and (made_any or isinstance(pairs.get('losses'), list)):
        _pair_names(pairs, names)
    return opt


def _slot_pairings(opt, train, problems):
    """The official spelling's own checks, named by its keys (the entries' checks skip entries made here)."""
    path = opt.get('path') if isinstance(opt.get('path'), dict) else {}
    if train.get('anchor_opt') and not (train.get('teacher') or path.get('pretrain_network_g')):
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


def _part_names(entry):
    """The log names an entry's terms get: its own, or a composite's parts' (``entry``: its options filled)."""
    from realesrgan_paddle.loss import LOSSES
    cls = LOSSES[entry['type']]
    if not hasattr(cls, 'parts'):
        return [entry['name']]
    return [p['name'] for p in cls.parts(entry, entry.get('weight', 1.0), entry['name'])]


def _listed_names(entries):
    """``{slot: its term names}`` of the ``train.losses`` entries named after a slot (a template's ``l_g_pix``), so
    that ``datasets.real_pairs.losses`` may name them by slot."""
    out = {}
    if not isinstance(entries, list):
        return out
    for slot, (_, name, _) in SLOTS.items():
        e = next((e for e, n in zip(entries, entry_names(entries)) if n == name), None)
        cfg = validate('loss', {k: v for k, v in e.items() if k not in ('weight', 'target', 'name', 'from')}, '',
                       []) if isinstance(e, dict) else None
        if isinstance(cfg, dict) and cfg.get('type') in SLOTS[slot][0]:
            out[slot] = _part_names({**cfg, 'name': name, 'weight': e.get('weight', 1.0)})
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


def flag_targets(entries, flags):
    """``-o`` overrides that give the ``train.losses`` entries named after a slot the official usm ``flags`` govern
    (``{'l1_gt_usm': False, ...}``: the pixel and LDL terms, the perceptual term) the target the flag picks, as
    the slot would have had (a fitted degradation turns the sharpened GT off)."""
    governed = {name: flag for _, name, flag in SLOTS.values() if flag in flags}
    return [f'train.losses.{n}.target={"gt_usm" if flags[governed[n]] else "gt"}'
            for n in entry_names(entries) if n in governed]
