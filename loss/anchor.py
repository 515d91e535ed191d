"""Self-anchoring: the low band of the output towards the GT, its high band towards a frozen teacher's output.

A finetune that starts from a model with good texture (RealESRGAN_x4plus) and is trained with a pixel loss
loses that texture: the L1 towards a GT whose fine band the degraded input no longer determines is lowest for
a flat band. Self-anchoring splits the output at a Gaussian blur of ``sigma`` pixels, one ``train.losses`` entry
per term:

* the low band ``blur(pred)`` towards ``blur(gt)``: ``LowPassL1Loss`` (loss/frequency.py), target ``gt``;
* the high band ``pred - blur(pred)`` towards ``teacher - blur(teacher)``, where the teacher is the base model's
  output on the same input (a frozen copy of the network being trained, ``training/teacher.py``):
  :class:`HighBandL1Loss`, target ``teacher``;
* the local strength of the finest band (the local RMS of the luma Laplacian) towards the teacher's:
  ``HFEnergyLoss`` (loss/frequency.py), target ``teacher``. A term without phase: once the student's structure
  departs from the teacher's, the teacher's exact texture is uncertain to it and an L1 towards it shrinks the band
  (its median); this term keeps the band's strength;
* the high band of the output's colour part (each channel minus the luma, ``chroma``) towards the teacher's:
  :class:`ChromaBandLoss`, target ``teacher``. Texture added through the luma energy term reaches the channels in
  luma's proportions (green up, magenta down: a purple fringe on dark edges); held to the teacher's colour band,
  which is near 0, the added texture has to be grey.

One entry ``{type: SelfAnchorLoss, weight, sigma, high_weight, energy_weight, window, energy_space, energy_pool,
chroma_weight}`` (:class:`SelfAnchorLoss`, a composite) stands for these entries (weights ``weight``,
``weight * high_weight``, ...); ``train.anchor_opt`` of older files is that entry. The terms other
versions of this loss had (lattice, band correlation, Nyquist excess, masked, smoothed, capped and coarse energy,
a sliced Wasserstein band term) were used by no recipe and are gone; their measurements are in
docs/experiments/gan_cpu.md.

At the first step the student *is* the teacher, so the high-band terms are 0: the finetune keeps the base's
texture from the start and only has to learn the low band. Inputs are NCHW tensors of one shape; the teacher's
output carries no gradient.
"""
import paddle

from .frequency import chroma, gaussian_blur
from .pixel import WeightedLoss, check_pair, reduce_loss
from .registry import register_loss


def _high(x, sigma):
    return x - gaussian_blur(x, sigma)


def _sigma(sigma, name=''):
    if not float(sigma) > 0:
        raise ValueError(f'{name}sigma must be > 0, got {sigma}')
    return float(sigma)


def high_band_l1_loss(pred, anchor, sigma=1.5, reduction='mean'):
    """L1 between the high bands (``x - blur(x)``, blur ``sigma``) of ``pred`` and ``anchor`` (detached), any
    channel count."""
    check_pair(pred, anchor, 'high_band_l1_loss', channels=None)
    _sigma(sigma, 'high_band_l1_loss: ')
    return reduce_loss(paddle.abs(_high(pred, sigma) - _high(anchor.detach(), sigma)), reduction)


def chroma_band_loss(pred, anchor, sigma=1.5, reduction='mean'):
    """L1 between the high bands (``x - blur(x)``, blur ``sigma``) of the colour parts (``chroma``: each RGB
    channel minus the BT.601 luma) of ``pred`` and ``anchor`` (detached): grey texture costs nothing, colour
    texture the anchor does not have costs its amplitude."""
    check_pair(pred, anchor, 'chroma_band_loss', channels=(3,))
    _sigma(sigma, 'chroma_band_loss: ')
    return reduce_loss(paddle.abs(_high(chroma(pred), sigma) - _high(chroma(anchor.detach()), sigma)), reduction)


class _BandLoss(WeightedLoss):
    fn = None

    def __init__(self, loss_weight=1.0, sigma=1.5, reduction='mean'):
        super().__init__(loss_weight, reduction)
        self.sigma = _sigma(sigma)

    def forward(self, pred, anchor):
        return self.loss_weight * type(self).fn(pred, anchor, self.sigma, self.reduction)


@register_loss(target='teacher', log='anchor_high')
class HighBandL1Loss(_BandLoss):
    """``loss_weight`` x :func:`high_band_l1_loss`; called as ``(pred, teacher)``."""
    fn = staticmethod(high_band_l1_loss)


@register_loss(target='teacher', log='anchor_chroma')
class ChromaBandLoss(_BandLoss):
    """``loss_weight`` x :func:`chroma_band_loss`; called as ``(pred, teacher)``."""
    fn = staticmethod(chroma_band_loss)


@register_loss(target='teacher', log='anchor')
class SelfAnchorLoss:
    """A composite: one ``train.losses`` entry that stands for the entries ``parts`` gives (the low band to the GT,
    the high band, band energy and colour band to the teacher; energy and colour only when their weight is on),
    each weighted as the single loss weighted them and named ``<name>_low``, ``_high``, ``_energy``, ``_chroma``.
    ``training/loss_terms.py`` expands it; it is never built itself."""
    OPTION_CHOICES = {'energy_space': ('luma', 'grey', 'rgb')}

    def __init__(self, loss_weight=1.0, sigma=1.5, high_weight=1.0, energy_weight=0.0, window=8, reduction='mean',
                 energy_space='luma', chroma_weight=0.0, energy_pool=1):
        raise TypeError('SelfAnchorLoss is a composite of train.losses entries (SelfAnchorLoss.parts), not a loss')

    @staticmethod
    def parts(cfg, weight, name):
        """The entries of one validated ``cfg`` (its constructor options) weighted ``weight`` and named ``name``."""
        w, red, sigma = float(weight), cfg['reduction'], cfg['sigma']
        out = [{'type': 'LowPassL1Loss', 'weight': w, 'target': 'gt', 'name': f'{name}_low', 'sigma': sigma,
                'reduction': red},
               {'type': 'HighBandL1Loss', 'weight': w * float(cfg['high_weight']), 'target': 'teacher',
                'name': f'{name}_high', 'sigma': sigma, 'reduction': red}]
        if float(cfg['energy_weight']) > 0:
            out.append({'type': 'HFEnergyLoss', 'weight': w * float(cfg['energy_weight']), 'target': 'teacher',
                        'name': f'{name}_energy', 'window': cfg['window'], 'pool': cfg['energy_pool'],
                        'space': cfg['energy_space'], 'reduction': red})
        if float(cfg['chroma_weight']) > 0:
            out.append({'type': 'ChromaBandLoss', 'weight': w * float(cfg['chroma_weight']), 'target': 'teacher',
                        'name': f'{name}_chroma', 'sigma': sigma, 'reduction': red})
        return out
