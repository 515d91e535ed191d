"""The checkpoint criterion (pipeline/choice/select.py) and how the evaluate stage runs its models
through evaluation.evaluator (evaluation/model_cache.py), on real photos."""
import math

import pytest

from realesrgan_paddle.evaluation import model_cache as MT
from realesrgan_paddle.pipeline.choice.select import DETAIL_TOL, choose, compare, losses


def summ(psnr, ssim, detail, niqe=None):
    return {'psnr': psnr, 'ssim': ssim, 'detail': detail, 'niqe': niqe}


@pytest.fixture(scope='module')
def pairs(hr_photos, tmp_path_factory):
    """Two held-out pairs from real photos: 200x200 GT crops (NIQE needs 96 px after the crop), x4 area LQ."""
    from tests.pairs import centre_crop, write_pairs
    return write_pairs(tmp_path_factory.mktemp('pairs'), hr_photos[:2], lambda img: centre_crop(img, 200, 200))


def test_compact_checkpoints_run_in_the_dynamic_graph_with_every_metric(pairs, tmp_path):
    """A few small frames (the pairs here: 2 x 50x50 LQ pixels): the compact network runs in the dynamic graph."""
    from tests.nets import SRVGG, save_tiny
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG, 0, ema=True)
    ck = save_tiny(tmp_path / 'net_g_2.pdparams', SRVGG, 1, ema=True)
    assert MT.lq_pixels(pairs[1]) == 2 * 50 * 50 < MT.PREDICTOR_MIN_PIXELS
    nets = MT.Models('compact', tmp_path / 'exports', lq_pixels=MT.lq_pixels(pairs[1]))
    own = {'base': str(base), 'iter_2': str(ck)}
    ups = nets.get({'bicubic': 'bicubic', **own}, own=own)
    assert nets.backends == {'bicubic': 'bicubic', 'base': 'dynamic', 'iter_2': 'dynamic'}
    assert ups['iter_2'].backend.name == 'dynamic' and not (tmp_path / 'exports').exists()
    assert nets.get(own, own=own)['iter_2'] is ups['iter_2']  # built once, shared by both passes
    rows = MT.evaluate(ups, *pairs, progress=False)
    assert len(rows) == 2
    s = MT.summarize(rows, list(ups))
    for m in ups:
        assert {'psnr', 'ssim', 'niqe', 'detail', 'artefact'} <= set(s[m])
        assert math.isfinite(s[m]['niqe']) and s[m]['niqe'] > 0 and s[m]['artefact'] >= 0
    # two different random networks: different outputs, so different numbers
    assert s['base']['psnr'] != s['iter_2']['psnr']
    lines = MT.verdict(s, 'base', 'iter_2')
    assert [ln.split(':')[0] for ln in lines] == ['distortion', 'perception'] and 'NIQE' in lines[1]
    # the criterion takes the measured NIQE
    assert compare(s['iter_2'], s['base'])['dniqe'] == pytest.approx(s['base']['niqe'] - s['iter_2']['niqe'])


def test_compact_checkpoints_move_to_the_predictor_when_each_scores_many_pixels(pairs, tmp_path):
    """From PREDICTOR_MIN_PIXELS LQ pixels a model, the compact checkpoints are exported into the stage folder and
    run on the predictor (the base through the shared cache), with the dynamic graph's numbers; unknown: dynamic."""
    from realesrgan_paddle.inference import Upscaler
    from tests.nets import SRVGG, save_tiny
    ck = save_tiny(tmp_path / 'net_g_2.pdparams', SRVGG, 1, ema=True)
    assert MT.own_backend('compact') == 'dynamic' and MT.own_backend('x4plus') == 'predictor'
    assert MT.own_backend('compact', MT.PREDICTOR_MIN_PIXELS - 1) == 'dynamic'
    exports = tmp_path / 'exports'
    nets = MT.Models('compact', exports, lq_pixels=MT.PREDICTOR_MIN_PIXELS)
    ups = nets.get({'bicubic': 'bicubic', 'iter_2': str(ck)}, own={'iter_2'})
    assert nets.backends == {'bicubic': 'bicubic', 'iter_2': 'predictor'}
    assert ups['iter_2'].backend.name == 'predictor' and list(exports.rglob('inference.pdmodel'))
    rows = MT.evaluate(ups, *pairs, progress=False)
    ref = MT.evaluate({'iter_2': Upscaler(model=str(ck), backend='dynamic')}, *pairs, progress=False)
    assert [r['iter_2_psnr'] for r in rows] == pytest.approx([r['iter_2_psnr'] for r in ref], abs=1e-2)
    nets.cleanup()
    assert not exports.exists()


def test_rrdbnet_checkpoints_run_on_the_predictor_exported_into_the_stage_folder(pairs, tmp_path):
    from tests.nets import RRDB, save_tiny
    ck = save_tiny(tmp_path / 'net_g_2.pdparams', RRDB, 0, ema=True)
    exports = tmp_path / 'exports'
    nets = MT.Models('x4plus', exports)
    ups = nets.get({'iter_2': str(ck)}, own={'iter_2': str(ck)})
    assert nets.backends == {'iter_2': 'predictor'} and ups['iter_2'].backend.name == 'predictor'
    assert list(exports.rglob('inference.pdmodel'))
    rows = MT.evaluate(ups, *pairs, progress=False)
    # the predictor agrees with the dynamic graph on the same weights
    from realesrgan_paddle.inference import Upscaler
    ref = MT.evaluate({'iter_2': Upscaler(model=str(ck), backend='dynamic')}, *pairs, progress=False)
    assert [r['iter_2_psnr'] for r in rows] == pytest.approx([r['iter_2_psnr'] for r in ref], abs=1e-2)
    nets.cleanup()
    assert not exports.exists()


def test_unmeasured_niqe_takes_no_part_and_the_reason_says_so():
    base = summ(25.0, 0.70, 0.80, niqe=float('nan'))
    t = compare(summ(25.3, 0.71, 0.85, niqe=float('nan')), base)
    assert t['dniqe'] is None and t['beats_base'] and t['score'] == pytest.approx(
        0.3 + 20 * 0.01 + 2 * (math.log(1 / 0.8) - math.log(1 / 0.85)))
    name, _, reason = choose({'base': base, 'a': summ(25.3, 0.71, 0.85, niqe=float('nan'))}, 'base', {'a': 1})
    assert name == 'a' and 'NIQE not measured' in reason


def test_blurrier_checkpoint_with_more_psnr_does_not_beat_the_base():
    base = summ(25.0, 0.70, 0.80)
    blurry = summ(25.6, 0.72, 0.10)      # the PSNR-by-flattening failure
    sharp = summ(25.3, 0.71, 0.85)
    t = compare(blurry, base)
    assert not t['beats_base'] and 'detail ratio 0.100 further from 1' in t['fails'][0]
    assert compare(sharp, base)['beats_base']
    name, table, reason = choose({'base': base, 'iter_1': blurry, 'iter_2': sharp}, 'base',
                                 {'iter_1': 1, 'iter_2': 2})
    assert name == 'iter_2' and table['iter_1']['beats_base'] is False and 'highest score' in reason


def test_a_checkpoint_may_trade_a_little_perception_for_a_large_distortion_gain():
    """The mirror trade (a strong base): +0.6 dB at 0.9 x the base's detail and NIQE +0.3 passes as 'traded';
    at 0.8 x the detail, or +0.4 dB, it does not; a checkpoint that beats the base outright still wins over a
    traded one with a lower score."""
    base = summ(25.0, 0.70, 0.90, 5.0)
    traded = summ(25.6, 0.71, 0.81, 5.3)
    name, table, reason = choose({'base': base, 'iter_1': traded}, 'base', {'iter_1': 1})
    t = table['iter_1']
    assert name == 'iter_1' and not t['beats_base'] and t['traded_perception'] and t['passes']
    assert ('for +0.60 dB it gives up some perception (detail 0.81 of the GT\'s, further from 1 than the base\'s '
            '0.90; NIQE +0.30)') in reason, reason
    # more detail than the base, past the GT's: a loss too, said as one (it read 'gives up perception (detail
    # x1.61 of the base's', more detail read as less perception)
    over = summ(25.6, 0.71, 1.15, 5.3)
    name, table, reason = choose({'base': base, 'iter_1': over}, 'base', {'iter_1': 1})
    assert name == 'iter_1' and table['iter_1']['traded_perception'], table
    assert 'detail 1.15 of the GT\'s, further from 1 than the base\'s 0.90; NIQE +0.30)' in reason, reason
    for worse, why in ((summ(25.6, 0.71, 0.72, 5.3), 'less than 0.85 x its detail'),
                       (summ(25.4, 0.71, 0.81, 5.3), 'not the 0.5 dB gain')):
        name, table, _ = choose({'base': base, 'iter_1': worse}, 'base', {'iter_1': 1})
        assert name == 'base' and any(why in f for f in table['iter_1']['trade_fails'])
    better = summ(25.8, 0.72, 0.95, 4.9)
    assert choose({'base': base, 'iter_1': traded, 'iter_2': better}, 'base', {'iter_1': 1, 'iter_2': 2})[0] == 'iter_2'


def test_base_exported_when_nothing_beats_it():
    base = summ(25.0, 0.70, 0.80)
    name, table, reason = choose({'base': base, 'iter_5': summ(24.9, 0.71, 0.9)}, 'base', {'iter_5': 5})
    assert name == 'base' and reason.startswith('no checkpoint beats the base') and 'PSNR -0.10 dB' in reason
    assert reason.startswith('no checkpoint beats the base by the criterion: the closest, iter_5 (score ')
    many = {f'iter_{i}': summ(24.9 - 0.1 * i, 0.71, 0.9) for i in range(1, 40)}  # 39 losers: still one short line
    name, table, reason = choose({'base': base, **many}, 'base', {n: i for i, n in enumerate(many, 1)})
    assert name == 'base' and len(table) == 39 and len(reason) < 300 and 'iter_1 ' in reason, reason
    assert reason.endswith("all in the report's selection table)"), reason


def test_score_weighs_both_axes_and_niqe_when_present():
    base = summ(25.0, 0.70, 0.50, niqe=6.0)
    a = summ(25.4, 0.70, 0.50, niqe=6.0)                # +0.4 dB only
    b = summ(25.1, 0.70, 0.80, niqe=5.5)                # +0.1 dB, much closer detail, better NIQE
    assert compare(a, base)['score'] == pytest.approx(0.4)
    expect = 0.1 + 2.0 * (abs(math.log(0.5)) - abs(math.log(0.8))) + 0.5 * 0.5
    assert compare(b, base)['score'] == pytest.approx(expect)
    assert choose({'base': base, 'a': a, 'b': b}, 'base', {'a': 1, 'b': 2})[0] == 'b'
    worse_niqe = summ(25.4, 0.70, 0.50, niqe=6.5)
    assert not compare(worse_niqe, base)['beats_base']
    # within the detail tolerance a sharper-than-needed change is still fine
    assert compare(summ(25.2, 0.70, 0.50 * math.exp(-DETAIL_TOL / 2)), base)['beats_base']


def test_the_issues_case_a_large_perceptual_gain_at_a_small_ssim_cost_is_chosen():
    """Issue 23: every checkpoint was rejected for an SSIM drop of 0.012-0.017 while detail rose 0.02 -> 0.55
    and NIQE fell 8.84 -> 7.92. Under the two-axis rule the best of them is exported, and the reason says
    what it traded."""
    base = summ(27.00, 0.800, 0.02, niqe=8.84)
    table = {'iter_500': summ(26.90, 0.788, 0.30, niqe=8.40), 'iter_1000': summ(26.85, 0.785, 0.45, niqe=8.10),
             'iter_1500': summ(26.80, 0.783, 0.55, niqe=7.92)}
    name, t, reason = choose({'base': base, **table}, 'base', {'iter_500': 500, 'iter_1000': 1000, 'iter_1500': 1500})
    assert all(t[c]['beats_base'] and t[c]['traded'] for c in table)
    assert name == 'iter_1500' and 'trades a distortion cost of 0.54 dB for a perceptual gain of 7.09' in reason


def test_a_distortion_cost_is_bought_only_by_a_large_gain_within_the_limits():
    base = summ(27.0, 0.80, 0.50, niqe=6.0)
    small_gain = compare(summ(26.9, 0.795, 0.55, niqe=5.9), base)     # gain 0.24, cost 0.2
    assert not small_gain['beats_base'] and 'not bought by the perceptual gain 0.24' in small_gain['fails'][0]
    too_blurry_psnr = compare(summ(26.3, 0.80, 1.0, niqe=4.0), base)   # huge gain, but -0.7 dB
    assert not too_blurry_psnr['beats_base'] and 'more than the 0.5 dB / 0.03 SSIM' in too_blurry_psnr['fails'][0]
    ssim_cliff = compare(summ(27.1, 0.76, 1.0, niqe=4.0), base)        # -0.04 SSIM
    assert not ssim_cliff['beats_base'] and ssim_cliff['fails'][0].startswith('SSIM -0.0400: more than')
    worse_niqe = compare(summ(26.9, 0.80, 1.0, niqe=6.5), base)        # detail gain, but NIQE worse
    assert not worse_niqe['beats_base'] and worse_niqe['fails'][0] == 'NIQE 6.50 vs 6.00'
    bought = compare(summ(26.8, 0.79, 0.9, niqe=5.0), base)             # cost 0.4, gain 1.18 + 0.5 = 1.68
    assert bought['beats_base'] and bought['traded'] and bought['cost'] == pytest.approx(0.4)


def test_losses_name_the_model_and_the_axis():
    summary = {'finetuned': summ(27.5, 0.80, 0.60, niqe=5.0), 'bicubic': summ(27.9, 0.82, 0.05, niqe=9.0),
               'base': summ(27.4, 0.79, 0.20, niqe=6.0), 'x4plus': summ(26.9, 0.75, 0.95, niqe=3.5)}
    lines = losses(summary, 'finetuned', ['bicubic', 'base', 'x4plus'])
    assert lines == ['the exported model loses to bicubic on distortion on the held-out pairs: PSNR 27.50 vs 27.90 '
                     'dB; SSIM 0.8000 vs 0.8200',
                     'the exported model loses to x4plus on perception on the held-out pairs: detail ratio 0.600 vs '
                     '0.950 (further from 1); NIQE 5.00 vs 3.50']
    real = {'finetuned': {'niqe': 6.1}, 'base': {'niqe': 6.0}, 'x4plus': {'niqe': 4.0}}
    assert losses(real, 'finetuned', ['base', 'x4plus'], 'on the real LQ footage', {'perception': ('niqe',)}) == \
        ['the exported model loses to x4plus on perception on the real LQ footage: NIQE 6.10 vs 4.00']


def test_paired_real_frames_decide_ahead_of_the_synthetic_pairs():
    """The demo's shape: on the synthetic pairs iter_2 is the best, on the real LQ frames (with their HR frames)
    it draws texture the footage does not have (NIQE up) while iter_1 gains there: the real frames choose."""
    pairs = {'base': summ(28.2, 0.74, 0.05, 8.8), 'iter_1': summ(28.3, 0.745, 0.15, 8.7),
             'iter_2': summ(28.6, 0.75, 0.55, 8.0)}
    real = {'paired': True, 'summary': {'base': summ(27.5, 0.73, 0.05, 8.7), 'iter_1': summ(27.7, 0.735, 0.20, 8.2),
                                        'iter_2': summ(27.9, 0.73, 0.40, 9.4)}}
    cand = {'iter_1': 1, 'iter_2': 2}
    assert choose(pairs, 'base', cand)[0] == 'iter_2'   # without the real frames
    name, table, reason = choose(pairs, 'base', cand, real)
    assert name == 'iter_1' and '(judged on the real LQ frames)' in reason
    assert table['iter_2']['fails'] == ['real LQ frames: NIQE 9.40 vs 8.70']
    assert table['iter_2']['pairs']['beats_base']        # kept beside it, not voting
    assert table['iter_1']['score'] == pytest.approx(compare(real['summary']['iter_1'], real['summary']['base'])['score'])
    assert 'detail ratio 0.200 vs the base\'s 0.050' in reason   # the real frames' numbers
    # nothing beats the base on the real frames: the base, though both beat it on the pairs
    real['summary']['iter_1'] = summ(26.9, 0.73, 0.20, 8.2)
    name, table, reason = choose(pairs, 'base', cand, real)
    assert name == 'base' and 'real LQ frames: PSNR -0.60 dB' in ' '.join(table['iter_1']['fails'])
    assert reason.startswith('no checkpoint beats the base by the criterion (judged on the real LQ frames): ')


def test_paired_real_frames_ties_go_to_the_synthetic_pairs_score():
    pairs = {'base': summ(28.0, 0.74, 0.05, 8.8), 'a': summ(28.1, 0.74, 0.10, 8.8), 'b': summ(28.4, 0.74, 0.10, 8.8)}
    same = summ(27.8, 0.74, 0.2, 8.5)
    real = {'paired': True, 'summary': {'base': summ(27.5, 0.74, 0.05, 8.7), 'a': same, 'b': dict(same)}}
    assert choose(pairs, 'base', {'a': 1, 'b': 2}, real)[0] == 'b'


def test_unpaired_real_frames_vote_with_niqe_and_the_direction_of_detail():
    """No reference on the footage: the pairs judge, the real frames' NIQE counts in the score and vetoes, and
    a candidate whose detail against bicubic moves the other way on the footage fails."""
    from realesrgan_paddle.pipeline.choice.select import W_NIQE, vote
    base, cand = summ(28.0, 0.74, 0.05, 8.8), summ(28.3, 0.745, 0.30, 8.5)
    rb = {'niqe': 8.0, 'detail_vs_bicubic': 2.0}
    plain = compare(cand, base)
    good = vote(cand, base, {'niqe': 7.0, 'detail_vs_bicubic': 4.0}, rb)
    assert good['beats_base'] and good['score'] == pytest.approx(plain['score'] + W_NIQE * 1.0)
    assert good['by'] == 'the held-out pairs and the real LQ frames'
    worse = vote(cand, base, {'niqe': 8.3, 'detail_vs_bicubic': 4.0}, rb)
    assert not worse['beats_base'] and worse['fails'] == ['real LQ frames: NIQE 8.30 vs 8.00']
    softer = vote(cand, base, {'niqe': 7.5, 'detail_vs_bicubic': 1.5}, rb)
    assert not softer['beats_base'] and 'detail against bicubic 1.50 vs 2.00, the other way' in softer['fails'][0]
    # a small NIQE gain on the footage can buy a distortion cost on the pairs, like one on the pairs
    costly = summ(27.85, 0.74, 0.05, 8.8)
    assert not compare(costly, base)['beats_base']
    assert vote(costly, base, {'niqe': 6.0, 'detail_vs_bicubic': 2.0}, rb)['beats_base']
    # unmeasured NIQE on the footage takes no part
    assert vote(cand, base, {'niqe': float('nan'), 'detail_vs_bicubic': 4.0}, rb)['score'] == \
        pytest.approx(plain['score'])
    name, _, reason = choose({'base': base, 'i': cand}, 'base', {'i': 3},
                             {'paired': False, 'summary': {'base': rb, 'i': {'niqe': 8.3, 'detail_vs_bicubic': 4.0}}})
    assert name == 'base' and '(judged on the held-out pairs and the real LQ frames' in reason
