"""Stages 4 and 6: finetune (train.py in a subprocess, resumable) and export; stage 5 between them is `judge.py`."""
import json
import shutil
import time
from pathlib import Path

import yaml

from realesrgan_paddle.data.fit.lq_source import FootageError, load_footage
from realesrgan_paddle.inference.backends import PredictorBackend
from realesrgan_paddle.inference.export.paddle_export import export_static
from realesrgan_paddle.inference.export.export_check import check_input, judge
from realesrgan_paddle.media.image_io import imwrite
from realesrgan_paddle.training.loss_terms import flag_targets
from realesrgan_paddle.training.metrics_log import FILE_NAME, read_metrics
from realesrgan_paddle.utils.fileio import atomic_write_text

from ..context import DomainError
from ..choice.dni_sweep import describe, export_choice
from ..inputs.lq_flow_pairs import temporal_overrides
from ..train.partner import fitted, partner_options, partner_path, run_partner
from ..inputs.photos import photo_pair_options
from ..inputs.real_lq import fit_span
from ..inputs.real_pairs import write_train_pairs
from ..train.recipes import (FITTED_CONSISTENCY, FITTED_GENERIC, FITTED_PAIRS, FITTED_PARTNER, RecipeError, build_options,
                      consistency_options, dump, fitted_recipe, main_iters, official_assets, pair_options, parse_budget,
                      partner_iters, perceptual_recipe, pick_template, resolve_base)
from .data import clip_alias, split_holdout
from ..train.ranks import procs_for, split_batches, train_args
from ..train.run import EXP_NAME, checkpoints, committed_paths, run_train, train_checked
from ..choice.vs_bicubic import exported_vs_bicubic


def base_model(ctx):
    try:
        return resolve_base(ctx.s.base)
    except RecipeError as exc:
        raise DomainError(str(exc)) from None


def _recipe(ctx, part, iters):
    path, arch, kind, label = base_model(ctx)
    assets = official_assets()
    template, note = pick_template(kind, ctx.s.device, assets)
    paths = {'train_hr': str(ctx.out('split') / 'train_hr'), 'val_hr': str(ctx.out('split') / 'val_hr'),
             'val_lq': str(ctx.out('degrade') / 'val_lq'), 'experiments_root': str(part / 'experiments')}
    try:
        opt, notes, over = build_options(template, path, arch, label, kind, ctx.s.device, paths, iters, assets,
                                         fitted_overrides(ctx.out('degrade') / 'fitted.yml', template, arch)
                                         + consistency_overrides(ctx, part, template)
                                         + pair_overrides(ctx, part, template) + generic_overrides(ctx, template)
                                         + temporal_overrides(ctx, part) + list(ctx.s.overrides))
    except RecipeError as exc:
        raise DomainError(str(exc)) from None
    return opt, ([note] if note else []) + notes, template


def fitted_overrides(fragment, template=None, base_arch=None):
    """``-o`` overrides that put a fitted degradation (``tools/fit_degradation.py``'s fragment) into the recipe,
    with the recipe's loss changes for it (``recipes.fitted_recipe``, given the base's ``base_arch``); none when
    the file is absent (no ``--lq-videos``). The user's own ``-o`` come after, so they win."""
    if not Path(fragment).is_file():
        return []
    frag = yaml.safe_load(Path(fragment).read_text())
    flags = {k: bool(frag[k]) for k in ('l1_gt_usm', 'percep_gt_usm') if k in frag}
    out = [f'{k}={json.dumps(v)}' for k, v in flags.items()]
    if template:  # the template's entries named after the slots the flags govern follow them
        raw = yaml.safe_load(Path(template).read_text()) or {}
        out += flag_targets((raw.get('train') or {}).get('losses') or [], flags)
    out += [f'degradation.{k}={json.dumps(v)}' for k, v in frag['degradation'].items()]
    return out + (fitted_recipe(template, base_arch) if template else [])


def _generic_wanted(ctx, template):
    """``recipes.FITTED_GENERIC``'s folder for this run, or None: no --lq-videos, --no-generic, or a template
    without one."""
    folder = FITTED_GENERIC.get(Path(template).name)
    return folder if ctx.s.lq_videos and ctx.s.generic else None


def generic_photos(folder):
    """The generic photos of ``folder`` (its PNGs, sorted): what trains, is counted and keys the stage."""
    return sorted(folder.glob('*.png'))


def generic_folder(ctx, template):
    """The folder of generic photos the training frames get with a fitted degradation, or None
    (``_generic_wanted``, or no fitted fragment); a missing folder is one clear error."""
    folder = _generic_wanted(ctx, template)
    if folder is None or not (ctx.out('degrade') / 'fitted.yml').is_file():
        return None
    if not folder.is_dir() or not generic_photos(folder):
        raise DomainError(f'{folder}: the generic photos are missing (a partial checkout?); --no-generic trains '
                          'on your frames alone')
    return folder


def generic_overrides(ctx, template):
    """``datasets.train.dataroot_gt`` as the split's training frames plus ``generic_folder``; none without one."""
    folder = generic_folder(ctx, template)
    if folder is None:
        return []
    return [f'datasets.train.dataroot_gt={json.dumps([str(ctx.out("split") / "train_hr"), str(folder)])}']


def consistency_overrides(ctx, part, template):
    """--lq-videos with a fitted degradation: real LQ frames for the consistency loss (``part/real_lq_train``,
    taken once) and the recipe's overrides for it (``recipes.consistency_options``); none otherwise."""
    fragment = ctx.out('degrade') / 'fitted.yml'
    c = FITTED_CONSISTENCY.get(Path(template).name)
    if not ctx.s.lq_videos or not fragment.is_file() or not c:
        return []
    out = Path(part) / 'real_lq_train'
    if not (out / 'done.json').is_file():
        h = split_holdout(ctx)
        n = write_train_lq(ctx.s.lq_videos, out, c['frames'], h)
        ctx.say(f'consistency loss: {n} real LQ frames from the first {100 * (1 - h):.0f} % of each LQ clip')
    return consistency_options(template, yaml.safe_load(fragment.read_text())['degradation'], out)


def pair_overrides(ctx, part, template):
    """--lq-videos with a fitted degradation whose clips are the HR clips made smaller: the real (LQ, HR) pairs
    of the training span (``part/real_pairs``, found once, ``pipeline/inputs/real_pairs.py``) as a second batch
    (``recipes.pair_options``); none otherwise, and one line saying which case applies and why."""
    photo = photo_pair_options(ctx)
    if photo is not None:
        return photo
    if not ctx.s.lq_videos or not (ctx.out('degrade') / 'fitted.yml').is_file() \
            or not FITTED_PAIRS.get(Path(template).name):
        return []
    out = Path(part) / 'real_pairs'
    done = out / 'done.json'
    if not done.is_file():
        rows = json.loads((ctx.out('split') / 'split.json').read_text())
        info = write_train_pairs(ctx.s.lq_videos, rows, ctx.out('split') / 'train_hr', out, clip_alias(ctx)[0])
        ctx.say(f'real pairs: {info["pairs"]} (LQ, HR) training pairs: {info["why"]}' if info['pairs'] else
                f'real pairs: none ({info["why"]}): the fitted degradation and the consistency loss only')
    info = json.loads(done.read_text())
    return pair_options(template, out) if info['pairs'] else []


def write_train_lq(lq_paths, out, frames, holdout):
    """Up to ``frames`` LQ frames spread over the first ``1 - holdout`` of each of ``lq_paths`` (the evaluation
    holds out the rest, ``pipeline.inputs.real_lq.fit_span``), as PNGs in ``out``; their count."""
    try:
        foot = load_footage(lq_paths, frames, span=fit_span(holdout))
    except FootageError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(foot.names, foot.frames):
        imwrite(out / f'{name}.png', frame)
    atomic_write_text(out / 'done.json', json.dumps({'frames': len(foot.names)}))
    return len(foot.names)


def template_of(ctx):
    """The recipe template's path for this run's base and device."""
    return pick_template(base_model(ctx)[2], ctx.s.device, official_assets())[0]


def settings_finetune(ctx):
    path, arch, kind, label = base_model(ctx)
    assets = official_assets()
    template, _ = pick_template(kind, ctx.s.device, assets)
    if not template.is_file():
        raise DomainError(f'{template}: recipe template not found')
    perceptual = perceptual_recipe(template, assets)[0]  # its weights changed: the finetune runs again
    return {**({'perceptual': perceptual} if perceptual else {}), 'base': label, 'base_size': path.stat().st_size,
            'arch': arch, 'device': ctx.s.device,
            'iters': ctx.s.iters, 'budget': ctx.s.budget, 'overrides': list(ctx.s.overrides),
            'template': template.name, 'template_text': template.read_text(), 'assets': assets,
            'fitted_recipe': [fitted_recipe(template), FITTED_CONSISTENCY.get(template.name),
                              FITTED_PAIRS.get(template.name), FITTED_PARTNER.get(template.name)] if ctx.s.lq_videos
            else [], **_generic_key(ctx, template), **({'pair_ratio': ctx.s.pair_ratio} if ctx.s.lq_photos else {})}


def _generic_key(ctx, template):
    """The finetune stage's key part for the generic photos: absent when none are added (earlier work folders
    keep their key), else the photos' names and sizes."""
    folder = _generic_wanted(ctx, template)
    if folder is None or not folder.is_dir():
        return {}
    return {'generic': [(p.name, p.stat().st_size) for p in generic_photos(folder)]}


def seconds_per_iter(metrics_file):
    """Mean wall time between logged iterations after the first two (startup and the first step excluded),
    from the trainer's ``metrics.jsonl``."""
    pts = [(r['time'], r['iter']) for r in read_metrics(metrics_file) if r['kind'] == 'train' and r['iter'] >= 2]
    if len(pts) < 2 or pts[-1][1] == pts[0][1]:
        raise DomainError(f'{metrics_file}: the warm-up logged too few iterations to time', code=1)
    return (pts[-1][0] - pts[0][0]) / (pts[-1][1] - pts[0][1])


def plan_iterations(ctx, part):
    """``(iterations, plan dict)``: --iters, the template's default, or --budget through a timed warm-up.

    Budget: a warm-up of ``warmup_iters`` iterations (no validation) is timed from the trainer's
    log; s/iter is the mean gap between logged iterations 2..N. Then
    ``iters = floor(0.9 * (budget - warm-up wall time) / s_per_iter)`` (at least 1): 10 % of the
    rest is kept for validations and checkpoints.
    """
    plan_file = part / 'plan.json'
    if plan_file.is_file():
        plan = json.loads(plan_file.read_text())
        return plan['iters'], plan
    if not ctx.s.budget:
        plan = {'iters': ctx.s.iters, 'how': '--iters' if ctx.s.iters else 'template default'}
    else:
        budget = parse_budget(ctx.s.budget)
        n = int(ctx.s.warmup_iters)
        opt, _, _ = _recipe(ctx, part / 'warmup', n)
        opt['val'] = None
        opt['logger'].update(print_freq=1, save_checkpoint_freq=10 ** 9, use_tb_logger=False)
        procs = train_procs(ctx, opt, n)[0]  # timed as the finetune will run
        (part / 'warmup').mkdir(exist_ok=True)
        wopt = part / 'warmup' / 'options.yml'
        wopt.write_text(dump(opt))
        ctx.say(f'finetune: timing {n} warm-up iterations to fit the {ctx.s.budget} budget')
        t0 = time.perf_counter()
        with open(part / 'warmup' / 'console.log', 'w') as fh:
            rc = run_train(wopt, log_to=fh, auto_resume=False, procs=procs)
        wall = time.perf_counter() - t0
        metrics = part / 'warmup' / 'experiments' / EXP_NAME / FILE_NAME
        if rc != 0 or not metrics.is_file():
            tail = (part / 'warmup' / 'console.log').read_text().strip().splitlines()[-1:]
            raise DomainError(f'the warm-up training failed (exit {rc}): {" ".join(tail)}', code=1)
        spi = seconds_per_iter(metrics)
        affordable = max(1, int(0.9 * (budget - wall) / spi))
        iters = affordable
        shutil.rmtree(part / 'warmup')
        entry = FITTED_PARTNER.get(Path(template_of(ctx)).name)
        if fitted(ctx) and partner_options(opt, template_of(ctx)) is not None:  # the knob's partner follows
            iters = main_iters(entry, affordable)
        plan = {'iters': iters, 'how': f'--budget {ctx.s.budget}', 'budget_s': budget, 'warmup_iters': n,
                'warmup_wall_s': round(wall, 3), 's_per_iter': round(spi, 6)}
        ctx.say(f'finetune: {spi:.2f} s/iteration measured -> {affordable} iterations '
                f'(0.9 x ({budget:.0f} s budget - {wall:.0f} s warm-up) / {spi:.2f} s)'
                + (f': {iters} for the finetune and {partner_iters(entry, iters)} for the knob\'s partner'
                   if iters != affordable else ''))
    plan_file.write_text(json.dumps(plan, indent=1))
    return plan['iters'], plan


def train_procs(ctx, opt, iters):
    """``(processes, why one)`` of ``--train-procs`` for ``opt`` (its batches split among them when several:
    ``pipeline/train/ranks.py``); with --budget, for the budget, whatever ``iters``."""
    budget = parse_budget(ctx.s.budget) if ctx.s.budget else None
    try:
        procs, why = procs_for(ctx.s.train_procs, opt, ctx.s.device, None if budget else iters, budget)
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    if procs > 1:
        split_batches(opt, procs)
    return procs, why


def run_finetune(ctx, part):
    iters, plan = plan_iterations(ctx, part)
    opt, notes, template = _recipe(ctx, part, iters)
    total = opt['train']['total_iter']
    procs, why_one = train_procs(ctx, opt, int(total))
    for n in notes:
        ctx.say(f'note: {n}')
    opt_path = part / 'options.yml'
    opt_path.write_text(dump(opt))
    ctx.say(f'finetune: {Path(template).name}, {total} iterations on {ctx.s.device}'
            + (f' in {procs} processes, each on 1/{procs} of every batch' if procs > 1 else '')
            + f' ({ctx.command(*train_args(procs, ctx.out("finetune") / "options.yml"))})')
    generic = generic_folder(ctx, template)
    if generic is not None:
        n_generic = len(generic_photos(generic))
        ctx.say(f'finetune: the training frames + {n_generic} generic photos ({generic}; --no-generic leaves them out)')
    exp = part / 'experiments' / EXP_NAME
    ckpts = train_checked(opt_path, exp, procs=procs)
    partner = run_partner(ctx, part, opt, template, procs)
    # the committed folder is WORK/finetune: point the options there, so the file reproduces the run
    opt['path']['experiments_root'] = str(ctx.out('finetune') / 'experiments')
    opt_path.write_text(dump(committed_paths(opt, part, ctx.out('finetune'))))
    logs = sorted(exp.glob('train_*.log'))
    return {'template': Path(template).name, 'iters': total, 'plan': plan, 'notes': notes, 'procs': procs,
            'one_process': why_one,
            'checkpoints': sorted(ckpts), 'log': logs[-1].name if logs else None, 'partner': partner,
            'generic': None if generic is None else n_generic,
            'real_pairs': json.loads(pairs.read_text()) if (pairs := part / 'real_pairs' / 'done.json').is_file()
            else None}


def command_finetune(ctx):
    """The report's command for the finetune stage: train.py on its options, as many ranks as it trained with."""
    procs = ((ctx.state.record('finetune') or {}).get('info') or {}).get('procs') or 1
    return ctx.command(*train_args(procs, ctx.work / 'finetune' / 'options.yml'))


def settings_export(ctx):
    return {'check': 32, 'dni_weight': ctx.s.dni_weight, 'force_export': ctx.s.force_export}


def check_beats_bicubic(ctx, res):
    """Bicubic is a candidate too: a model that loses to it on both axes is not exported without
    --force-export (``pipeline.choice.select.loses_to_bicubic``); returns the line the report carries, or None."""
    lost = exported_vs_bicubic(res, ctx.s.dni_weight)
    if not lost:
        return None
    line = (f'{lost["name"]} loses to bicubic on both axes {lost["where"]}: {"; ".join(lost["distortion"])}; '
            f'{"; ".join(lost["perception"])}')
    if not ctx.s.force_export:
        raise DomainError(f'export refused: {line}; bicubic serves better (more training, more footage or another '
                          f'--base may help; --force-export exports it anyway)', code=1, report=True)
    ctx.say(f'export: --force-export: {line}')
    return line


def check_export_matches(net, folder):
    """Max abs difference of ``folder``'s exported graph against ``net`` on a 32x32 real photo crop
    (``inference.export.export_check``: on noise a real SPAN differs by float32 rounding alone by more than the
    tolerance); a DomainError when it is above 1e-3 of the output's range (at least 1)."""
    import paddle
    x = check_input(32)
    with paddle.no_grad():
        ref = net(paddle.to_tensor(x)).numpy()
    err, scale, ok = judge(PredictorBackend(folder).forward(x), ref)
    if not ok:
        raise DomainError(f'the exported graph does not match the network (max abs diff {err:.2e}, output range '
                          f'{scale:.3g})', code=1)
    return err


def run_export(ctx, part):
    from realesrgan_paddle import models
    res = json.loads((ctx.out('evaluate') / 'metrics.json').read_text())
    forced = check_beats_bicubic(ctx, res)
    ckpts = {f'iter_{it}': p for it, p in checkpoints(ctx.out('finetune') / 'experiments' / EXP_NAME).items()}
    try:
        src, what = export_choice(res, ckpts, base_model(ctx)[0], ctx.s.dni_weight, part / 'model.pdparams',
                                  partner_path(ctx))
    except ValueError as exc:
        raise DomainError(f'export: {exc}; re-run the finetune stage', code=1) from None
    net, arch = models.load_network(src, param_key='params_ema')
    export_static(net, arch, part, source=src if src != part / 'model.pdparams' else describe(what))
    if src != part / 'model.pdparams':
        shutil.copy2(src, part / 'model.pdparams')
    err = check_export_matches(net, part)
    ctx.say(f'export: {describe(what)} -> {ctx.out("export") / "inference.pdmodel"} (predictor vs dynamic graph '
            f'max abs diff {err:.1e})')
    return {**what, 'source': str(src), 'check_max_abs_diff': err, 'forced_over_bicubic': forced}
