"""Learning-rate schedulers and optimisers under their BasicSR ``type:`` names.

``train.scheduler`` and ``train.optim_g``/``optim_d`` are built from these constructors by
``training.schema.build``; their keyword arguments are the option keys. The trainer passes the
rest: a scheduler gets ``learning_rate`` (the optimiser's ``lr``) and ``warmup_iter`` (from
``train``), an optimiser gets ``parameters``, ``learning_rate`` (the scheduler) and ``grad_clip``.

A scheduler is stepped once at the start of every iteration, so during iteration ``i`` (1-based)
``last_epoch == i``; while ``i < warmup_iter`` the rate is scaled by ``i / warmup_iter`` (BasicSR's
linear warm-up).
"""
import bisect
import math

import paddle
from paddle.optimizer.lr import LRScheduler


class _WarmupLR(LRScheduler):
    """A schedule ``rate(it)`` times the linear warm-up factor."""

    def __init__(self, learning_rate, warmup_iter=-1, last_epoch=-1):
        self.warmup_iter = int(warmup_iter)
        super().__init__(learning_rate=float(learning_rate), last_epoch=last_epoch)

    def get_lr(self):
        it = max(self.last_epoch, 0)
        lr = self.rate(it)
        if self.warmup_iter > 0 and it < self.warmup_iter:
            lr = lr * max(it, 1) / self.warmup_iter
        return lr


class MultiStepWarmupLR(_WarmupLR):
    """``base * gamma ** (number of milestones <= i)`` (BasicSR/torch ``MultiStepLR``)."""

    def __init__(self, learning_rate, milestones: list[int] = (), gamma=0.5, warmup_iter=-1, last_epoch=-1):
        ms = list(milestones)
        if ms != sorted(ms):
            raise ValueError(f'milestones must be increasing, got {ms}')
        self.milestones = ms
        self.gamma = float(gamma)
        super().__init__(learning_rate, warmup_iter, last_epoch)

    def rate(self, it):
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, it)


class CosineAnnealingRestartLR(_WarmupLR):
    """Cosine annealing from ``base * restart_weights[k]`` to ``eta_min`` over ``periods[k]`` iterations,
    restarting at the end of each period (BasicSR's ``CosineAnnealingRestartLR``); after the last
    period the rate stays at ``eta_min``."""

    def __init__(self, learning_rate, periods: list[int] = (), restart_weights: list[float] = (1.0,),
                 eta_min=0.0, warmup_iter=-1, last_epoch=-1):
        self.periods = [int(p) for p in periods]
        self.restart_weights = [float(w) for w in restart_weights]
        if not self.periods or min(self.periods) < 1:
            raise ValueError(f'periods must be a non-empty list of positive iteration counts, got {list(periods)}')
        if len(self.periods) != len(self.restart_weights):
            raise ValueError(f'{len(self.periods)} periods but {len(self.restart_weights)} restart_weights: '
                             'give one weight per period')
        self.eta_min = float(eta_min)
        self.ends = [sum(self.periods[:i + 1]) for i in range(len(self.periods))]
        super().__init__(learning_rate, warmup_iter, last_epoch)

    def rate(self, it):
        k = bisect.bisect_left(self.ends, it)
        if k == len(self.ends):
            return self.eta_min
        start = self.ends[k - 1] if k else 0
        w = self.restart_weights[k]
        return self.eta_min + w * 0.5 * (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * (it - start) / self.periods[k]))


def _adam(cls, parameters, learning_rate, grad_clip, betas, weight_decay):
    b1, b2 = (float(b) for b in betas)
    kw = {'weight_decay': float(weight_decay)} if weight_decay or cls is paddle.optimizer.AdamW else {}
    return cls(learning_rate=learning_rate, beta1=b1, beta2=b2, parameters=parameters, grad_clip=grad_clip, **kw)


def Adam(parameters, learning_rate, grad_clip=None, lr=1e-4, betas: tuple[float, float] = (0.9, 0.99),
         weight_decay=0.0):
    """Adam; ``lr`` is the base rate of the scheduler that the trainer passes as ``learning_rate``."""
    del lr  # the scheduler carries it
    return _adam(paddle.optimizer.Adam, parameters, learning_rate, grad_clip, betas, weight_decay)


def AdamW(parameters, learning_rate, grad_clip=None, lr=1e-4, betas: tuple[float, float] = (0.9, 0.99),
          weight_decay=0.01):
    """AdamW (decoupled weight decay, 0.01 by default as in torch)."""
    del lr
    return _adam(paddle.optimizer.AdamW, parameters, learning_rate, grad_clip, betas, weight_decay)


SCHEDULERS = {'MultiStepLR': MultiStepWarmupLR, 'CosineAnnealingRestartLR': CosineAnnealingRestartLR}
OPTIMIZERS = {'Adam': Adam, 'AdamW': AdamW}
