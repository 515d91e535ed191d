"""Run a batched Paddle function on slices of the batch, one Python thread per core.

On CPU most of Paddle's eager kernels (elementwise ops, FFT, interpolation,
gathers) run on one core, so a batched pipeline leaves the other cores idle.
Cutting the batch into slices and running them on a thread pool uses them:
Paddle releases the GIL inside its kernels. Two things make that pay off:

* every slice thread runs its math on one thread, so MKL/OpenMP teams do not
  oversubscribe the cores; the caller's setting is put back afterwards;
* glibc gives each new thread its own malloc arena, which hands big buffers back
  to the kernel and page-faults them in again on every op (a chain of
  elementwise ops ran 15x slower on a worker thread than on the main thread);
  one arena for all threads avoids it.

Both are process-wide settings, so this module does not make them: an entry point
opts in with ``utils.runtime_env.setup(single_arena=True)`` (``train.py`` does), and
``runtime_env.slice_threads`` then sets the math threads around each slice.

Results do not depend on the slicing as long as ``fn`` treats samples
independently (the degradation draws every random number per sample first).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import paddle

from realesrgan_paddle.utils.runtime_env import cpu_count, slice_threads

_POOL = None
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, min(cpu_count(), 8)), thread_name_prefix='slice')
    return _POOL


def in_slice():
    """True on a slice thread: nested work (the noise) should run inline there."""
    return getattr(_LOCAL, 'active', False)


def resolve_slices(slices, place=None):
    """``'auto'`` -> on a CPU place, the CPUs per training process (``paddle.distributed.launch``
    sets PADDLE_TRAINERS_NUM); 1 on an accelerator. Positive ints pass through."""
    if slices == 'auto':
        if place is None:
            place = paddle.get_device()
        if 'cpu' not in str(place).lower():
            return 1
        try:
            procs = max(1, int(os.environ.get('PADDLE_TRAINERS_NUM', '1')))
        except ValueError:
            procs = 1
        return max(1, cpu_count() // procs)
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
        raise ValueError(f"threads must be a positive integer or 'auto', got {slices!r}")
    return slices


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], tuple):
        return tuple(paddle.concat([p[i] for p in parts], axis=0) for i in range(len(parts[0])))
    return paddle.concat(parts, axis=0)


def _run(fn, start, stop):
    _LOCAL.active = True
    slice_threads(1)
    try:
        return fn(start, stop)
    finally:
        _LOCAL.active = False


def run_sliced(fn, batch, slices):
    """``fn(start, stop)`` over ``slices`` contiguous parts of ``range(batch)``.

    ``fn`` returns a tensor or a tuple of tensors for its samples; the parts are
    concatenated along axis 0 in order. One slice (or a call from inside a slice)
    runs ``fn(0, batch)`` on the calling thread.
    """
    n = max(1, min(int(slices), int(batch)))
    if n == 1 or in_slice():
        return fn(0, batch)
    bounds = [batch * i // n for i in range(n + 1)]
    try:
        jobs = [_pool().submit(_run, fn, s, e) for s, e in zip(bounds[:-1], bounds[1:])]
        parts = [j.result() for j in jobs]
    finally:
        slice_threads(None)  # MKL's thread count is process-wide
    return _concat(parts)
