"""PSNR and SSIM as used in SR papers (optionally on the Y channel, with a border crop).

Inputs are HWC (or HW) arrays, uint8/uint16 or float; BGR channel order as read
by OpenCV. Values are compared on the 0-255 scale.
"""
import cv2
import numpy as np


def _to_255(img):
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 257.0
    return img.astype(np.float64) * (255.0 if img.max() <= 1.0 + 1e-6 else 1.0)


def bgr_to_y(img255):
    """ITU-R BT.601 luma (16-235 range), the convention of SR benchmarks."""
    b, g, r = img255[..., 0], img255[..., 1], img255[..., 2]
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _prepare(a, b, crop_border, test_y):
    a, b = _to_255(a), _to_255(b)
    if a.shape != b.shape:
        raise ValueError(f'image shapes differ: {a.shape} vs {b.shape}')
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if test_y and a.ndim == 3 and a.shape[2] >= 3:
        a, b = bgr_to_y(a), bgr_to_y(b)
    return a, b


def psnr(a, b, crop_border=0, test_y=False):
    a, b = _prepare(a, b, crop_border, test_y)
    mse = np.mean((a - b) ** 2)
    return float('inf') if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _ssim_channel(a, b):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    win = cv2.getGaussianKernel(11, 1.5)
    win = win @ win.T
    f = lambda x: cv2.filter2D(x, -1, win)[5:-5, 5:-5]  # noqa: E731  valid region only
    mu_a, mu_b = f(a), f(b)
    var_a = f(a * a) - mu_a ** 2
    var_b = f(b * b) - mu_b ** 2
    cov = f(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def ssim(a, b, crop_border=0, test_y=False):
    a, b = _prepare(a, b, crop_border, test_y)
    if a.ndim == 2:
        return _ssim_channel(a, b)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))
