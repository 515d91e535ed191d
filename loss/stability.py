"""Stability: the same picture with another draw of the input's random part should give the same output.

A single-image model on video sees every frame with a fresh draw of the codec's noise. Where the scene holds still
the input changes only by that draw, and a model that invents texture from it draws a new texture in every frame:
the texture boils (``evaluation/flicker.py`` measures it). This term shows the network one low-resolution batch
twice, the second time with fresh noise and a fresh JPEG round (``data/degrade/redraw.py``; their strengths are this
loss's ``noise_sigma`` and ``jpeg_quality`` ranges), and asks the two outputs to agree. Both outputs carry the
gradient: the network is pushed to read the picture, not the draw.

``stability_loss(out, out_twin)`` is the L1 between the two outputs (NCHW tensors of one shape).
"""
import paddle

from .pixel import WeightedLoss, l1_loss
from .registry import register_loss


def stability_loss(out, out_twin, reduction='mean'):
    """Mean (or sum) absolute difference between the outputs of one input under two draws of its noise."""
    if not isinstance(out, paddle.Tensor) or not isinstance(out_twin, paddle.Tensor):
        raise TypeError('stability_loss: out and out_twin must be paddle Tensors')
    if out.ndim != 4:
        raise ValueError(f'stability_loss: expected NCHW tensors, got {list(out.shape)}')
    return l1_loss(out, out_twin, reduction)


def _range(name, value, low, high):
    lo, hi = (float(v) for v in value)
    if not low <= lo <= hi <= high:
        raise ValueError(f'{name} must be [low, high] within [{low}, {high}], got {list(value)}')
    return lo, hi


@register_loss(target='lq', inputs=('output', 'redrawn'), log='stab')
class StabilityLoss(WeightedLoss):
    """``loss_weight`` x :func:`stability_loss`; ``forward(out, out_twin)``.

    ``noise_sigma`` (on the 0-255 scale) and ``jpeg_quality`` are the ranges the trainer draws the second input's
    Gaussian noise and JPEG quality from (``data.degrade.redraw.redraw``), per sample."""

    def __init__(self, loss_weight=1.0, noise_sigma: tuple[float, float] = (0.5, 3.0),
                 jpeg_quality: tuple[float, float] = (60.0, 95.0), reduction='mean'):
        super().__init__(loss_weight, reduction)
        self.noise_sigma = _range('noise_sigma', noise_sigma, 0.0, 50.0)
        self.jpeg_quality = _range('jpeg_quality', jpeg_quality, 1.0, 100.0)

    def forward(self, out, out_twin):
        return self.loss_weight * stability_loss(out, out_twin, self.reduction)
