"""Unsharp-mask sharpening of the ground truth (Real-ESRGAN+ "USM GT").

``blur = Gaussian(img)`` with a ``radius``-tap kernel (sigma from OpenCV's rule
``0.3*((radius-1)/2 - 1) + 0.8``, radius 50 -> 51 taps, sigma 8); ``residual =
img - blur``; a mask of pixels where ``|residual|*255 > threshold`` is blurred the
same way into a soft mask; the result is ``soft*clip(img + weight*residual, 0, 1)
+ (1-soft)*img``. The blur is separable and runs as two matrix products.

:func:`select_gt` picks the plain or sharpened GT for each loss according to
the ``l1_gt_usm`` / ``percep_gt_usm`` / ``gan_gt_usm`` flags.
"""
import paddle

from realesrgan_paddle.data.degrade.blur_filters import gaussian_kernel1d, separable_blur
from realesrgan_paddle.data.degrade.slicing import resolve_slices, run_sliced


def _check(weight, radius, threshold):
    if not (isinstance(radius, (int,)) and radius > 0):
        raise ValueError(f'USM radius must be a positive integer, got {radius!r}')
    if weight < 0:
        raise ValueError(f'USM weight must be >= 0, got {weight!r}')
    if threshold < 0:
        raise ValueError(f'USM threshold must be >= 0, got {threshold!r}')


def usm_sharp(img, weight=0.5, radius=50, threshold=10, threads=1):
    """Sharpen an NCHW float tensor in [0, 1] (any channel count).

    ``threads`` (an int or ``'auto'``) runs batch slices concurrently (:mod:`data.degrade.slicing`).
    """
    if not isinstance(img, paddle.Tensor) or img.ndim != 4:
        raise ValueError('img must be an NCHW paddle.Tensor')
    _check(weight, radius, threshold)
    n = resolve_slices(threads, img.place)
    if n > 1:
        return run_sliced(lambda s, e: usm_sharp(img[s:e], weight, radius, threshold), img.shape[0], n)
    if radius % 2 == 0:
        radius += 1
    k = gaussian_kernel1d(radius)
    blur = separable_blur(img, k)
    residual = img - blur
    mask = (residual.abs() * 255.0 > threshold).astype(img.dtype)
    soft = separable_blur(mask, k)
    sharp = (img + weight * residual).clip(0, 1)
    return img + soft * (sharp - img)  # = soft*sharp + (1-soft)*img, two ops fewer


class USMSharp(paddle.nn.Layer):
    """Layer form of :func:`usm_sharp`."""

    def __init__(self, weight=0.5, radius=50, threshold=10, threads=1):
        super().__init__()
        _check(weight, radius, threshold)
        resolve_slices(threads)
        self.weight, self.radius, self.threshold, self.threads = weight, radius, threshold, threads

    def forward(self, img):
        return usm_sharp(img, self.weight, self.radius, self.threshold, self.threads)


def select_gt(gt, gt_usm, opt=None):
    """``{'l1', 'percep', 'gan'}`` -> the GT tensor each loss should use.

    Flags (defaults as Real-ESRGAN): ``l1_gt_usm=True``, ``percep_gt_usm=True``,
    ``gan_gt_usm=False``.
    """
    opt = opt or {}
    flags = {'l1': opt.get('l1_gt_usm', True), 'percep': opt.get('percep_gt_usm', True),
             'gan': opt.get('gan_gt_usm', False)}
    return {name: (gt_usm if use else gt) for name, use in flags.items()}
