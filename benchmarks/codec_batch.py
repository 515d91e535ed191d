"""Codec step: clips coded one ffmpeg pair each (``codec_roundtrip``) vs sharing ffmpeg (``roundtrip_many``).

    python benchmarks/codec_batch.py [--clips 32] [--size 192x144] [--rounds 5] [--codec libx264]

The degradation fit and the training cache code many one-frame clips: the fit codes every training frame
once per family point it tries (about 130 points), the cache every image once per generation. Both sides
get the same clips (crops of a scikit-image photo, each a different window) and must return the same
bytes; rounds alternate the order. Prints the median wall and ffmpeg CPU seconds of each side (a shared
process may run its encoders on several threads) and their ratios.
"""
import argparse
import resource
import statistics
import time

import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from realesrgan_paddle.data.degrade.codec import codec_exe, codec_roundtrip, roundtrip_many  # noqa: E402


def _child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def make_jobs(n, w, h, codec):
    from skimage import data as skdata
    img = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (w + n, h + n), interpolation=cv2.INTER_AREA)
    return [([np.ascontiguousarray(img[k:k + h, k:k + w])], codec, 24.0 + k % 12, 'medium') for k in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--clips', type=int, default=32)
    ap.add_argument('--size', default='192x144', help='WxH of each one-frame clip (the demo LQ is 192x144)')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--codec', default='libx264', choices=['libx264', 'libx265'])
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split('x'))
    jobs = make_jobs(args.clips, w, h, args.codec)
    sides = {'one pair per clip': lambda: [codec_roundtrip(*j) for j in jobs],
             'shared (roundtrip_many)': lambda: roundtrip_many(jobs)}
    times, cpu = {k: [] for k in sides}, {k: [] for k in sides}
    ref = None
    for r in range(args.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            t, c = time.perf_counter(), _child_cpu()
            out = sides[name]()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(_child_cpu() - c)
            flat = [(n, [f.tobytes() for f in frames]) for frames, n in out]
            assert ref is None or flat == ref, f'{name} gave different bytes'
            ref = flat
    print(f'{args.clips} one-frame {args.codec} clips of {w}x{h}, ffmpeg {codec_exe()}, {args.rounds} rounds '
          '(same bytes)')
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f'  {k:24s} {v:7.3f} s wall ({1000 * v / args.clips:.1f} ms per clip), '
              f'ffmpeg CPU {statistics.median(cpu[k]):.3f} s')
    a, b = med.values()
    ca, cb = (statistics.median(v) for v in cpu.values())
    print(f'  ratio: {a / b:.2f}x less wall time shared, {ca / cb:.2f}x less ffmpeg CPU time')


if __name__ == '__main__':
    main()
