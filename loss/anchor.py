"""Self-anchoring: the low band of the output towards the GT, its high band towards the base model's own output.

A finetune that starts from a model with good texture (RealESRGAN_x4plus) and is trained with a pixel loss
loses that texture: the L1 towards a GT whose fine band the degraded input no longer determines is lowest for
a flat band. Self-anchoring splits the output at a Gaussian blur of ``sigma`` pixels:

* the low band ``blur(pred)`` is pulled to ``blur(target)`` (the GT): structure and colour are corrected
  for the domain;
* the high band ``pred - blur(pred)`` is pulled to ``anchor - blur(anchor)``, where ``anchor`` is the base
  model's output on the same input (a frozen copy of the network being trained, ``training/teacher.py``);
* optionally (``energy_weight``), the local strength of the finest band (``hf_energy_loss``: the local RMS of
  the luma Laplacian) is pulled to the anchor's: a term without phase. Once the student's structure departs
  from the teacher's, the teacher's exact texture is uncertain to it and an L1 towards it shrinks the band
  (its median); this term keeps the band's strength.

At the first step the student *is* the teacher, so the high-band term is 0: the finetune keeps the base's
texture from the start and only has to learn the low band. (A student that is not the teacher, a compact
model under x4plus, gets the teacher's band only on average: measured in docs/finetune_domain.md.)

Inputs are NCHW tensors of one shape (any channel count); target and anchor carry no gradient.
"""
import paddle

from .frequency import _check, _reduce, gaussian_blur, hf_energy_loss
from .pixel import WeightedLoss


def _bands(x, sigma):
    low = gaussian_blur(x, sigma)
    return low, x - low


def self_anchor_loss(pred, target, anchor, sigma=1.5, high_weight=1.0, energy_weight=0.0, window=8,
                     reduction='mean', energy_space='luma'):
    """``L1(low(pred), low(target)) + high_weight * L1(high(pred), high(anchor))``, bands split at blur ``sigma``,
    ``+ energy_weight * hf_energy_loss(pred, anchor, window, space=energy_space)`` (3-channel inputs; with
    ``reduction='none'`` the energy term is left out of the per-pixel map)."""
    _check(pred, target, 'self_anchor_loss', channels=None)
    _check(pred, anchor, 'self_anchor_loss', channels=None)
    if not float(sigma) > 0:
        raise ValueError(f'self_anchor_loss: sigma must be > 0, got {sigma}')
    if not float(high_weight) >= 0 or not float(energy_weight) >= 0:
        raise ValueError(f'self_anchor_loss: high_weight and energy_weight must be >= 0, got {high_weight}, '
                         f'{energy_weight}')
    low_p, high_p = _bands(pred, sigma)
    low_t = gaussian_blur(target.detach(), sigma)
    _, high_a = _bands(anchor.detach(), sigma)
    d = paddle.abs(low_p - low_t) + float(high_weight) * paddle.abs(high_p - high_a)
    out = _reduce(d, reduction)
    if float(energy_weight) > 0 and reduction != 'none':
        out = out + float(energy_weight) * hf_energy_loss(pred, anchor, window, reduction, space=energy_space)
    return out


class SelfAnchorLoss(WeightedLoss):
    """``loss_weight`` x :func:`self_anchor_loss`; called as ``(pred, target, anchor)``."""

    def __init__(self, loss_weight=1.0, sigma=1.5, high_weight=1.0, energy_weight=0.0, window=8, reduction='mean',
                 energy_space='luma'):
        super().__init__(loss_weight, reduction)
        if not float(sigma) > 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        if not float(high_weight) >= 0 or not float(energy_weight) >= 0:
            raise ValueError(f'high_weight and energy_weight must be >= 0, got {high_weight}, {energy_weight}')
        if int(window) < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        self.sigma, self.high_weight, self.energy_weight = float(sigma), float(high_weight), float(energy_weight)
        if energy_space not in ('luma', 'rgb'):
            raise ValueError(f"energy_space must be 'luma' or 'rgb', got {energy_space!r}")
        self.window, self.energy_space = int(window), energy_space

    def forward(self, pred, target, anchor):
        return self.loss_weight * self_anchor_loss(pred, target, anchor, self.sigma, self.high_weight,
                                                   self.energy_weight, self.window, self.reduction, self.energy_space)
