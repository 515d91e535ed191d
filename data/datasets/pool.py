"""Training-pair pool: a queue that mixes (LQ, GT) pairs across batches.

Degradations are drawn per batch (one resize scale and mode per batch), so a
batch is more homogeneous than the data. The pool keeps ``pool_size`` pairs;
each new batch is swapped with a random subset of the pool, which decorrelates
the pairs seen together. The pool size is rounded to a multiple of the batch
size (logged, never an assertion); until it is full, batches go in and the
incoming batch is returned unchanged, as in Real-ESRGAN.
"""
import numpy as np
import paddle

from realesrgan_paddle.utils.logger import get_logger


def _np_dtype(t):
    return str(t.dtype).replace('paddle.', '')


class PairPool:
    """``pool(lq, gt, *extra)`` -> shuffled ``(lq, gt, *extra)`` of the same batch size.

    Args:
        pool_size: pairs kept (Real-ESRGAN: 180); adjusted to a multiple of batch_size.
        batch_size: the training batch size.
        seed: seed for the swaps (None: fresh entropy).
    """

    def __init__(self, pool_size, batch_size, seed=None, logger=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}')
        if not isinstance(pool_size, (int, np.integer)) or pool_size < 0:
            raise ValueError(f'pool_size must be an integer >= 0, got {pool_size!r}')
        log = logger or get_logger('resr.data')
        adjusted = max(batch_size, int(round(pool_size / batch_size)) * batch_size) if pool_size else 0
        if adjusted != pool_size:
            log.info('pair pool size %d is not a multiple of batch size %d: using %d',
                     pool_size, batch_size, adjusted)
        self.pool_size, self.batch_size = adjusted, int(batch_size)
        self.rng = np.random.default_rng(seed)
        self._tensors = None  # list of pool tensors (lq, gt, extra...)
        self._filled = 0

    def __len__(self):
        return self._filled

    def __call__(self, lq, gt, *extra):
        items = (lq, gt) + tuple(extra)
        b = lq.shape[0]
        if any(t.shape[0] != b for t in items):
            raise ValueError('all tensors given to the pool need the same batch size')
        if self.pool_size == 0:
            return items
        if b != self.batch_size:
            raise ValueError(f'pool was built for batch size {self.batch_size}, got a batch of {b}')
        items = tuple(t.detach() for t in items)
        if self._tensors is None:
            self._tensors = [paddle.to_tensor(np.zeros([self.pool_size] + list(t.shape[1:]),
                                                       dtype=_np_dtype(t)), place=t.place) for t in items]
        elif len(self._tensors) != len(items) or any(
                list(p.shape[1:]) != list(t.shape[1:]) for p, t in zip(self._tensors, items)):
            raise ValueError('pool entries must keep the same shapes between batches')
        if self._filled < self.pool_size:  # filling: store, return the batch as is
            for p, t in zip(self._tensors, items):
                p[self._filled:self._filled + b] = t
            self._filled += b
            return items
        # full: shuffle the pool, swap the first b entries with the new batch
        perm = self.rng.permutation(self.pool_size)
        out = []
        for k, (p, t) in enumerate(zip(self._tensors, items)):
            p = paddle.index_select(p, paddle.to_tensor(perm, place=p.place))
            out.append(p[:b].clone())
            p[:b] = t
            self._tensors[k] = p
        return tuple(out)
