"""Second-order degradation: options, shapes, determinism, real photos."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.second_order import (
    DEFAULT_DEGRADATION, SecondOrderDegradation, degrade_image, resolve_options, sample_kernels)
from realesrgan_paddle.data.degrade.resize import imresize_bicubic
from realesrgan_paddle.evaluation.metrics import psnr


def batch_kernels(n, seed=0):
    rng = np.random.default_rng(seed)
    ks = [sample_kernels(None, rng) for _ in range(n)]
    return {k: np.stack([d[k] for d in ks]) for k in ks[0]}


@pytest.fixture(scope='module')
def gt_batch(photo_batch):
    return photo_batch(4, 64)


def test_options_defaults_overrides_and_errors():
    opt = resolve_options({'sinc_prob': 0.3, 'noise_range': [2, 4]})
    assert opt['sinc_prob'] == 0.3 and opt['noise_range'] == [2, 4]
    assert opt['kernel_prob'] == DEFAULT_DEGRADATION['kernel_prob']
    assert DEFAULT_DEGRADATION['resize_prob'] == [0.2, 0.7, 0.1] and DEFAULT_DEGRADATION['jpeg_range'] == [30, 95]
    for bad, key in [({'sinc_probb': 0.1}, 'sinc_probb'), ({'sinc_prob': 1.5}, 'sinc_prob'),
                     ({'noise_range': [5, 1]}, 'noise_range'), ({'kernel_prob': [0.5, 0.5]}, 'kernel_prob'),
                     ({'kernel_list': ['box'] * 6}, 'kernel_list'), ({'blur_kernel_size': 8}, 'blur_kernel_size'),
                     ({'resize_mode_list': ['nearest']}, 'resize_mode_list'), ({'jpeg_range': [0, 95]}, 'jpeg_range')]:
        with pytest.raises(ValueError, match=key):
            resolve_options(bad)


def test_pipeline_shape_range_rounding_and_params(gt_batch):
    k = batch_kernels(4)
    lq, params = SecondOrderDegradation(None, 4)(gt_batch, k['kernel1'], k['kernel2'], k['sinc_kernel'],
                                                 rng=1, return_params=True)
    arr = lq.numpy()
    assert lq.shape == [4, 3, 16, 16]
    assert arr.min() >= 0 and arr.max() <= 1
    np.testing.assert_allclose(arr * 255, np.rint(arr * 255), atol=1e-3)  # rounded to 1/255
    assert len(params) == 4 and all(30 <= p['jpeg_quality1'] <= 95 for p in params)
    assert {p['noise1'] for p in params} <= {'gaussian', 'poisson'}


def test_pipeline_is_deterministic_on_cpu(gt_batch):
    k = batch_kernels(4, seed=3)
    deg = SecondOrderDegradation({'gaussian_noise_prob': 0.5}, 2)
    a = deg(gt_batch, k['kernel1'], k['kernel2'], k['sinc_kernel'], rng=np.random.default_rng(11)).numpy()
    b = deg(gt_batch, paddle.to_tensor(k['kernel1']), k['kernel2'], k['sinc_kernel'],
            rng=np.random.default_rng(11)).numpy()
    c = deg(gt_batch, k['kernel1'], k['kernel2'], k['sinc_kernel'], rng=np.random.default_rng(12)).numpy()
    assert a.tobytes() == b.tobytes()
    assert a.shape == c.shape and not np.array_equal(a, c)


def test_batch_slicing_does_not_change_results(gt_batch):
    k = batch_kernels(4, seed=9)
    outs = [SecondOrderDegradation(None, 4, threads=t)(gt_batch, k['kernel1'], k['kernel2'], k['sinc_kernel'],
                                                       rng=21).numpy() for t in (1, 3)]
    assert outs[0].tobytes() == outs[1].tobytes()
    with pytest.raises(ValueError):
        SecondOrderDegradation(None, 4, threads=0)


def test_zero_degradation_options_give_a_clean_downscale(gt_batch):
    opt = {'resize_prob': [0, 0, 1], 'resize_prob2': [0, 0, 1], 'noise_range': [0, 0], 'noise_range2': [0, 0],
           'gaussian_noise_prob': 1.0, 'gaussian_noise_prob2': 1.0, 'jpeg_range': [100, 100],
           'jpeg_range2': [100, 100], 'second_blur_prob': 0.0, 'resize_mode_list': ['area']}
    pulse = np.zeros((4, 21, 21), np.float32)
    pulse[:, 10, 10] = 1
    lq = SecondOrderDegradation(opt, 2)(gt_batch, pulse, pulse, pulse, rng=0).numpy()
    ref = gt_batch.numpy().reshape(4, 3, 32, 2, 32, 2).mean((3, 5))
    luma = np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)
    # left: q100 JPEG (4:2:0 chroma) and rounding; luma is nearly exact
    assert np.abs(((lq - ref) * luma).sum(1)).mean() < 1 / 255
    assert np.abs(lq - ref).mean() < 5 / 255


def test_pipeline_bad_input(gt_batch):
    k = batch_kernels(4)
    deg = SecondOrderDegradation(None, 4)
    with pytest.raises(ValueError):
        deg(gt_batch[:, :1], k['kernel1'], k['kernel2'], k['sinc_kernel'])
    with pytest.raises(ValueError):
        deg(gt_batch, k['kernel1'][:2], k['kernel2'], k['sinc_kernel'])
    with pytest.raises(ValueError):
        SecondOrderDegradation(None, 0)


def test_degrade_image_real_photo_is_degraded_and_reproducible(hr_photos):
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:192, :256]
    lq, params = degrade_image(img, None, 4, seed=5)
    lq2, _ = degrade_image(img, None, 4, seed=5)
    lq3, _ = degrade_image(img, None, 4, seed=6)
    assert lq.shape == (48, 64, 3) and lq.dtype == np.uint8
    assert lq.tobytes() == lq2.tobytes() and lq.tobytes() != lq3.tobytes()
    assert params['lq_size'] == [48, 64] and params['kernel1']['type']
    clean = imresize_bicubic(img, size=(48, 64))
    assert psnr(lq, clean) < 35
    gray, _ = degrade_image(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), None, 4, seed=5)
    sixteen, _ = degrade_image(img.astype(np.uint16) * 257, None, 4, seed=5)
    assert gray.shape == lq.shape and np.abs(sixteen.astype(int) - lq.astype(int)).max() <= 1
