"""Gaussian and Poisson noise: statistics, gray noise, determinism, gradient, bad input."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.noise import (
    GaussianNoise, PoissonNoise, add_gaussian_noise, add_poisson_noise, gaussian_noise)
from tests.op_tester import DegradationTester


def flat(value=0.5, b=2, size=64):
    return paddle.full([b, 3, size, size], value, dtype='float32')


@pytest.mark.parametrize('sigma', [1.0, 10.0, 30.0])
def test_gaussian_noise_std_matches_sigma(sigma):
    x = flat(0.5)
    noise = (add_gaussian_noise(x, sigma, rng=0) - x).numpy()
    assert abs(noise.std() * 255 / sigma - 1) < 0.02
    assert abs(noise.mean()) * 255 < 0.05 * sigma


def test_per_sample_sigma_and_gray_flags():
    x = flat(0.5, b=3)
    noise = (add_gaussian_noise(x, [5.0, 20.0, 20.0], gray=[False, True, False], rng=1) - x).numpy()
    np.testing.assert_allclose(noise.reshape(3, -1).std(1) * 255, [5, 20, 20], rtol=0.03)
    np.testing.assert_array_equal(noise[1, 0], noise[1, 2])  # gray: one field for all channels
    assert np.abs(noise[2, 0] - noise[2, 1]).mean() > 0.01  # colour: independent


def test_poisson_noise_variance_matches_the_model():
    # all 256 levels are present -> vals = 256; Var(noise) = scale^2 * img / 256
    ramp = np.tile(np.arange(256, dtype=np.float32) / 255, (3, 256, 1))[None]
    x = paddle.to_tensor(np.concatenate([ramp, ramp]))
    for scale in (1.0, 2.5):
        noise = (add_poisson_noise(x, scale, rng=3) - x).numpy()
        for level in (64, 128, 250):
            var = noise[:, :, :, level].var()
            expect = scale ** 2 * (level / 255) / 256
            assert abs(var / expect - 1) < 0.08, (scale, level, var, expect)
        assert abs(noise.mean()) < 1e-3
    gray = (add_poisson_noise(x, 1.0, gray=True, rng=3) - x).numpy()
    np.testing.assert_array_equal(gray[0, 0], gray[0, 1])


def test_noise_is_deterministic_for_a_seed_and_differs_otherwise():
    x = flat(0.4, b=4)
    a = add_gaussian_noise(x, 10, rng=np.random.default_rng(7)).numpy()
    b = add_gaussian_noise(x, 10, rng=np.random.default_rng(7)).numpy()
    c = add_gaussian_noise(x, 10, rng=np.random.default_rng(8)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    p1 = add_poisson_noise(x, 2, rng=5).numpy()
    p2 = add_poisson_noise(x, 2, rng=5).numpy()
    np.testing.assert_array_equal(p1, p2)


class TestGaussianNoise(DegradationTester):
    bad_inputs = [(lambda t: add_gaussian_noise(flat(), -1.0), ValueError, 'sigma must be finite and >= 0'),
                  (lambda t: add_gaussian_noise(flat(b=2), [1.0, 2.0, 3.0]), ValueError,
                   'sigma has 3 values for a batch of 2'),
                  (lambda t: gaussian_noise([1, 3, 4, 4], 1.0, rng='seed'), TypeError, 'rng must be')]

    def function(self, x):
        return add_gaussian_noise(x, 10, rng=2)

    def layer(self):
        return GaussianNoise(10)

    def call_layer(self, layer, x):
        return layer(x, rng=2)


class TestPoissonNoise(DegradationTester):
    grad_rtol = None  # the draw depends on the image and is not differentiated: the gradient is the identity's
    bad_inputs = [(lambda t: add_poisson_noise(paddle.rand([3, 8, 8]), 1.0), ValueError, 'NCHW')]

    def function(self, x):
        return add_poisson_noise(x, 3, rng=2, clip=True)

    def layer(self):
        return PoissonNoise(3, clip=True)

    def call_layer(self, layer, x):
        return layer(x, rng=2)


def test_noise_clips_and_the_gradient_passes_through():
    out = add_poisson_noise(flat(0.98), 3, rng=2, clip=True).numpy()
    assert out.max() <= 1 and out.min() >= 0
    x = flat(0.5)
    x.stop_gradient = False
    (add_gaussian_noise(x, 5, rng=0) * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_box_muller_normals_are_standard_normal():
    from scipy import stats

    from realesrgan_paddle.data.degrade.noise import standard_normal_f32
    out = np.empty(400_001, dtype=np.float32)  # odd size: the sine half is one shorter
    standard_normal_f32(np.random.default_rng(0), out)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert abs(out.mean()) < 0.01 and abs(out.std() - 1) < 0.01
    assert abs(stats.kurtosis(out, fisher=False) - 3) < 0.05 and abs(stats.skew(out)) < 0.02
    assert stats.kstest(out[::4], 'norm').pvalue > 1e-3
    assert (np.abs(out) > 3).mean() == pytest.approx(2 * stats.norm.sf(3), rel=0.15)  # the tails are there
    scaled = standard_normal_f32(np.random.default_rng(0), np.empty(400_001, dtype=np.float32), 2.5)
    np.testing.assert_allclose(scaled, out * 2.5, rtol=1e-6)


@pytest.mark.parametrize('vals', [2.0, 64.0, 256.0])
def test_poisson_sampler_is_the_exact_inverse_cdf(vals):
    from realesrgan_paddle.data.degrade.noise import _BINS, _poisson_tables, _uniform_bits, sample_poisson_levels
    levels = np.random.default_rng(1).integers(0, 256, size=(3, 200, 200)).astype(np.uint8)
    got = sample_poisson_levels(levels, vals, np.random.default_rng(5))
    # the same 32-bit uniforms, answered by a plain per-pixel search of the CDF row
    u = (_uniform_bits(np.random.default_rng(5), levels.size) + 0.5) * 2.0 ** -32
    cdf, _, width, _ = _poisson_tables(vals)
    rows = cdf.reshape(256, width)
    want = np.empty(levels.size, dtype=np.int64)
    flat = levels.ravel()
    for lv in np.unique(flat):
        sel = flat == lv
        want[sel] = np.searchsorted(rows[lv], u[sel], side='left')
    np.testing.assert_array_equal(got.ravel(), want)
    assert _BINS == 1024
    # and the counts follow Poisson(level * vals / 255)
    lam = levels.astype(np.float64) * vals / 255.0
    assert abs(got.mean() / lam.mean() - 1) < 0.01
    assert abs((got - lam).var() / lam.mean() - 1) < 0.03
