"""Consistency with the real low-resolution input: the output, degraded again, should give back the input.

On real LQ frames there is no GT, but there is the input itself. The fitted degradation's deterministic
part (``tools/fit_degradation.py``: a Gaussian blur of ``sigma`` HR pixels, then the area downscale by
``scale``) takes the output back to the LQ size, and the L1 to the input says how far the output's low
band departs from what the camera saw. The random part of the degradation (noise, the codec) is left out:
the term then asks the output to explain the input up to them, not to reproduce them.

The downscale averages ``scale`` x ``scale`` blocks, so a pattern repeating every ``scale`` pixels with zero
mean (the x4 pixel-shuffle grid) is invisible to this term: it constrains structure, colour and brightness,
not texture. Inputs: ``pred`` NCHW ``[N, C, H * scale, W * scale]``, ``lq`` ``[N, C, H, W]``, both in [0, 1];
``lq`` carries no gradient.
"""
import paddle
import paddle.nn.functional as F

from .frequency import gaussian_blur
from .pixel import WeightedLoss, reduce_loss
from .registry import register_loss


def _check(pred, lq, scale, sigma):
    if not isinstance(pred, paddle.Tensor) or not isinstance(lq, paddle.Tensor):
        raise TypeError('consistency_loss: pred and lq must be paddle Tensors')
    if isinstance(scale, bool) or int(scale) != scale or int(scale) < 1:
        raise ValueError(f'consistency_loss: scale must be an integer >= 1, got {scale!r}')
    if not float(sigma) >= 0:
        raise ValueError(f'consistency_loss: sigma must be >= 0, got {sigma!r}')
    if pred.ndim != 4 or lq.ndim != 4:
        raise ValueError(f'consistency_loss: expected NCHW tensors, got {list(pred.shape)} and {list(lq.shape)}')
    s = int(scale)
    want = [lq.shape[0], lq.shape[1], lq.shape[2] * s, lq.shape[3] * s]
    if list(pred.shape) != want:
        raise ValueError(f'consistency_loss: pred {list(pred.shape)} is not lq {list(lq.shape)} x{s} ({want})')


def redegrade(pred, scale=4, sigma=0.0):
    """``pred`` blurred by ``sigma`` HR pixels (none at 0) and area-downscaled by ``scale``."""
    x = gaussian_blur(pred, sigma) if float(sigma) > 0 else pred
    s = int(scale)
    return F.avg_pool2d(x, kernel_size=s, stride=s) if s > 1 else x


def consistency_loss(pred, lq, scale=4, sigma=0.0, reduction='mean'):
    """L1 between ``redegrade(pred, scale, sigma)`` and ``lq`` (all channels)."""
    _check(pred, lq, scale, sigma)
    return reduce_loss((redegrade(pred, scale, sigma) - lq.detach()).abs(), reduction)


@register_loss(target='lq', log='cons', dataset='real_lq')
class ConsistencyLoss(WeightedLoss):
    """``loss_weight`` x :func:`consistency_loss`; ``forward(pred, lq)``."""

    def __init__(self, loss_weight=1.0, scale=4, sigma=0.0, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if isinstance(scale, bool) or int(scale) != scale or int(scale) < 1:
            raise ValueError(f'scale must be an integer >= 1, got {scale!r}')
        if not float(sigma) >= 0:
            raise ValueError(f'sigma must be >= 0, got {sigma!r}')
        self.scale, self.sigma = int(scale), float(sigma)

    def forward(self, pred, lq):
        return self.loss_weight * consistency_loss(pred, lq, self.scale, self.sigma, self.reduction)
