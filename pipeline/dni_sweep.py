"""The fidelity knob of the pipeline: DNI blends of the base and the finetune, swept on the held-out frames.

Blend ``w`` is the network ``w * finetune + (1 - w) * base`` (ESRGAN's network interpolation,
``models.zoo.write_dni``): weight 0 is the base, 1 the finetuned checkpoint. After the evaluate stage has
judged the checkpoints, ``sweep`` scores the blends at ``WEIGHTS`` on the same held-out pairs with the same
metrics (``evaluation.model_cache``): weights 0 and 1 reuse the rows the base and the checkpoint already
have; the blends in between are written to a temporary folder and run on the checkpoints' own backend (the
dynamic graph for the compact network, so no export each).

The checkpoint blended is the chosen one, or when the base was chosen, the checkpoint with the best score.

Rule for the exported point (``choose_weight``; docs/finetune_domain.md): each blend ``w > 0`` is judged
against the base by the checkpoint criterion itself (``pipeline.select.compare``: no worse on PSNR and
SSIM, detail ratio and NIQE no worse beyond their tolerances, and a positive score
``dPSNR + W_DETAIL * d|ln detail| + W_NIQE * dNIQE``, both axes in dB-equivalents). Among the blends that
pass, the highest score wins (ties: the smaller weight, nearer the base); when none passes, weight 0, the
base. ``--dni-weight W`` exports the blend ``W`` instead (``export_choice``); only the export and the
report run again.

A strong base (x4plus: detail near the GT's, low NIQE) leaves a finetune little perception to gain, and its
useful blends give up a little of it for a large PSNR gain. So a blend also passes by the mirror of the
checkpoint criterion's trade (``trades_perception``): a small perceptual cost bought by a large distortion
gain, within limits that are the issue-24 goal's own (fixed from the phase-A numbers of docs/gan_cpu.md,
before the pipeline's x4plus run): ``dPSNR >= MIN_PSNR_GAIN`` (0.5 dB) and ``dSSIM >= 0``; detail ratio at
least ``DETAIL_KEEP`` (0.85) x the base's (as a detail error: ``|ln detail|`` at most ``ln(1 / 0.85)`` above
the base's; a blend closer to the GT's detail pays nothing); NIQE at most ``MAX_NIQE_COST`` (0.5) above the
base's; and the score (``pipeline.select.compare``: distortion gain minus perceptual loss in dB-equivalents)
still positive. In phase A (5 held-out frames of trained scenes) this admits the 20 % and 30 % blends
(+0.52 / +0.75 dB, detail 0.91 / 0.86 x, NIQE +0.24 / +0.28) and not 50 % (detail 0.78 x).

Blend weights: ``WEIGHTS``, or ``WEIGHTS_BY_KIND[kind]`` for the base's network kind. For x4plus each blend
in between costs an export and a Paddle Inference pass, and the useful points lie at 20-50 % (phase A).
"""
import shutil
from pathlib import Path

import math

WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
WEIGHTS_BY_KIND = {'x4plus': (0.0, 0.2, 0.3, 0.4, 0.5, 1.0)}
MIN_PSNR_GAIN = 0.5
DETAIL_KEEP = 0.85
MAX_NIQE_COST = 0.5
TRADE_RULE = {'min_psnr_gain': MIN_PSNR_GAIN, 'detail_keep': DETAIL_KEEP, 'max_niqe_cost': MAX_NIQE_COST}


def weights_for(kind):
    """The blend weights swept for a base of network ``kind`` ('compact', 'x4plus')."""
    return WEIGHTS_BY_KIND.get(kind, WEIGHTS)


def trades_perception(d):
    """``[]`` when a blend's comparison ``d`` (``pipeline.select.compare``) buys a small perceptual cost with a
    large distortion gain within the limits of the module docstring, else why not (one phrase each)."""
    why = []
    if d['dpsnr'] < MIN_PSNR_GAIN or d['dssim'] < 0:
        why.append(f'PSNR {d["dpsnr"]:+.2f} dB / SSIM {d["dssim"]:+.4f}: not the {MIN_PSNR_GAIN:g} dB gain '
                   f'(and no SSIM loss) that may buy perception')
    if -d['ddetail'] > math.log(1 / DETAIL_KEEP) + 1e-9:
        why.append(f'detail error {-d["ddetail"]:+.3f} above the base\'s: less than {DETAIL_KEEP:g} x its detail')
    if d['dniqe'] is not None and -d['dniqe'] > MAX_NIQE_COST:
        why.append(f'NIQE {-d["dniqe"]:+.2f} above the base\'s (at most +{MAX_NIQE_COST:g})')
    if d['score'] <= 0:
        why.append(f'score {d["score"]:+.3f} <= 0')
    return why


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


def sweep(nets, base_path, ft_name, ft_path, gt, lq, rows_sel, tmp, weights=WEIGHTS, progress=True):
    """``{'finetune', 'weights', 'summary': {blend name: summary}, 'rows'}`` for the blends at ``weights``.

    ``nets``: the evaluate stage's ``model_cache.Models`` (blends get the checkpoints' backend);
    ``rows_sel``: the selection pass's rows, which already hold ``base`` and ``ft_name``; ``tmp``: a folder
    for the blend files, removed afterwards.
    """
    from evaluation import model_cache as MT
    from models.zoo import write_dni
    rows = [{'image': r['image']} for r in rows_sel]
    for w, src in ((0.0, 'base'), (1.0, ft_name)):
        if w in weights:
            for row, part in zip(rows, _renamed(rows_sel, src, blend_name(w))):
                row.update(part)
    inner = [float(w) for w in weights if 0.0 < float(w) < 1.0]
    tmp = Path(tmp)
    try:
        files = {blend_name(w): str(write_dni(ft_path, base_path, w, tmp / f'{blend_name(w)}.pdparams'))
                 for w in inner}
        if files:
            got = MT.evaluate(nets.get(files, own=list(files)), gt, lq, progress=progress)
            by_image = {r['image']: r for r in got}
            for row in rows:
                row.update({k: v for k, v in by_image[row['image']].items()
                            if any(k.startswith(n + '_') for n in files)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = [blend_name(w) for w in sorted(float(w) for w in weights)]
    return {'finetune': ft_name, 'weights': sorted(float(w) for w in weights),
            'summary': MT.summarize(rows, names), 'rows': rows}


def choose_weight(summary, weights, base_summary):
    """``(weight, table, reason)`` by the rule in the module docstring; ``summary``: {blend name: summary}."""
    from .select import compare
    table = {blend_name(w): compare(summary[blend_name(w)], base_summary) for w in weights if w > 0}
    for t in table.values():
        t['trade_fails'] = [] if t['beats_base'] else trades_perception(t)
        t['traded_perception'] = not t['beats_base'] and not t['trade_fails']
    winners = [w for w in weights if w > 0 and (table[blend_name(w)]['beats_base']
                                                or table[blend_name(w)]['traded_perception'])]
    if not winners:
        why = '; '.join(f'{n}: {", ".join(t["fails"])}; nor trades: {", ".join(t["trade_fails"])}'
                        for n, t in table.items())
        return 0.0, table, (f'no blend beats the base by the checkpoint criterion or buys perception with '
                            f'distortion within the limits ({why}): weight 0, the base')
    best = max(winners, key=lambda w: (table[blend_name(w)]['score'], -w))
    t, s = table[blend_name(best)], summary[blend_name(best)]
    how = ('beat the base or trade a little perception for distortion' if any(
        table[blend_name(w)]['traded_perception'] for w in winners) else 'beat the base')
    traded = (f'; it gives up perception (detail x{s["detail"] / base_summary["detail"]:.2f} of the base\'s'
              + (f', NIQE {-t["dniqe"]:+.2f}' if t['dniqe'] is not None else '') + f') for {t["dpsnr"]:+.2f} dB'
              if t['traded_perception'] else '')
    return best, table, (f'weight {best:.2f} has the highest score {t["score"]:+.3f} among the {len(winners)} of '
                         f'{len(table)} blends that {how} (PSNR {t["dpsnr"]:+.2f} dB, detail ratio '
                         f'{s["detail"]:.3f} vs the base\'s {base_summary["detail"]:.3f}){traded}')


def run_sweep(ctx, nets, base_path, ckpt_paths, res, gt, lq, tmp):
    """The evaluate stage's hook: the sweep and the rule's weight, stored as ``res['dni']`` in metrics.json.
    ``res``: the stage's result so far (its ``selection`` and ``exported``); ``nets`` is cleaned up after."""
    sel = res['selection']
    ft = finetune_of(sel, res['exported']['name'])
    weights = weights_for(nets.kind)
    ctx.say(f'evaluate: DNI sweep of the base and {ft} at weights {", ".join(f"{w:g}" for w in weights)}')
    try:
        out = sweep(nets, base_path, ft, ckpt_paths[ft], gt, lq, sel['rows'], tmp, weights=weights,
                    progress=not ctx.s.quiet)
    finally:
        nets.cleanup()
    w, table, reason = choose_weight(out['summary'], out['weights'], sel['summary']['base'])
    out.update(iteration=sel['candidates'][ft], table=table, chosen=w, reason=reason)
    ctx.say(f'evaluate: DNI rule: {reason}')
    return out


def export_choice(res, ckpt_paths, base_path, flag, dst):
    """``(weights file to export, info)``: the weight of ``--dni-weight`` (``flag``) or else the rule's, of the
    sweep's checkpoint (``ckpt_paths``: {candidate name: file}) and the base. A blend in between is written
    to ``dst``; weights 0 and 1 are the base's and the checkpoint's own files."""
    dni = res['dni']
    w = float(dni['chosen'] if flag is None else flag)
    info = {'name': blend_name(w), 'weight': w, 'finetune': dni['finetune'],
            'how': 'the DNI rule' if flag is None else '--dni-weight', 'summary': dni['summary'].get(blend_name(w))}
    if w == 0.0:
        return Path(base_path), info
    if w == 1.0:
        return Path(ckpt_paths[dni['finetune']]), info
    from models.zoo import write_dni
    return write_dni(ckpt_paths[dni['finetune']], base_path, w, dst), info


def describe(info):
    """What was exported, in words (the summary line and the report); ``info``: ``export_choice``'s."""
    w = info['weight']
    if w == 0.0:
        return f'the base (DNI weight 0, {info["how"]})'
    if w == 1.0:
        return f'{info["finetune"]} (DNI weight 1, {info["how"]})'
    return f'the DNI blend {w:g} x {info["finetune"]} + {1 - w:g} x base ({info["how"]})'
