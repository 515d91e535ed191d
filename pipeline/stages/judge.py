"""Stage 5, evaluate and choose: the base and every checkpoint on the held-out pairs (and, with --lq-videos,
on the held-out real LQ frames, which vote: ``pipeline.choice.select``), the chosen one with bicubic and the
--compare models (contact sheets), then the DNI sweep of the fidelity knob (``pipeline.choice.dni_sweep``)."""
import json
import shutil
from pathlib import Path

from realesrgan_paddle.evaluation import model_cache as MT
from realesrgan_paddle.evaluation.evaluator import list_images, sheet_picks
from realesrgan_paddle.evaluation.model_cache import BACKEND_RULE

from ..inputs import crops, crops as C
from . import data as stages_data
from ..context import DomainError
from ..choice.dni_sweep import (  # the fidelity knob: blends of the base (or the partner) and the checkpoint
    blend_name, describe, export_choice, finetune_of, run_sweep, weights_for)
from ..choice.sharpen_knob import chosen_amount, settings as sharpen_settings
from realesrgan_paddle.utils.fileio import link_or_copy
from ..train.partner import partner_path
from ..inputs.real_lq import extract_consecutive, score_flicker, score_frames
from ..choice.select import CRITERION, choose, compare, losses, refuse_for_flicker
from .finetune import base_model
from ..train.run import EXP_NAME, checkpoints
from ..choice.vs_bicubic import exported_point, exported_vs_bicubic


# the metrics of evaluation.iqa the choice, the real frames' table and the DNI sweep score (the rule's, AlexNet:
# 0.25 s a 256 px pair on 2 loaded cores), and those the final comparison adds for the report (DISTS, on VGG16: 5.4 s;
# LPIPS on VGG16, 5.6 s, the report does not show)
RULE_IQA = ('lpips',)
REPORT_IQA = ('lpips', 'dists')
SHEET_FRAMES = 4  # rows of the real frames' contact sheet


def settings_evaluate(ctx):
    """The stage's fingerprint; with the IQA metrics whose weights are on disk now (``iqa``): weights fetched after
    a run score it again with them (a re-run kept a stage scored without LPIPS)."""
    kind = base_model(ctx)[2]
    iqa = sorted(k for k in MT.iqa_metrics(ctx.s.device, load=False) if k in REPORT_IQA)
    return {'compare': dict(ctx.s.compare), 'criterion': CRITERION, 'allow_flicker': ctx.s.allow_flicker, 'iqa': iqa,
            'crop_border': 4, 'real_vote': True, 'bicubic_in_selection': True,
            'metrics': 'evaluation.evaluator', 'backend': BACKEND_RULE.get(kind, 'predictor'), 'dni': weights_for(kind),
            'sharpen': sharpen_settings(),
            'crops': {'size': crops.SIZE, 'whole_max': crops.WHOLE_MAX, 'windows': crops.WINDOWS,
                      'rule': 'most HR detail, then median-detail grid tiles'}}


def run_evaluate(ctx, part):
    base_path, _, kind, _ = base_model(ctx)
    base_path = str(base_path)
    gt, lq, cropped = _cropped(ctx, part)
    ckpts = checkpoints(ctx.out('finetune') / 'experiments' / EXP_NAME)
    cand = {f'iter_{it}': it for it in ckpts}
    models = {'base': base_path, **{f'iter_{it}': str(p) for it, p in ckpts.items()}}
    real = _real_frames(ctx, part, cropped)
    nets = MT.Models(kind, part / 'exports', ctx.s.device, MT.lq_pixels(lq, real and real['lq']))
    notes = []
    iqa = {k: m for k, m in MT.iqa_metrics(ctx.s.device, notes).items() if k in REPORT_IQA}  # when cached
    rule = {k: m for k, m in iqa.items() if k in RULE_IQA}  # the choice and the sweep only what the rule weighs
    try:
        flicker = _flicker(ctx, part, nets, models)
        sel = _select(ctx, nets, models, cand, gt, lq, real, flicker, rule)
        shown = sel['shown']
        final = {'bicubic': 'bicubic', 'base': base_path, 'finetuned': str(ckpts[cand[shown]]), **ctx.s.compare}
        ctx.say(f'evaluate: bicubic, base, finetuned ({shown})' + ''.join(f', {k}' for k in ctx.s.compare))
        ups = nets.get({'bicubic': 'bicubic', 'base': base_path}, own=models)
        ups.update(finetuned=nets.get({shown: models[shown]}, own=models)[shown])
        try:
            ups.update(nets.get(ctx.s.compare))
            rows = MT.evaluate(ups, gt, lq, iqa=iqa, notes=notes, progress=not ctx.s.quiet,
                               sheet=str(part / 'sheet.png'), sheet_images=3, crop=192)
            if real:
                _real_sheet(ctx, part, real, ups, [c for c in cand if c != shown], iqa)  # DISTS too: not trained on
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise DomainError(f'--compare: {exc}') from None
    finally:
        nets.cleanup()
    for n in notes:
        ctx.say(f'note: {n}')
    summ = MT.summarize(rows, list(final))
    chosen, reason = sel.pop('chosen'), sel.pop('reason')
    exported = {'name': chosen, 'path': base_path if chosen == 'base' else str(ckpts[cand[chosen]]),
                'iteration': cand.get(chosen), 'reason': reason}
    res = {'selection': sel, 'models': final, 'summary': summ, 'rows': rows,
           'verdicts': {o: MT.verdict(summ, 'base', o) for o in final if o != 'base'},
           'best': MT.best(summ, list(final)), 'vs_base': {o: compare(summ[o], summ['base']) for o in final
                                                          if o != 'base'},
           'exported': exported, 'backends': dict(nets.backends), 'notes': notes, 'real': real, 'crops': cropped}
    ckpt_paths, partner = {c: str(ckpts[it]) for c, it in cand.items()}, partner_path(ctx)
    res['dni'] = run_sweep(ctx, nets, base_path, ckpt_paths, res, gt, lq, part / 'dni.tmp', partner=partner, iqa=rule)
    if real:
        _export_sheet(ctx, part, res, nets, (base_path, models[shown], partner), ckpt_paths)
    res['losses'] = exported_losses(res, final)
    res['vs_bicubic'] = exported_vs_bicubic(res)
    (part / 'metrics.json').write_text(json.dumps(res, indent=1, default=float))
    _say(ctx, res)
    return {'chosen': chosen, 'reason': reason, 'iteration': cand.get(chosen)}


def _cropped(ctx, part):
    """``(gt folder, lq folder, crops)``: the held-out pairs every model is scored on, large frames cut to their
    window (``pipeline.inputs.crops``); ``crops``: {'pairs': info} (and 'real' when ``_real_frames`` cuts those)."""
    gt, lq, info = C.crop_pairs(ctx.out('split') / 'val_hr', ctx.out('degrade') / 'val_lq', part / 'crops' / 'pairs',
                                C.SIZE, C.WHOLE_MAX)
    if info['cropped']:
        ctx.say('evaluate: ' + C.line(info))
    return gt, lq, {'pairs': info}


def _flicker(ctx, part, nets, models):
    """With --lq-videos: FLICKER (against bicubic, ``evaluation.flicker``) of bicubic, the --compare models, the base
    and every checkpoint on consecutive held-out real LQ frames (``pipeline.inputs.real_lq.extract_consecutive``);
    None without them."""
    if not ctx.s.lq_videos:
        return None
    photos = bool(ctx.s.hr_photos)  # a photo run's LQ image folders are photos, not consecutive frames
    info = extract_consecutive(ctx.s.lq_videos, part / 'flicker_lq', stages_data.split_holdout(ctx),
                               videos_only=photos)
    if info['frames'] < 2:
        ctx.say('evaluate: ' + ('no LQ video among the photos' if photos else 'no LQ source has two consecutive '
                                'held-out frames of one size') + ': flicker not measured')
        return None
    # the --compare models too: a point steadier than the generic model loses nothing to it on this axis
    ctx.say(f'evaluate: flicker of bicubic, the base, {len(models) - 1} checkpoints'
            + ''.join(f', {m}' for m in ctx.s.compare) + f' on {info["frames"]} consecutive held-out frames of '
            f'{info["source"]} (against bicubic)')
    ups = nets.get({'bicubic': 'bicubic'})
    ups.update(_compared_nets(ctx, nets))
    ups.update(nets.get(models, own=models))
    ratios = score_flicker(ups, part / 'flicker_lq')
    ctx.say('evaluate: flicker against bicubic (static / warp): '
            + ', '.join(f'{n} {r["static"]:.2f} / {r["warp"]:.2f}' for n, r in ratios.items()))
    return {'frames': info['frames'], 'source': info['source'], 'ratios': ratios, 'dir': str(part / 'flicker_lq')}


def _compared_nets(ctx, nets):
    """The --compare models' networks (``nets.get``), a model that cannot be loaded one ``DomainError`` line."""
    try:
        return nets.get(dict(ctx.s.compare))
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise DomainError(f'--compare: {exc}') from None


def _refuse_flicker(ctx, flicker, cand):
    """``(candidates left, refused {name: reason})``: ``pipeline.choice.select.flicker_refusals`` unless --allow-flicker."""
    if not flicker:
        return cand, {}
    refused = refuse_for_flicker(ctx, flicker['ratios'], list(cand))
    return {c: it for c, it in cand.items() if c not in refused}, refused


def _select(ctx, nets, models, cand, gt, lq, real, flicker=None, iqa=None):
    """The selection pass: the base and the checkpoints on the held-out pairs and on the real LQ frames (when
    there are some: ``real``, ``_real_frames``'s, gains their rows and summary), and the choice; candidates that
    flicker more than the base allows (``flicker``, ``_flicker``'s) are refused unless --allow-flicker. Bicubic
    runs too, and ``iqa``'s metrics (LPIPS: ``RULE_IQA``) score every model: the rule on both axes
    (``pipeline.choice.winner``) needs every point's and every --compare model's PSNR and LPIPS, per image."""
    ctx.say(f'evaluate: the base and {len(cand)} checkpoints (EMA weights) on the held-out pairs, '
            f'{nets.own_backend} backend' + (', with ' + ' and '.join(n.upper() for n in iqa) if iqa else ''))
    scored = dict(nets.get({'bicubic': 'bicubic'}), **nets.get(models, own=models))
    if iqa:  # the rule on both axes aims at the --compare models: they are scored here too
        scored.update(_compared_nets(ctx, nets))
    rows_sel = MT.evaluate(scored, gt, lq, iqa=iqa, progress=not ctx.s.quiet)
    if not rows_sel:
        raise DomainError(f'no held-out pairs in {gt} and {lq}', code=1)
    summ_sel = MT.summarize(rows_sel, list(scored))
    if real:
        ctx.say(f'evaluate: the base and the checkpoints on the {real["frames"]} held-out real LQ frames '
                + ('(against their HR frames), which decide the choice' if real['paired'] else
                   '(no reference: NIQE, detail against bicubic), which vote with the held-out pairs'))
        real['rows'] = score_frames(scored, real['lq'], real['gt'], not ctx.s.quiet, iqa=iqa)
        real['summary'] = MT.summarize(real['rows'], list(scored))
    match = [m for m in ctx.s.compare if m in scored]
    chosen, table, reason = choose(summ_sel, 'base', cand, real, match, rows=rows_sel)
    allowed, refused = _refuse_flicker(ctx, flicker, cand)
    if refused:
        chosen, _, reason = choose(summ_sel, 'base', allowed, real, match, rows=rows_sel) if allowed else \
            ('base', None, 'every checkpoint is refused for flicker')
        reason += f'; refused for flicker: {"; ".join(refused.values())}'
    sel = {'summary': summ_sel, 'table': table, 'rows': rows_sel, 'candidates': cand, 'chosen': chosen,
           'reason': reason, 'flicker': flicker, 'refused_flicker': refused}
    return dict(sel, shown=finetune_of(sel, chosen))


def _real_frames(ctx, part, cropped):
    """The held-out real LQ frames (``degrade/real_lq``) and their HR frames (``degrade/real_gt``, when the LQ
    footage is the HR footage made smaller), or None; large frames cut like the pairs (``cropped['real']``)."""
    folder, gt = ctx.out('degrade') / 'real_lq', ctx.out('degrade') / 'real_gt'
    if not folder.is_dir() or not list_images(folder):
        return None
    paired = gt.is_dir() and bool(list_images(gt))
    n, out = len(list_images(folder)), part / 'crops' / 'real'
    if paired:
        gt, folder, info = C.crop_pairs(gt, folder, out, C.SIZE, C.WHOLE_MAX)
    else:
        folder, info = C.crop_frames(folder, out, C.SIZE, C.WHOLE_MAX)
    cropped['real'] = info
    if info['cropped']:
        ctx.say('evaluate: ' + C.line(info, 'real LQ frames'))
    return {'frames': n, 'lq': str(folder), 'gt': str(gt) if paired else None, 'paired': paired}


def _real_sheet(ctx, part, real, ups, others, iqa=None):
    """The real LQ frames through ``ups`` (bicubic, base, finetuned, the --compare models; contact sheet
    ``part/real_sheet.png``), merged into ``real``'s rows (which hold the base and every checkpoint)."""
    ctx.say('evaluate: the real LQ footage: ' + ', '.join(ups))
    got = {r['image']: r for r in score_frames(ups, real['lq'], real['gt'], not ctx.s.quiet, iqa=iqa, crop=256,
                                                sheet=str(part / 'real_sheet.png'), sheet_images=SHEET_FRAMES)}
    for r in real['rows']:
        r.update(got[r['image']])
    real.update(models=list(ups), checkpoints=others,
                summary=dict(real['summary'], **MT.summarize(real['rows'], list(ups))))


def _export_differs(res):
    """Whether the rule's export is a point the real frames' sheet lacks: not the finetuned checkpoint shown (weight
    1 of the sweep's checkpoint), nor the base (weight 0 with the base), both unsharpened."""
    dni = res['dni']
    if chosen_amount(dni):
        return True
    name = blend_name(float(dni['chosen']))
    if name == blend_name(1.0):
        return dni.get('finetune') != res['selection']['shown']
    return not (name == blend_name(0.0) and dni.get('other', 'base') == 'base')


def _sheet_frames(real, tmp):
    """``(lq folder, gt folder or None)`` holding the ``SHEET_FRAMES`` real frames the first sheet showed (the same
    spread over the sorted names)."""
    files = list_images(real['lq'])
    out = {'lq': tmp / 'lq', 'gt': tmp / 'gt'}
    for folder in out.values():
        folder.mkdir(parents=True, exist_ok=True)
    for i in sorted(sheet_picks(len(files), SHEET_FRAMES)):
        link_or_copy(files[i], out['lq'] / files[i].name)
        if real.get('gt'):
            link_or_copy(Path(real['gt']) / files[i].name, out['gt'] / files[i].name)
    return str(out['lq']), str(out['gt']) if real.get('gt') else None


def _export_sheet(ctx, part, res, nets, paths, ckpt_paths):
    """The real frames' sheet drawn again with the rule's export beside the finetuned checkpoint, when the export is
    another point (a blend, the partner, the sharpened point): the sheet the report opens with shows what the user
    gets. ``paths``: the base's, the shown checkpoint's and the partner's weights (None without one); ``nets`` is
    cleaned up after."""
    if not _export_differs(res):
        return
    real, tmp = res['real'], part / 'sheet.tmp'
    try:
        src, info = export_choice(res, ckpt_paths, paths[0], None, tmp / 'export.pdparams', paths[2])
        ctx.say(f'evaluate: the real frames\' sheet again with the export ({info["name"]}) beside the finetuned '
                'checkpoint')
        ups = nets.get({'bicubic': 'bicubic', 'base': paths[0], 'finetuned': paths[1], 'export': str(src),
                        **ctx.s.compare}, own=['base', 'finetuned', 'export'])
        lq, gt = _sheet_frames(real, tmp / 'frames')
        score_frames(ups, lq, gt, not ctx.s.quiet, sheet=str(part / 'real_sheet.png'), sheet_images=SHEET_FRAMES,
                     crop=256)
        real.update(sheet_models=list(ups), export=describe(info))
    finally:
        nets.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def _say(ctx, res):
    """The stage's log lines: the choice, the verdicts, the losses, the real LQ footage's numbers."""
    exp, real = res['exported'], res['real']
    chosen, reason = exp['name'], exp['reason']
    if chosen == 'base' and res['dni']['chosen'] == 0.0:
        ctx.say('WARNING: NO FINETUNED CHECKPOINT BEATS THE BASE MODEL: THE BASE IS EXPORTED. ' + reason)
    elif chosen == 'base':
        ctx.say('evaluate: no checkpoint beats the base, a DNI blend of one does (the DNI rule above). ' + reason)
    else:
        ctx.say(f'evaluate: chose {reason}')
    for line in res['verdicts']['finetuned']:
        ctx.say(f'evaluate: base vs finetuned, {line}')
    for line in res['losses']:
        ctx.say(f'evaluate: NOTE: {line}')
    if real:
        r, paired = real['summary'], real['paired']
        ctx.say(f'evaluate: real LQ footage ({real["frames"]} held-out frames, '
                + ('against their HR frames): PSNR ' + ', '.join(f'{m} {r[m]["psnr"]:.2f}' for m in real['models'])
                   + '; ' if paired else 'no reference): ')
                + 'NIQE ' + ', '.join(f'{m} {r[m]["niqe"]:.2f}' for m in real['models'])
                + ('; detail ' if paired else '; detail against bicubic ')
                + ', '.join(f'{m} {r[m]["detail" if paired else "detail_vs_bicubic"]:.2f}' for m in real['models']))


def exported_losses(res, final):
    """Where the exported point (the DNI rule's blend, the finetune or the base) loses to bicubic, the base or a
    --compare model, with its own numbers: on the held-out pairs and on the real LQ footage (where the blends
    are run too)."""
    real = res['real']
    name, own = exported_point(res)
    lost = losses(own, name, [m for m in final if m not in (name, 'finetuned')])
    if real:
        blends = (res['dni'].get('real') or {}).get('summary') or {}
        mine = dict(real['summary'], **({name: blends[name]} if name in blends and name not in real['summary']
                                        else {}))
        where = 'on the real LQ footage'
        if name not in mine:  # an older metrics.json: blends were not run on the real frames
            name, where = 'finetuned', f'{where} (as its checkpoint {res["dni"]["finetune"]}; blends are not run there)'
        real['losses'] = losses(mine, name, [m for m in real['models'] if m not in (name, 'finetuned')],
                                where, None if real['paired'] else {'perception': ('niqe', 'blocks')})
        lost += real['losses']
    return lost
