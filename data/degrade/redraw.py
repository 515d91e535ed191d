"""Another draw of a low-resolution batch's random part, for the stability loss (``loss/stability.py``).

Consecutive frames of a still scene differ by their codec noise only. ``redraw`` makes such a twin of a batch:
Gaussian noise with a sigma drawn per sample from ``noise_sigma`` (0-255 scale), then a JPEG round at a quality
drawn per sample from ``jpeg_quality``, clipped to [0, 1]. No gradient flows into the twin's making.
"""
import numpy as np
import paddle

from .jpeg import diff_jpeg
from .noise import add_gaussian_noise, as_rng


def redraw(lq, noise_sigma=(0.5, 3.0), jpeg_quality=(60.0, 95.0), rng=None):
    """``lq`` (NCHW RGB in [0, 1]) with fresh noise and a fresh JPEG round, per sample."""
    if not isinstance(lq, paddle.Tensor) or lq.ndim != 4 or lq.shape[1] != 3:
        raise ValueError(f'redraw: lq must be an RGB NCHW paddle.Tensor, got {getattr(lq, "shape", type(lq))}')
    rng = as_rng(rng)
    b = lq.shape[0]
    sigma = rng.uniform(*noise_sigma, size=b).astype(np.float32)
    quality = rng.uniform(*jpeg_quality, size=b).astype(np.float32)
    with paddle.no_grad():
        x = add_gaussian_noise(lq.detach(), sigma, rng=rng, clip=True)
        return diff_jpeg(x, quality).clip(0, 1)
