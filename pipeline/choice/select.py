"""Which model to ship: the base or one finetuned checkpoint, judged on two axes.

For a candidate ``c`` and the base ``b`` (means over the held-out pairs):

- distortion: ``dPSNR = PSNR_c - PSNR_b`` (dB, Y, crop 4), ``dSSIM = SSIM_c - SSIM_b``; its cost
  ``C = max(0, -dPSNR) + W_SSIM * max(0, -dSSIM)`` in dB (``W_SSIM`` = 20 dB per unit of SSIM: 0.01 SSIM
  counts as 0.2 dB);
- perception: the detail error ``E = |ln detail|`` (0 when the output is exactly as detailed as the GT;
  detail is the geometric mean of the per-image Laplacian-energy ratios), ``dE = E_b - E_c`` (positive:
  closer to the GT's detail), and ``dNIQE = NIQE_b - NIQE_c`` (positive: more natural;
  ``evaluation.evaluator`` measures NIQE on every output at least 96 px on its short side after the border
  crop); its gain ``G = W_DETAIL * dE + W_NIQE * dNIQE`` in dB-equivalents (``W_DETAIL`` = 2 dB per unit of
  ``|ln detail|``, ``W_NIQE`` = 0.5 dB per NIQE point).

``c`` beats the base when all of these hold:

1. perception no worse: ``dE >= -DETAIL_TOL`` (0.05, about 5 % in detail ratio) and
   ``dNIQE >= -NIQE_TOL`` (0.1, NIQE's noise);
2. distortion no worse (``dPSNR >= 0`` and ``dSSIM >= 0``), or a small distortion cost bought by a large
   perceptual gain: ``-dPSNR <= MAX_PSNR_COST`` (0.5 dB), ``-dSSIM <= MAX_SSIM_COST`` (0.03),
   ``G >= MIN_GAIN`` (0.5 dB-eq) and ``G >= TRADE * C`` (3: the gain is at least three times the cost);
3. ``score > 0``, with ``score = dPSNR + W_SSIM * dSSIM + G``.

The NIQE terms are dropped only when no held-out frame is large enough for NIQE (the reason then says so).
Among the checkpoints that beat the base, the highest score wins (ties: the earlier iteration). When none
does, the base itself is shipped, and the report says so.

The mirror of that trade, for a strong base (x4plus: detail near the GT's, low NIQE, so a finetune has little
perception to gain and its useful points give up a little of it for a large PSNR gain): a candidate that does
not beat the base still passes (``trades_perception``) when its PSNR is at least ``MIN_PSNR_GAIN`` (0.5 dB)
higher and its SSIM no lower, its detail ratio at least ``DETAIL_KEEP`` (0.85) x the base's (as a detail error:
``|ln detail|`` at most ``ln(1 / 0.85)`` above the base's; nearer the GT's detail costs nothing), its NIQE at
most ``MAX_NIQE_COST`` (0.5) above the base's, and its score still positive. The limits are the x4plus goal's
own, fixed from the phase-A table of docs/experiments/gan_cpu.md before the pipeline's x4plus run; on that table they admit
the 20 % and 30 % DNI blends (+0.52 / +0.75 dB, detail 0.91 / 0.86 x, NIQE +0.24 / +0.28) and not 50 %
(detail 0.78 x). The same rule judges checkpoints and DNI blends (``pipeline.choice.dni_sweep``).

With ``--lq-videos`` the held-out real LQ frames vote (``vote``; ``real``: their summaries and whether they
are paired with HR frames):

- paired (the LQ footage is the HR footage made smaller, so the real frames have ground truth): the real frames
  decide, ahead of the synthetic held-out pairs: the same conditions and score as above, on the real frames'
  means. The synthetic pairs' comparison is kept beside it (``d['pairs']``) and breaks ties only.
- unpaired (no reference on the real frames): the synthetic pairs judge as above, together with the real
  frames: ``W_NIQE x dNIQE`` on the real frames is added to the gain and the score, and a candidate fails when
  its NIQE on the real frames is higher than the base's by more than ``NIQE_TOL``, or when its detail against
  bicubic on the real frames moves away from the base's (by more than ``DETAIL_TOL`` in ln) in the opposite
  direction from its detail on the pairs (the pairs say sharper, the footage says softer, or the reverse).

**On both axes, when LPIPS is measured** (the weights cached, ``evaluation.iqa``) and the per-image rows are given:
``pipeline.choice.winner`` over the base and the candidates on the frames that decide (the paired real LQ frames when there
are some, else the held-out pairs): the point that beats the ``--compare`` models (x4plus by default) and the base on
PSNR and LPIPS most surely (the frames resampled with replacement: of the points whose margins are beyond that
noise the lowest LPIPS, else the one that wins in the most resamples), else the one nearest to that; bicubic's PSNR is a verdict in the report, not a filter. Without the per-image rows, the means
alone (no noise measured). The score above is still computed for the report; without LPIPS it decides as before.
The unpaired real frames' vote (no reference, so no LPIPS there)
takes no part in either. The DNI rule (``pipeline.choice.dni_sweep.choose_weight``) is the same over the swept points (the
base or the partner at weight 0).

``losses(summary, name, others)`` then says, per axis, where the shipped model loses to bicubic, the base or
a ``--compare`` model (the same tolerances; LPIPS and DISTS beyond ``LPIPS_TOL``), for the log and the report.
"""
import math

from .winner import CONFIDENT, LPIPS_FLOOR, N_BOOT, PSNR_FLOOR, choose_point, mean_rows

DETAIL_TOL = 0.05
NIQE_TOL = 0.1
BLOCKS_TOL = 0.1  # |ln blocks|: tiles about 10 % stronger than the other model's before they count
W_DETAIL = 2.0
W_NIQE = 0.5
W_SSIM = 20.0
MAX_PSNR_COST = 0.5
MAX_SSIM_COST = 0.03
MIN_GAIN = 0.5
TRADE = 3.0
MIN_PSNR_GAIN = 0.5
DETAIL_KEEP = 0.85
MAX_NIQE_COST = 0.5
LPIPS_TOL = 0.005  # LPIPS (and DISTS) differences below this count as none (not tuned)
CRITERION = {'detail_tol': DETAIL_TOL, 'niqe_tol': NIQE_TOL, 'w_detail': W_DETAIL, 'w_niqe': W_NIQE, 'w_ssim': W_SSIM,
             'max_psnr_cost': MAX_PSNR_COST, 'max_ssim_cost': MAX_SSIM_COST, 'min_gain': MIN_GAIN, 'trade': TRADE,
             'min_psnr_gain': MIN_PSNR_GAIN, 'detail_keep': DETAIL_KEEP, 'max_niqe_cost': MAX_NIQE_COST,
             'lpips_rule': {'tol': LPIPS_TOL},
             'both_axes': {'n_boot': N_BOOT, 'psnr_floor': PSNR_FLOOR, 'lpips_floor': LPIPS_FLOOR,
                           'confident': CONFIDENT, 'refs': 'the --compare models and the base'}}


def measured(v):
    """A number (NIQE is NaN when every held-out frame is smaller than one 96x96 block)."""
    return v is not None and not math.isnan(float(v))


def detail_error(detail):
    return abs(math.log(max(float(detail), 1e-12)))


def compare(cand, base):
    """The deltas, the gain, the cost, the score and the failed conditions of ``cand`` against ``base``."""
    d = _deltas(cand, base)
    return _verdict(d, _perception_fails(d, cand, base))


def _deltas(cand, base):
    d = {'dpsnr': cand['psnr'] - base['psnr'], 'dssim': cand['ssim'] - base['ssim'],
         'ddetail': detail_error(base['detail']) - detail_error(cand['detail'])}
    niqe = measured(cand.get('niqe')) and measured(base.get('niqe'))
    d['dniqe'] = (base['niqe'] - cand['niqe']) if niqe else None
    d['gain'] = W_DETAIL * d['ddetail'] + (W_NIQE * d['dniqe'] if niqe else 0.0)
    d['cost'] = max(0.0, -d['dpsnr']) + W_SSIM * max(0.0, -d['dssim'])
    d['score'] = d['dpsnr'] + W_SSIM * d['dssim'] + d['gain']
    return d


def _perception_fails(d, cand, base):
    fails = []
    if d['ddetail'] < -DETAIL_TOL:
        fails.append(f'detail ratio {cand["detail"]:.3f} further from 1 than the base\'s {base["detail"]:.3f}')
    if d['dniqe'] is not None and d['dniqe'] < -NIQE_TOL:
        fails.append(f'NIQE {cand["niqe"]:.2f} vs {base["niqe"]:.2f}')
    return fails


def _verdict(d, fails):
    """``d`` with the distortion and score conditions added to ``fails``, and the verdict."""
    if d['cost'] > 0:
        fails += _distortion_fails(d)
    if not fails and d['score'] <= 0:
        fails.append(f'score {d["score"]:+.3f} <= 0')
    d['fails'] = fails
    d['beats_base'] = not fails
    d['traded'] = not fails and d['cost'] > 0
    return d


def _distortion_fails(d):
    """Why a distortion cost is not bought by the perceptual gain ([] when it is)."""
    lost = ', '.join(([f'PSNR {d["dpsnr"]:+.2f} dB'] if d['dpsnr'] < 0 else [])
                     + ([f'SSIM {d["dssim"]:+.4f}'] if d['dssim'] < 0 else []))
    if -d['dpsnr'] > MAX_PSNR_COST or -d['dssim'] > MAX_SSIM_COST:
        return [f'{lost}: more than the {MAX_PSNR_COST:g} dB / {MAX_SSIM_COST:g} SSIM a perceptual gain may buy']
    if d['gain'] < max(MIN_GAIN, TRADE * d['cost']):
        return [f'{lost} (cost {d["cost"]:.2f} dB) not bought by the perceptual gain {d["gain"]:.2f} '
                f'(needs >= {TRADE:g} x the cost and >= {MIN_GAIN:g})']
    return []


def vote(pairs_c, pairs_b, real_c=None, real_b=None, paired=False):
    """``compare`` of a candidate with the base, with the real LQ frames' vote when their summaries ``real_c``,
    ``real_b`` are given (the rule in the module docstring). ``d['by']`` names the frames that decided."""
    if real_c is None or real_b is None:
        return dict(compare(pairs_c, pairs_b), by='the held-out pairs')
    if paired:
        d = compare(real_c, real_b)
        d['fails'] = [f'real LQ frames: {f}' for f in d['fails']]
        return dict(d, pairs=compare(pairs_c, pairs_b), by='the real LQ frames')
    d = _deltas(pairs_c, pairs_b)
    fails = _perception_fails(d, pairs_c, pairs_b)
    d['real_dniqe'] = None
    if measured(real_c.get('niqe')) and measured(real_b.get('niqe')):
        d['real_dniqe'] = r = real_b['niqe'] - real_c['niqe']
        d['gain'] += W_NIQE * r
        d['score'] += W_NIQE * r
        if r < -NIQE_TOL:
            fails.append(f'real LQ frames: NIQE {real_c["niqe"]:.2f} vs {real_b["niqe"]:.2f}')
    on_pairs = math.log(max(pairs_c['detail'], 1e-12) / max(pairs_b['detail'], 1e-12))
    dvb = [x.get('detail_vs_bicubic') for x in (real_c, real_b)]
    if all(measured(v) and v > 0 for v in dvb):
        on_real = math.log(dvb[0] / dvb[1])
        if abs(on_pairs) > DETAIL_TOL and on_real * math.copysign(1.0, on_pairs) < -DETAIL_TOL:
            fails.append(f'real LQ frames: detail against bicubic {dvb[0]:.2f} vs {dvb[1]:.2f}, the other way '
                         f'from the pairs ({pairs_c["detail"]:.3f} vs {pairs_b["detail"]:.3f})')
    return dict(_verdict(d, fails), by='the held-out pairs and the real LQ frames')


def trades_perception(d):
    """``[]`` when a comparison ``d`` that does not beat the base buys a small perceptual cost with a large
    distortion gain within the limits of the module docstring, else why not (one phrase each)."""
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


def judge(summary, base, names, real=None):
    """``{name: vote(...)}`` for ``names`` against ``base``, each with ``trade_fails``, ``traded_perception``
    and ``passes`` (beats the base, or trades perception for distortion); ``summary``: {name: summary} on the
    held-out pairs; ``real``: None, or ``{'summary': {name: summary on the real LQ frames}, 'paired': bool}``
    holding ``base`` and every name."""
    rs = (real or {}).get('summary') or {}
    table = {n: vote(summary[n], summary[base], rs.get(n), rs.get(base), bool((real or {}).get('paired')))
             for n in names}
    for t in table.values():
        t['trade_fails'] = [] if t['beats_base'] else trades_perception(t)
        t['traded_perception'] = not t['beats_base'] and not t['trade_fails']
        t['passes'] = t['beats_base'] or t['traded_perception']
    return table


def gave_up(t, mine, base):
    """The reason's phrase for a point that passed by trading perception ('' otherwise); ``mine``/``base``: the
    summaries it was judged on. It names what perception lost, as the criterion reads it: a detail ratio further
    from the GT's 1 than the base's (more detail than the GT, overshoot or noise, is a loss too), a higher NIQE."""
    if not t.get('traded_perception'):
        return ''
    lost = []
    if t['ddetail'] < 0:
        lost.append(f'detail {mine["detail"]:.2f} of the GT\'s, further from 1 than the base\'s {base["detail"]:.2f}')
    if t['dniqe'] is not None and t['dniqe'] < 0:
        lost.append(f'NIQE {-t["dniqe"]:+.2f}')
    if not lost:
        return f'; it passes on {t["dpsnr"]:+.2f} dB, no perception lost'
    return f'; for {t["dpsnr"]:+.2f} dB it gives up some perception ({"; ".join(lost)})'


def closest_miss(table, where):
    """The one-breath part of a 'none passes' verdict: the highest-scored candidate of ``table`` and the first
    reason it fails; ``where``: what holds every candidate's reasons ("the report's selection table")."""
    name, t = max(table.items(), key=lambda kv: kv[1]['score'])
    fails = t['fails'] + [f for f in t.get('trade_fails', []) if f not in t['fails']]
    first = fails[0] if fails else f'score {t["score"]:+.3f} <= 0'
    more = f'{len(fails) - 1} more, ' if len(fails) > 1 else ''
    return f'the closest, {name} (score {t["score"]:+.3f}), fails on {first} ({more}all in {where})'


def rank(t):
    """Sort key of a winner: its score, then (paired real frames) its score on the synthetic pairs."""
    return t['score'], t['pairs']['score'] if 'pairs' in t else 0.0


def deciding(summary, real):
    """The summaries a choice is made on: the paired real LQ frames' when there are some, else ``summary``."""
    return real['summary'] if real and real.get('paired') else summary


def choose(summary, base, candidates, real=None, match=(), rows=None):
    """``(name, table, reason)``: ``name`` is the winner or ``base``; ``table`` has each candidate's comparison.

    ``candidates``: ordered {name: iteration}; ``real``: the real LQ frames' vote (``judge``; with paired frames its
    ``rows`` decide). With LPIPS measured on the deciding frames: the point that beats the ``--compare`` models
    ``match`` and the base on both axes most surely (``pipeline.choice.winner``; each candidate's ``axes`` in
    ``table``), its noise from the per-image ``rows`` on the held-out pairs (without them: the means, no noise);
    without LPIPS, by the score.
    """
    table = judge(summary, base, candidates, real)
    paired = bool(real and real.get('paired'))
    at = deciding(summary, real)
    at_rows = (real.get('rows') if paired else rows) or mean_rows(at)
    where = 'on the real LQ frames' if paired else 'on the held-out pairs'
    name, stats, why = choose_point(at_rows, [base, *candidates], [m for m in match if m in at] + [base], where)
    if name is not None:
        for c in candidates:
            table[c]['axes'] = stats[c]
        return name, table, 'by both axes: ' + why
    return _choose_by_score(table, summary, base, candidates, real)


def _choose_by_score(table, summary, base, candidates, real):
    winners = [c for c in candidates if table[c]['passes']]
    no_niqe = '' if all(table[c]['dniqe'] is not None for c in table) else \
        '; NIQE not measured (held-out frames under 96 px after the border crop), so it takes no part'
    on = f' (judged on {table[next(iter(table))]["by"]})' if table and real else ''
    if not winners:
        why = closest_miss(table, "the report's selection table") if table else 'no checkpoint was saved'
        return base, table, f'no checkpoint beats the base by the criterion{on}: {why}'
    best = max(winners, key=lambda c: (*rank(table[c]), -candidates[c]))
    t = table[best]
    at = (real or {}).get('summary') if (real or {}).get('paired') else summary
    niqe = (f', NIQE {at[best]["niqe"]:.2f} vs the base\'s {at[base]["niqe"]:.2f}'
            if t['dniqe'] is not None else no_niqe)
    traded = (f'; it trades a distortion cost of {t["cost"]:.2f} dB for a perceptual gain of {t["gain"]:.2f}'
              if t['traded'] else '')
    reason = (f'{best} (iteration {candidates[best]}) has the highest score {t["score"]:+.3f}{on} among the '
              f'{len(winners)} of {len(candidates)} checkpoints that beat the base: PSNR {t["dpsnr"]:+.2f} dB, '
              f'SSIM {t["dssim"]:+.4f}, detail ratio {at[best]["detail"]:.3f} vs the base\'s '
              f'{at[base]["detail"]:.3f}' + niqe + traded + gave_up(t, at[best], at[base]))
    return best, table, reason


AXES = {'distortion': ('psnr', 'ssim'), 'perception': ('detail', 'niqe', 'blocks', 'lpips', 'dists')}


def _loses_on(metric, mine, theirs):
    """A phrase when ``mine`` is worse than ``theirs`` on ``metric`` beyond its tolerance, else None."""
    if not (measured(mine) and measured(theirs)):
        return None
    if metric == 'psnr' and mine < theirs:
        return f'PSNR {mine:.2f} vs {theirs:.2f} dB'
    if metric == 'ssim' and mine < theirs:
        return f'SSIM {mine:.4f} vs {theirs:.4f}'
    if metric == 'detail' and detail_error(mine) > detail_error(theirs) + DETAIL_TOL:
        return f'detail ratio {mine:.3f} vs {theirs:.3f} (further from 1)'
    if metric == 'niqe' and mine > theirs + NIQE_TOL:
        return f'NIQE {mine:.2f} vs {theirs:.2f}'
    if metric == 'blocks' and detail_error(mine) > detail_error(theirs) + BLOCKS_TOL:
        return f'tiles on the 4 px grid {mine:.2f} vs {theirs:.2f} (BLOCKS, 1 is none)'
    if metric in ('lpips', 'dists') and mine > theirs + LPIPS_TOL:
        return f'{metric.upper()} {mine:.4f} vs {theirs:.4f}'
    return None


def losses(summary, name, others, where='on the held-out pairs', axes=None):
    """One line per model of ``others`` and axis on which ``name`` loses (the metrics a summary has);
    ``axes``: {axis: metrics}, default ``AXES``."""
    lines = []
    for other in others:
        if other == name or other not in summary:
            continue
        for axis, metrics in (axes or AXES).items():
            lost = [p for m in metrics if m in summary[name] and m in summary[other]
                    for p in [_loses_on(m, summary[name][m], summary[other][m])] if p]
            if lost:
                lines.append(f'the exported model loses to {other} on {axis} {where}: {"; ".join(lost)}')
    return lines


FLICKER_TOL = 0.3  # a candidate may flicker at most 30 % more than the base (--allow-flicker lifts it) ...
# ... or, when the --compare models' flicker is measured, as much as the steadiest of them: steadier than the generic
# model the user would otherwise run is no loss on the third axis


def flicker_worst(ratios):
    """The larger of a model's static and warp flicker ratios (``evaluation.flicker``), NaN when neither is known."""
    vals = [float(ratios.get(k, float('nan'))) for k in ('static', 'warp')] if ratios else []
    vals = [v for v in vals if measured(v)]
    return max(vals) if vals else float('nan')


def flicker_cap(flicker, base, refs=(), tol=FLICKER_TOL):
    """``(cap, phrase)``: the flicker a candidate may have, ``(1 + tol)`` x the base's or the steadiest measured model
    of ``refs`` (the --compare models) when that is higher; ``(nan, '')`` without the base's measure."""
    b = flicker_worst((flicker or {}).get(base))
    if not measured(b):
        return float('nan'), ''
    cap, why = (1.0 + tol) * b, f'more than {1 + tol:.1f}x the base\'s {b:.2f}x'
    steady = min(((flicker_worst(flicker.get(r)), r) for r in refs if measured(flicker_worst(flicker.get(r)))),
                 default=None)
    if steady and steady[0] > cap:
        cap, why = steady[0], f'{why} and more than {steady[1]}\'s {steady[0]:.2f}x'
    return cap, why


def flicker_refusals(flicker, base, names, tol=FLICKER_TOL, refs=()):
    """``{name: reason}`` of the ``names`` whose flicker (``flicker_worst`` of ``flicker[name]``; ``flicker``:
    {name: ratios}) is above ``flicker_cap``: ``(1 + tol)`` x the base's, or the steadiest of the measured ``refs``
    (the --compare models) when they flicker more. Names or a base without a measure are not refused."""
    cap, why = flicker_cap(flicker, base, refs, tol)
    if not measured(cap):
        return {}
    out = {}
    for n in names:
        c = flicker_worst(flicker.get(n))
        if measured(c) and c > cap:
            out[n] = f'{n} flickers {c:.2f}x ({why}; --allow-flicker lets it through)'
    return out


def refuse_for_flicker(ctx, ratios, names, what=''):
    """``flicker_refusals`` of ``names`` against the base and the run's --compare models (``ctx.s.compare``), each
    logged (``what``: 'DNI blend ', 'sharpening ' before the verdict); ``{}`` with --allow-flicker, which lets them
    through and says so."""
    refused = flicker_refusals(ratios, 'base', names, refs=list(ctx.s.compare))
    for why in refused.values():
        ctx.say(f'evaluate: {what}{"allowed (--allow-flicker)" if ctx.s.allow_flicker else "refused"}: {why}')
    return {} if ctx.s.allow_flicker else refused


def loses_to_bicubic(summary, name):
    """Bicubic as a candidate: ``{'distortion': [...], 'perception': [...]}`` (phrases) when ``name`` loses to
    bicubic on both axes of ``summary`` (distortion: PSNR; perception: NIQE or the detail ratio, BLOCKS named
    too), else None. Such a model is not exported without ``--force-export`` (``pipeline.stages.finetune``)."""
    if 'bicubic' not in summary or name not in summary:
        return None
    mine, bic = summary[name], summary['bicubic']
    lost = {axis: [p for m in metrics for p in [_loses_on(m, mine.get(m), bic.get(m))] if p]
            for axis, metrics in (('distortion', ('psnr',)), ('perception', ('niqe', 'detail')))}
    if not (lost['distortion'] and lost['perception']):
        return None
    lost['perception'] += [p for p in [_loses_on('blocks', mine.get('blocks'), bic.get('blocks'))] if p]
    return lost
