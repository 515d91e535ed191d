"""evaluation/metrics.py ``texture_ratio``: the power in the octave above the input's resolution, on real photos;
grain fills DETAIL but not TEXTURE; how the evaluator and the pipeline's report carry it."""
import math

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation import evaluator as E
from realesrgan_paddle.evaluation import metrics as M
from tests.pairs import centre_crop, write_pairs


@pytest.fixture(scope='module')
def photos(photo_crops):
    return photo_crops(3, 256)


def _small(img, s=4):
    return cv2.resize(img, (img.shape[1] // s, img.shape[0] // s), interpolation=cv2.INTER_AREA)


def _bicubic(img, s=4):
    small = _small(img, s)
    return cv2.resize(small, (small.shape[1] * s, small.shape[0] * s), interpolation=cv2.INTER_CUBIC)


def _wave(shape, cycles, amplitude):
    """A diagonal-free sinusoid along x at ``cycles`` per pixel, ``amplitude`` grey levels, on every channel."""
    x = np.arange(shape[1])[None, :, None]
    return amplitude * np.sin(2 * np.pi * cycles * x) * np.ones(shape)


def _plus(img, extra):
    return np.clip(img.astype(np.float64) + extra, 0, 255).astype(np.uint8)


def test_the_gt_scores_one_and_an_upscale_of_the_input_almost_nothing(photos):
    for img in photos:
        assert M.texture_ratio(img, img) == pytest.approx(1.0)
        assert M.texture_ratio(_bicubic(img), img) < 0.2
        assert M.texture_ratio(_bicubic(img, 2), img, scale=2) < 0.3


def _matched_wave(img, cycles, lo, hi):
    """A wave at ``cycles`` per pixel whose power in ``[lo, hi)`` equals the photo's own there: added to the photo
    (uncorrelated with it), it doubles the band's power when it lies in the band, on any photo."""
    unit = M.band_power(_plus(np.full(img.shape, 128, np.uint8), _wave(img.shape, cycles, 100)), lo, hi) / 100 ** 2
    return _wave(img.shape, cycles, math.sqrt(M.band_power(img, lo, hi) / unit))


def test_the_band_is_the_octave_above_the_inputs_nyquist_frequency(photos):
    for img in photos:
        inside = _plus(img, _matched_wave(img, 0.18, 0.125, 0.25))  # a 5.6 px period: in [0.125, 0.25) at x4
        wave = _matched_wave(img, 0.40, 0.25, 0.5)  # a 2.5 px period: above it at x4, in [0.25, 0.5) at x2
        above = _plus(img, wave)
        assert 1.5 < M.texture_ratio(inside, img) < 2.2  # about 2; clipping at white and black takes some
        assert M.texture_ratio(above, img) == pytest.approx(1.0, abs=0.05)
        assert 1.5 < M.texture_ratio(above, img, scale=2) < 2.2  # x2: the octave is [0.25, 0.5)
        same = _plus(img, _wave(img.shape, 0.18, np.abs(wave).max()))  # the two waves at one amplitude
        assert M.detail_ratio(above, img) > M.detail_ratio(same, img)  # the Laplacian favours the finest band


def test_grain_fills_detail_but_not_texture(photos):
    """A fine grain (white noise minus its 0.6 px blur: periods of 2-3 px) on a bicubic upscale reaches the GT's
    Laplacian energy; its power in the texture octave stays where bicubic's is."""
    rng = np.random.default_rng(0)
    for img in photos:
        up = _bicubic(img)
        noise = rng.normal(0, 1, img.shape[:2])
        grain = (noise - cv2.GaussianBlur(noise, (0, 0), 0.6))[..., None]
        amp = 1.0
        while M.detail_ratio(_plus(up, amp * grain), img) < 0.8 and amp < 200:
            amp *= 1.25
        grainy = _plus(up, amp * grain)
        assert M.detail_ratio(grainy, img) >= 0.8
        assert M.texture_ratio(grainy, img) < M.texture_ratio(up, img) + 0.1 < 0.3


def test_tiles_bound_the_memory_and_agree_with_the_whole_image(photos):
    rng = np.random.default_rng(1)
    noise = cv2.GaussianBlur(rng.normal(128, 40, (1024, 768)), (0, 0), 1.2).clip(0, 255).astype(np.uint8)
    whole = M.band_power(noise, 0.125, 0.25, tile=1024)
    tiled = M.band_power(noise, 0.125, 0.25)
    assert tiled == pytest.approx(whole, rel=0.1)
    assert M.band_power(noise[:100, :90], 0.125, 0.25) > 0  # smaller than a tile: one tile of its own size


def test_bad_input_and_degenerate_images(photos):
    img = photos[0]
    with pytest.raises(ValueError, match='image shapes differ'):
        M.texture_ratio(img, img[:-4])
    with pytest.raises(ValueError, match='at least 8x8'):
        M.band_power(img[:12, :12], 0.125, 0.25)
    assert math.isnan(M.texture_ratio(img[:12, :12], img[:12, :12]))  # a tiny image scores NaN, as with BLOCKS
    row = E.image_metrics(_bicubic(img[:12, :12]), img[:12, :12])
    assert math.isnan(row['texture']) and math.isnan(row['ssim']) and math.isfinite(row['psnr'])
    assert math.isnan(M.texture_ratio(img, img, scale=1))  # no input resolution to be above
    flat = np.full((64, 64, 3), 90, np.uint8)
    assert math.isnan(M.texture_ratio(img[:64, :64], flat))


def test_the_evaluator_and_the_report_carry_it(hr_photos, tmp_path):
    gt_dir, lq_dir = write_pairs(tmp_path, hr_photos[:3], lambda img: centre_crop(img, 256, 256))
    rows = E.evaluate({'bicubic': 'bicubic'}, gt_dir, lq_dir, iqa=None, progress=False)
    per_image = [r['bicubic_texture'] for r in rows]
    summary = E.summarize(rows, ['bicubic'])
    assert summary['bicubic']['texture'] == pytest.approx(M.geometric_mean(per_image))
    assert E.axes(summary, ['bicubic'])['perception'].index('texture') == 2  # NIQE, DETAIL, TEXTURE
    assert 'texture' in E.model_metrics(rows, 'bicubic')
    from realesrgan_paddle.evaluation.evaluate_cli import tables
    assert 'bicubic TEXTURE' in tables(rows, summary, ['bicubic']).splitlines()[0]
