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
  (its median); this term keeps the band's strength. ``energy_space`` says which image it measures: BT.601
  luma, the plain mean of R, G and B ('grey'), or each channel ('rgb'); see ``hf_energy_loss``.
* optionally (``chroma_weight``), the high band of the output's colour part (each channel minus the luma,
  ``chroma``) is pulled to the anchor's by an L1: texture added through the luma energy term reaches the
  channels in luma's proportions (green up, magenta down: a purple fringe on dark edges); held to the
  teacher's colour band, which is near 0, the added texture has to be grey.
* optionally (``lattice_weight``), the output's period-4 lattice (``loss/lattice.py``: its luma steps across
  the 4-px grid's lines above those inside the cells) is held to the anchor's: the energy term is also met by
  the edges of the 4x4 blocks a compact model's nearest-upsample skip draws, and this term keeps them cancelled.
* optionally (``corr_weight``), one minus the local correlation of the output's luma Laplacian with the
  anchor's (``loss/correlation.py``, tiles of ``window`` px weighted by the anchor's band energy): amplitude-free,
  so not met by shrinking the band as the L1 is; with the energy term setting the strength it asks for the
  anchor's pattern, which grain and block edges are not.
* optionally (``energy_mask`` / ``energy_smooth``), the energy term is ``band_energy_loss`` (``loss/correlation.py``):
  weighted to where the anchor's band is strong / measured through a [1, 2, 1] pre-blur that makes it blind to
  the period-2 checker (measured in docs/experiments/gan_cpu.md, "Texture without tiles or grain"; all off by default).

At the first step the student *is* the teacher, so the high-band term is 0: the finetune keeps the base's
texture from the start and only has to learn the low band. (A student that is not the teacher, a compact
model under x4plus, gets the teacher's band only on average: measured in docs/finetune_domain.md.)

Inputs are NCHW tensors of one shape (any channel count); target and anchor carry no gradient.
"""
import paddle

from .frequency import ENERGY_SPACES, _check, _reduce, chroma, gaussian_blur, hf_energy_loss
from .correlation import band_correlation_loss, band_energy_loss
from .lattice import lattice_loss
from .nyquist import nyquist_excess_loss
from .pixel import WeightedLoss
from .texture import sliced_wasserstein_loss


def _bands(x, sigma):
    low = gaussian_blur(x, sigma)
    return low, x - low


def _check_options(sigma, high_weight, energy_weight, chroma_weight, energy_space, name='', lattice_weight=0.0,
                   corr_weight=0.0, energy_pool=1, energy_mask=False, energy_smooth=False, energy_cap=False,
                   nyquist_weight=0.0, coarse_weight=0.0, swd_weight=0.0):
    if not float(sigma) > 0:
        raise ValueError(f'{name}sigma must be > 0, got {sigma}')
    weights = (high_weight, energy_weight, chroma_weight, lattice_weight, corr_weight, nyquist_weight, coarse_weight,
               swd_weight)
    if not min(float(v) for v in weights) >= 0:
        raise ValueError(f'{name}high_weight, energy_weight, chroma_weight, lattice_weight, corr_weight, '
                         f'nyquist_weight, coarse_weight and swd_weight must be >= 0, '
                         f'got {", ".join(map(str, weights))}')
    if energy_space not in ENERGY_SPACES:
        raise ValueError(f'{name}energy_space must be one of {ENERGY_SPACES}, got {energy_space!r}')
    if (energy_mask or energy_smooth) and (energy_space != 'luma' or int(energy_pool) != 1):
        raise ValueError(f'{name}energy_mask and energy_smooth need energy_space luma and energy_pool 1')
    if energy_cap and (energy_mask or energy_smooth):
        raise ValueError(f'{name}energy_cap does not combine with energy_mask or energy_smooth')


def chroma_band_loss(pred, anchor, sigma=1.5, reduction='mean'):
    """L1 between the high bands (``x - blur(x)``, blur ``sigma``) of the colour parts (``chroma``: each RGB
    channel minus the BT.601 luma) of ``pred`` and ``anchor`` (detached): grey texture costs nothing, colour
    texture the anchor does not have costs its amplitude."""
    _check(pred, anchor, 'chroma_band_loss', channels=(3,))
    if not float(sigma) > 0:
        raise ValueError(f'chroma_band_loss: sigma must be > 0, got {sigma}')
    _, high_p = _bands(chroma(pred), sigma)
    _, high_a = _bands(chroma(anchor.detach()), sigma)
    return _reduce(paddle.abs(high_p - high_a), reduction)


def self_anchor_loss(pred, target, anchor, sigma=1.5, high_weight=1.0, energy_weight=0.0, window=8,
                     reduction='mean', energy_space='luma', chroma_weight=0.0, energy_pool=1, lattice_weight=0.0,
                     corr_weight=0.0, energy_mask=False, energy_smooth=False, energy_cap=False, nyquist_weight=0.0,
                     coarse_weight=0.0, swd_weight=0.0):
    """``L1(low(pred), low(target)) + high_weight * L1(high(pred), high(anchor))``, bands split at blur ``sigma``,
    ``+ energy_weight * hf_energy_loss(pred, anchor, window, pool=energy_pool, space=energy_space)``
    ``+ chroma_weight * chroma_band_loss(pred, anchor, sigma)`` ``+ lattice_weight * lattice_loss(pred, anchor)``
    ``+ corr_weight * band_correlation_loss(pred, anchor, window)`` (3-channel inputs for the last four; with
    ``reduction='none'`` those are left out of the per-pixel map). ``energy_mask`` / ``energy_smooth``: the
    energy term is ``band_energy_loss`` (luma, no pooling), weighted to where the anchor's band is strong / blind to the
    period-2 checker. ``energy_cap``: the energy target is capped at the GT's own local energy (``hf_energy_loss``'s
    ``cap``): no more texture than the GT has where the GT is soft. ``nyquist_weight``: ``nyquist_excess_loss``
    (``loss/nyquist.py``), the period-2 patterns beyond the anchor's. ``coarse_weight``: the energy term once more
    on the band one octave down (``band_energy_loss`` with ``smooth``, masked as ``energy_mask`` says).
    ``swd_weight``: ``sliced_wasserstein_loss`` between ``high(pred)`` and ``high(anchor)`` (its random filters are
    drawn with ``paddle.randn``; NCHW images of at least 44 px a side)."""
    _check(pred, target, 'self_anchor_loss', channels=None)
    _check(pred, anchor, 'self_anchor_loss', channels=None)
    _check_options(sigma, high_weight, energy_weight, chroma_weight, energy_space, 'self_anchor_loss: ',
                   lattice_weight, corr_weight, energy_pool, energy_mask, energy_smooth, energy_cap, nyquist_weight,
                   coarse_weight, swd_weight)
    low_p, high_p = _bands(pred, sigma)
    low_t = gaussian_blur(target.detach(), sigma)
    _, high_a = _bands(anchor.detach(), sigma)
    d = paddle.abs(low_p - low_t) + float(high_weight) * paddle.abs(high_p - high_a)
    out = _reduce(d, reduction)
    if reduction == 'none':
        return out
    if float(energy_weight) > 0 and (energy_mask or energy_smooth):
        out = out + float(energy_weight) * band_energy_loss(pred, anchor, window, reduction, bool(energy_mask),
                                                            bool(energy_smooth))
    elif float(energy_weight) > 0:
        out = out + float(energy_weight) * hf_energy_loss(pred, anchor, window, reduction, int(energy_pool),
                                                          energy_space, target if energy_cap else None)
    if float(chroma_weight) > 0:
        out = out + float(chroma_weight) * chroma_band_loss(pred, anchor, sigma, reduction)
    if float(lattice_weight) > 0:
        out = out + float(lattice_weight) * lattice_loss(pred, anchor, 4, reduction)
    if float(corr_weight) > 0:
        out = out + float(corr_weight) * band_correlation_loss(pred, anchor, window, reduction)
    if float(nyquist_weight) > 0:
        out = out + float(nyquist_weight) * nyquist_excess_loss(pred, anchor, window, reduction)
    if float(coarse_weight) > 0:
        out = out + float(coarse_weight) * band_energy_loss(pred, anchor, window, reduction, bool(energy_mask), True)
    if float(swd_weight) > 0:
        out = out + float(swd_weight) * sliced_wasserstein_loss(high_p, high_a, reduction=reduction)
    return out


class ChromaBandLoss(WeightedLoss):
    """``loss_weight`` x :func:`chroma_band_loss`; called as ``(pred, anchor)``."""

    def __init__(self, loss_weight=1.0, sigma=1.5, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if not float(sigma) > 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        self.sigma = float(sigma)

    def forward(self, pred, anchor):
        return self.loss_weight * chroma_band_loss(pred, anchor, self.sigma, self.reduction)


class SelfAnchorLoss(WeightedLoss):
    """``loss_weight`` x :func:`self_anchor_loss`; called as ``(pred, target, anchor)``."""
    OPTION_CHOICES = {**WeightedLoss.OPTION_CHOICES, 'energy_space': ENERGY_SPACES}

    def __init__(self, loss_weight=1.0, sigma=1.5, high_weight=1.0, energy_weight=0.0, window=8, reduction='mean',
                 energy_space='luma', chroma_weight=0.0, energy_pool=1, lattice_weight=0.0, corr_weight=0.0,
                 energy_mask=False, energy_smooth=False, energy_cap=False, nyquist_weight=0.0, coarse_weight=0.0,
                 swd_weight=0.0):
        super().__init__(loss_weight, reduction)
        _check_options(sigma, high_weight, energy_weight, chroma_weight, energy_space, '', lattice_weight, corr_weight,
                       energy_pool, energy_mask, energy_smooth, energy_cap, nyquist_weight, coarse_weight, swd_weight)
        if int(window) < 1 or int(energy_pool) < 1:
            raise ValueError(f'window and energy_pool must be >= 1, got {window}, {energy_pool}')
        self.sigma, self.high_weight, self.energy_weight = float(sigma), float(high_weight), float(energy_weight)
        self.window, self.energy_space, self.chroma_weight = int(window), energy_space, float(chroma_weight)
        self.energy_pool, self.lattice_weight = int(energy_pool), float(lattice_weight)
        self.corr_weight, self.nyquist_weight = float(corr_weight), float(nyquist_weight)
        self.coarse_weight, self.swd_weight = float(coarse_weight), float(swd_weight)
        self.energy_mask, self.energy_smooth, self.energy_cap = bool(energy_mask), bool(energy_smooth), bool(energy_cap)

    def forward(self, pred, target, anchor):
        return self.loss_weight * self_anchor_loss(pred, target, anchor, self.sigma, self.high_weight,
                                                   self.energy_weight, self.window, self.reduction, self.energy_space,
                                                   self.chroma_weight, self.energy_pool, self.lattice_weight,
                                                   self.corr_weight, self.energy_mask, self.energy_smooth,
                                                   self.energy_cap, self.nyquist_weight, self.coarse_weight,
                                                   self.swd_weight)
