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

``band_energy_loss`` (``mask``) is the energy term limited to where the anchor's band is strong: each pixel's
``|rms(pred) - rms(anchor)|`` is weighted by ``rms(anchor)^2 / (rms(anchor)^2 + mean(rms(anchor))^2)`` (per
image; 1/2 at the image's mean strength, near 0 where the anchor is flat), so a wall on which the anchor draws
faint texture no longer asks the student for that energy, which it can only make as grain. Its ``smooth``
option measures the Laplacian of the luma blurred by [1, 2, 1] / 4 first: the 4-neighbour Laplacian answers
most to the period-2 checkerboard, which makes it the cheapest energy the student can draw (measured: the
tile-free students' outputs carry a 1-px checker that a 0.6 px blur removes); through the binomial it is 0.
"""
import paddle
import paddle.nn.functional as F

from .frequency import _check, _filter, _reduce, laplacian, local_rms, luma
from .pixel import WeightedLoss

_BINOMIAL = [[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]]
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


def band_energy_loss(pred, anchor, window=8, reduction='mean', mask=True, smooth=False):
    """``|rms(pred) - rms(anchor)|``: the local RMS over ``window`` px of the luma Laplacian, as ``hf_energy_loss``;
    ``mask``: weighted by the anchor's strength there (see the module's docstring); ``smooth``: the luma is
    blurred by the binomial [1, 2, 1] / 4 kernel (both ways) first, whose response at the period-2 checker and
    stripes is 0, so that they no longer count as energy. ``reduction='none'``: the N1HW map."""
    _check(pred, anchor, 'band_energy_loss')
    if int(window) < 1:
        raise ValueError(f'band_energy_loss: window must be >= 1, got {window}')

    def band(x):
        y = luma(x)
        return laplacian(_filter(y, _BINOMIAL) if smooth else y)
    ep = local_rms(band(pred), int(window))
    ea = local_rms(band(anchor.detach()), int(window))
    d = paddle.abs(ep - ea)
    if mask:
        ref = ea.mean(axis=[1, 2, 3], keepdim=True)
        d = d * (ea * ea / (ea * ea + ref * ref))
    return _reduce(d, reduction)


class BandCorrelationLoss(WeightedLoss):
    """``loss_weight`` x :func:`band_correlation_loss`; called as ``(pred, anchor)``."""

    def __init__(self, loss_weight=1.0, window=8, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if int(window) < 2:
            raise ValueError(f'window must be >= 2, got {window}')
        self.window = int(window)

    def forward(self, pred, anchor):
        return self.loss_weight * band_correlation_loss(pred, anchor, self.window, self.reduction)
