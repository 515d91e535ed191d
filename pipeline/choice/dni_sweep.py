"""The fidelity knob of the pipeline: DNI blends of the base and the finetune, swept on the held-out frames.

Blend ``w`` is the network ``w * finetune + (1 - w) * base`` (ESRGAN's network interpolation,
``models.dni.write_dni``): weight 0 is the base, 1 the finetuned checkpoint. After the evaluate stage has
judged the checkpoints, ``sweep`` scores the blends at ``WEIGHTS`` on the same held-out pairs with the same
metrics (``evaluation.model_cache``): weights 0 and 1 reuse the rows the base and the checkpoint already
have; the blends in between are written to a temporary folder and run on the checkpoints' own backend
(``evaluation.model_cache.own_backend``: the predictor, or for the compact network on a few small frames the
dynamic graph, so no export each).

The checkpoint blended is the chosen one, or when the base was chosen, the checkpoint with the best score.

Rule for the exported point (``choose_weight``; docs/finetune_domain.md): each blend ``w > 0`` is judged
against the base by the checkpoint criterion itself (``pipeline.choice.select.compare``: no worse on PSNR and
SSIM, detail ratio and NIQE no worse beyond their tolerances, and a positive score
``dPSNR + W_DETAIL * d|ln detail| + W_NIQE * dNIQE``, both axes in dB-equivalents). Among the blends that
pass, the highest score wins (ties: the smaller weight, nearer the base); when none passes, weight 0, the
base. ``--dni-weight W`` exports the blend ``W`` instead (``export_choice``); only the export and the
report run again.

With --lq-videos the other end of the knob is the finetune stage's partner when it has one and the selection
chose a checkpoint (``pipeline.train.partner``: the recipe without the anchor's energy term): weight 0 is the partner,
scored like the blends and a candidate itself; when no blend passes, weight 1, the chosen checkpoint. With paired
real LQ frames, the winners at or below the PSNR of bicubic or of the base there (the higher of the two; the lower
when no winner is above the higher) are left out while one winner is above it (``psnr_guard``), whatever the other
end: the score may buy a small distortion cost with perception, but not the loss of the footage's fidelity to a
model the user already has.

A strong base (x4plus) leaves a finetune little perception to gain, and its useful blends give up a little of
it for a large PSNR gain: the criterion's mirrored trade (``pipeline.choice.select.trades_perception``) lets such a
blend pass within stated limits.

Blend weights: ``WEIGHTS``, or ``WEIGHTS_BY_KIND[kind]`` for the base's network kind. For a fully trained x4plus
each blend in between costs an export and a Paddle Inference pass, and the useful points lie at 20-50 % (phase A);
a LowBandRRDBNet's blends (``WEIGHTS_BY_ARCH``) share the base's trunk and cost only their corrector
(``evaluation.shared_trunk``).
"""
import shutil
from pathlib import Path

from realesrgan_paddle.evaluation import model_cache as MT

from ..inputs.real_lq import score_flicker, score_frames
from . import sharpen_knob
from .select import closest_miss, gave_up, judge, rank, refuse_for_flicker
from .winner import choose_point, mean_rows, merge_rows

WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
WEIGHTS_BY_KIND = {'x4plus': (0.0, 0.2, 0.3, 0.4, 0.5, 1.0)}
# finetune network type -> weights: a LowBandRRDBNet blended with its base is its corrector at strength w
# (models.archs.rrdb.lowband.base_as_lowband), which keeps the base's texture at every w
WEIGHTS_BY_ARCH = {'LowBandRRDBNet': (0.0, 0.25, 0.5, 0.75, 1.0)}


def weights_for(kind, finetune=None):
    """The blend weights swept for a base of network ``kind`` ('compact', 'x4plus'), or for the finetune's own
    network type when ``WEIGHTS_BY_ARCH`` has it (``finetune``: its weights file)."""
    if finetune is not None:
        arch = sharpen_knob.weights_io().read_checkpoint(finetune)[1]
        if arch['type'] in WEIGHTS_BY_ARCH:
            return WEIGHTS_BY_ARCH[arch['type']]
    return WEIGHTS_BY_KIND.get(kind, WEIGHTS)


def blend_name(w):
    return f'dni_{float(w):.2f}'


def finetune_of(selection, chosen):
    """The checkpoint the knob blends with the base: the chosen one, else the best-scoring one."""
    cand, table = selection['candidates'], selection['table']
    return chosen if chosen in cand else max(cand, key=lambda c: (table[c]['score'], -cand[c]))


def _renamed(rows, old, new):
    out = []
    for r in rows:
        out.append({f'{new}_{k[len(old) + 1:]}': v for k, v in r.items() if k.startswith(old + '_')})
    return out


def sweep(nets, base_path, ft_name, ft_path, gt, lq, rows_sel, tmp, weights=WEIGHTS, progress=True, real=None,
          partner=None, flicker_lq=None, iqa=None):
    """``{'finetune', 'weights', 'summary': {blend name: summary}, 'rows'}`` for the blends at ``weights``.

    ``nets``: the evaluate stage's ``model_cache.Models`` (blends get the checkpoints' backend);
    ``rows_sel``: the selection pass's rows, which already hold ``base`` and ``ft_name``; ``tmp``: a folder
    for the blend files, removed afterwards. ``real``: the real LQ frames too (``{'lq', 'gt' (None: no
    reference), 'rows'}``, rows holding ``base`` and ``ft_name``): the result's ``real`` is their summary.
    ``partner``: a weights file blended with the finetune instead of ``base_path`` (``pipeline.train.partner``); its
    weight-0 point is then scored like the blends. ``flicker_lq``: a folder of consecutive LQ frames
    (``pipeline.inputs.real_lq.extract_consecutive``): the result's ``flicker`` holds the blends' FLICKER ratios there.
    ``iqa``: the LPIPS/DISTS metrics the blends are scored with too (``evaluation.evaluator.iqa_metrics``).
    """
    names = [blend_name(w) for w in sorted(float(w) for w in weights)]
    inner = [float(w) for w in weights if float(w) < 1.0 and (float(w) > 0.0 or partner is not None)]
    tmp = Path(tmp)
    try:
        files = {blend_name(w): str(partner) if w == 0.0 else
                 str(_blend_file(ft_path, partner or base_path, w, tmp / f'{blend_name(w)}.pdparams')) for w in inner}
        blends = nets.get(files, own=list(files)) if files else {}
        zero = 'base' if partner is None else None
        rows = _blend_rows(blends, rows_sel, ft_name, weights,
                           lambda b: MT.evaluate(b, gt, lq, iqa=iqa, progress=progress), zero)
        if real:
            got = _blend_rows(blends, real['rows'], ft_name, weights,
                              lambda b: score_frames(b, real['lq'], real.get('gt'), progress, iqa=iqa), zero)
        if flicker_lq and blends:
            flick = score_flicker(blends, flicker_lq)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {'finetune': ft_name, 'weights': sorted(float(w) for w in weights), 'other': 'base' if partner is None
           else 'partner', 'summary': MT.summarize(rows, names), 'rows': rows}
    if real:
        out['real'] = {'summary': MT.summarize(got, names), 'paired': bool(real.get('gt')), 'rows': got}
    if flicker_lq and blends:
        out['flicker'] = flick
    return out


def refuse_flicker(ctx, out, flicker, partner):
    """``{blend name: reason}`` of the swept blends that flicker more than the base allows
    (``pipeline.choice.select.flicker_refusals``: the same rule as the checkpoints'), logged; empty with --allow-flicker
    (then logged as allowed) or without a flicker measure. Weight 1 is the checkpoint, whose ratios the selection
    has; weight 0 the base (never refused) or the partner, measured like the blends."""
    if not flicker or not flicker.get('ratios'):
        return {}
    ratios = dict(flicker['ratios'], **(out.get('flicker') or {}))  # the base, the --compare models, the blends
    ratios[blend_name(1.0)] = flicker['ratios'].get(out['finetune'])
    names = [blend_name(w) for w in out['weights'] if w > 0 or partner]
    return refuse_for_flicker(ctx, ratios, names, 'DNI blend ')


def _blend_rows(blends, rows_known, ft_name, weights, score, zero='base'):
    """Per image, the numbers of every blend: weights 0 and 1 from ``rows_known`` (``zero``'s and ``ft_name``'s;
    ``zero`` None: weight 0 is one of ``blends``), the others from ``score(blends)``."""
    rows = [{'image': r['image']} for r in rows_known]
    for w, src in ((0.0, zero), (1.0, ft_name)):
        if w in weights and src is not None:
            for row, part in zip(rows, _renamed(rows_known, src, blend_name(w))):
                row.update(part)
    if blends:
        by_image = {r['image']: r for r in score(blends)}
        for row in rows:
            row.update({k: v for k, v in by_image[row['image']].items()
                        if any(k.startswith(n + '_') for n in blends)})
    return rows


def choose_weight(summary, weights, base_summary, real=None, partner=False, match=(), rows=None):
    """``(weight, table, reason)`` by the rule in the module docstring; ``summary``: {blend name: summary};
    ``real``: the real LQ frames' vote (``pipeline.choice.select.judge``; its summary holds the blends and ``base``, and
    ``bicubic``, for the guard); ``partner``: weight 0 is the partner, a candidate like the blends. With LPIPS
    measured: the point that beats the ``--compare`` models ``match`` and the base on both axes most surely
    (``pipeline.choice.winner`` over every swept point, weight 0 being the base itself unless it is the partner), its noise
    from the per-image ``rows`` (the held-out pairs': the base's, the ``match`` models' and every blend's; with paired
    real frames, ``real``'s ``rows``; without rows, the means and no noise); else by the score."""
    cands = [w for w in weights if w > 0 or partner]
    table = judge(dict(summary, base=base_summary), 'base', [blend_name(w) for w in cands], real)
    points = sorted(set(cands) | ({0.0} if 0.0 in weights and blend_name(0.0) in summary else set()))
    picked = _by_both_axes(points, partner, real, rows or mean_rows(dict(summary, base=base_summary)), match)
    if picked is not None:
        return picked[0], table, picked[1]
    return _weight_by_score(table, summary, cands, base_summary, real, partner)


def _by_both_axes(points, partner, real, rows, match):
    """``(weight, reason)`` by ``pipeline.choice.winner`` over the swept ``points``, or None when LPIPS is not measured."""
    paired = bool(real and real.get('paired'))
    at_rows = (real.get('rows') or mean_rows(real['summary'])) if paired else rows
    names = {('base' if w == 0.0 and not partner else blend_name(w)): w for w in points}
    where = 'on the real LQ frames' if paired else 'on the held-out pairs'
    name, _, why = choose_point(at_rows, list(names), [*match, 'base'], where)
    return None if name is None else (names[name], f'by both axes: weight {names[name]:g}: {why}')


def _weight_by_score(table, summary, cands, base_summary, real, partner):
    winners = [w for w in cands if table[blend_name(w)]['passes']]
    on = f' on {next(iter(table.values()))["by"]}' if table and real else ''
    if not winners:
        w = 1.0 if partner else 0.0  # with a partner, weight 1 is the checkpoint the selection chose
        why = closest_miss(table, "the report's DNI section")
        return w, table, (f'no blend beats the base{on} or trades perception for distortion within the limits, '
                          f'so weight {w:g}, ' + ('the chosen checkpoint' if partner else 'the base') + f'; {why}')
    winners, guard = psnr_guard(winners, real)
    best = max(winners, key=lambda w: (*rank(table[blend_name(w)]), -w))
    t = table[blend_name(best)]
    at = real['summary'] if real and real.get('paired') else dict(summary, base=base_summary)
    s, b = at[blend_name(best)], at['base']
    how = ('beat the base or trade a little perception for distortion' if any(
        table[blend_name(w)]['traded_perception'] for w in winners) else 'beat the base')
    return best, table, (f'weight {best:.2f} has the highest score {t["score"]:+.3f}{on} among the {len(winners)} of '
                         f'{len(table)} blends that {how}{guard} (PSNR {t["dpsnr"]:+.2f} dB, detail ratio '
                         f'{s["detail"]:.3f} vs the base\'s {b["detail"]:.3f}){gave_up(t, s, b)}')


def psnr_guard(winners, real):
    """``(weights, phrase)``: with paired real LQ frames, the winning weights whose PSNR there is above the
    reference's: the higher of bicubic's and the base's (those the summary has) when at least one winner is above
    it, else the lower, else all of them (the phrase says which reference none is above); unchanged otherwise."""
    rs = (real or {}).get('summary') or {}
    if not (real or {}).get('paired'):
        return winners, ''
    refs = sorted(((rs[n]['psnr'], label) for n, label in (('bicubic', "bicubic's"), ('base', "the base's"))
                   if 'psnr' in rs.get(n, {})), reverse=True)
    none, phrase = [], ''
    for ref, label in refs:
        above = [w for w in winners if rs[blend_name(w)]['psnr'] > ref]
        if not above:
            none.append(f'none above {label} PSNR {ref:.2f} dB on the real LQ frames')
            continue
        if len(above) < len(winners):
            phrase = (f' and stay above {label} PSNR {ref:.2f} dB on the real LQ frames '
                      f'({len(winners) - len(above)} below it left out)')
        winners = above
        break
    return winners, phrase + (f' ({"; ".join(none)})' if none else '')


def run_sweep(ctx, nets, base_path, ckpt_paths, res, gt, lq, tmp, partner=None, iqa=None):
    """The evaluate stage's hook: the sweep and the rule's weight, stored as ``res['dni']`` in metrics.json.
    ``res``: the stage's result so far (its ``selection``, ``exported`` and ``real``); ``nets`` is cleaned up
    after. With real LQ frames the blends run on them too and they vote (``pipeline.choice.select.vote``).
    ``partner``: the finetune stage's partner weights (``pipeline.train.partner``), the other end of the knob when the
    selection chose a checkpoint (when it chose the base, the knob stays between the base and the best one)."""
    sel, real = res['selection'], res.get('real')
    ft = finetune_of(sel, res['exported']['name'])
    if res['exported']['name'] == 'base':
        partner = None
    weights = WEIGHTS if partner else weights_for(nets.kind, ckpt_paths[ft])
    other = 'the base' if partner is None else 'the partner (pipeline/train/partner.py)'
    ctx.say(f'evaluate: DNI sweep of {other} and {ft} at weights {", ".join(f"{w:g}" for w in weights)}'
            + (' on the held-out pairs and the real LQ frames' if real else ''))
    src = {'lq': real['lq'], 'gt': real.get('gt'), 'rows': real['rows']} if real else None
    flicker = sel.get('flicker')
    try:
        out = sweep(nets, base_path, ft, ckpt_paths[ft], gt, lq, sel['rows'], tmp, weights=weights,
                    progress=not ctx.s.quiet, real=src, partner=partner, flicker_lq=(flicker or {}).get('dir'),
                    iqa=iqa)
    finally:
        nets.cleanup()
    out['refused_flicker'] = refused = refuse_flicker(ctx, out, flicker, partner is not None)
    vote = None
    if real:
        vote = dict(out['real'], summary=dict(out['real']['summary'], base=real['summary']['base'],
                                              **{k: real['summary'][k] for k in ('bicubic', *ctx.s.compare)
                                                 if k in real['summary']}),
                    rows=merge_rows(real['rows'], out['real']['rows']))
    match = [m for m in ctx.s.compare if m in sel['summary']]  # the --compare models the rule aims at
    pairs = dict(out['summary'], **{k: sel['summary'][k] for k in ('bicubic', *match)})
    w, table, reason = choose_weight(pairs, [w for w in out['weights'] if blend_name(w) not in refused],
                                     sel['summary']['base'], vote, partner=partner is not None, match=match,
                                     rows=merge_rows(sel['rows'], out['rows']))
    if refused:
        reason += f'; refused for flicker: {"; ".join(refused.values())}'
    out.update(iteration=sel['candidates'][ft], table=table, chosen=w, reason=reason)
    ctx.say(f'evaluate: DNI rule: {reason}')
    ends = (ckpt_paths[ft], partner or base_path, partner is not None)
    out['sharpen'] = _sharpen(ctx, nets, w, ends, out, (sel, gt, lq, src, flicker, iqa), match, Path(tmp))
    return out


def _sharpen(ctx, nets, w, ends, out, scored, match, tmp):
    """``pipeline.choice.sharpen_knob`` on the DNI rule's point (weight ``w``; ``ends``: the checkpoint's file, the
    other end's, whether that is the partner), the frames that decide being the rule's."""
    ft_path, other_path, partner = ends
    sel, real = scored[0], scored[3]
    point = 'base' if w == 0.0 and not partner else blend_name(w)

    def deciding(o):
        if real and real.get('gt') and o.get('real'):
            return merge_rows(real['rows'], o['real']['rows']), 'on the real LQ frames'
        return merge_rows(sel['rows'], o['rows']), 'on the held-out pairs'
    folder = tmp.parent / 'sharpen.tmp'
    try:
        folder.mkdir(parents=True, exist_ok=True)
        src = other_path if w == 0.0 else ft_path if w == 1.0 else _blend_file(
            ft_path, other_path, w, folder / f'{blend_name(w)}.pdparams')
        return sharpen_knob.run(ctx, nets, src, out, point, scored, deciding, match, folder / 'variants')
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def export_choice(res, ckpt_paths, base_path, flag, dst, partner=None):
    """``(weights file to export, info)``: the weight of ``--dni-weight`` (``flag``) or else the rule's, of the
    sweep's checkpoint (``ckpt_paths``: {candidate name: file}) and the other end of the knob: the base, or
    ``partner`` (its weights file) when the sweep blended with it. A blend in between is written to ``dst``;
    weights 0 and 1 are the other end's and the checkpoint's own files."""
    dni = res['dni']
    w = float(dni['chosen'] if flag is None else flag)
    amount = sharpen_knob.chosen_amount(dni) if flag is None else 0.0
    other = dni.get('other', 'base')
    if other == 'partner' and partner is None:
        raise ValueError('the DNI sweep blended with the partner, whose weights file is missing')
    sigma = sharpen_knob.chosen_sigma(dni)
    name = sharpen_knob.sharp_name(blend_name(w), amount, sigma)
    info = {'name': name, 'weight': w, 'finetune': dni['finetune'], 'other': other, 'sharpen': amount,
            'sigma': sigma if amount else None,
            'how': 'the DNI rule' if flag is None else '--dni-weight', 'summary': dni['summary'].get(name)}
    end = Path(partner if other == 'partner' else base_path)
    dst = Path(dst)
    blend = dst.with_name(dst.stem + '.blend.pdparams') if amount else dst  # the mask's input, removed after
    src = end if w == 0.0 else Path(ckpt_paths[dni['finetune']]) if w == 1.0 else \
        _blend_file(ckpt_paths[dni['finetune']], end, w, blend)
    if not amount:
        return src, info
    out = sharpen_knob.write_variant(src, amount, dst, sigma)
    if src == blend:
        src.unlink()
    return out, info


def _blend_file(finetune, other, w, dst):
    """``models.dni.write_dni``: the blend ``w`` x ``finetune`` + (1 - w) x ``other`` written to ``dst``."""
    return sharpen_knob.weights_io().write_dni(finetune, other, w, dst)


def describe(info):
    """What was exported, in words (the summary line and the report); ``info``: ``export_choice``'s."""
    w, other, amount = info['weight'], info.get('other', 'base'), info.get('sharpen')
    mask = f' with an unsharp mask after it (amount {amount:g}, sigma {info.get("sigma") or 0:g} px)' if amount else ''
    if w == 0.0:
        return f'the {other}{mask} (DNI weight 0, {info["how"]})'
    if w == 1.0:
        return f'{info["finetune"]}{mask} (DNI weight 1, {info["how"]})'
    return f'the DNI blend {w:g} x {info["finetune"]} + {1 - w:g} x {other}{mask} ({info["how"]})'
