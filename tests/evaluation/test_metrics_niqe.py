"""evaluation/niqe.py: the published NIQE algorithm, checked against BasicSR's own implementation on real photos."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation.metrics import bgr_to_y
from realesrgan_paddle.utils.matlab_resize import imresize_bicubic
from realesrgan_paddle.evaluation.niqe import (
    NIQE, aggd_fit, aggd_fit_rows, block_features, blocks_features, gaussian_window, mscn,
    niqe, niqe_features, niqe_luma, pristine_model)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _basicsr_niqe  # noqa: E402


def _photos(hr_photos, n=4, size=288):
    out = []
    for p in hr_photos[:n]:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        out.append(img[(h - min(h, size)) // 2:, (w - min(w, size)) // 2:][:size, :size])
    return out


def test_pristine_model_shapes_and_window():
    mu, cov = pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36) and np.allclose(cov, cov.T)
    with np.load(Path(__file__).resolve().parents[2] / 'evaluation' / 'data' / 'niqe_pris_params.npz') as d:
        assert np.allclose(d['gaussian_window'], gaussian_window(), atol=1e-12)


def test_aggd_fit_recovers_a_gaussian_and_a_laplacian():
    rng = np.random.default_rng(0)
    shape, left, right = aggd_fit(rng.normal(0, 2.0, 200_000))
    # width of a generalized Gaussian of shape 2 = sqrt(2) * standard deviation
    assert abs(shape - 2.0) < 0.05 and abs(left - 2 * 2 ** 0.5) < 0.05 and abs(right - 2 * 2 ** 0.5) < 0.05
    shape, _, _ = aggd_fit(rng.laplace(0, 1.0, 200_000))
    assert abs(shape - 1.0) < 0.05


@pytest.fixture(scope='module')
def ref(torch):  # BasicSR's colour helpers import torch: these run in CI's torch step
    mod = _basicsr_niqe.load()
    if mod is None:
        pytest.skip(f'BasicSR sdist not in {_basicsr_niqe.cache_dir()} (.ci/run downloads it)')
    return mod


def test_features_equal_the_reference_block_by_block(ref, hr_photos):
    for img in _photos(hr_photos, 3, 384):
        m = mscn(np.round(bgr_to_y(img.astype(np.float64))))
        for i in range(0, 384, 96):
            for j in range(0, 384, 96):
                block = m[i:i + 96, j:j + 96]
                np.testing.assert_allclose(block_features(block), ref.compute_feature(block), rtol=1e-9, atol=1e-12)


def test_half_scale_step_equals_the_reference_imresize(ref, hr_photos):
    # NIQE halves whole 96-px blocks (even sizes)
    y = bgr_to_y(cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR).astype(np.float64))[:288, :192]
    theirs = ref.imresize(y / 255.0, scale=0.5, antialiasing=True) * 255.0
    assert imresize_bicubic(y, scale=0.5).shape == theirs.shape
    diff = np.abs(imresize_bicubic(y, scale=0.5) - theirs)  # theirs runs in float32
    assert diff.max() < 0.01 and diff.mean() < 1e-3, (diff.max(), diff.mean())


def test_score_matches_the_reference_on_real_photos(ref, hr_photos):
    """Whole photos. Our filtering and resizing run in float64 (as MATLAB), theirs partly in float32: the
    AGGD shape of a few half-scale blocks moves by one grid step (0.001), which the covariance of fewer
    than 36 blocks magnifies; differences stay within a few hundredths."""
    diffs = []
    for p in hr_photos[:5]:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        ours, theirs = niqe(img), float(ref.calculate_niqe(img, 0))
        assert abs(ours - theirs) < 0.05, (p.name, ours, theirs)
        diffs.append(abs(ours - theirs))
    assert np.median(diffs) < 0.01, diffs


def test_block_stack_equals_block_by_block_in_raster_order(hr_photos):
    """The features of all blocks at once (``blocks_features``, what ``niqe_features`` runs) are the
    one-block features of each block, in raster order; a block with nothing to fit gives NaN."""
    img = _photos(hr_photos, 1, 288)[0][:192, :288]
    y = np.round(bgr_to_y(img.astype(np.float64)))
    m = mscn(y)
    one = np.array([block_features(m[i:i + 96, j:j + 96]) for i in (0, 96) for j in (0, 96, 192)])
    np.testing.assert_allclose(niqe_features(y)[:, :18], one, rtol=1e-12, atol=1e-14)
    stack = np.stack([m[:96, :96], np.zeros((96, 96)), m[96:, 96:192]])
    feats = blocks_features(stack)
    assert feats.shape == (3, 18) and np.isnan(feats[1]).all() and np.isfinite(feats[[0, 2]]).all()
    np.testing.assert_allclose(feats[2], one[4], rtol=1e-12)
    shape, left, right = aggd_fit_rows(np.stack([m[:96, :96].ravel(), np.zeros(96 * 96)]), chunk=1)
    assert np.isnan([shape[1], left[1], right[1]]).all()
    assert (shape[0], left[0], right[0]) == aggd_fit(m[:96, :96])


def test_blur_and_noise_score_worse_than_the_photo(hr_photos):
    rng = np.random.default_rng(0)
    for img in _photos(hr_photos, 3):
        clean = niqe(img)
        assert niqe(cv2.GaussianBlur(img, (0, 0), 2.0)) > clean + 0.5
        noisy = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
        assert niqe(noisy) > clean


def test_layer_equals_function_and_input_forms(hr_photos):
    img = _photos(hr_photos, 1)[0]
    assert NIQE(4)(img) == niqe(img, 4)
    assert niqe(img.astype(np.float32) / 255) == pytest.approx(niqe(img), abs=1e-9)
    assert niqe(img.astype(np.uint16) * 257) == pytest.approx(niqe(img), abs=1e-9)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert np.isfinite(niqe(gray))


def test_bad_input():
    with pytest.raises(ValueError, match='at least 96x96'):
        niqe(np.zeros((50, 200, 3), np.uint8))
    with pytest.raises(ValueError, match='2-D'):
        niqe_luma(np.zeros((100, 100, 2)))
