"""Pixel losses: L1 (Charbonnier-free, as Real-ESRGAN uses) and MSE."""
import paddle
import paddle.nn as nn

from .registry import register_loss

REDUCTIONS = ('mean', 'sum', 'none')


def _check(pred, target, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f'pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}')


def reduce_loss(x, reduction):
    """``x`` reduced by ``reduction``: ``'mean'``, ``'sum'`` or ``'none'`` (``x`` itself); else a ValueError."""
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    if reduction == 'mean':
        return x.mean()
    return x.sum() if reduction == 'sum' else x


def check_pair(pred, target, name, channels=(1, 3)):
    """A loss's two inputs: paddle NCHW tensors of one shape, with one of ``channels`` channels (None: any);
    else a TypeError/ValueError naming the loss ``name``."""
    if not isinstance(pred, paddle.Tensor) or not isinstance(target, paddle.Tensor):
        raise TypeError(f'{name}: pred and target must be paddle Tensors')
    if pred.ndim != 4:
        raise ValueError(f'{name}: expected NCHW tensors, got shape {list(pred.shape)}')
    if list(pred.shape) != list(target.shape):
        raise ValueError(f'{name}: pred {list(pred.shape)} and target {list(target.shape)} differ in shape')
    if channels and pred.shape[1] not in channels:
        raise ValueError(f'{name}: expected {" or ".join(map(str, channels))} channels, got {pred.shape[1]}')


def l1_loss(pred, target, reduction='mean'):
    """Mean (or sum) absolute difference."""
    _check(pred, target, reduction)
    return reduce_loss(paddle.abs(pred - target), reduction)


def mse_loss(pred, target, reduction='mean'):
    _check(pred, target, reduction)
    return reduce_loss((pred - target) ** 2, reduction)


class WeightedLoss(nn.Layer):
    """The common part of the loss Layers: a ``loss_weight`` and a checked ``reduction``. A Layer whose loss
    takes no other option sets ``fn``, and its forward is ``loss_weight * fn(pred, target, reduction)``."""
    OPTION_CHOICES = {'reduction': REDUCTIONS}  # read by the options check (training.schema)
    fn = None

    def __init__(self, loss_weight=1.0, reduction='mean'):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def forward(self, pred, target):
        return self.loss_weight * type(self).fn(pred, target, self.reduction)


@register_loss(log='pix')
class L1Loss(WeightedLoss):
    fn = staticmethod(l1_loss)


@register_loss(log='pix')
class MSELoss(L1Loss):
    fn = staticmethod(mse_loss)
