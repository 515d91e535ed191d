"""Official Real-ESRGAN / BasicSR option files, read unchanged.

``normalize(raw)`` rewrites the BasicSR spellings into this project's layout
before validation and returns one warning per key that has no effect here:

* the degradation keys BasicSR keeps at the top level (``resize_prob``,
  ``noise_range``, ``jpeg_range2``, ...) move under ``degradation:``;
* RealESRNet's ``gt_usm`` becomes ``l1_gt_usm``;
* the dataset type ``RealESRGANPairedDataset`` is ``PairedImageDataset`` here;
* the keys in ``IGNORED`` (``num_gpu``, ``dist_params``, ``logger.wandb``, the loader keys
  ``io_backend`` (disk), ``prefetch_mode``, ``pin_memory``, ``persistent_workers``, ...) are
  dropped with one warning line each, naming the key path, in any options file.

Everything else goes through the normal validation, so a truly unknown key is
still an error with its key path.
"""

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
