"""Blur kernels (numpy) and the batched filter2d (Paddle)."""
import math

import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.blur_filters import Filter2D, filter2d, reflect_pad
from realesrgan_paddle.data.degrade.kernels import (
    bessel_j1, covariance, gaussian_kernel, generalized_gaussian_kernel, kernel_moments,
    pad_kernel, plateau_kernel, pulse_kernel, random_mixed_kernel, sinc_kernel)
from realesrgan_paddle.data.degrade.second_order import DEFAULT_DEGRADATION, sample_kernels
from tests.op_tester import DegradationTester

MAKERS = [lambda k: gaussian_kernel(k, 2.0, 1.0, 0.6),
          lambda k: generalized_gaussian_kernel(k, 2.0, 1.0, 0.6, beta=0.7),
          lambda k: plateau_kernel(k, 2.0, 1.0, 0.6, beta=1.5),
          lambda k: sinc_kernel(k, 1.3)]


@pytest.mark.parametrize('size', [7, 13, 21])
@pytest.mark.parametrize('make', MAKERS)
def test_kernels_sum_to_one_shape_and_point_symmetry(make, size):
    k = make(size)
    assert k.shape == (size, size) and k.dtype == np.float32
    assert abs(float(k.sum()) - 1) < 1e-5
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)  # every kernel here is point symmetric


def test_isotropic_kernels_have_full_symmetry():
    for k in (gaussian_kernel(21, 2.5), generalized_gaussian_kernel(21, 2.5, beta=3.0),
              plateau_kernel(21, 2.5, beta=1.2), sinc_kernel(21, 1.0)):
        np.testing.assert_allclose(k, k.T, atol=1e-7)
        np.testing.assert_allclose(k, k[::-1], atol=1e-7)
        np.testing.assert_allclose(k, k[:, ::-1], atol=1e-7)
    aniso = gaussian_kernel(21, 3.0, 1.0, 0.5)
    assert np.abs(aniso - aniso.T).max() > 1e-3  # rotated anisotropic: not transposition symmetric


@pytest.mark.parametrize('sx,sy,theta', [(2.0, 2.0, 0.0), (3.0, 1.0, 0.0), (2.5, 0.8, math.pi / 6), (1.2, 2.2, -1.0)])
def test_gaussian_width_and_orientation_match_sigma(sx, sy, theta):
    mean, cov = kernel_moments(gaussian_kernel(41, sx, sy, theta))
    np.testing.assert_allclose(mean, 0, atol=1e-9)
    np.testing.assert_allclose(cov, covariance(sx, sy, theta), rtol=0.02, atol=0.01)


def test_beta_changes_the_tails():
    base = gaussian_kernel(21, 2.0)
    heavy = generalized_gaussian_kernel(21, 2.0, beta=0.5)
    flat = generalized_gaussian_kernel(21, 2.0, beta=4.0)
    np.testing.assert_allclose(generalized_gaussian_kernel(21, 2.0, beta=1.0), base, atol=1e-7)
    assert heavy[10, 0] > base[10, 0] > flat[10, 0]
    plateau = plateau_kernel(21, 2.0, beta=2.0)
    assert plateau[10, 9] / plateau[10, 10] > base[10, 9] / base[10, 10]  # flatter top
    assert plateau[10, 0] / plateau[10, 10] > base[10, 0] / base[10, 10]  # and heavier tails


def test_bessel_j1_matches_scipy():
    special = pytest.importorskip('scipy.special')
    x = np.linspace(0, 50, 777)
    np.testing.assert_allclose(bessel_j1(x), special.j1(x), atol=1e-12)


def test_sinc_kernel_rings_on_a_step_edge():
    step = np.zeros((1, 3, 64, 64), np.float32)
    step[..., 32:] = 1.0
    x = paddle.to_tensor(step)
    ring = filter2d(x, sinc_kernel(21, math.pi / 4)).numpy()[0, 0, 32]
    smooth = filter2d(x, gaussian_kernel(21, 3.0)).numpy()[0, 0, 32]
    assert ring.max() > 1.03 and ring.min() < -0.03  # overshoot and undershoot
    assert smooth.max() <= 1 + 1e-5 and smooth.min() >= -1e-5
    assert (sinc_kernel(21, math.pi / 4) < 0).any()


def test_kernel_bad_arguments():
    for bad in (lambda: gaussian_kernel(8, 1.0), lambda: gaussian_kernel(7, -1.0),
                lambda: generalized_gaussian_kernel(7, 1.0, beta=0), lambda: sinc_kernel(7, 4.0),
                lambda: pad_kernel(np.ones((23, 23)), 21), lambda: pad_kernel(np.ones((4, 4)), 21)):
        with pytest.raises(ValueError):
            bad()


def test_pad_and_pulse():
    k = pad_kernel(gaussian_kernel(7, 1.0), 21)
    assert k.shape == (21, 21) and abs(k.sum() - 1) < 1e-6 and k[:7].sum() == 0
    assert pulse_kernel(21).sum() == 1 and pulse_kernel(21)[10, 10] == 1


def test_random_kernel_sampling_is_seeded_and_uses_all_types():
    opt = DEFAULT_DEGRADATION
    a = [random_mixed_kernel(np.random.default_rng(5), 21, opt['kernel_list'], opt['kernel_prob'],
                             opt['blur_sigma'], opt['betag_range'], opt['betap_range'])[0] for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    rng = np.random.default_rng(0)
    types = {}
    for _ in range(600):
        ks, ps = sample_kernels(None, rng, return_params=True)
        assert all(v.shape == (21, 21) and abs(v.sum() - 1) < 1e-5 for v in ks.values())
        assert 7 <= ps['kernel1'].get('size', 21) <= 21 and ps['kernel1'].get('size', 21) % 2 == 1
        types[ps['kernel1']['type']] = types.get(ps['kernel1']['type'], 0) + 1
        if ps['kernel2']['type'] != 'sinc':
            assert 0.2 <= ps['kernel2']['sigma_x'] <= 1.5
    assert set(types) == set(opt['kernel_list']) | {'sinc'}
    assert 0.06 < types['sinc'] / 600 < 0.14  # sinc_prob 0.1
    assert 0.33 < types['iso'] / 600 < 0.48  # 0.45 of the 0.9 non-sinc


def test_filter2d_matches_opencv_per_sample(hr_photos):
    img = cv2.imread(str(hr_photos[0]))[:48, :40].astype(np.float32) / 255
    kernels = [pad_kernel(gaussian_kernel(9, 2.0, 0.7, 0.4), 21), sinc_kernel(21, 1.1),
               pad_kernel(plateau_kernel(15, 1.5, beta=1.5), 21)]
    x = paddle.to_tensor(np.stack([img.transpose(2, 0, 1)] * 3))
    out = filter2d(x, np.stack(kernels)).numpy()
    for i, k in enumerate(kernels):
        ref = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_allclose(out[i].transpose(1, 2, 0), ref, atol=2e-5)
    shared = filter2d(x, kernels[1]).numpy()
    np.testing.assert_allclose(shared[0], out[1], atol=1e-6)
    np.testing.assert_allclose(Filter2D()(x, np.stack(kernels)).numpy(), out, atol=1e-7)


def test_reflect_pad_matches_numpy_also_beyond_the_image():
    x = paddle.rand([2, 3, 5, 7])
    for p in (2, 6, 9):
        ref = np.pad(x.numpy(), ((0, 0), (0, 0), (p, p), (p, p)), mode='reflect')
        np.testing.assert_array_equal(reflect_pad(x, p).numpy(), ref)


class TestFilter2D(DegradationTester):
    bad_inputs = [(lambda t: filter2d(paddle.rand([3, 16, 16]), gaussian_kernel(7, 1.0)), ValueError, 'NCHW'),
                  (lambda t: filter2d(paddle.rand([2, 3, 16, 16]), np.ones((3, 7, 7), np.float32)), ValueError,
                   '3 kernels for a batch of 2'),
                  (lambda t: filter2d(paddle.rand([2, 3, 16, 16]), np.ones((8, 8), np.float32)), ValueError, 'odd k')]

    def function(self, x):
        return filter2d(x, gaussian_kernel(7, 1.0))

    def layer(self):
        return Filter2D()

    def call_layer(self, layer, x):
        return layer(x, gaussian_kernel(7, 1.0))


def test_filter2d_gradient_sums_to_the_pixel_count():
    x = paddle.rand([2, 3, 16, 16])
    x.stop_gradient = False
    filter2d(x, gaussian_kernel(7, 1.0)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy().sum(), 2 * 3 * 16 * 16, rtol=1e-4)  # kernel sums to 1
