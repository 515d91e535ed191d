"""The export's rule on both axes (pipeline/choice/winner.py): the point that beats every compared model and the base on
PSNR and LPIPS is exported whatever bicubic's PSNR, the one that beats them most surely; the noise comes
from resampling the frames (a frame's crop windows together), and a choice on too few frames says so."""
import numpy as np

from realesrgan_paddle.pipeline.choice import winner as W
from realesrgan_paddle.pipeline.choice.dni_sweep import blend_name, choose_weight
from realesrgan_paddle.pipeline.choice.select import choose
from tests.pipeline.winner_rows import SOCCER, metrics_of, rows_of, summ

CAND = {'iter_150': 150, 'iter_300': 300, 'iter_450': 450, 'iter_600': 600}


def test_the_point_that_beats_x4plus_and_the_base_is_chosen_below_bicubics_psnr():
    rows = rows_of(SOCCER, 30)
    name, table, reason = choose(summ(rows, SOCCER), 'base', CAND, match=['x4plus'], rows=rows)
    assert name in ('iter_450', 'iter_600')  # both beat x4plus and the base; bicubic's PSNR is no filter
    assert reason.startswith(f'by both axes: {name} beats x4plus and base on both axes on the held-out pairs')
    assert 'decided' in reason and table[name]['axes']['beats']
    assert not table['iter_150']['axes']['beats'] and not table['iter_300']['axes']['beats']  # LPIPS above x4plus's


def test_the_dni_rule_keeps_the_checkpoint_over_a_psnr_leaning_blend():
    """The export such a run chose by bicubic's floor: 0.4 x iter_450 + 0.6 x partner (23.97 dB, LPIPS 0.263) passed only bicubic's floor; the
    checkpoint itself (weight 1) beats x4plus and the base on both axes and is kept."""
    pts = {'base': SOCCER['base'], 'x4plus': SOCCER['x4plus'], 'bicubic': SOCCER['bicubic'],
           blend_name(0.0): (23.99, 0.290), blend_name(0.2): (23.98, 0.275), blend_name(0.4): (23.97, 0.263),
           blend_name(0.6): (23.90, 0.248), blend_name(0.8): (23.82, 0.236), blend_name(1.0): SOCCER['iter_450']}
    for frames in (4, 30):
        rows = rows_of(pts, frames, seed=frames)
        real = {'paired': True, 'rows': rows, 'summary': summ(rows, pts)}
        blends = {n: v for n, v in real['summary'].items() if n.startswith('dni_')}
        w, _, reason = choose_weight(blends, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], real['summary']['base'], real,
                                     partner=True, match=['x4plus'])
        assert w == 1.0, (frames, reason)
        assert reason.startswith('by both axes: weight 1: dni_1.00 beats x4plus and base on both axes on the real')


def test_without_a_point_beating_x4plus_the_nearest_and_what_it_loses():
    pts = dict(SOCCER, x4plus=(23.29, 0.200))
    rows = rows_of(pts, 30)
    name, _, reason = choose(summ(rows, pts), 'base', CAND, match=['x4plus'], rows=rows)
    assert name == 'iter_600'  # the lowest LPIPS, still 0.4 dB over x4plus
    assert reason.startswith('by both axes: no point beats x4plus and base on both axes on the held-out pairs; '
                             'iter_600 comes nearest')
    assert 'loses to x4plus (LPIPS 0.2180 vs 0.2000)' in reason


def test_few_frames_say_so_and_choose_the_same_kind_of_point():
    """4 frames whose per-model jitter (0.6 dB) hides a 0.16 dB margin: the choice is the same checkpoint as on 30
    frames, and its reason says the frames are too few to be sure."""
    pts = {'base': (23.20, 0.356), 'x4plus': (23.29, 0.232), 'iter_300': (23.30, 0.240), 'iter_600': (23.45, 0.226)}
    few = rows_of(pts, 4, noise=0.6, seed=3)
    many = rows_of(pts, 30, noise=0.05, seed=3)
    picks = [choose(summ(r, pts), 'base', {'iter_300': 300, 'iter_600': 600}, match=['x4plus'], rows=r)
             for r in (few, many)]
    assert [p[0] for p in picks] == ['iter_600', 'iter_600']
    assert 'too few frames to be sure' in picks[0][2] and 'decided' in picks[1][2]
    assert picks[0][1]['iter_600']['axes']['p_win'] < W.CONFIDENT <= picks[1][1]['iter_600']['axes']['p_win']


def test_four_frames_the_resampling_would_call_decided_are_read_against_students_t():
    """4 frames where the point wins on three (dPSNR 0.8, 0.1, 0.6, -0.2 dB; LPIPS 0.02 under on each): the
    resampling alone puts it over the bar (95 %), Student's t on 3 degrees of freedom does not (87 %): not sure, and
    the reason says why; the same frames five times over (20) decide."""
    def rows(dp, n):
        return [{'image': f'f{i}.png', 'p_psnr': 30 + dp[i % 4], 'p_lpips': 0.18, 'r_psnr': 30.0, 'r_lpips': 0.20}
                for i in range(n)]
    few = W.point_stats(rows([0.8, 0.1, 0.6, -0.2], 4), ['p'], ['r'])['p']
    assert few['p_win'] >= W.CONFIDENT > few['t_conf'] > 0.8 and not W.sure(few)
    assert W.confidence(few).endswith("too few frames to be sure (4 frames: read against Student's t, 87%, under "
                                      "90%): more held-out real frames would decide")
    many = W.point_stats(rows([0.8, 0.1, 0.6, -0.2], 20), ['p'], ['r'])['p']
    assert W.sure(many) and many['t_conf'] > 0.99 and W.confidence(many).endswith('decided')
    assert W.student_conf(0.1, 0.05, 0.0, 1000) > W.student_conf(0.1, 0.05, 0.0, 4) and W.student_conf(1, 1, 0, 1) == 0


def test_sure_winners_within_the_lowest_lpips_noise_tie_and_the_higher_psnr_wins():
    """Sharpened variants past the LPIPS floor: 0.2020 at +0.5 dB and 0.2005 at +0.2 dB over x4plus both surely
    win; 0.0015 apart is inside the frames' LPIPS noise (about 0.002 here), so the decibels decide. A gap wider
    than that noise keeps the lower LPIPS."""
    def stats(gap):
        pts = {'base': (29.75, 0.262), 'x4plus': (29.62, 0.2074), 'mild': (30.15, 0.2020),
               'strong': (29.85, 0.2020 - gap)}
        rows = rows_of(pts, 30, spread=1.0, noise=0.05, seed=1)
        for k, r in enumerate(rows):  # the LPIPS of both variants and x4plus move together, frame by frame
            shift = 0.02 * (-1) ** k
            for n in ('x4plus', 'mild', 'strong'):
                r[f'{n}_lpips'] += shift * (1.0 if n == 'x4plus' else 0.4)
        return W.point_stats(rows, ['mild', 'strong'], ['x4plus', 'base'])
    near = stats(0.0015)
    assert W.sure(near['mild']) and W.sure(near['strong'])
    assert near['strong']['lpips'] < near['mild']['lpips'] <= near['strong']['lpips'] + near['strong']['se_lpips']
    assert W.pick(near) == 'mild'
    far = stats(0.02)
    assert far['strong']['se_lpips'] < 0.02 and W.pick(far) == 'strong'


def test_when_none_is_sure_the_point_that_beats_them_most_often_wins():
    """The demo footage's sharpened variants (runs/f1c): 'mild' is +0.26 dB over the base and 0.0054 under x4plus's
    LPIPS, 'strong' +0.08 dB and 0.0066 under; on 14 frames neither is sure. Read on its narrower axis alone,
    'strong' has the wider margin (``z``), but its PSNR margin is near the noise as well, so it beats both references
    at once less often: 'mild' is chosen, and the reason says none is sure."""
    s = [1, -1] * 7  # scenes where x4plus's LPIPS is better or worse than the network's
    t = [1, 1, -1, -1] * 3 + [1, -1]  # frames where the references' PSNR is higher or lower
    rows = [{'image': f'f{k:02d}.png', 'base_psnr': 29.75 + 0.4 * t[k], 'base_lpips': 0.262,
             'x4plus_psnr': 29.62 + 0.4 * t[k], 'x4plus_lpips': 0.2074 + 0.035 * s[k],
             'point_psnr': 30.33, 'point_lpips': 0.2102, 'mild_psnr': 30.01, 'mild_lpips': 0.2020,
             'strong_psnr': 29.83, 'strong_lpips': 0.2008} for k in range(14)]
    st = W.point_stats(rows, ['point', 'mild', 'strong'], ['x4plus', 'base'])
    assert st['mild']['beats'] and st['strong']['beats'] and not st['point']['beats']
    assert not W.sure(st['mild']) and not W.sure(st['strong'])
    assert st['strong']['z'] > st['mild']['z'] and st['mild']['p_win'] > st['strong']['p_win'] + 0.05
    assert W.pick(st) == 'mild'
    why = W.reason('mild', st['mild'], 3, 'on the real LQ frames')
    assert 'of the 3 points the one that beats them most often, none sure' in why and 'too few frames' in why
    assert 'the only point, not sure' in W.reason('mild', st['mild'], 1, 'here')
    del st['mild'], st['strong']  # no point beats them on the means: the nearest by z, as before
    assert W.pick(st) == 'point'


def test_a_frames_windows_are_resampled_together():
    rows = rows_of(SOCCER, 6)
    windows = []
    for r in rows:  # each frame cut into two windows with the same numbers: the same frames, the same noise
        for k in (1, 2):
            windows.append(dict(r, image=r['image'].replace('.png', f'~w{k}.png')))
    a = W.point_stats(rows, ['iter_600'], ['x4plus', 'base'])['iter_600']
    b = W.point_stats(windows, ['iter_600'], ['x4plus', 'base'])['iter_600']
    assert a['frames'] == b['frames'] == 6
    assert np.isclose(a['se_psnr'], b['se_psnr']) and np.isclose(a['p_win'], b['p_win'])


def test_margins_and_noise_by_hand():
    rows = [{'image': 'a.png', 'p_psnr': 30.0, 'p_lpips': 0.20, 'r_psnr': 29.0, 'r_lpips': 0.25},
            {'image': 'b.png', 'p_psnr': 20.0, 'p_lpips': 0.30, 'r_psnr': 21.0, 'r_lpips': 0.28}]
    st = W.point_stats(rows, ['p'], ['r'])['p']
    assert np.isclose(st['dpsnr'], 0.0) and np.isclose(st['dlpips'], 0.015)
    assert not st['beats']  # PSNR not above: a tie is no win
    # resamples: both a (p wins), both b (p loses), one of each (PSNR tie): p wins in about a quarter
    assert 0.2 < st['p_win'] < 0.3
    assert W.point_stats(rows, ['p'], ['r', 'missing']) is None


def test_the_reports_first_line_says_whether_the_export_beats_every_compared_model():
    from realesrgan_paddle.pipeline.choice.vs_bicubic import export_verdict
    pts = dict(SOCCER, **{blend_name(0.4): (23.97, 0.263), blend_name(1.0): SOCCER['iter_450']})
    line = export_verdict(metrics_of(pts, 30, 1.0))
    assert line.startswith('The export beats x4plus and base on both axes on the 30 held-out real LQ frames: '
                           'PSNR 23.75 dB (x4plus 23.29, base 23.71), LPIPS 0.2260 (x4plus 0.2320, base 0.3560); '
                           'it beats them in ')
    assert line.endswith("decided. Its PSNR is below bicubic's 24.06 dB.")
    lost = export_verdict(metrics_of(pts, 30, 1.0), weight=0.4)  # --dni-weight 0.4: the export
    assert lost == ('The export does not beat x4plus and base on both axes on the 30 held-out real LQ frames: it '
                    "loses to x4plus (LPIPS 0.2630 vs 0.2320). Its PSNR is below bicubic's 24.06 dB.")
    alone = export_verdict(metrics_of({k: v for k, v in pts.items() if k != 'x4plus'}, 30, 1.0, compare=()))
    assert alone.startswith('The export beats base on both axes on the 30 held-out real LQ frames (the base is '
                            'the only reference)')
    assert export_verdict(metrics_of(pts, 30, 0.5)).startswith('The export (DNI weight 0.5, off the swept grid) was not')
    base = metrics_of({k: v for k, v in pts.items() if k != 'x4plus'}, 30, 0.0, compare=())
    base['dni']['other'] = 'base'
    assert export_verdict(base) == ('The export is the base itself: no point beat it on both axes on the 30 held-out '
                                    'real LQ frames (the base is the only reference): PSNR 23.71 dB, LPIPS 0.3560.')


def test_x4plus_is_compared_by_default_unless_none(tmp_path):
    from realesrgan_paddle.pipeline.context import DEFAULT_COMPARE, Settings
    from realesrgan_paddle.tools.finetune_domain import parse_args
    assert DEFAULT_COMPARE == {'x4plus': 'realesrgan-x4plus'}
    assert Settings(videos=[], work=tmp_path).compare == DEFAULT_COMPARE
    assert Settings(videos=[], work=tmp_path, base='realesrgan-x4plus').compare == {}  # the base is its own row
    same = {'x4': 'realesrgan-x4plus'}  # asked for by name: kept, even when it is the base
    assert Settings(videos=[], work=tmp_path, base='realesrgan-x4plus', compare=same).compare == same
    assert parse_args(['--hr', 'x', '--work', 'w']).compare is None  # main turns None into DEFAULT_COMPARE
    assert parse_args(['--hr', 'x', '--work', 'w', '--compare', 'none']).compare == ['none']


def test_without_lpips_the_first_line_says_so_with_the_psnr():
    from realesrgan_paddle.pipeline.choice.vs_bicubic import export_verdict
    pts = dict(SOCCER, **{blend_name(0.4): (23.97, 0.263), blend_name(1.0): SOCCER['iter_450']})
    res = metrics_of(pts, 8, 1.0)
    for r in res['real']['rows'] + res['dni']['real']['rows']:
        for k in [k for k in r if k.endswith('_lpips')]:
            del r[k]
    res['dni']['real']['summary'] = {blend_name(1.0): {'psnr': 23.75}}
    assert export_verdict(res) == ('The export was not judged on perception (LPIPS not measured: python '
                                   'tools/download_models.py --names alexnet lpips); on the 8 held-out real LQ frames '
                                   'its PSNR is 23.75 dB (x4plus 23.29, base 23.71).')


def test_the_reports_choice_section_shows_each_checkpoint_on_both_axes():
    from realesrgan_paddle.pipeline.report.doc import Doc
    from realesrgan_paddle.pipeline.report.page import axes_table
    rows = rows_of(SOCCER, 30)
    sm = summ(rows, SOCCER)
    _, table, _ = choose(sm, 'base', CAND, match=['x4plus'], rows=rows)
    d = Doc()
    axes_table(d, {'candidates': CAND, 'table': table, 'summary': sm})
    (tab,) = [b for b in d.blocks if b[0] == 'table']
    assert tab[1][0] == 'checkpoint' and [r[0] for r in tab[2]] == list(CAND)
    iter450 = tab[2][2]
    assert np.isclose(float(iter450[3]), 0.04, atol=0.005) and np.isclose(float(iter450[5]), 0.006, atol=5e-4)
    assert iter450[8] == '100%'
    d2 = Doc()
    axes_table(d2, {'candidates': CAND, 'table': {c: {} for c in CAND}, 'summary': sm})  # LPIPS not measured
    assert not d2.blocks
