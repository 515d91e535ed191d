"""Which model to ship: the base or one finetuned checkpoint, judged on both axes.

For a candidate ``c`` and the base ``b`` (means over the held-out pairs):

- distortion: ``dPSNR = PSNR_c - PSNR_b`` (dB, Y, crop 4), ``dSSIM = SSIM_c - SSIM_b``;
- perception: the detail error ``E = |ln detail|`` (0 when the output is exactly as
  detailed as the GT; detail is the geometric mean of the per-image Laplacian-energy ratios),
  ``dE = E_b - E_c`` (positive: closer to the GT's detail); and
  ``dNIQE = NIQE_b - NIQE_c`` (positive: more natural; ``evaluation.evaluator`` measures NIQE on
  every output at least 96 px on its short side after the border crop).

``c`` beats the base when all of these hold:

1. ``dPSNR >= 0`` and ``dSSIM >= 0``: no worse in distortion;
2. ``dE >= -DETAIL_TOL``: its detail ratio is no further from 1 than the base's, up to
   ``DETAIL_TOL`` in log terms (0.05, i.e. about 5 %);
3. ``dNIQE >= -NIQE_TOL`` (``NIQE_TOL`` = 0.1): no less natural, beyond NIQE's noise;
4. ``score > 0``, with ``score = dPSNR + W_DETAIL * dE + W_NIQE * dNIQE`` (dB-equivalents:
   ``W_DETAIL`` = 2 dB per unit of ``|ln detail|``, ``W_NIQE`` = 0.5 dB per NIQE point; the
   NIQE term and condition 3 are dropped only when no held-out frame is large enough for NIQE,
   and the reason then says so).

Among the checkpoints that beat the base, the highest score wins (ties: the earlier
iteration). When none does, the base itself is shipped, and the report says so.
"""
import math

DETAIL_TOL = 0.05
NIQE_TOL = 0.1
W_DETAIL = 2.0
W_NIQE = 0.5


def measured(v):
    """A number (NIQE is NaN when every held-out frame is smaller than one 96x96 block)."""
    return v is not None and not math.isnan(float(v))


def detail_error(detail):
    return abs(math.log(max(float(detail), 1e-12)))


def compare(cand, base):
    """The deltas, the score and the failed conditions of ``cand`` against ``base`` (summary dicts)."""
    d = {'dpsnr': cand['psnr'] - base['psnr'], 'dssim': cand['ssim'] - base['ssim'],
         'ddetail': detail_error(base['detail']) - detail_error(cand['detail'])}
    niqe = measured(cand.get('niqe')) and measured(base.get('niqe'))
    d['dniqe'] = (base['niqe'] - cand['niqe']) if niqe else None
    d['score'] = d['dpsnr'] + W_DETAIL * d['ddetail'] + (W_NIQE * d['dniqe'] if niqe else 0.0)
    fails = []
    if d['dpsnr'] < 0:
        fails.append(f'PSNR {d["dpsnr"]:+.2f} dB')
    if d['dssim'] < 0:
        fails.append(f'SSIM {d["dssim"]:+.4f}')
    if d['ddetail'] < -DETAIL_TOL:
        fails.append(f'detail ratio {cand["detail"]:.3f} further from 1 than the base\'s {base["detail"]:.3f}')
    if niqe and d['dniqe'] < -NIQE_TOL:
        fails.append(f'NIQE {cand["niqe"]:.2f} vs {base["niqe"]:.2f}')
    if not fails and d['score'] <= 0:
        fails.append(f'score {d["score"]:+.3f} <= 0')
    d['fails'] = fails
    d['beats_base'] = not fails
    return d


def choose(summary, base, candidates):
    """``(name, table, reason)``: ``name`` is the winner or ``base``; ``table`` has each candidate's comparison.

    ``candidates``: ordered {name: iteration}.
    """
    table = {c: compare(summary[c], summary[base]) for c in candidates}
    winners = [c for c in candidates if table[c]['beats_base']]
    no_niqe = '' if all(table[c]['dniqe'] is not None for c in table) else \
        '; NIQE not measured (held-out frames under 96 px after the border crop), so it takes no part'
    if not winners:
        why = '; '.join(f'{c}: {", ".join(table[c]["fails"])}' for c in candidates) or 'no checkpoint was saved'
        return base, table, (f'no checkpoint beats the base by the criterion ({why}{no_niqe}): '
                             'the base model is exported')
    best = max(winners, key=lambda c: (table[c]['score'], -candidates[c]))
    t = table[best]
    niqe = (f', NIQE {summary[best]["niqe"]:.2f} vs the base\'s {summary[base]["niqe"]:.2f}'
            if t['dniqe'] is not None else no_niqe)
    reason = (f'{best} (iteration {candidates[best]}) has the highest score {t["score"]:+.3f} among the '
              f'{len(winners)} of {len(candidates)} checkpoints that beat the base: PSNR {t["dpsnr"]:+.2f} dB, '
              f'SSIM {t["dssim"]:+.4f}, detail ratio {summary[best]["detail"]:.3f} vs the base\'s '
              f'{summary[base]["detail"]:.3f}' + niqe)
    return best, table, reason
