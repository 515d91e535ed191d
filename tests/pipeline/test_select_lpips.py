"""Choosing on both axes (pipeline/choice/select.py choose, pipeline/choice/winner.py): the checkpoint and the DNI weight go to the
point that beats the compared models and the base on PSNR and LPIPS most surely when LPIPS is measured (here
on the means alone; tests/pipeline/test_winner.py has the per-image noise), and to the score as before when it is not;
the frontier plot gets an LPIPS panel drawn from the report's table."""

from realesrgan_paddle.pipeline.choice.dni_sweep import blend_name, choose_weight
from realesrgan_paddle.pipeline.report.doc import Doc, _cell
from realesrgan_paddle.pipeline.report.frontier import COL, add_section, frontier_rows
from realesrgan_paddle.pipeline.choice.select import choose, losses
from tests.pipeline.lpips_metric import lpips_metric


def s(psnr, detail, niqe, lpips=None, ssim=0.7):
    out = {'psnr': psnr, 'ssim': ssim, 'detail': detail, 'niqe': niqe}
    if lpips is not None:
        out['lpips'] = lpips
    return out


def table(lp=True):
    """A soccer-like case: iter_2 sharp and far below bicubic's PSNR, iter_4 the lowest LPIPS above it, iter_6 the
    highest PSNR and the highest score (the score rule's pick)."""
    x = (lambda v: v) if lp else (lambda v: None)
    return {'bicubic': s(24.06, 0.01, 10.6, x(0.447)),
            'base': s(23.90, 0.05, 9.0, x(0.400)),
            'iter_2': s(23.20, 0.60, 5.0, x(0.220)),
            'iter_4': s(24.10, 0.30, 7.9, x(0.260)),
            'iter_6': s(24.60, 0.35, 7.5, x(0.300))}


CAND = {'iter_2': 2, 'iter_4': 4, 'iter_6': 6}


def test_on_the_means_the_point_beating_the_base_by_the_widest_margin():
    """No --compare model and no per-image rows: of the points that beat the base on PSNR and LPIPS (iter_4: +0.20
    dB, -0.140; iter_6: +0.70 dB, -0.100; iter_2 loses PSNR to the base), the lowest LPIPS wins."""
    name, table_, reason = choose(table(), 'base', CAND)
    assert name == 'iter_4'
    assert reason.startswith('by both axes: iter_4 beats base on both axes on the held-out pairs: PSNR 24.10 dB, '
                             '+0.20 over the best of them; LPIPS 0.2600, 0.1400 under the best; the lowest LPIPS of '
                             'the points that surely do')
    assert reason.endswith('on the means alone (no per-frame numbers, so no noise measured)')
    assert table_['iter_6']['axes']['beats'] and not table_['iter_2']['axes']['beats']


def test_without_lpips_the_score_decides_as_before():
    without = choose(table(lp=False), 'base', CAND)
    assert 'LPIPS' not in without[2] and 'highest score' in without[2] and 'by both axes' not in without[2]


def test_bicubics_psnr_is_no_filter():
    t = table()
    t['bicubic'] = s(30.0, 0.01, 10.0, 0.5)
    assert choose(t, 'base', CAND)[:1] == choose(table(), 'base', CAND)[:1] == ('iter_4',)


def test_the_base_is_kept_when_no_point_beats_it():
    t = table()
    t['base'].update(lpips=0.1, psnr=24.7)
    name, _, reason = choose(t, 'base', CAND)
    assert name == 'base'
    assert reason.startswith('by both axes: no point beats base on both axes on the held-out pairs, so base is kept')


def test_paired_real_frames_decide():
    pairs = table()
    real = {k: dict(v) for k, v in table().items()}
    real['iter_6'].update(lpips=0.2)  # on the footage, iter_6 sees most
    name, _, reason = choose(pairs, 'base', CAND, {'summary': real, 'paired': True})
    assert name == 'iter_6' and reason.startswith('by both axes: iter_6 beats base on both axes on the real LQ frames')
    # unpaired real frames have no LPIPS: the pairs decide
    assert choose(pairs, 'base', CAND, {'summary': real, 'paired': False})[0] == 'iter_4'


def test_dni_weight_on_both_axes_over_every_swept_point():
    b = s(23.9, 0.05, 9.0, 0.40)
    blends = {blend_name(0.0): b, blend_name(0.2): s(24.3, 0.08, 8.8, 0.35),
              blend_name(0.6): s(24.2, 0.2, 8.1, 0.27), blend_name(1.0): s(23.5, 0.4, 6.5, 0.22)}
    pairs = dict(blends, bicubic=s(24.06, 0.01, 10.6, 0.447), x4plus=s(23.3, 0.8, 4.0, 0.30))
    w, _, reason = choose_weight(pairs, [0.0, 0.2, 0.6, 1.0], b)
    assert w == 0.6 and reason.startswith('by both axes: weight 0.6: dni_0.60 beats base on both axes')
    # x4plus compared: 0.2's LPIPS is above x4plus's; 0.6 beats both
    w, _, reason = choose_weight(pairs, [0.0, 0.2, 0.6, 1.0], b, match=['x4plus'])
    assert w == 0.6 and reason.startswith('by both axes: weight 0.6: dni_0.60 beats x4plus and base on both axes')
    # a refused weight (flicker) is not a point: none beats both, the checkpoint comes nearest
    w, _, reason = choose_weight(pairs, [0.0, 0.2, 1.0], b, match=['x4plus'])
    assert w == 1.0 and 'no point beats x4plus and base' in reason and 'loses to base (PSNR 23.50 vs 23.90 dB)' in reason
    # without LPIPS, the score rule as before
    plain = {k: {m: x for m, x in v.items() if m != 'lpips'} for k, v in pairs.items()}
    w2, _, reason2 = choose_weight(plain, [0.0, 0.2, 0.6, 1.0], plain[blend_name(0.0)])
    assert 'LPIPS' not in reason2 and 'score' in reason2
    # with a partner at weight 0, it is a point too
    partner = dict(pairs)
    partner[blend_name(0.0)] = s(24.9, 0.05, 9.0, 0.25)
    assert choose_weight(partner, [0.0, 0.2, 0.6, 1.0], b, partner=True)[0] == 0.0


def test_losses_name_lpips():
    lines = losses({'finetuned': s(24.1, 0.3, 7.0, 0.26), 'x4plus': s(23.3, 0.4, 5.0, 0.232)}, 'finetuned',
                   ['x4plus'])
    assert any('perception' in ln and 'LPIPS 0.2600 vs 0.2320' in ln for ln in lines)
    assert not losses({'a': s(24, 0.3, 7, 0.233), 'b': s(24, 0.3, 7, 0.232)}, 'a', ['b'])  # within the tolerance


def _res_with_lpips():
    sel = {'summary': {k: v for k, v in table().items() if k != 'bicubic'}, 'candidates': CAND}
    blends = {blend_name(0.0): sel['summary']['base'], blend_name(0.5): s(24.2, 0.2, 8.0, 0.28),
              blend_name(1.0): sel['summary']['iter_4']}
    return {'selection': sel, 'exported': {'name': 'iter_4'},
            'models': {'bicubic': 'bicubic', 'base': 'b', 'finetuned': 'x', 'x4plus': 'realesrgan-x4plus'},
            'summary': {'bicubic': table()['bicubic'], 'base': sel['summary']['base'],
                        'finetuned': sel['summary']['iter_4'], 'x4plus': s(23.3, 0.4, 5.0, 0.232)},
            'rows': [{'image': 'a.png', 'gt_niqe': 3.0}],
            'dni': {'finetune': 'iter_4', 'iteration': 4, 'weights': [0.0, 0.5, 1.0], 'summary': blends,
                    'chosen': 0.5, 'reason': 'by LPIPS on the held-out pairs: weight 0.5'}}


def test_frontier_plots_psnr_against_lpips_from_its_table(tmp_path):
    d = Doc()
    info = {'name': 'dni_0.50', 'weight': 0.5, 'finetune': 'iter_4', 'how': 'the DNI rule'}
    fig = add_section(d, _res_with_lpips(), info, tmp_path)
    assert len(fig.axes) == 3 and 'LPIPS' in fig.axes[2].get_xlabel()
    (tab,) = [b for b in d.blocks if b[0] == 'table']
    header, cells = tab[1], tab[2]
    lp, psnr = header.index('LPIPS'), header.index('PSNR')
    drawn = sorted((_cell(x), _cell(y)) for c in fig.axes[2].collections for x, y in c.get_offsets())
    assert drawn == sorted((r[lp], r[psnr]) for r in cells)
    assert {r[0] for r in cells} >= {'bicubic', 'base', 'x4plus', 'iter_2', 'iter_4', 'iter_6', 'dni_0.50'}
    md = '\n'.join(b[1] for b in d.blocks if b[0] == 'p')
    assert 'When LPIPS is measured for every point, it decides instead, on both axes' in md
    rows = frontier_rows(_res_with_lpips(), info)
    assert [r[COL['LPIPS']] for r in rows if r[0] == 'x4plus'] == [0.232]


def test_frontier_without_lpips_keeps_two_panels(tmp_path):
    res = _res_with_lpips()
    for group in (res['summary'], res['selection']['summary'], res['dni']['summary']):
        for v in group.values():
            v.pop('lpips', None)
    d = Doc()
    fig = add_section(d, res, {'name': 'dni_0.50', 'weight': 0.5, 'finetune': 'iter_4', 'how': 'the DNI rule'},
                      tmp_path)
    assert len(fig.axes) == 2
    (tab,) = [b for b in d.blocks if b[0] == 'table']
    assert 'LPIPS' not in tab[1] and 'DISTS' not in tab[1] and all(len(r) == len(tab[1]) for r in tab[2])


def test_with_a_compared_model_the_widest_margin_over_it_and_the_base():
    """--compare x4plus: iter_4 (+0.20 dB over the base, 0.045 under x4plus's LPIPS) and iter_6 (+0.70 dB, 0.005
    under) beat both, iter_4 with the lower LPIPS; x4plus better than every point on LPIPS: the nearest, and the reason
    says what it loses."""
    t = dict(table(), x4plus=s(23.29, 0.8, 4.0, 0.305))
    name, _, reason = choose(t, 'base', CAND, match=['x4plus'])
    assert name == 'iter_4'
    assert reason.startswith('by both axes: iter_4 beats x4plus and base on both axes on the held-out pairs')
    t['x4plus']['lpips'] = 0.232
    name, _, reason = choose(t, 'base', CAND, match=['x4plus'])
    assert name == 'iter_4' and 'loses to x4plus (LPIPS 0.2600 vs 0.2320)' in reason
    assert choose(t, 'base', CAND, match=['absent'])[0] == 'iter_4'  # a model without numbers is no reference


def test_the_evaluate_stage_scores_lpips_in_the_choice_and_the_sweep(hr_photos, tmp_path):
    """The selection pass with an LPIPS metric scores bicubic, the base and the checkpoint with it and the LPIPS
    rule decides; the sweep's blends carry LPIPS too; without the metric, no LPIPS and the score decides."""
    from types import SimpleNamespace

    from realesrgan_paddle.evaluation import model_cache as MT
    from realesrgan_paddle.pipeline.choice import dni_sweep as S
    from realesrgan_paddle.pipeline.stages.judge import _select
    from tests.nets import SRVGG, save_tiny
    from tests.pairs import centre_crop, write_pairs
    gt, lq = write_pairs(tmp_path / 'pairs', hr_photos[:2], lambda img: centre_crop(img, 128, 128))
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG, seed=0)
    ft = save_tiny(tmp_path / 'ft.pdparams', SRVGG, seed=1)
    models, cand = {'base': str(base), 'iter_2': str(ft)}, {'iter_2': 2}
    said = []
    ctx = SimpleNamespace(s=SimpleNamespace(quiet=True, compare={}, allow_flicker=False), say=said.append)
    iqa = {'lpips': lpips_metric()}
    nets = MT.Models('compact', tmp_path / 'exports')
    sel = _select(ctx, nets, models, cand, gt, lq, None, None, iqa)
    assert {'bicubic', 'base', 'iter_2'} <= set(sel['summary'])
    assert all(sel['summary'][n]['lpips'] > 0 for n in ('bicubic', 'base', 'iter_2'))
    assert sel['reason'].startswith('by both axes: ')  # per-image rows: pipeline/choice/winner.py decides
    out = S.sweep(nets, base, 'iter_2', ft, gt, lq, sel['rows'], tmp_path / 'blends', weights=(0.0, 0.5, 1.0),
                  progress=False, iqa=iqa)
    assert all(out['summary'][S.blend_name(w)]['lpips'] > 0 for w in (0.0, 0.5, 1.0))
    plain = _select(ctx, MT.Models('compact', tmp_path / 'exports2'), models, cand, gt, lq, None, None, None)
    assert 'lpips' not in plain['summary']['base'] and not plain['reason'].startswith('by both axes')
    assert 'with LPIPS' in said[0] and 'with LPIPS' not in said[-1]
