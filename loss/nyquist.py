"""The period-2 patterns: how much of an image's fine band sits at the Nyquist frequency, against an anchor's.

An energy term on the 4-neighbour Laplacian (``hf_energy_loss``) is met most cheaply by the 1-px checkerboard,
the pattern the Laplacian answers most to (-8 per unit of amplitude; period-2 stripes -4). A compact student
whose 4x4 blocks are held off (``loss/lattice.py``) meets it with that checker: measured in docs/experiments/gan_cpu.md
("The 1-px checker"), where natural images (the GT, x4plus's output) have none.

``nyquist_amplitude(x, window)`` measures it directly, per pixel, for the three period-2 patterns of the luma:
the checker (1/2, 1/2) cycles/px and the stripes (1/2, 0) and (0, 1/2). Multiplying by the pattern itself
(+1/-1 on alternate pixels) moves that frequency to 0; the binomial [1, 2, 1] / 4 low-pass (both ways) then
keeps what was near it and removes what was near 0 before (the binomial is 0 at the Nyquist frequency), and the
local RMS over ``window`` px gives its local amplitude. The three are combined as the root of their squares.

``nyquist_excess_loss(pred, anchor)`` is the mean of ``relu(a(pred) - a(anchor))``: the student may have the
anchor's period-2 content (edges have some), and is charged only for more.
"""
import paddle
import paddle.nn.functional as F

from .correlation import _BINOMIAL
from .frequency import _check, _filter, _reduce, local_rms, luma
from .pixel import WeightedLoss


def _signs(h, w, dtype):
    """The +1/-1 patterns along x, along y and both (1 x 1 x H x W each)."""
    sx = (1 - 2 * (paddle.arange(w) % 2)).astype(dtype).reshape([1, 1, 1, w])
    sy = (1 - 2 * (paddle.arange(h) % 2)).astype(dtype).reshape([1, 1, h, 1])
    return sx.expand([1, 1, h, w]), sy.expand([1, 1, h, w]), sx * sy


def nyquist_amplitude(x, window=8):
    """N1HW local amplitude of the luma's period-2 patterns (checker and both stripes) of an NCHW image."""
    if not isinstance(x, paddle.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f'nyquist_amplitude: expected an N1HW or N3HW tensor, got '
                         f'{list(x.shape) if isinstance(x, paddle.Tensor) else type(x).__name__}')
    if int(window) < 1 or min(x.shape[2], x.shape[3]) < 3:
        raise ValueError(f'nyquist_amplitude: window must be >= 1 and the image at least 3 x 3, got window '
                         f'{window} on {list(x.shape[2:])}')
    y = luma(x)
    power = 0.0
    for s in _signs(y.shape[2], y.shape[3], y.dtype):
        a = local_rms(_filter(y * s, _BINOMIAL), int(window))
        power = power + a * a
    return paddle.sqrt(power + 1e-12)


def nyquist_excess_loss(pred, anchor, window=8, reduction='mean'):
    """``relu(nyquist_amplitude(pred) - nyquist_amplitude(anchor))`` (anchor detached), reduced."""
    _check(pred, anchor, 'nyquist_excess_loss')
    return _reduce(F.relu(nyquist_amplitude(pred, window) - nyquist_amplitude(anchor.detach(), window)), reduction)


class NyquistExcessLoss(WeightedLoss):
    """``loss_weight`` x :func:`nyquist_excess_loss`; called as ``(pred, anchor)``."""

    def __init__(self, loss_weight=1.0, window=8, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if int(window) < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        self.window = int(window)

    def forward(self, pred, anchor):
        return self.loss_weight * nyquist_excess_loss(pred, anchor, self.window, self.reduction)
