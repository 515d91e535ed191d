"""LDL-style artefact weighting (locally discriminative learning, Liang et al., CVPR 2022).

Where the output's error against the GT is locally erratic (high local variance of the residual)
and the EMA model does better than the current one, the pixel is likely an artefact the current
step just made: those pixels get a weight proportional to the residual's local variance (times
the patch's residual variance to the power 1/5), every other pixel 0, and the loss is the L1
between weighted output and weighted GT. The weights carry no gradient.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .pixel import REDUCTIONS, l1_loss
from .registry import register_loss


def _check(output, gt, output_ema):
    for name, t in (('output', output), ('gt', gt), ('output_ema', output_ema)):
        if not isinstance(t, paddle.Tensor):
            raise TypeError(f'ldl: {name} must be a paddle Tensor')
        if t.ndim != 4:
            raise ValueError(f'ldl: {name} must be NCHW, got shape {list(t.shape)}')
    if not list(output.shape) == list(gt.shape) == list(output_ema.shape):
        raise ValueError(f'ldl: output {list(output.shape)}, gt {list(gt.shape)} and output_ema '
                         f'{list(output_ema.shape)} must have one shape')


def local_variance(x, window=7):
    """Per-pixel variance of ``x`` (N1HW) over a ``window`` x ``window`` box, reflect-padded, unbiased."""
    if int(window) < 2:
        raise ValueError(f'window must be >= 2, got {window}')
    p, n = window // 2, window * window
    xp = F.pad(x, [p, window - 1 - p, p, window - 1 - p], mode='reflect')
    m = F.avg_pool2d(xp, window, stride=1)
    m2 = F.avg_pool2d(xp * xp, window, stride=1)
    return paddle.clip(m2 - m * m, min=0.0) * (n / (n - 1))


def artifact_map(output, gt, output_ema, window=7):
    """N1HW weights: local residual variance x patch residual variance^(1/5), 0 where the EMA is worse."""
    _check(output, gt, output_ema)
    with paddle.no_grad():
        res = paddle.abs(gt - output.detach()).sum(axis=1, keepdim=True)
        res_ema = paddle.abs(gt - output_ema.detach()).sum(axis=1, keepdim=True)
        n = res.shape[0]
        patch = paddle.var(res.reshape([n, -1]), axis=1, unbiased=True).reshape([n, 1, 1, 1]) ** 0.2
        w = local_variance(res, window) * patch
        w = paddle.where(res < res_ema, paddle.zeros_like(w), w)
    return w


def ldl_loss(output, gt, output_ema, window=7, reduction='mean'):
    """L1 between ``artifact_map * output`` and ``artifact_map * gt``."""
    w = artifact_map(output, gt, output_ema, window)
    return l1_loss(w * output, w * gt, reduction)


@register_loss(inputs=('output', 'target', 'ema_output'), log='ldl')
class LDLLoss(nn.Layer):
    """``loss_weight`` x :func:`ldl_loss`; called as ``(output, gt, output_ema)``."""
    OPTION_CHOICES = {'reduction': REDUCTIONS}

    def __init__(self, loss_weight=1.0, window=7, reduction='mean'):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
        if int(window) < 2:
            raise ValueError(f'window must be >= 2, got {window}')
        self.loss_weight = float(loss_weight)
        self.window = int(window)
        self.reduction = reduction

    def forward(self, output, gt, output_ema):
        return self.loss_weight * ldl_loss(output, gt, output_ema, self.window, self.reduction)
