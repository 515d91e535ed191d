"""The period-``p`` lattice of an output: how much larger its luma steps are across the lines of the ``p``-px grid
than inside the cells.

SRVGGNetCompact adds the nearest-neighbour x4 upsample of its input to the convolutions' residual. That skip draws
the input's pixels as 4x4 blocks and the residual has to cancel their edges. A term that rewards fine-band energy
(``hf_energy_loss``: the local RMS of the luma Laplacian, towards a teacher's) is met by those edges as well as by
texture, so a finetune stops cancelling them: grey 4x4 blocks (measured in docs/experiments/gan_cpu.md, "The 4x4 blocks").

``lattice_excess`` is ``mean |step| on the grid lines - mean |step| inside the cells`` of each image (luma, both
directions; the steps inside are the reference and carry no gradient, so the term can only shrink the steps
across the lines, never reward steps inside). About 0 for a photo; the mean step size (or more) for a blocky
image. ``lattice_loss`` holds the output's excess to the anchor's (a teacher's output on the same input,
detached): ``|excess(pred) - excess(anchor)|``, averaged over the batch. Two-sided: a one-sided version
(``relu``, only the excess above the anchor's) drove the lattice below the photo's (steps on the lines smaller
than inside, a period-4 grain: NIQE 12.9 against 9.4 on the demo's held-out frames).

The grid's lines are after every ``p``-th column and row from the top left (output pixels ``p*i .. p*i+p-1`` come
from input pixel ``i``), so the tensors must be cropped at a multiple of ``p``, as the training patches are.
"""
import numpy as np
import paddle

from .frequency import _check, luma
from .pixel import WeightedLoss


def _line_masks(h, w, period, dtype):
    """Masks of the horizontal steps (h x w-1) and the vertical ones (h-1 x w) that cross a grid line."""
    mx = ((np.arange(w - 1) + 1) % period == 0)[None, :].repeat(h, 0)
    my = ((np.arange(h - 1) + 1) % period == 0)[:, None].repeat(w, 1)
    return paddle.to_tensor(mx, dtype=dtype), paddle.to_tensor(my, dtype=dtype)


def lattice_excess(x, period=4):
    """Per image (shape [N]): mean |luma step| across the lines of the ``period``-px grid minus the mean inside
    the cells (that one detached). ``x``: N1HW or N3HW (RGB), at least ``period + 1`` pixels each way."""
    if not isinstance(x, paddle.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f'lattice_excess: expected an N1HW or N3HW paddle Tensor, got '
                         f'{list(x.shape) if isinstance(x, paddle.Tensor) else type(x).__name__}')
    p = int(period)
    if p < 2 or min(x.shape[2], x.shape[3]) <= p:
        raise ValueError(f'lattice_excess: period must be >= 2 and less than the image size {list(x.shape[2:])}, '
                         f'got {period}')
    y = luma(x)[:, 0]
    dx = paddle.abs(y[:, :, 1:] - y[:, :, :-1])
    dy = paddle.abs(y[:, 1:, :] - y[:, :-1, :])
    mx, my = _line_masks(y.shape[1], y.shape[2], p, y.dtype)
    n_on = float(mx.sum() + my.sum())
    n_off = float(mx.numel() + my.numel()) - n_on
    on = ((dx * mx).sum(axis=[1, 2]) + (dy * my).sum(axis=[1, 2])) / n_on
    off = ((dx * (1 - mx)).sum(axis=[1, 2]) + (dy * (1 - my)).sum(axis=[1, 2])) / n_off
    return on - off.detach()


def lattice_loss(pred, anchor, period=4, reduction='mean'):
    """``|lattice_excess(pred) - lattice_excess(anchor)|`` per image (anchor detached); ``reduction``
    'mean' / 'sum' over the batch, or 'none' (shape [N])."""
    _check(pred, anchor, 'lattice_loss')
    if reduction not in ('mean', 'sum', 'none'):
        raise ValueError(f"lattice_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    d = paddle.abs(lattice_excess(pred, period) - lattice_excess(anchor.detach(), period))
    return d if reduction == 'none' else (d.mean() if reduction == 'mean' else d.sum())


class LatticeLoss(WeightedLoss):
    """``loss_weight`` x :func:`lattice_loss`; called as ``(pred, anchor)``."""

    def __init__(self, loss_weight=1.0, period=4, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if int(period) < 2:
            raise ValueError(f'period must be >= 2, got {period}')
        self.period = int(period)

    def forward(self, pred, anchor):
        return self.loss_weight * lattice_loss(pred, anchor, self.period, self.reduction)
