"""The degradation fit recovers known degradations (data.fit.degradation_fit)."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.data.fit import degradation_fit as F
from realesrgan_paddle.data.fit import lq_stats
from realesrgan_paddle.data.degrade.codec_cache import degrade_images
from realesrgan_paddle.data.degrade.second_order import resolve_options


@pytest.fixture(scope='module')
def hr():
    from skimage import data as skdata
    out = []
    for name in ('astronaut', 'coffee', 'chelsea'):
        img = cv2.cvtColor(getattr(skdata, name)(), cv2.COLOR_RGB2BGR)
        h, w = img.shape[:2]
        out.append(np.ascontiguousarray(img[(h - 160) // 2:(h - 160) // 2 + 160, (w - 160) // 2:(w - 160) // 2 + 160]))
    return out, [f'f_{i}' for i in range(3)]


def _inside(value, rng):
    return rng[0] <= value <= rng[1]


@pytest.mark.parametrize('truth, comps', [
    ({'sigma': 1.6, 'mode': 'area', 'noise': 0.0, 'gray': 0.0, 'comp': 'libx264', 'level': 30}, ('libx264',)),
    ({'sigma': 0.6, 'mode': 'area', 'noise': 8.0, 'gray': 0.0, 'comp': 'jpeg', 'level': 55}, ('jpeg', 'libx264')),
])
@pytest.mark.slow(seconds=13)
def test_fit_recovers_known_degradation(hr, truth, comps):
    frames, names = hr
    real = degrade_images(frames, names, resolve_options(F.family_options(truth, 4)), 4, np.random.default_rng(5))
    # 40x40 LQ made by the fit's own synthesis: measurable at that size (min_side 32). A real 44x36 stream is not
    # (the default floor of 48 px; tests/data/test_fit_confidence.py)
    res = F.fit(frames, names, real, lq_stats.shrink(frames, (40, 40)), 4, comps=comps, min_side=32)
    r = res['ranges']
    assert r['comp'] == truth['comp']
    for key in ('sigma', 'noise', 'level'):
        assert _inside(truth[key], r[key]), (key, truth[key], r[key])
    assert r['sigma'][1] - r['sigma'][0] <= 1.2 and r['level'][1] - r['level'][0] <= 20
    if truth['noise'] == 0:
        assert r['noise'] == (0.0, 0.0)  # switched off
    else:
        assert r['gray'] < 0.5  # colour noise
    opt = resolve_options(res['options'])  # a valid options fragment
    assert opt['second_blur_prob'] == 0 and opt['jpeg_prob'] == 0
    assert (opt['codec_prob'] == 1) == (truth['comp'] == 'libx264')
    fitted, generic = res['stats']['fitted'], res['stats']['generic']
    assert F.loss(res['stats']['real'], fitted) < F.loss(res['stats']['real'], generic)


def test_loss_and_value_range():
    s = {k: 1.0 for k in F.WEIGHTS}
    assert F.loss(s, s) == 0
    assert F.loss(s, {**s, 'noise_y': 1.0 + F.WEIGHTS['noise_y'][1]}) == pytest.approx(1.0)
    scores = {1: 5.0, 2: 1.0, 3: 0.5, 4: 1.2, 5: 9.0, 6: 9.0}
    assert F.value_range(scores, 3) == (1, 5)
