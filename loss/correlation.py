"""Local band correlation: is the output's fine band the anchor's *pattern*, whatever its strength?

The energy term of ``SelfAnchorLoss`` (``hf_energy_loss``: local RMS of the luma Laplacian towards the base
model's) is phase-free, so any pattern of the right strength meets it: a compact student meets it most cheaply
with the 4x4 block edges of its nearest-upsample skip, or (once those are held off by ``loss/lattice.py``)
with pixel grain and worms. An L1 towards the anchor's band itself is met by shrinking the band to its average.

This term is the third option: one minus the local normalised cross-correlation (NCC) between the luma
Laplacian of ``pred`` and of ``anchor``, over ``window`` x ``window`` tiles (non-overlapping). The NCC does not
depend on either band's amplitude, so it cannot be met by shrinking; grain or block edges, uncorrelated with the
anchor's band, score 1. The tiles are weighted by the anchor's band energy in them (``var_a / mean(var_a)``), so
flat areas, where the anchor's band is noise-level and its pattern means nothing, count little. Beside the
energy term (which sets the strength) it asks for the anchor's pattern at the anchor's strength.

``masked_energy_loss`` is the energy term limited to where the anchor's band is strong: each pixel's
``|rms(pred) - rms(anchor)|`` is weighted by ``rms(anchor)^2 / (rms(anchor)^2 + mean(rms(anchor))^2)`` (per
image; 1/2 at the image's mean strength, near 0 where the anchor is flat), so a wall on which the anchor draws
faint texture no longer asks the student for that energy, which it can only make as grain.
"""
import paddle
import paddle.nn.functional as F

from .frequency import _check, _reduce, laplacian, local_rms, luma
from .pixel import WeightedLoss

_EPS = 1e-6  # on band variances of [0, 1] images: a texture's Laplacian variance is ~1e-4..1e-3


def _tile_moments(x, w):
    return F.avg_pool2d(x, w, stride=w)


def local_band_correlation(pred, anchor, window=8):
    """Per ``window`` x ``window`` tile (shape N1(H//w)(W//w)): the NCC of the two luma Laplacians and the
    anchor's band variance there (the weight; detached). Images are cropped to a multiple of ``window``."""
    _check(pred, anchor, 'local_band_correlation')
    w = int(window)
    if w < 2 or min(pred.shape[2], pred.shape[3]) < w:
        raise ValueError(f'local_band_correlation: window must be >= 2 and at most the image size '
                         f'{list(pred.shape[2:])}, got {window}')
    p = laplacian(luma(pred))
    a = laplacian(luma(anchor.detach()))
    mp, ma = _tile_moments(p, w), _tile_moments(a, w)
    vp = F.relu(_tile_moments(p * p, w) - mp * mp)
    va = F.relu(_tile_moments(a * a, w) - ma * ma)
    cov = _tile_moments(p * a, w) - mp * ma
    ncc = cov / paddle.sqrt((vp + _EPS) * (va + _EPS))
    return ncc, va.detach()


def band_correlation_loss(pred, anchor, window=8, reduction='mean'):
    """``1 - NCC`` of the luma Laplacians per tile, weighted by the anchor's band variance there (weights
    normalised to mean 1 per batch): 0 for the anchor's pattern at any positive strength, 1 for a pattern
    uncorrelated with it (or a flat band), 2 for the inverted one. ``reduction='none'``: the weighted map
    (N1(H//w)(W//w)), whose mean is the 'mean' value."""
    ncc, va = local_band_correlation(pred, anchor, window)
    weight = va / (va.mean() + 1e-12)
    return _reduce(weight * (1.0 - ncc), reduction)


def masked_energy_loss(pred, anchor, window=8, reduction='mean'):
    """``|rms(pred) - rms(anchor)|`` (local RMS of the luma Laplacian over ``window`` px, as ``hf_energy_loss``)
    weighted by the anchor's strength there (see the module's docstring); ``reduction='none'``: N1HW map."""
    _check(pred, anchor, 'masked_energy_loss')
    if int(window) < 1:
        raise ValueError(f'masked_energy_loss: window must be >= 1, got {window}')
    ep = local_rms(laplacian(luma(pred)), int(window))
    ea = local_rms(laplacian(luma(anchor.detach())), int(window))
    ref = ea.mean(axis=[1, 2, 3], keepdim=True)
    weight = ea * ea / (ea * ea + ref * ref)
    return _reduce(weight * paddle.abs(ep - ea), reduction)


class BandCorrelationLoss(WeightedLoss):
    """``loss_weight`` x :func:`band_correlation_loss`; called as ``(pred, anchor)``."""

    def __init__(self, loss_weight=1.0, window=8, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if int(window) < 2:
            raise ValueError(f'window must be >= 2, got {window}')
        self.window = int(window)

    def forward(self, pred, anchor):
        return self.loss_weight * band_correlation_loss(pred, anchor, self.window, self.reduction)
