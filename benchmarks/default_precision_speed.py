"""Per-image speed of the default precision against --fp32, side by side, interleaved, in one process.

    python benchmarks/default_precision_speed.py                           # x4plus, assets/example_lq.png
    python benchmarks/default_precision_speed.py --model realesr-animevideov3 --rounds 8 --input IMG

Both ``Upscaler``s (the default one, as ``tools/infer.py`` builds it, and ``precision='fp32'``, as
``--fp32`` does) are created first and run once each (start-up and the first run at this size are
excluded); then the rounds alternate A, B, A, B (the order flips every round), timing
``Upscaler.upscale`` on the image: what ``tools/infer.py`` does per input. Printed: the precision the
default chose, the median and every time of both, the speed-up, the 1-minute load average before and
after, and the difference between the two outputs (PSNR on 0-255 RGB, 99.9th percentile and max in
grey levels).
"""
import argparse
import os
import statistics
import time
from pathlib import Path

import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='RealESRGAN_x4plus')
    p.add_argument('--input', default=str(Path(__file__).resolve().parents[1] / 'assets' / 'example_lq.png'))
    p.add_argument('--rounds', type=int, default=6)
    args = p.parse_args(argv)
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup()
    import numpy as np
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.media.image_io import imread
    img = imread(args.input)
    ups = {'default': Upscaler(args.model, progress=False), '--fp32': Upscaler(args.model, precision='fp32',
                                                                               progress=False)}
    out = {k: u.upscale(img) for k, u in ups.items()}  # first run at this size: excluded
    times = {k: [] for k in ups}
    load0 = os.getloadavg()[0]
    for r in range(args.rounds):
        for k in (list(ups) if r % 2 == 0 else list(ups)[::-1]):
            t = time.perf_counter()
            ups[k].upscale(img)
            times[k].append(time.perf_counter() - t)
    load1 = os.getloadavg()[0]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f'{args.model} on {Path(args.input).name} {img.shape[1]}x{img.shape[0]}, {args.rounds} interleaved rounds, '
          f'load {load0:.2f} -> {load1:.2f}')
    for k, u in ups.items():
        print(f'  {k:<8} {u.backend.precision:<5} median {med[k]:.3f} s  ({" ".join(f"{t:.2f}" for t in times[k])})')
    print(f'  default is {med["--fp32"] / med["default"]:.2f}x faster than --fp32')
    a, b = (out[k].astype(np.float64) for k in ('--fp32', 'default'))
    d = np.abs(a - b)
    mse = float(np.mean(d ** 2))
    psnr = float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
    print(f'  default vs --fp32 output: {psnr:.2f} dB, p99.9 {np.percentile(d, 99.9):.0f}, max {d.max():.0f} levels')


if __name__ == '__main__':
    main()
