"""The export's rule when LPIPS is measured: of the points that beat the references on both axes beyond the frames'
noise, the one with the lowest LPIPS; else the one nearest to beating them.

The axes: distortion is the mean Y PSNR, perception the mean LPIPS (AlexNet), both on the frames that decide (the
paired real LQ frames when the run has some, else the held-out pairs). The references of a point are the
``--compare`` models (x4plus by default) and the base, less the point itself.

For a point ``p`` and its references ``R``:

- ``dPSNR = PSNR_p - max_R PSNR`` (dB over the best reference on distortion), ``dLPIPS = min_R LPIPS - LPIPS_p``
  (under the best reference on perception); ``p`` **beats** every reference when both are positive;
- their noise: the frames are resampled with replacement ``N_BOOT`` times (a frame's crop windows move together,
  ``pipeline.inputs.crops.frame_of``; seeded, so a run repeats), both margins computed on each resample; ``se`` is their
  standard deviation there and ``p_win`` the share of resamples where ``p`` beats every reference;
- its **margin** ``z = min(dPSNR / (se_PSNR + PSNR_FLOOR), dLPIPS / (se_LPIPS + LPIPS_FLOOR))``: the smaller of the
  two margins in units of their noise (the floors keep a point whose output barely differs from a reference's from
  dividing by zero; 0.01 dB and 0.0005 LPIPS, under any difference a user would see).

- ``t_conf``: the resampling is too narrow on few frames (its spread of a mean is ``(n - 1) / n`` of the variance's
  estimate, and a mean of a handful of frames is not normal), so each margin is also read against Student's t with
  ``n - 1`` degrees of freedom, its noise widened by ``sqrt(n / (n - 1))``: the one-sided confidence that it is above
  zero, the smaller of the two axes'. On many frames it is the resampling's own answer; on 4 it needs a margin about
  1.9 noise units wide where the resampling needs 1.3.

Among the points that beat every reference in at least ``CONFIDENT`` of the resamples and with ``t_conf`` at least
``CONFIDENT`` (their margins are beyond the frames' noise), the lowest LPIPS wins: each of them beats every reference
on PSNR, so the one that sees most is shipped. A point whose LPIPS is within the lowest one's noise (its
``se_lpips``) of it ties with it, and of the tied points the highest PSNR wins: a knob that buys LPIPS at a
falling rate in dB (the sharpening) does not spend decibels on a difference the frames cannot tell. When none is that
sure, of the points that beat every reference on the means the one that beats them in the most resamples
(``p_win``, to the percent; ties: the larger ``z``, then the earlier point) wins: the chance of a win on both axes at
once, where ``z`` reads only the narrower axis, so a point narrow on both (a sharpening that has spent its PSNR
margin over the base down to the noise) does not pass one that is narrow on one. The report says the frames are too
few to be sure. A point that beats every reference is always chosen when the run has one, whatever bicubic's PSNR
(bicubic is a verdict in the report, ``bicubic_line``). When none does, the largest ``z`` (ties: the earlier point:
the base, the earlier iteration, the smaller DNI weight) is the point nearest the corner, and the verdict says what
it loses and to whom. Without per-frame rows (the means alone) every winner counts as sure.
"""
import math

import numpy as np
from scipy.special import stdtr  # Student's t distribution function

from ..inputs.crops import frame_of

N_BOOT = 2000
PSNR_FLOOR = 0.01
LPIPS_FLOOR = 0.0005
CONFIDENT = 0.9
AXES = ('psnr', 'lpips')


def _finite(v):
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def frame_sums(rows, names):
    """``(frames, sums, counts)``: per frame (its crop windows together), the sum of each name's PSNR and LPIPS
    (``sums[f, i, a]``, axis ``a`` in ``AXES``) and the number of rows; only rows where every name has both."""
    keep = [r for r in rows if all(_finite(r.get(f'{n}_{a}')) for n in names for a in AXES)]
    frames = sorted({frame_of(r['image']) for r in keep})
    index = {f: i for i, f in enumerate(frames)}
    sums = np.zeros((len(frames), len(names), len(AXES)))
    counts = np.zeros(len(frames))
    for r in keep:
        f = index[frame_of(r['image'])]
        counts[f] += 1
        sums[f] += [[float(r[f'{n}_{a}']) for a in AXES] for n in names]
    return frames, sums, counts


def resampled_means(sums, counts, n_boot=N_BOOT, seed=0):
    """``(means, boot)``: every name's mean PSNR and LPIPS over all rows ``[names, 2]``, and over ``n_boot`` resamples
    of the frames with replacement ``[n_boot, names, 2]``."""
    n = len(counts)
    means = sums.sum(0) / counts.sum()
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    boot = np.einsum('bf,fna->bna', weights, sums) / (weights @ counts)[:, None, None]
    return means, boot


def _margins(m, i, refs):
    """``(dPSNR, dLPIPS)`` of name ``i`` against the names ``refs`` in means ``m`` (``[..., names, 2]``)."""
    return m[..., i, 0] - m[..., refs, 0].max(-1), m[..., refs, 1].min(-1) - m[..., i, 1]


def point_stats(rows, points, refs, n_boot=N_BOOT, seed=0):
    """``{point: stats}`` (``rank``'s), or None when the rows lack PSNR or LPIPS for a name (the rule cannot
    apply). ``points``: the candidates in tie order; ``refs``: the references (a point is not its own)."""
    names = list(dict.fromkeys([*points, *refs]))
    frames, sums, counts = frame_sums(rows, names)
    if not frames:
        return None
    means, boot = resampled_means(sums, counts, n_boot, seed)
    out = {}
    for p in points:
        mine = [names.index(r) for r in refs if r != p]
        out[p] = _stats(means, boot, names.index(p), mine, [r for r in refs if r != p], names, len(frames))
    return out


def student_conf(margin, se, floor, n):
    """One-sided confidence that a margin measured on ``n`` frames is above zero: ``margin`` over the resampled noise
    ``se`` widened by ``sqrt(n / (n - 1))`` (plus ``floor``), against Student's t with ``n - 1`` degrees of freedom."""
    if n < 2:
        return 0.0
    return float(stdtr(n - 1, margin / (se * math.sqrt(n / (n - 1)) + floor)))


def _stats(means, boot, i, mine, ref_names, names, frames):
    """One point's margins, their noise, ``z``, ``p_win`` and the references' means it was judged against."""
    if not mine:  # the base without --compare models: nothing to beat, a neutral point
        return {'dpsnr': 0.0, 'dlpips': 0.0, 'se_psnr': 0.0, 'se_lpips': 0.0, 'z': 0.0, 'p_win': None, 't_conf': None,
                'beats': False, 'frames': frames, 'refs': {}, 'psnr': float(means[i, 0]), 'lpips': float(means[i, 1])}
    dp, dl = _margins(means, i, mine)
    bp, bl = _margins(boot, i, mine)
    se_p, se_l = float(bp.std()), float(bl.std())
    z = min(dp / (se_p + PSNR_FLOOR), dl / (se_l + LPIPS_FLOOR))
    t_conf = (min(student_conf(dp, se_p, PSNR_FLOOR, frames), student_conf(dl, se_l, LPIPS_FLOOR, frames))
              if frames >= 2 else None)  # the means alone: no noise to read (every winner sure, as documented)
    return {'dpsnr': float(dp), 'dlpips': float(dl), 'se_psnr': se_p, 'se_lpips': se_l, 'z': float(z),
            'p_win': float(np.mean((bp > 0) & (bl > 0))), 't_conf': t_conf, 'beats': bool(dp > 0 and dl > 0),
            'frames': frames, 'psnr': float(means[i, 0]), 'lpips': float(means[i, 1]),
            'refs': {r: {'psnr': float(means[j, 0]), 'lpips': float(means[j, 1])} for r, j in zip(ref_names, mine)}}


def sure(st):
    """A point that beats every reference on the means, in at least ``CONFIDENT`` of the resamples, and with the
    few-frame reading of its margins (``t_conf``) at least as confident."""
    return st['beats'] and st['p_win'] is not None and st['p_win'] >= CONFIDENT and \
        (st.get('t_conf') is None or st['t_conf'] >= CONFIDENT)


def pick(stats):
    """The winner's name: among the points that surely beat every reference (``sure``), the lowest LPIPS, the points
    within its noise of it tying with it and the higher PSNR breaking the tie; else among those that beat them on the
    means, the most resamples won (``p_win``, to the percent), then the larger ``z``; else the largest ``z`` (ties:
    the earliest point of ``stats``)."""
    order = list(stats)
    safe = [p for p in order if sure(stats[p])]
    if safe:
        low = min(safe, key=lambda p: (round(stats[p]['lpips'], 9), -stats[p]['psnr'], order.index(p)))
        tied = [p for p in safe if stats[p]['lpips'] <= stats[low]['lpips'] + stats[low]['se_lpips']]
        return max(tied, key=lambda p: (round(stats[p]['psnr'], 9), -order.index(p)))
    beating = [p for p in order if stats[p]['beats']]
    if beating:
        return max(beating, key=lambda p: (round(stats[p]['p_win'] or 0.0, 2), round(stats[p]['z'], 9),
                                           -order.index(p)))
    return max(order, key=lambda p: (round(stats[p]['z'], 9), -order.index(p)))


def losses_of(st):
    """Phrases: where a point's stats lose to a reference (PSNR not above the best, LPIPS not under the best)."""
    out = []
    for r, v in st['refs'].items():
        lost = ([f'PSNR {st["psnr"]:.2f} vs {v["psnr"]:.2f} dB'] if st['psnr'] <= v['psnr'] else []) + \
               ([f'LPIPS {st["lpips"]:.4f} vs {v["lpips"]:.4f}'] if st['lpips'] >= v['lpips'] else [])
        if lost:
            out.append(f'{r} ({", ".join(lost)})')
    return out


def confidence(st):
    """The noise phrase: how often the point beats every reference over the resampled frames, and whether that
    decides."""
    if st['p_win'] is None:
        return ''
    if st['frames'] < 2:
        return 'on the means alone (no per-frame numbers, so no noise measured)'
    t_conf = st.get('t_conf')  # None in the metrics of runs made before the Student reading
    if st['p_win'] < CONFIDENT:
        verdict = f'too few frames to be sure (under {CONFIDENT:.0%}): more held-out real frames would decide'
    elif t_conf is not None and t_conf < CONFIDENT:
        verdict = (f'too few frames to be sure ({st["frames"]} frames: read against Student\'s t, {t_conf:.0%}, '
                   f'under {CONFIDENT:.0%}): more held-out real frames would decide')
    else:
        verdict = 'decided'
    return (f'it beats them in {st["p_win"]:.0%} of {N_BOOT} resamples of the {st["frames"]} frames '
            f'(noise: {st["se_psnr"]:.2f} dB, LPIPS {st["se_lpips"]:.4f}): {verdict}')


def reason(name, st, n_points, where):
    """The choice in words, for the log and the report."""
    refs = ' and '.join(st['refs']) or 'nothing'
    if st['beats']:
        head = (f'{name} beats {refs} on both axes {where}: PSNR {st["psnr"]:.2f} dB, +{st["dpsnr"]:.2f} over the '
                f'best of them; LPIPS {st["lpips"]:.4f}, {st["dlpips"]:.4f} under the best')
        how = ('the lowest LPIPS of the points that surely do, within its noise the highest PSNR' if sure(st) else
               (f'of the {n_points} points the one that beats them most often, none sure' if n_points > 1 else
                'the only point, not sure'))
        return f'{head}; {how}; {confidence(st)}'
    if not st['refs']:
        return (f'no point beats {name} on both axes {where}, so {name} is kept (PSNR {st["psnr"]:.2f} dB, LPIPS '
                f'{st["lpips"]:.4f})')
    return (f'no point beats {refs} on both axes {where}; {name} comes nearest (PSNR {st["psnr"]:.2f} dB, LPIPS '
            f'{st["lpips"]:.4f}) and loses to ' + '; '.join(losses_of(st)))


def choose_point(rows, points, refs, where):
    """``(name, stats, reason)`` by the rule of the module docstring, or ``(None, None, '')`` when the rows cannot
    judge (a name without PSNR or LPIPS)."""
    stats = point_stats(rows, points, refs)
    if stats is None or any(st is None for st in stats.values()):
        return None, None, ''
    name = pick(stats)
    return name, stats, reason(name, stats[name], len(points), where)


def mean_rows(summary):
    """One row of a summary's means ({name: {metric: mean}}): the rule on the means alone, with no noise measured."""
    row = {'image': 'means'}
    for name, v in summary.items():
        row.update({f'{name}_{a}': v[a] for a in AXES if a in v})
    return [row]


def merge_rows(*tables):
    """Rows of one image merged across ``tables`` (lists of rows with an ``image`` key), in the first's order."""
    by_image = {}
    for rows in tables:
        for r in rows or []:
            by_image.setdefault(r['image'], {}).update(r)
    return [by_image[r['image']] for r in tables[0]]
