"""Training pairs per second: batched Paddle degradation vs per-image numpy/OpenCV.

    python benchmarks/degradation_speed.py [--batch 12] [--size 256] [--rounds 20] [--numpy-threads 2]

A "pair" is what the trainer needs per GT crop: the USM-sharpened GT and the LQ
from the full second-order pipeline. Both sides get the same GT crops (real
photos from ../shared/data/hr) and the same per-sample kernels (sampled outside
the timers, as the data loader does); each side draws its own random
parameters from the same distributions, from the same seed in each round.
Rounds rotate the order of the implementations. The headline is throughput
(all pairs over all time); medians and minima are printed beside it.
``--numpy-threads N`` adds the per-image reference spread over N threads, for
context: the target compares against the plain per-image loop.
"""
import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.utils import runtime_env  # noqa: E402

runtime_env.setup(reexec=True, single_arena=True)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import paddle  # noqa: E402

from _numpy_degradation import degrade_np, usm_sharp_np  # noqa: E402
from realesrgan_paddle.data.degrade.second_order import (  # noqa: E402
    SecondOrderDegradation, resolve_options, sample_kernels)


def load_crops(n, size):
    hr = ROOT.parent / 'shared' / 'data' / 'hr'
    paths = sorted(hr.glob('*.png'))
    if not paths:
        from skimage import data as skdata
        imgs = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    else:
        imgs = [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in paths]
    rng = np.random.default_rng(0)
    crops = []
    for i in range(n):
        img = imgs[i % len(imgs)]
        if min(img.shape[:2]) < size:
            img = cv2.resize(img, (max(size, img.shape[1]), max(size, img.shape[0])))
        y = int(rng.integers(0, img.shape[0] - size + 1))
        x = int(rng.integers(0, img.shape[1] - size + 1))
        crops.append(img[y:y + size, x:x + size].astype(np.float32) / 255.0)
    return np.stack(crops)


def stage_timers(np_module):
    """Wrap each step of both implementations with a CPU-time accumulator (--stages)."""
    import realesrgan_paddle.data.degrade.second_order as pipe
    import realesrgan_paddle.data.degrade.usm as usm_mod
    totals = {}

    def wrap(owner, name, label, static=False):
        fn = getattr(owner, name)

        def timed(*a, **k):
            c0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                totals[label] = totals.get(label, 0.0) + time.process_time() - c0
        setattr(owner, name, staticmethod(timed) if static else timed)

    for name, label in (('filter2d', 'blur'), ('resize', 'resize'), ('diff_jpeg', 'jpeg')):
        wrap(pipe, name, 'paddle ' + label)
    wrap(pipe.SecondOrderDegradation, '_noise', 'paddle noise', static=True)
    wrap(usm_mod, 'separable_blur', 'paddle usm blurs')
    cvp = type('cv2proxy', (), {})()
    for n in dir(cv2):
        if not n.startswith('_'):
            setattr(cvp, n, getattr(cv2, n))
    np_module.cv2 = cvp
    for name, label in (('filter2D', 'blur'), ('resize', 'resize'), ('GaussianBlur', 'usm blurs')):
        wrap(cvp, name, 'numpy ' + label)
    wrap(np_module, '_noise', 'numpy noise')
    wrap(np_module, '_jpeg', 'numpy jpeg')
    return totals


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--batch', type=int, default=12)
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--rounds', type=int, default=20)
    ap.add_argument('--threads', default='auto',
                    help="batch slices run concurrently by the Paddle pipeline (default 'auto': one per CPU)")
    ap.add_argument('--stages', action='store_true',
                    help='also print CPU time per step (blur, resize, noise, JPEG, USM blurs) on each side')
    ap.add_argument('--numpy-threads', type=int, default=0, metavar='N',
                    help='also time the per-image reference with its images spread over N threads (context)')
    return ap.parse_args()


def make_contenders(args, opt, crops, pool):
    """``[(name, fn(kernels, seed))]``: the batched Paddle pipeline, the per-image reference and, with a ``pool``,
    the reference over its threads."""
    threads = args.threads if args.threads == 'auto' else int(args.threads)
    deg = SecondOrderDegradation(opt, args.scale, threads=threads)

    def run_paddle(k, seed):
        gt = paddle.to_tensor(crops.transpose(0, 3, 1, 2))
        # as Real-ESRGAN: the LQ is degraded from the USM-sharpened GT
        gt_usm, lq = deg.with_usm(gt, k['kernel1'], k['kernel2'], k['sinc_kernel'], rng=seed)
        return gt_usm.numpy(), lq.numpy()

    def one_np(k, i, rng):
        gt_usm = usm_sharp_np(crops[i], opt['usm_weight'], opt['usm_radius'], opt['usm_threshold'])
        return gt_usm, degrade_np(gt_usm, k['kernel1'][i], k['kernel2'][i], k['sinc_kernel'][i], opt, args.scale, rng)

    def run_numpy(k, seed):
        rng = np.random.default_rng(seed)
        return [one_np(k, i, rng) for i in range(args.batch)]

    def run_numpy_threads(k, seed):
        rngs = np.random.default_rng(seed).spawn(args.batch)
        return list(pool.map(lambda i: one_np(k, i, rngs[i]), range(args.batch)))

    contenders = [('paddle', run_paddle), ('numpy', run_numpy)]
    if pool is not None:
        contenders.append(('numpy-threads', run_numpy_threads))
    return contenders


def time_rounds(contenders, kernels, rounds, stages):
    """Two warm-up rounds, then ``rounds`` interleaved ones (the order rotates); ``(wall times, CPU times)`` per
    contender."""
    for w in range(2):  # warm-up: first-call allocations, FFT plans
        k = kernels()
        for _, fn in contenders:
            fn(k, w)
    times = {name: [] for name, _ in contenders}
    cpu = {name: [] for name, _ in contenders}
    if stages is not None:
        stages.clear()
    for r in range(rounds):
        k = kernels()
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for name, fn in order:
            t0, c0 = time.perf_counter(), time.process_time()
            fn(k, 1000 + r)  # the same random plan for every contender of a round
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return times, cpu


def report(args, contenders, times, cpu, stages):
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'batch {args.batch} x {args.size}x{args.size} GT, scale {args.scale}, {args.rounds} interleaved rounds, '
          f'{paddle.get_device()}, OMP threads {runtime_env.os.environ.get("OMP_NUM_THREADS")}, '
          f'cv2 threads {cv2.getNumThreads()}, pipeline slices {args.threads}, '
          f'1-min load average {load:.1f} on {os.cpu_count()} CPUs')
    # throughput = all pairs / all time: Paddle draws one resize scale per batch (as Real-ESRGAN),
    # so its batch times vary more than the per-image side's and a median alone would flatter it
    mean = {n: sum(t) / len(t) for n, t in times.items()}
    labels = {'paddle': 'paddle batched', 'numpy': 'numpy/OpenCV', 'numpy-threads': f'numpy x{args.numpy_threads} thr'}
    for name, _ in contenders:
        print(f'{labels[name]:15s}: {args.batch / mean[name]:7.1f} pairs/s  mean {mean[name] * 1000:7.1f} ms/batch  '
              f'median {statistics.median(times[name]) * 1000:7.1f}  min {min(times[name]) * 1000:7.1f}  '
              f'(CPU time {statistics.mean(cpu[name]) * 1000:.0f} ms)')
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f'ratio paddle/numpy throughput: {mean["numpy"] / mean["paddle"]:.2f}x '
          f'(by medians {med["numpy"] / med["paddle"]:.2f}x)')
    if 'numpy-threads' in times:
        print(f'ratio paddle/numpy over {args.numpy_threads} threads: {mean["numpy-threads"] / mean["paddle"]:.2f}x')

    if stages:
        print('CPU time per batch and step (mean over the timed rounds):')
        for label in sorted(stages):
            print(f'  {label:18s} {stages[label] / args.rounds * 1000:7.1f} ms')


def main():
    args = parse_args()
    stages = stage_timers(sys.modules['_numpy_degradation']) if args.stages else None
    opt = resolve_options(None)
    crops = load_crops(args.batch, args.size)
    krng = np.random.default_rng(1)
    pool = ThreadPoolExecutor(args.numpy_threads) if args.numpy_threads > 1 else None

    def kernels():
        ks = [sample_kernels(opt, krng) for _ in range(args.batch)]
        return {k: np.stack([d[k] for d in ks]) for k in ks[0]}

    contenders = make_contenders(args, opt, crops, pool)
    times, cpu = time_rounds(contenders, kernels, args.rounds, stages)
    report(args, contenders, times, cpu, stages)


if __name__ == '__main__':
    main()
