"""The checkpoint criterion (training/domain/select.py) and the detail ratio of the evaluation
adapter (training/domain/metrics.py), on real photos."""
import math

import cv2
import numpy as np
import pytest

from training.domain import metrics as MT
from training.domain.select import DETAIL_TOL, choose, compare


def summ(psnr, ssim, detail, niqe=None):
    return {'psnr': psnr, 'ssim': ssim, 'detail': detail, 'niqe': niqe}


def test_detail_ratio_moves_the_right_way(hr_photos):
    gt = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    assert MT.detail_ratio(gt, gt) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(gt, (0, 0), 2.0)
    noisy = np.clip(gt.astype(np.float32) + np.random.default_rng(0).normal(0, 12, gt.shape), 0, 255).astype(np.uint8)
    assert MT.detail_ratio(blurred, gt) < 0.5
    assert MT.detail_ratio(noisy, gt) > 1.2
    assert MT.detail_ratio(cv2.GaussianBlur(gt, (0, 0), 3.0), gt) < MT.detail_ratio(blurred, gt)


def test_summarize_uses_a_geometric_mean_for_detail():
    rows = [{'image': 'a', 'm_psnr': 20.0, 'm_ssim': 0.5, 'm_detail': 0.25},
            {'image': 'b', 'm_psnr': 30.0, 'm_ssim': 0.7, 'm_detail': 4.0}]
    if MT.full_contract():
        pytest.skip('training.evaluate implements summarize itself')
    s = MT.summarize(rows, ['m'])['m']
    assert s['psnr'] == 25.0 and s['ssim'] == pytest.approx(0.6) and s['detail'] == pytest.approx(1.0)
    assert s['niqe'] is None


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


def test_adapter_delegates_to_the_full_evaluation_contract(monkeypatch):
    """When training.evaluate has evaluate/summarize/verdict, the adapter calls them unchanged."""
    from training import evaluate as E
    calls = []
    monkeypatch.setattr(E, 'evaluate', lambda models, gt, lq, **kw: calls.append(('evaluate', kw)) or [{'image': 'x'}],
                        raising=False)
    monkeypatch.setattr(E, 'summarize', lambda rows, names: calls.append(('summarize', names)) or {'m': {}},
                        raising=False)
    monkeypatch.setattr(E, 'verdict', lambda s, a, b: calls.append(('verdict', a, b)) or ['line'], raising=False)
    assert MT.full_contract()
    assert MT.evaluate({'m': 'bicubic'}, 'gt', 'lq', sheet='s.png', crop=64) == [{'image': 'x'}]
    assert MT.summarize([], ['m']) == {'m': {}} and MT.verdict({}, 'base', 'm') == ['line']
    assert calls[0] == ('evaluate', {'scale': 4, 'crop_border': 4, 'sheet': 's.png', 'sheet_images': 3, 'crop': 64})
    assert calls[1:] == [('summarize', ['m']), ('verdict', 'base', 'm')]
