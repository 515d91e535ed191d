"""The optimiser step of the trainers, guarded: automatic mixed precision (GPU) and the NaN/inf guard.

A non-finite loss, or (without AMP) a non-finite gradient, skips the step with one warning line; ``nan_max``
(``train.nan_max_consecutive``) skipped steps in a row stop the run with ``NonFiniteLossError``: it diverged. With
AMP the scaler skips the steps with inf/nan gradients itself. Both keep their state in the training state
(``nan_run``, ``scaler``), so a resumed run goes on counting where it stopped.
"""
import numpy as np
import paddle


class NonFiniteLossError(RuntimeError):
    pass


def _finite(t):
    return bool(paddle.isfinite(t).all())


class NanGuard:
    """Counts the non-finite losses in a row (``run``); ``check`` warns, and raises once there are ``limit``."""

    def __init__(self, limit, logger):
        self.limit, self.logger, self.run = int(limit), logger, 0

    def check(self, loss, what, current_iter):
        """True when ``loss`` is finite; otherwise counts, warns, and aborts after ``limit`` in a row."""
        if _finite(loss):
            return True
        self.run += 1
        self.logger.warning(f'iter {current_iter}: non-finite {what} loss ({float(loss)}); step skipped '
                            f'({self.run}/{self.limit} in a row)')
        if self.run >= self.limit:
            raise NonFiniteLossError(f'{self.run} non-finite losses in a row at iter {current_iter}: training '
                                     f'diverged. Lower train.optim_g.lr, set train.grad_clip, or check the data')
        return False


class Amp:
    """Automatic mixed precision (``train.use_amp``, GPU only): the autocast context and the loss scaler."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 16) if enabled else None

    def autocast(self):
        return paddle.amp.auto_cast(enable=self.enabled, level='O1')

    def state(self):
        return {k: (np.asarray(v.numpy()) if hasattr(v, 'numpy') else v) for k, v in self.scaler.state_dict().items()}

    def load(self, state):
        self.scaler.load_state_dict(state)

    def step(self, loss, optimizer):
        scaled = self.scaler.scale(loss)
        scaled.backward()
        self.scaler.minimize(optimizer, scaled)
        optimizer.clear_grad()


def backward_step(loss, optimizer, params, what, current_iter, guard, amp):
    """Backward + step with the NaN/inf guard on the loss and the gradients; False when the step was skipped."""
    if not guard.check(loss, what, current_iter):
        optimizer.clear_grad()
        return False
    if amp.scaler is not None:  # GPU AMP: the scaler skips steps with inf/nan gradients itself
        amp.step(loss, optimizer)
        return True
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        sq = paddle.add_n([paddle.sum(g * g) for g in grads])
        if not guard.check(sq, what + ' gradient', current_iter):
            optimizer.clear_grad()
            return False
    optimizer.step()
    optimizer.clear_grad()
    return True
