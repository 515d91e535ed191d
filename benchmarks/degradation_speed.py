"""Training pairs per second: batched Paddle degradation vs per-image numpy/OpenCV.

    python benchmarks/degradation_speed.py [--batch 12] [--size 256] [--rounds 15]

A "pair" is what the trainer needs per GT crop: the USM-sharpened GT and the LQ
from the full second-order pipeline. Both sides get the same GT crops (real
photos from ../shared/data/hr) and the same per-sample kernels (sampled outside
the timers, as the data loader does); each side draws its own random
parameters from the same distributions. Rounds alternate between the two
implementations, and medians are reported.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'benchmarks'))

from utils import runtime_env  # noqa: E402

runtime_env.setup(reexec=True)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import paddle  # noqa: E402

from _numpy_degradation import degrade_np, usm_sharp_np  # noqa: E402
from data.pipeline import SecondOrderDegradation, resolve_options, sample_kernels  # noqa: E402
from data.usm import usm_sharp  # noqa: E402


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
    import data.pipeline as pipe
    import data.usm as usm_mod
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--batch', type=int, default=12)
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--rounds', type=int, default=15)
    ap.add_argument('--threads', type=int, default=1,
                    help='batch slices run concurrently by the Paddle pipeline (default 1)')
    ap.add_argument('--stages', action='store_true',
                    help='also print CPU time per step (blur, resize, noise, JPEG, USM blurs) on each side')
    args = ap.parse_args()
    stages = stage_timers(sys.modules['_numpy_degradation']) if args.stages else None
    opt = resolve_options(None)
    crops = load_crops(args.batch, args.size)
    deg = SecondOrderDegradation(opt, args.scale, threads=args.threads)
    krng = np.random.default_rng(1)
    prng, nrng = np.random.default_rng(2), np.random.default_rng(3)

    def kernels():
        ks = [sample_kernels(opt, krng) for _ in range(args.batch)]
        return {k: np.stack([d[k] for d in ks]) for k in ks[0]}

    def run_paddle(k):
        gt = paddle.to_tensor(crops.transpose(0, 3, 1, 2))
        gt_usm = usm_sharp(gt, opt['usm_weight'], opt['usm_radius'], opt['usm_threshold'])
        lq = deg(gt_usm, k['kernel1'], k['kernel2'], k['sinc_kernel'], rng=prng)  # as Real-ESRGAN: LQ from USM GT
        return gt_usm.numpy(), lq.numpy()

    def run_numpy(k):
        out = []
        for i in range(args.batch):
            gt_usm = usm_sharp_np(crops[i], opt['usm_weight'], opt['usm_radius'], opt['usm_threshold'])
            lq = degrade_np(gt_usm, k['kernel1'][i], k['kernel2'][i], k['sinc_kernel'][i], opt, args.scale, nrng)
            out.append((gt_usm, lq))
        return out

    for _ in range(2):  # warm-up: first-call allocations, FFT plans
        k = kernels()
        run_paddle(k)
        run_numpy(k)
    times = {'paddle': [], 'numpy': []}
    cpu = {'paddle': [], 'numpy': []}
    if stages is not None:
        stages.clear()
    for r in range(args.rounds):
        k = kernels()
        order = (('paddle', run_paddle), ('numpy', run_numpy)) if r % 2 == 0 else \
            (('numpy', run_numpy), ('paddle', run_paddle))
        for name, fn in order:
            t0, c0 = time.perf_counter(), time.process_time()
            fn(k)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    tp, tn = statistics.median(times['paddle']), statistics.median(times['numpy'])
    cp, cn = statistics.median(cpu['paddle']), statistics.median(cpu['numpy'])
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'batch {args.batch} x {args.size}x{args.size} GT, scale {args.scale}, {args.rounds} interleaved rounds, '
          f'{paddle.get_device()}, OMP threads {runtime_env.os.environ.get("OMP_NUM_THREADS")}, '
          f'cv2 threads {cv2.getNumThreads()}, pipeline slices {args.threads}')
    print(f'paddle batched : {tp * 1000:8.1f} ms/batch  {args.batch / tp:7.1f} pairs/s  (CPU time {cp * 1000:.0f} ms)')
    print(f'numpy/OpenCV   : {tn * 1000:8.1f} ms/batch  {args.batch / tn:7.1f} pairs/s  (CPU time {cn * 1000:.0f} ms)')
    print(f'ratio paddle/numpy throughput: {tn / tp:.2f}x (wall), {cn / cp:.2f}x (CPU time); '
          f'1-min load average {load:.1f} on {os.cpu_count()} CPUs')

    if stages:
        print('CPU time per batch and step (mean over the timed rounds):')
        for label in sorted(stages):
            print(f'  {label:18s} {stages[label] / args.rounds * 1000:7.1f} ms')


if __name__ == '__main__':
    main()
