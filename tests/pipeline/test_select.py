"""The checkpoint criterion (pipeline/select.py) and how the evaluate stage runs its models
through evaluation.evaluator (evaluation/model_cache.py), on real photos."""
import math

import pytest

from evaluation import model_cache as MT
from pipeline.select import DETAIL_TOL, choose, compare


def summ(psnr, ssim, detail, niqe=None):
    return {'psnr': psnr, 'ssim': ssim, 'detail': detail, 'niqe': niqe}


@pytest.fixture(scope='module')
def pairs(hr_photos, tmp_path_factory):
    """Two held-out pairs from real photos: 200x200 GT crops (NIQE needs 96 px after the crop), x4 area LQ."""
    from tests.pairs import centre_crop, write_pairs
    return write_pairs(tmp_path_factory.mktemp('pairs'), hr_photos[:2], lambda img: centre_crop(img, 200, 200))


def test_compact_checkpoints_run_in_the_dynamic_graph_with_every_metric(pairs, tmp_path):
    from tests.nets import SRVGG, save_tiny
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG, 0, ema=True)
    ck = save_tiny(tmp_path / 'net_g_2.pdparams', SRVGG, 1, ema=True)
    nets = MT.Models('compact', tmp_path / 'exports')
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


def test_rrdbnet_checkpoints_run_on_the_predictor_exported_into_the_stage_folder(pairs, tmp_path):
    from tests.nets import RRDB, save_tiny
    ck = save_tiny(tmp_path / 'net_g_2.pdparams', RRDB, 0, ema=True)
    exports = tmp_path / 'exports'
    nets = MT.Models('x4plus', exports)
    ups = nets.get({'iter_2': str(ck)}, own={'iter_2': str(ck)})
    assert nets.backends == {'iter_2': 'predictor'} and ups['iter_2'].backend.name == 'predictor'
    assert list(exports.glob('infer/*/inference.pdmodel'))
    rows = MT.evaluate(ups, *pairs, progress=False)
    # the predictor agrees with the dynamic graph on the same weights
    from inference import Upscaler
    ref = MT.evaluate({'iter_2': Upscaler(model=str(ck), backend='dynamic')}, *pairs, progress=False)
    assert [r['iter_2_psnr'] for r in rows] == pytest.approx([r['iter_2_psnr'] for r in ref], abs=1e-2)
    nets.cleanup()
    assert not exports.exists()


def test_unmeasured_niqe_takes_no_part_and_the_reason_says_so():
    base = summ(25.0, 0.70, 0.80, niqe=float('nan'))
    t = compare(summ(25.3, 0.71, 0.85, niqe=float('nan')), base)
    assert t['dniqe'] is None and t['beats_base'] and t['score'] == pytest.approx(0.3 + 2 * (math.log(1 / 0.8) -
                                                                                               math.log(1 / 0.85)))
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


def test_base_exported_when_nothing_beats_it():
    base = summ(25.0, 0.70, 0.80)
    name, table, reason = choose({'base': base, 'iter_5': summ(24.9, 0.71, 0.9)}, 'base', {'iter_5': 5})
    assert name == 'base' and reason.startswith('no checkpoint beats the base') and 'PSNR -0.10 dB' in reason


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
