#!/usr/bin/env python
"""The IQA judges (LPIPS on AlexNet, DISTS) as the evaluate stage runs them on the CPU, their features a static
program on oneDNN's kernels (``models/feature_nets/static_onednn.py``), against the same metrics in the dynamic
graph: seconds per scored pair (an output and its reference, as ``evaluation.iqa.Metric.score`` scores a new pair),
side by side in one process, interleaved round by round, and the largest relative difference of the scores.

    python benchmarks/iqa_speed.py                      # skimage's photos cut to 640x480 (the footage's crops)
    python benchmarks/iqa_speed.py --size 512 --rounds 5

The weights must be in the cache (``python tools/download_models.py --names vgg16 alexnet lpips dists``).
"""
import argparse
import statistics
import time

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)
from realesrgan_paddle.utils import runtime_env


def photos(width, height):
    """skimage's colour photos resized to ``width`` x ``height`` (BGR uint8), and each blurred: (output, reference)."""
    import cv2
    from skimage import data as skdata
    refs = [cv2.resize(getattr(skdata, n)()[..., ::-1], (width, height), interpolation=cv2.INTER_AREA)
            for n in ('astronaut', 'chelsea', 'coffee', 'rocket')]
    return [(cv2.GaussianBlur(r, (0, 0), 1.2), r) for r in refs]


def score_all(metric, pairs):
    """Scores of every pair with new features (the memo emptied first)."""
    metric._scores.clear()
    metric._ref = None
    return [metric.score(out, ref) for out, ref in pairs]


def dynamic_twin(metric):
    """A metric on the same network whose features run in the dynamic graph (the network's own ``feats``)."""
    from realesrgan_paddle.evaluation import iqa
    twin = iqa.Metric(metric.name, metric.net)
    twin.feats = metric.net.feats
    return twin


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, nargs=2, default=[640, 480], metavar=('W', 'H'))
    p.add_argument('--rounds', type=int, default=3)
    args = p.parse_args(argv)
    runtime_env.setup()
    from realesrgan_paddle.evaluation import iqa
    metrics, notes = iqa.available()
    if not {'lpips', 'dists'} <= set(metrics):
        raise SystemExit('; '.join(notes))
    pairs = photos(*args.size)
    print(f'{len(pairs)} pairs of {args.size[0]}x{args.size[1]}, {runtime_env.math_threads()} math threads')
    print('| metric | dynamic graph s/pair | static, oneDNN s/pair | x faster | max relative difference |')
    print('|---|---|---|---|---|')
    for name in ('lpips', 'dists'):
        twins = {'dynamic': dynamic_twin(metrics[name]), 'static': metrics[name]}
        want, got = (score_all(m, pairs) for m in twins.values())  # the warm-up round: traces, caches
        times = {k: [] for k in twins}
        for _ in range(args.rounds):
            for k, m in twins.items():
                t = time.perf_counter()
                score_all(m, pairs)
                times[k].append((time.perf_counter() - t) / len(pairs))
        dyn, st = statistics.median(times['dynamic']), statistics.median(times['static'])
        diff = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(want, got))
        print(f'| {name} | {dyn:.3f} | {st:.3f} | {dyn / st:.2f} | {diff:.1e} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
