"""MultiStepLR (the BasicSR/torch semantics) with an optional linear warm-up, as a Paddle scheduler.

The scheduler is stepped once at the start of every iteration, so during
iteration ``i`` (1-based) ``last_epoch == i`` and the LR is
``base * gamma ** (number of milestones <= i)``, times ``i / warmup_iter`` while warming up.
"""
import bisect

from paddle.optimizer.lr import LRScheduler


class MultiStepWarmupLR(LRScheduler):
    def __init__(self, learning_rate, milestones, gamma=0.5, warmup_iter=-1, last_epoch=-1):
        ms = list(milestones)
        if ms != sorted(ms):
            raise ValueError(f'milestones must be increasing, got {ms}')
        self.milestones = ms
        self.gamma = float(gamma)
        self.warmup_iter = int(warmup_iter)
        super().__init__(learning_rate=float(learning_rate), last_epoch=last_epoch)

    def get_lr(self):
        it = max(self.last_epoch, 0)
        lr = self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, it)
        if self.warmup_iter > 0 and it < self.warmup_iter:
            lr = lr * max(it, 1) / self.warmup_iter
        return lr
