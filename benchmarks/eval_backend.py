"""The evaluate stage's backend for the compact network: the dynamic graph against the predictor, side by side.

    python benchmarks/eval_backend.py [--sizes 48x48,96x96,192x144,320x240] [--frames 6] [--rounds 3]

For each LQ size, each round builds both upscalers of ``realesr-animevideov3`` as the evaluate stage does
(``evaluation.model_cache.Models``: the dynamic graph straight from the weights file, or an export into the
stage's folder and a Paddle Inference predictor) and upscales ``--frames`` crops of a scikit-image photo.
Rounds alternate the order. Prints the medians of the build plus the first frame and of each later frame,
their ratio, after how many frames (and LQ pixels) the predictor is ahead, and the largest output difference
between the two (they run the same weights). ``evaluation.model_cache.PREDICTOR_MIN_PIXELS`` is set from it.
"""
import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.utils.runtime_env import setup  # noqa: E402

setup(reexec=True)

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def crops(w, h, n):
    from skimage import data as skdata
    img = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (w + 8 * n, h + 8 * n),
                     interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(img[8 * k:8 * k + h, 8 * k:8 * k + w]) for k in range(n)]


def one(backend, weights, frames, folder):
    """``(build s, first frame s, per-frame s, outputs)``: the upscaler built as the evaluate stage builds it,
    then the first frame (a predictor plans for the size there), then the frames."""
    from realesrgan_paddle.evaluation import model_cache as MT
    pixels = 0 if backend == 'dynamic' else MT.PREDICTOR_MIN_PIXELS
    t = time.perf_counter()
    nets = MT.Models('compact', folder, 'cpu', pixels)
    up = nets.get({'ck': weights}, own={'ck'})['ck']
    assert nets.backends['ck'] == backend
    built = time.perf_counter() - t
    t = time.perf_counter()
    up.upscale(frames[0])
    first = time.perf_counter() - t
    t = time.perf_counter()
    outs = [up.upscale(f) for f in frames]
    per = (time.perf_counter() - t) / len(frames)
    nets.cleanup()
    return built, first, per, outs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='48x48,96x96,192x144,320x240', help='LQ sizes, WxH, comma-separated')
    ap.add_argument('--frames', type=int, default=6)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--model', default='realesr-animevideov3', help='a compact zoo name or weights file')
    args = ap.parse_args(argv)
    from realesrgan_paddle.models.zoo import resolve
    weights = str(resolve(args.model, progress=False))
    print(f'{args.model}: {args.frames} frames a size, {args.rounds} rounds, medians')
    print('| LQ size | dynamic build + first frame | dynamic / frame | predictor build + first frame | '
          'predictor / frame | frame ratio | predictor ahead from | max output diff |')
    print('|---|---|---|---|---|---|---|---|')
    for size in args.sizes.split(','):
        w, h = (int(v) for v in size.lower().split('x'))
        frames = crops(w, h, args.frames)
        res = {'dynamic': [], 'predictor': []}
        diff = 0
        for r in range(args.rounds):
            order = ['dynamic', 'predictor'] if r % 2 == 0 else ['predictor', 'dynamic']
            outs = {}
            for b in order:
                folder = Path(tempfile.mkdtemp(prefix='eval_backend_'))
                try:
                    built, first, per, outs[b] = one(b, weights, frames, folder)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                res[b].append((built + first, per))
            diff = max(diff, max(int(np.abs(a.astype(int) - c.astype(int)).max())
                                 for a, c in zip(outs['dynamic'], outs['predictor'])))
        (d0, dp), (p0, pp) = ([statistics.median(v[i] for v in res[b]) for i in (0, 1)]
                              for b in ('dynamic', 'predictor'))
        n = 1 + max(0.0, (p0 - d0) / max(dp - pp, 1e-9))  # frames after which the predictor is ahead
        ahead = 'the first frame' if n <= 1 else f'{n:.1f} frames ({n * w * h:,.0f} LQ pixels)'
        print(f'| {w}x{h} | {d0:.2f} s | {dp:.3f} s | {p0:.2f} s | {pp:.3f} s | {dp / pp:.2f}x | {ahead} | '
              f'{diff} grey levels |')


if __name__ == '__main__':
    main()
