"""Blur kernels of the Real-ESRGAN degradation model (numpy, one kernel at a time).

Every kernel is a float32 ``k x k`` array with odd ``k`` that sums to 1. The
covariance of the anisotropic kernels is ``R(theta) diag(sx^2, sy^2) R(theta)^T``
and the quadratic form ``q = [x y] S^-1 [x y]^T`` over the centred grid gives:

* Gaussian:              ``exp(-q / 2)``
* generalized Gaussian:  ``exp(-q^beta / 2)``
* plateau:               ``1 / (1 + q^beta)``
* 2-D sinc (circular low-pass with cutoff ``omega``): ``omega J1(omega r) / (2 pi r)``

Kernels are sampled in numpy (per sample, in the dataset) and zero-padded to a
common size so that a batch can be blurred with per-sample kernels at once.
"""
import math

import numpy as np

KERNEL_TYPES = ('iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso')


def _check_size(kernel_size):
    if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'kernel_size must be a positive odd integer, got {kernel_size!r}')
    return int(kernel_size)


def _check_positive(name, value):
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be > 0, got {value!r}')


def covariance(sigma_x, sigma_y, theta):
    """2x2 covariance matrix ``R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T``."""
    _check_positive('sigma_x', sigma_x)
    _check_positive('sigma_y', sigma_y)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]], dtype=np.float64)
    return rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T


def _quadratic_form(kernel_size, sigma_x, sigma_y, theta):
    k = _check_size(kernel_size)
    inv = np.linalg.inv(covariance(sigma_x, sigma_y, theta))
    ax = np.arange(k, dtype=np.float64) - k // 2
    xx, yy = np.meshgrid(ax, ax)  # xx varies along columns (x), yy along rows (y)
    return inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy


def _normalise(kernel):
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_kernel(kernel_size, sigma_x, sigma_y=None, theta=0.0):
    """(An)isotropic Gaussian; ``sigma_y=None`` means isotropic."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _normalise(np.exp(-0.5 * _quadratic_form(kernel_size, sigma_x, sigma_y, theta)))


def generalized_gaussian_kernel(kernel_size, sigma_x, sigma_y=None, theta=0.0, beta=1.0):
    """Generalized Gaussian ``exp(-q^beta / 2)``; beta=1 is the Gaussian."""
    _check_positive('beta', beta)
    sigma_y = sigma_x if sigma_y is None else sigma_y
    q = _quadratic_form(kernel_size, sigma_x, sigma_y, theta)
    return _normalise(np.exp(-0.5 * np.power(q, beta)))


def plateau_kernel(kernel_size, sigma_x, sigma_y=None, theta=0.0, beta=1.0):
    """Plateau-shaped kernel ``1 / (1 + q^beta)``."""
    _check_positive('beta', beta)
    sigma_y = sigma_x if sigma_y is None else sigma_y
    q = _quadratic_form(kernel_size, sigma_x, sigma_y, theta)
    return _normalise(1.0 / (np.power(q, beta) + 1.0))


def bessel_j1(x):
    """Bessel function of the first kind, order 1 (numpy, no scipy needed).

    Uses Bessel's integral ``J1(x) = 1/(2 pi) int_0^{2 pi} cos(t - x sin t) dt``; the
    integrand is smooth and periodic, so the trapezoid rule converges geometrically
    (accurate to ~1e-15 for |x| < 100 with 256 nodes).
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.linspace(0.0, 2 * np.pi, 256, endpoint=False)
    uniq, inv = np.unique(x.ravel(), return_inverse=True)  # kernels have few distinct radii
    vals = np.cos(t[None, :] - uniq[:, None] * np.sin(t[None, :])).mean(axis=1)
    return vals[inv].reshape(x.shape)


def sinc_kernel(kernel_size, omega):
    """2-D circular low-pass (sinc) kernel with cutoff ``omega`` in (0, pi]."""
    k = _check_size(kernel_size)
    if not (0 < omega <= np.pi + 1e-9):
        raise ValueError(f'sinc cutoff omega must be in (0, pi], got {omega!r}')
    ax = np.arange(k, dtype=np.float64) - k // 2
    xx, yy = np.meshgrid(ax, ax)
    r = np.sqrt(xx * xx + yy * yy)
    safe = np.where(r == 0, 1.0, r)
    kernel = omega * bessel_j1(omega * safe) / (2 * np.pi * safe)
    kernel[r == 0] = omega ** 2 / (4 * np.pi)
    return _normalise(kernel)


def pad_kernel(kernel, size=21):
    """Zero-pad an odd kernel to ``size x size`` (centred)."""
    kernel = np.asarray(kernel, dtype=np.float32)
    k = kernel.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != k or k % 2 == 0:
        raise ValueError(f'kernel must be square with odd size, got shape {kernel.shape}')
    if k > size:
        raise ValueError(f'kernel size {k} is larger than the pad size {size}')
    p = (size - k) // 2
    return np.pad(kernel, ((p, p), (p, p)))


def pulse_kernel(size=21):
    """Identity kernel: a single 1 in the centre."""
    k = np.zeros((size, size), dtype=np.float32)
    k[size // 2, size // 2] = 1.0
    return k


def _uniform_beta(rng, beta_range):
    """Beta as in Real-ESRGAN: half the time below 1 (heavier tails), half above."""
    lo, hi = beta_range
    if rng.uniform() < 0.5:
        return float(rng.uniform(lo, 1.0)) if lo < 1 else float(lo)
    return float(rng.uniform(1.0, hi)) if hi > 1 else float(hi)


def random_mixed_kernel(rng, kernel_size, kernel_list, kernel_prob, sigma_range,
                        betag_range, betap_range, rotation_range=(-math.pi, math.pi)):
    """Draw one kernel type by probability and its parameters; returns (kernel, params)."""
    kind = str(rng.choice(list(kernel_list), p=np.asarray(kernel_prob, dtype=np.float64)))
    iso = kind.endswith('iso') and not kind.endswith('aniso')
    sx = float(rng.uniform(*sigma_range))
    if iso:
        sy, theta = sx, 0.0
    else:
        sy = float(rng.uniform(*sigma_range))
        theta = float(rng.uniform(*rotation_range))
    params = {'type': kind, 'size': int(kernel_size), 'sigma_x': sx, 'sigma_y': sy, 'theta': theta}
    if kind in ('iso', 'aniso'):
        kernel = gaussian_kernel(kernel_size, sx, sy, theta)
    elif kind.startswith('generalized'):
        params['beta'] = _uniform_beta(rng, betag_range)
        kernel = generalized_gaussian_kernel(kernel_size, sx, sy, theta, params['beta'])
    elif kind.startswith('plateau'):
        params['beta'] = _uniform_beta(rng, betap_range)
        kernel = plateau_kernel(kernel_size, sx, sy, theta, params['beta'])
    else:
        raise ValueError(f'unknown kernel type {kind!r}; known: {", ".join(KERNEL_TYPES)}')
    return kernel, params


def kernel_moments(kernel):
    """Mean (x, y) and 2x2 covariance of a kernel seen as a distribution (for tests/checks)."""
    k = np.asarray(kernel, dtype=np.float64)
    ax = np.arange(k.shape[0]) - k.shape[0] // 2
    xx, yy = np.meshgrid(ax, ax)
    w = k / k.sum()
    mx, my = (w * xx).sum(), (w * yy).sum()
    cxx = (w * (xx - mx) ** 2).sum()
    cyy = (w * (yy - my) ** 2).sum()
    cxy = (w * (xx - mx) * (yy - my)).sum()
    return np.array([mx, my]), np.array([[cxx, cxy], [cxy, cyy]])
