"""What training adds to the options it reads from constructors (``training.schema``), and the checks
that involve more than one option.

A zero batch, a negative crop or a NaN learning rate is reported with its key path before anything
is built, instead of surfacing later as an internal Paddle error. The trainer's own settings carry
their limits in their ``Field`` (``training.option_file.SCHEMA``), the loader keys in
``training.loader_options``.
"""
from .fields import Field

# kind of ``type:`` section -> {constructor option: the range, choices or path training requires}
LIMITS = {
    # network sizes are the networks' own (``models.specs.ArchSpec.bounds`` and ``GENERIC_BOUNDS``), checked by
    # ``schema.validate`` for every network section, and by every path that reads weights or builds a network
    'dataset': {'crop_pad_size': Field(min=1), 'scale': Field(min=1, max=8),
                'dataroot_gt': Field(exists='dir'), 'dataroot_lq': Field(exists='dir'),
                'meta_info': Field(exists='file')},
    'loss': {'reduction': Field(choices=('mean', 'sum'))},  # a loss must give one number
    'optimizer': {'lr': Field(min=0)},
    'scheduler': {'gamma': Field(min=0)},
}


def walk(node, parts, path=''):
    """``(key path, value)`` of every key matching ``parts`` ('*' matches any key) below ``node``."""
    if not parts:
        yield path, node
        return
    if not isinstance(node, dict):
        return
    for k in [k for k in node if parts[0] == '*' or k == parts[0]]:
        yield from walk(node[k], parts[1:], f'{path}.{k}' if path else str(k))


def check_across(opt, problems):
    """The checks of one option against another: the experiment name, crops that are multiples of the scale."""
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
