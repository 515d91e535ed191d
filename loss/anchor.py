"""Self-anchoring: the low band of the output towards the GT, its high band towards the base model's own output.

A finetune that starts from a model with good texture (RealESRGAN_x4plus) and is trained with a pixel loss
loses that texture: the L1 towards a GT whose fine band the degraded input no longer determines is lowest for
a flat band. Self-anchoring splits the output at a Gaussian blur of ``sigma`` pixels:

* the low band ``blur(pred)`` is pulled to ``blur(target)`` (the GT): structure and colour are corrected
  for the domain;
* the high band ``pred - blur(pred)`` is pulled to ``anchor - blur(anchor)``, where ``anchor`` is the base
  model's output on the same input (a frozen copy of the network being trained, ``training/teacher.py``).

At the first step the student *is* the teacher, so the high-band term is 0: the finetune keeps the base's
texture from the start and only has to learn the low band. (A student that is not the teacher, a compact
model under x4plus, gets the teacher's band only on average: measured in docs/finetune_domain.md.)

Inputs are NCHW tensors of one shape (any channel count); target and anchor carry no gradient.
"""
import paddle

from .frequency import _check, _reduce, gaussian_blur
from .pixel import WeightedLoss


def _bands(x, sigma):
    low = gaussian_blur(x, sigma)
    return low, x - low


def self_anchor_loss(pred, target, anchor, sigma=1.5, high_weight=1.0, reduction='mean'):
    """``L1(low(pred), low(target)) + high_weight * L1(high(pred), high(anchor))``, bands split at blur ``sigma``."""
    _check(pred, target, 'self_anchor_loss', channels=None)
    _check(pred, anchor, 'self_anchor_loss', channels=None)
    if not float(sigma) > 0:
        raise ValueError(f'self_anchor_loss: sigma must be > 0, got {sigma}')
    if not float(high_weight) >= 0:
        raise ValueError(f'self_anchor_loss: high_weight must be >= 0, got {high_weight}')
    low_p, high_p = _bands(pred, sigma)
    low_t = gaussian_blur(target.detach(), sigma)
    _, high_a = _bands(anchor.detach(), sigma)
    d = paddle.abs(low_p - low_t) + float(high_weight) * paddle.abs(high_p - high_a)
    return _reduce(d, reduction)


class SelfAnchorLoss(WeightedLoss):
    """``loss_weight`` x :func:`self_anchor_loss`; called as ``(pred, target, anchor)``."""

    def __init__(self, loss_weight=1.0, sigma=1.5, high_weight=1.0, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if not float(sigma) > 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        if not float(high_weight) >= 0:
            raise ValueError(f'high_weight must be >= 0, got {high_weight}')
        self.sigma, self.high_weight = float(sigma), float(high_weight)

    def forward(self, pred, target, anchor):
        return self.loss_weight * self_anchor_loss(pred, target, anchor, self.sigma, self.high_weight,
                                                   self.reduction)
