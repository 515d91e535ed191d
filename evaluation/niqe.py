"""NIQE: the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, 2013). Lower is better.

No reference image: NIQE measures how far an image's local statistics are from a
model fitted on pristine natural photos.

1. Luma: BT.601 Y (16-235, rounded to integers as MATLAB's ``rgb2ycbcr`` gives).
2. Crop to whole 96x96 blocks. At each of two scales:
   * MSCN coefficients ``(I - mu) / (sigma + 1)``, with ``mu`` and ``sigma`` the local
     mean and standard deviation under a 7x7 Gaussian window (sigma 7/6, replicate border);
   * per block (96 px at scale 1, 48 px at scale 2) 18 features: the asymmetric generalized
     Gaussian (AGGD) fit of the MSCN values (shape, mean of the two widths), and for the
     products with the four neighbours (right, down, down-right, down-left, circular within
     the block) the AGGD shape, mean, left and right widths;
   * then the image is halved with MATLAB's antialiased bicubic ``imresize``.
3. The 36 features of every block give a multivariate Gaussian (mean, covariance; blocks with
   a NaN feature are left out of the covariance). The score is
   ``sqrt((mu_p - mu_d)^T pinv((C_p + C_d) / 2) (mu_p - mu_d))`` against the pristine model
   ``mu_p, C_p``: the published parameters, shipped as ``evaluation/data/niqe_pris_params.npz``.

Plain numpy + OpenCV; ``niqe(img)`` and the thin ``NIQE`` class.
"""
import functools
from pathlib import Path

import cv2
import numpy as np
from scipy.special import gamma as _gamma

from realesrgan_paddle.evaluation.metrics import as_float255, bgr_to_y
from realesrgan_paddle.utils.matlab_resize import imresize_bicubic

PARAMS = Path(__file__).resolve().parent / 'data' / 'niqe_pris_params.npz'
BLOCK = 96
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.lru_cache(maxsize=1)
def pristine_model():
    """``(mu, cov)`` of the pristine model: (36,) and (36, 36) float64."""
    with np.load(PARAMS, allow_pickle=False) as d:
        return d['mu_pris_param'].reshape(-1).astype(np.float64), d['cov_pris_param'].astype(np.float64)


@functools.lru_cache(maxsize=1)
def _aggd_table():
    shapes = np.arange(0.2, 10.001, 0.001)
    ratio = _gamma(2 / shapes) ** 2 / (_gamma(1 / shapes) * _gamma(3 / shapes))
    return shapes, ratio


def gaussian_window(size=7, sigma=7 / 6):
    """MATLAB ``fspecial('gaussian', size, sigma)``: normalised to sum 1."""
    r = (size - 1) / 2
    x = np.arange(-r, r + 1)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def aggd_fit(x):
    """Moment-matching fit of an asymmetric generalized Gaussian: ``(shape, left width, right width)``."""
    shape, left, right = aggd_fit_rows(np.asarray(x, np.float64).reshape(1, -1))
    return shape[0], left[0], right[0]


def aggd_fit_rows(x, chunk=256):
    """``aggd_fit`` of each row of a 2-D array, as three arrays (NaN for a row that cannot be fitted).
    The table lookup runs ``chunk`` rows at a time (a row of the table is 9801 values)."""
    x = np.asarray(x, np.float64)
    sq, neg, pos = x * x, x < 0, x > 0
    n_l, n_r = neg.sum(1), pos.sum(1)
    std_l = np.where(n_l > 0, np.sqrt(np.where(neg, sq, 0.0).sum(1) / np.maximum(n_l, 1)), 0.0)
    std_r = np.where(n_r > 0, np.sqrt(np.where(pos, sq, 0.0).sum(1) / np.maximum(n_r, 1)), 0.0)
    with np.errstate(divide='ignore', invalid='ignore'):
        g = std_l / std_r
        r = np.abs(x).mean(1) ** 2 / sq.mean(1)
        r_norm = r * (g ** 3 + 1) * (g + 1) / (g * g + 1) ** 2
    shapes, ratio = _aggd_table()
    ok = np.isfinite(r_norm)
    idx = np.zeros(len(x), np.int64)
    for k in range(0, len(x), chunk):
        rn = np.where(ok[k:k + chunk], r_norm[k:k + chunk], 0.0)
        idx[k:k + chunk] = np.argmin((ratio[None, :] - rn[:, None]) ** 2, axis=1)
    shape = shapes[idx]
    k = np.sqrt(_gamma(1 / shape) / _gamma(3 / shape))
    nan = np.where(ok, 1.0, np.nan)
    return shape * nan, std_l * k * nan, std_r * k * nan


def block_features(mscn):
    """The 18 NIQE features of one block of MSCN coefficients."""
    return list(blocks_features(np.asarray(mscn, np.float64)[None])[0])


def blocks_features(blocks):
    """``(n, 18)``: the NIQE features of each of ``n`` equal blocks ``(n, h, w)`` of MSCN coefficients (the
    neighbour products wrap around within each block)."""
    n = len(blocks)
    shape, bl, br = aggd_fit_rows(blocks.reshape(n, -1))
    cols = [shape, (bl + br) / 2]
    for shift in _SHIFTS:
        shape, bl, br = aggd_fit_rows((blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(n, -1))
        mean = (br - bl) * _gamma(2 / shape) / _gamma(1 / shape)
        cols += [shape, mean, bl, br]
    return np.stack(cols, axis=1)


def mscn(img):
    """Mean-subtracted, contrast-normalised coefficients of a 2-D float image."""
    win = gaussian_window()
    mu = cv2.filter2D(img, cv2.CV_64F, win, borderType=cv2.BORDER_REPLICATE)
    var = cv2.filter2D(img * img, cv2.CV_64F, win, borderType=cv2.BORDER_REPLICATE) - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var)) + 1.0)


def niqe_features(y, block=BLOCK):
    """(blocks, 36) features of a 2-D luma image on the 0-255 scale (already cropped to whole blocks)."""
    per_scale = []
    img = np.asarray(y, np.float64)
    for scale in (1, 2):
        m = mscn(img)
        b = block // scale
        rows, cols = m.shape[0] // b, m.shape[1] // b
        blocks = m[:rows * b, :cols * b].reshape(rows, b, cols, b).transpose(0, 2, 1, 3).reshape(-1, b, b)
        per_scale.append(blocks_features(blocks))  # row by row, as the blocks lie
        if scale == 1:
            img = imresize_bicubic(img, scale=0.5)
    return np.hstack(per_scale)


def niqe_luma(y, block=BLOCK):
    """NIQE of a 2-D luma image (0-255 scale, float or integer)."""
    y = np.asarray(y, np.float64)
    if y.ndim != 2:
        raise ValueError(f'NIQE needs a 2-D luma image, got shape {y.shape}')
    h, w = (y.shape[0] // block) * block, (y.shape[1] // block) * block
    if h == 0 or w == 0:
        raise ValueError(f'NIQE needs at least {block}x{block} pixels, got {y.shape[1]}x{y.shape[0]}')
    feats = niqe_features(y[:h, :w], block)
    mu_p, cov_p = pristine_model()
    mu_d = np.nanmean(feats, axis=0)
    clean = feats[~np.isnan(feats).any(axis=1)]
    cov_d = np.cov(clean, rowvar=False) if len(clean) > 1 else np.zeros_like(cov_p)
    d = mu_p - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov_d) / 2) @ d))


def niqe(img, crop_border=0):
    """NIQE of a BGR (OpenCV order) or gray image, uint8/uint16 or float in [0, 1]. Lower is better."""
    a = as_float255(img)
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
    if a.ndim == 3:
        a = bgr_to_y(a[..., :3]) if a.shape[2] >= 3 else a[..., 0]
    return niqe_luma(np.round(a))


class NIQE:
    """``NIQE(crop_border)(img) -> float``: the callable form of ``niqe``."""

    def __init__(self, crop_border=0):
        self.crop_border = crop_border

    def __call__(self, img):
        return niqe(img, self.crop_border)
