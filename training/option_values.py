"""Value ranges, choices and paths of the training options, checked once the types are right
(``training.options``).

A zero batch, a negative crop or a NaN learning rate is reported with its key path before
anything is built, instead of surfacing later as an internal Paddle error.
"""

# key path -> (lowest, highest), None = unbounded; 'datasets.*' is every dataset section
RANGES = {
    'scale': (1, 8), 'gt_size': (1, None), 'queue_size': (0, None), 'manual_seed': (0, None),
    'datasets.*.batch_size_per_gpu': (1, None), 'datasets.*.num_worker_per_gpu': (0, 64),
    'datasets.*.dataset_enlarge_ratio': (1, None), 'datasets.*.gt_size': (1, None),
    'datasets.*.crop_pad_size': (1, None), 'datasets.*.scale': (1, 8),
    'train.total_iter': (1, 10 ** 9), 'train.ema_decay': (0, 1), 'train.net_d_iters': (1, None),
    'train.net_d_init_iters': (0, None), 'train.nan_max_consecutive': (1, None), 'train.grad_clip': (0, None),
    'train.optim_g.lr': (0, None), 'train.optim_d.lr': (0, None), 'train.scheduler.gamma': (0, None),
    'val.val_freq': (1, None), 'val.max_images': (1, None),
    'logger.print_freq': (1, None), 'logger.save_checkpoint_freq': (0, None), 'logger.keep_last': (0, None),
    # network sizes: 16x the published models (64 features, 23 RRDB blocks, 32 SRVGG convs, 32 growth
    # channels); num_feat 100000 reached Paddle's allocator as a C++ error wall
    'network_g.num_feat': (1, 1024), 'network_g.num_block': (1, 368), 'network_g.num_conv': (1, 512),
    'network_g.num_grow_ch': (1, 512), 'network_d.num_feat': (1, 1024),
}

# key path -> the values training takes where the constructor takes more (a loss must give one number)
CHOICES = {'train.*.reduction': ('mean', 'sum')}
# key path -> what must exist on disk when the key is set (for a list: every item)
EXISTS = {'datasets.*.dataroot_gt': 'dir', 'datasets.*.dataroot_lq': 'dir', 'datasets.*.meta_info': 'file'}


def walk(node, parts, path=''):
    """``(key path, value)`` of every key matching ``parts`` ('*' matches any key) below ``node``."""
    if not parts:
        yield path, node
        return
    if not isinstance(node, dict):
        return
    for k in [k for k in node if parts[0] == '*' or k == parts[0]]:
        yield from walk(node[k], parts[1:], f'{path}.{k}' if path else str(k))


def check_ranges(opt, problems):
    """Append a problem (with its key path) for every number outside its range in ``RANGES``."""
    for spec, (lo, hi) in RANGES.items():
        for path, v in walk(opt, spec.split('.'), ''):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue  # unset, or its type is reported already
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                want = f'>= {lo}' if hi is None else f'between {lo} and {hi}'
                problems.append(f'{path}: must be {want}, got {v!r}')
    for spec, allowed in CHOICES.items():
        for path, v in walk(opt, spec.split('.'), ''):
            if v is not None and v not in allowed:
                problems.append(f'{path}: {v!r} is not one of {list(allowed)}')
    check_name(opt.get('name'), problems)
    scale = opt.get('scale')
    sizes = list(walk(opt, ['gt_size'], '')) + list(walk(opt, ['datasets', '*', 'gt_size'], ''))
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


def check_paths(opt, problems):
    """Append ``key: dir not found: X`` for every path in ``EXISTS`` that is set but absent."""
    from pathlib import Path
    for spec, kind in EXISTS.items():
        for path, v in walk(opt, spec.split('.'), ''):
            for item in (v if isinstance(v, (list, tuple)) else [] if v is None else [v]):
                if not Path(str(item)).exists():
                    problems.append(f'{path}: {kind} not found: {item}')
