"""The finetune recipe: a template from ``options/`` picked by the base model and the device,
with the pipeline's paths and schedule filled in, and the user's ``-o`` overrides on top.

| base | device | template |
|---|---|---|
| compact (realesr-animevideov3, any SRVGGNetCompact file) | cpu | finetune_domain_compact_cpu.yml |
| compact | gpu, or cpu with VGG19 and the official netD cached | finetune_domain_compact_gpu.yml |
| x4plus (realesrgan-x4plus, any RRDBNet file) | cpu | finetune_domain_x4plus_lowband_cpu.yml |
| x4plus | gpu, or cpu with VGG19 and the official netD cached | finetune_domain_x4plus_gpu.yml / _cpu.yml |

With ``--lq-videos`` (a degradation fitted to the footage to upscale, ``tools/fit_degradation.py``) the
template's losses get ``FITTED_RECIPE``'s changes on top (measured in docs/degradation_fit.md); without it the
templates are used as they are.

When VGG19 or the official discriminator (``RealESRGAN_x4plus_netD``) is not in the model
cache, the template's perceptual loss is switched off or its discriminator starts from
scratch, and the run says so in one line each.
"""
import copy
import math
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ROOT / 'options'
ZOO_BASES = {'realesr-animevideov3': 'compact', 'realesrgan-x4plus': 'x4plus'}
KIND_OF_ARCH = {'SRVGGNetCompact': 'compact', 'RRDBNet': 'x4plus'}
# template -> ``-o`` overrides used with a fitted degradation (--lq-videos), measured on the demo's real LQ frames
# (docs/degradation_fit.md):
# - a full-band L1 (weight 1): with the fitted degradation nothing else ties the output's finest band to the GT;
#   +0.09 dB PSNR and +0.003 SSIM at the same detail ("Which losses");
# - the texture from the template's teacher (x4plus) as a band L1 (high weight 1) plus its band strength at
#   weight 6 (10 since: below), not 20, and the FFT amplitude term back on: an energy term towards the GT drew a
#   lattice on foliage; with the teacher at these weights, at 450 iterations, +0.19 dB, +0.017 SSIM, NIQE 9.38 ->
#   7.48, no lattice, detail 0.40 -> 0.30 ("Texture without the lattice").
#   The template's chroma term (chroma_weight 20, measured with the generic degradation only) is off here: the
#   band L1 towards x4plus (high_weight 1) already holds the colour of the added band, no fringe was seen on the
#   real frames, and the recipe was measured without it.
# - the generator's EMA over ~100 steps (decay 0.99, the template's 0.95 is ~20): on two splits of the demo (the
#   clips and the reversed clips), at 300 iterations, +0.04 to +0.06 dB on the static street camera (bikes) and on
#   the means at the same NIQE, detail a little lower where there was some to spare; free of CPU ("The PSNR margin").
#   A lower energy weight (3) gains +0.1 dB on bikes but costs NIQE +1.3 there: not taken.
# - the anchor's energy at weight 10, not 6: on the held-out real LQ frames of three cameras alone (bikes with two
#   seeds, box, cup), with the knob's PSNR guard, it meets 17 of the goal's 20 conditions against 15 (bikes' NIQE
#   margin over the base 1.75 -> 2.38 in the weaker seed) for 0.05-0.15 dB on box and cup ("Energy 10 on all four
#   runs"); on the demo's 27 frames, the one command side by side, 27.96 dB / NIQE 6.40 against 28.02 / 6.80
#   ("Energy 10 adopted"). Weight 10 alone, without the guard, exported a point below the base on bikes.
# - the official nearest skip, not the template's bilinear one: on the demo's real LQ frames the one command with
#   the bilinear skip exported 27.86 dB / NIQE 5.86 / BLOCKS 0.81 against 27.96 / 6.40 / 1.95. The fitted frames
#   are mild and the nearest skip's tiles were not visible there, while the 0.1 dB took the export below x4plus +
#   1 dB (docs/gan_cpu.md, "A bilinear skip").
FITTED_RECIPE = {'finetune_domain_compact_cpu.yml': (
    'network_g.skip=nearest', 'train.pixel_opt.loss_weight=1.0', 'train.anchor_opt.high_weight=1.0',
    'train.anchor_opt.energy_weight=10.0', 'train.anchor_opt.chroma_weight=0.0',
    'train.fft_opt={"type": "FFTAmplitudeLoss", "loss_weight": 5.0, "reduction": "mean"}', 'train.ema_decay=0.99')}
# template -> checkpoints saved over the run (default 4, each judged by the evaluate stage). An RRDBNet
# checkpoint costs an export and a Paddle Inference pass over the held-out frames to judge, and the anchored
# x4plus recipe is then blended with the base anyway (pipeline/dni_sweep.py): the middle and the last.
CHECKPOINTS = {'finetune_domain_x4plus_anchor_cpu.yml': 2, 'finetune_domain_x4plus_lowband_cpu.yml': 2}
# template -> the consistency loss (loss/consistency.py) on real LQ frames of --lq-videos with a fitted
# degradation: +0.14 dB PSNR at 300 iterations on the demo, same detail (docs/degradation_fit.md). Its blur
# is the middle of the fitted blur range; ``frames`` LQ frames are taken from the part of the clips the
# evaluation does not hold out.
FITTED_CONSISTENCY = {'finetune_domain_compact_cpu.yml': {'loss_weight': 1.0, 'crop': 24, 'batch_size': 2,
                                                          'frames': 60}}

# template -> real (LQ, HR) pairs of the training span as a second batch per step (data/real_pairs.py) when the
# --lq-videos clips are the HR clips made smaller (pipeline/real_pairs.py): its weight, the LQ crop, the batch and
# the losses it goes through, e.g. {'weight': 0.5, 'crop': 24, 'batch_size': 2, 'losses': ['pixel_opt',
# 'lowpass_opt', 'grid_opt', 'fft_opt', 'anchor_opt']}. No template has an entry: measured on the demo's held-out
# real LQ frames (docs/degradation_fit.md, "Real pairs as training data"), that entry gives +0.03 to +0.07 dB on
# the mean at every checkpoint, but on bikes (the static street camera) no PSNR and NIQE +0.5 to +1.0 from 300
# iterations: the exported model would lose its NIQE margin over the base there. Without the teacher on the pairs,
# +0.1 dB on bikes and NIQE +0.4 to +1.3.
FITTED_PAIRS = {}
# template -> the fidelity knob's partner with a fitted degradation (pipeline/partner.py): the run's own options with
# these overrides, trained for ``fraction`` of its iterations (at most ``max_iters``) after it; the DNI sweep then
# blends the chosen checkpoint with the partner instead of with the base (pipeline/dni_sweep.py). Without the
# anchor's energy term the student keeps the fitted degradation's PSNR and draws little texture
# (docs/degradation_fit.md, "The knob's partner in the pipeline"): on the held-out real LQ frames of the reversed
# bikes clip its blends stay above bicubic's PSNR where every checkpoint is below it; at 150 iterations it has the
# PSNR of 300 (NIQE about 0.9 higher), so 150 bound its cost. --budget shares the time between the two
# (``main_iters``).
FITTED_PARTNER = {'finetune_domain_compact_cpu.yml': {'fraction': 0.5, 'max_iters': 150,
                                                      'overrides': ('train.anchor_opt.energy_weight=0.0',)}}


# template -> a folder of generic photos added to the training frames with a fitted degradation (--no-generic turns
# it off): six public-domain/CC0 photos (assets/generic/README.md). A user's footage is often one static camera:
# a few dozen near-identical frames, on which the student's texture overfits and its NIQE rises with the
# iterations. On one 10 s clip of a static street camera (9 training frames; docs/degradation_fit.md, "Generic
# photos beside a single camera's frames"), the six photos beside the frames cut NIQE on the held-out real LQ
# frames from 7.80 to 6.65 at 400 iterations at the same PSNR (27.67) and detail (0.84); on the demo's four
# clips 7.20 -> 7.05 for -0.02 dB.
FITTED_GENERIC = {'finetune_domain_compact_cpu.yml': Path(__file__).resolve().parents[1] / 'assets' / 'generic'}


def partner_iters(entry, total):
    """The partner's iterations for a main run of ``total`` (``FITTED_PARTNER`` entry ``entry``)."""
    return max(1, min(int(entry['max_iters']), int(round(entry['fraction'] * total))))


def main_iters(entry, affordable):
    """The main run's iterations when ``affordable`` iterations fit the budget and the partner follows it: the
    largest ``n`` with ``n + partner_iters(entry, n) <= affordable`` (at least 1)."""
    n = max(1, int(affordable))
    while n > 1 and n + partner_iters(entry, n) > affordable:
        n -= 1
    return n


def pair_options(template, pair_dir):
    """``-o`` override of the real pairs' batch for ``template`` reading ``pair_dir/lq`` and ``pair_dir/gt``
    (none when it has no entry)."""
    import json
    c = FITTED_PAIRS.get(Path(template).name)
    if not c:
        return []
    data = {'dataroot_lq': str(Path(pair_dir) / 'lq'), 'dataroot_gt': str(Path(pair_dir) / 'gt'), **c}
    return [f'datasets.real_pairs={json.dumps(data)}']


def consistency_options(template, fragment_degradation, lq_dir):
    """``-o`` overrides of the consistency loss for ``template`` (none when it has no entry): the loss with the
    fitted blur, and ``datasets.real_lq`` reading ``lq_dir``."""
    import json
    c = FITTED_CONSISTENCY.get(Path(template).name)
    if not c:
        return []
    lo, hi = fragment_degradation.get('blur_sigma', [0.0, 0.0])
    loss = {'type': 'ConsistencyLoss', 'loss_weight': c['loss_weight'], 'scale': 4,
            'sigma': round((float(lo) + float(hi)) / 2, 3)}
    data = {'dataroot_lq': str(lq_dir), 'crop': c['crop'], 'batch_size': c['batch_size']}
    return [f'train.consistency_opt={json.dumps(loss)}', f'datasets.real_lq={json.dumps(data)}']


class RecipeError(ValueError):
    """A bad --base, --budget or -o value (one line for the user)."""


def parse_budget(text):
    """'30m', '1h30m', '90s', '2h' or a bare number of minutes -> seconds."""
    s = str(text).strip().lower()
    if re.fullmatch(r'\d+(\.\d+)?', s):
        return float(s) * 60.0
    parts = re.findall(r'(\d+(?:\.\d+)?)\s*([hms])', s)
    if not parts or re.sub(r'(\d+(?:\.\d+)?)\s*([hms])', '', s).strip():
        raise RecipeError(f'--budget {text!r}: expected a duration such as 30m, 1h30m or 90s')
    secs = sum(float(v) * {'h': 3600, 'm': 60, 's': 1}[u] for v, u in parts)
    if secs <= 0:
        raise RecipeError(f'--budget {text!r}: must be more than 0')
    return secs


def _base_key(base):
    return str(base).strip().lower().replace('_', '-')


def _not_a_base(base):
    return RecipeError(f'--base {base}: not realesr-animevideov3, realesrgan-x4plus or a weights file')


def check_base_ref(base):
    """The cheap half of ``resolve_base``, before any stage runs: --base is a zoo base or an existing file."""
    if _base_key(base) not in ZOO_BASES and not Path(base).is_file():
        raise _not_a_base(base)


def resolve_base(base):
    """``(weights path, arch, kind, label)`` of --base (a zoo name above or a weights file)."""
    from models.zoo import ModelRefError, resolve_model_ref
    key = _base_key(base)
    try:
        ref = resolve_model_ref(key if key in ZOO_BASES else base)
    except ModelRefError:
        ref = None
    if ref is None or ref.kind not in ('zoo', 'weights') or (ref.kind == 'zoo' and key not in ZOO_BASES):
        raise _not_a_base(base)
    path = ref.path
    try:
        from models import read_checkpoint
        _, arch = read_checkpoint(path, 'params_ema')
    except Exception as exc:  # unreadable or unknown weights: one line
        raise RecipeError(f'--base {base}: cannot read the weights ({exc})') from None
    kind = KIND_OF_ARCH.get(arch.get('type'))
    if kind is None or int(arch.get('upscale', arch.get('scale', 4))) != 4:
        raise RecipeError(f'--base {base}: a x4 SRVGGNetCompact or RRDBNet is needed, got {arch}')
    return Path(path), arch, kind, (key if key in ZOO_BASES else str(base))


def official_assets():
    """Cached VGG19 and official discriminator paths (None when absent)."""
    from loss.perceptual import default_vgg_path
    from models.zoo import cached_paths, get_entry
    vgg = default_vgg_path()
    netd = cached_paths(get_entry('RealESRGAN_x4plus_netD'))[0]
    return {'vgg19': str(vgg) if vgg.is_file() else None, 'netd': str(netd) if netd.is_file() else None}


def pick_template(kind, device, assets):
    """``(template path, note)``."""
    official = bool(assets['vgg19'] and assets['netd'])
    if kind == 'compact' and device == 'cpu' and official:
        return OPTIONS / 'finetune_domain_compact_gpu.yml', (
            'VGG19 and the official discriminator are cached: the official recipe is used on the CPU too '
            '(slow per iteration; --budget sizes the run)')
    if device == 'cpu' and not official:
        missing = ' and '.join(n for n, k in (('VGG19', 'vgg19'), ('RealESRGAN_x4plus_netD', 'netd')) if not assets[k])
        offline = {'compact': ('finetune_domain_compact_cpu.yml', 'the offline CPU recipe'),
                   'x4plus': ('finetune_domain_x4plus_lowband_cpu.yml',
                              'the offline x4plus recipe (the base frozen plus a trained low-band corrector, '
                              'then a sweep of its strength)')}
        name, what = offline[kind]
        return OPTIONS / name, (
            f'{missing} not cached: {what} is used instead of the official one '
            '(python tools/download_models.py --names vgg19 RealESRGAN_x4plus_netD makes the official recipe the default)')
    return OPTIONS / f'finetune_domain_{kind}_{device}.yml', None


def fitted_recipe(template, base_arch=None):
    """The ``-o`` overrides ``FITTED_RECIPE`` gives ``template`` (a path or file name) with --lq-videos, less
    those of a ``network_g`` key the base's checkpoint states (``base_arch``): its weights compute what they
    should only in that network (a bilinear finetune, tools/refit_skip.py's file, keeps its skip)."""
    stated = {f'network_g.{k}' for k in (base_arch or {})}
    return [o for o in FITTED_RECIPE.get(Path(template).name, ()) if o.split('=', 1)[0] not in stated]


def _scale(x, f):
    return max(1, int(round(x * f))) if x else x


def build_options(template, base_path, base_arch, base_label, kind, device, paths, iters, assets, user_overrides):
    """The options dict for train.py, the notes to print, and the pipeline's own overrides (for the report).

    ``paths``: train_hr, val_hr, val_lq, experiments_root. ``iters``: None keeps the template's.
    """
    from training.options import OptionsError, apply_overrides, validate_options
    raw = yaml.safe_load(Path(template).read_text()) or {}
    total0 = int(raw['train']['total_iter'])
    n = int(iters or total0)
    f = n / total0
    ckpt = max(1, math.ceil(n / CHECKPOINTS.get(Path(template).name, 4)))
    tr = raw['train']
    over = {'name': 'finetune', 'device': device,
            'datasets.train.dataroot_gt': paths['train_hr'],
            'datasets.val.dataroot_gt': paths['val_hr'], 'datasets.val.dataroot_lq': paths['val_lq'],
            'path.experiments_root': paths['experiments_root'],
            'path.pretrain_network_g': base_label if base_label in ZOO_BASES else str(base_path),
            'train.total_iter': n,
            'train.scheduler.milestones': [_scale(m, f) for m in (tr.get('scheduler') or {}).get('milestones', [])],
            'logger.save_checkpoint_freq': ckpt, 'logger.keep_last': 0,
            'logger.print_freq': max(1, min(int((raw.get('logger') or {}).get('print_freq', 100)), n // 20 or 1))}
    if 'net_d_init_iters' in tr:
        over['train.net_d_init_iters'] = _scale(int(tr['net_d_init_iters'] or 0), f)
    if raw.get('val') is not None:
        over['val.val_freq'] = ckpt
    if base_label not in ZOO_BASES:
        tmpl = raw['network_g']
        over['network_g'] = dict(base_arch)
        if tmpl.get('type') == base_arch.get('type'):  # what the weights cannot show and the base does not say
            from models import get_spec
            free = get_spec(base_arch).undetectable
            over['network_g'].update({k: v for k, v in tmpl.items() if v in free.get(k, ()) and k not in base_arch})
        if tmpl.get('type') == 'LowBandRRDBNet':  # the base's trunk with the template's corrector
            over['network_g'].update({k: v for k, v in tmpl.items() if k.startswith('corr_')},
                                     type='LowBandRRDBNet')
        over['path.param_key_g'] = 'params_ema'
    notes = []
    perc = tr.get('perceptual_opt') or {}
    if float(perc.get('perceptual_weight') or 0) > 0 and not assets['vgg19']:
        over['train.perceptual_opt.perceptual_weight'] = 0.0
        notes.append('VGG19 weights are not cached: the perceptual loss is off '
                     '(python tools/download_models.py --names vgg19 turns the official recipe on)')
    if (raw.get('path') or {}).get('pretrain_network_d') and not assets['netd']:
        over['path.pretrain_network_d'] = None
        notes.append('the official discriminator RealESRGAN_x4plus_netD is not cached: the discriminator starts '
                     'from scratch (python tools/download_models.py --names RealESRGAN_x4plus_netD)')
    opt = copy.deepcopy(raw)
    for k, v in over.items():
        _set(opt, k, v)
    try:
        apply_overrides(opt, user_overrides)
        validate_options(copy.deepcopy(opt), 'the finetune options')
    except OptionsError as exc:
        raise RecipeError(f'{Path(template).name}: ' + '; '.join(exc.problems)) from None
    except ValueError as exc:
        raise RecipeError(f'-o: {exc}') from None
    return opt, notes, over


def _set(opt, dotted, value):
    node = opt
    parts = dotted.split('.')
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def dump(opt):
    return yaml.safe_dump(opt, sort_keys=False)
