"""The x4plus recipe's evaluate stage: each model on its own predictor against one shared trunk, side by side.

    python benchmarks/eval_shared_trunk.py [--model realesrgan-x4plus] [--models 5] [--frames 4] [--size 192x144]

The offline x4plus recipe's checkpoints, the knob's blends and the base all hold the base's RRDBNet; only a
LowBandRRDBNet's small corrector differs. This builds ``--models`` LowBandRRDBNet files on the real base
(seeded random correctors at strengths from 0.25 to 1) and runs the base and each of them on ``--frames`` crops
of a scikit-image photo, two ways, in one process: first *shared*, ``evaluation.model_cache.Models`` as the
stage runs them now (one trunk pass a frame, or a tile, each model's corrector in the dynamic graph), then
*apart*, each model exported and run on its own predictor (the stage before ``evaluation.shared_trunk``),
each predictor freed after its frames so that each plans its tiles at the same memory. Each side's
time counts the exports and predictor creation. Prints both times, their ratio, and for each model the largest
output difference (uint8 levels) between the two ways with the tile each chose.
"""
import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.utils.runtime_env import setup  # noqa: E402

setup(reexec=True)

import numpy as np  # noqa: E402
from eval_backend import crops  # noqa: E402  (benchmarks/: the same scikit-image crops)


def lowband_files(base, n, folder):
    """``n`` LowBandRRDBNet files on ``base``'s trunk, each with a seeded random corrector."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    state, arch = models.read_checkpoint(base)
    low = {**arch, 'type': 'LowBandRRDBNet'}
    net = models.build_network(low)
    models.load_state_into(net, state, strict=False)
    out = []
    for k in range(n):
        paddle.seed(k)
        for conv in net.corrector.convs:
            conv.weight.set_value(paddle.randn(conv.weight.shape) * 0.02)
            conv.bias.set_value(paddle.zeros(conv.bias.shape))
        net.strength.set_value(paddle.full([1], 0.25 + 0.75 * k / max(1, n - 1)))
        sd = {key: v.numpy() for key, v in net.state_dict().items()}
        out.append(save_checkpoint(folder / f'low_{k}.pdparams', sd, sd, low))
    return out


def apart(files, frames, folder):
    from realesrgan_paddle.inference import Upscaler
    outs = {}
    for name, path in files.items():
        cache = None if name == 'base' else folder  # the base in the user's export cache, as the stage has it
        up = Upscaler(model=str(path), backend='predictor', precision='fp32', cache_root=cache, progress=False)
        outs[name] = ([up.upscale(f) for f in frames], up.last_tile)
        del up  # each predictor made at the same memory, so that each plans the same tiles
        gc.collect()
    return outs


def shared(files, frames, folder):
    from realesrgan_paddle.evaluation import model_cache as MT
    nets = MT.Models('x4plus', folder, 'cpu', 1 << 30)
    ups = nets.get(files, own=list(files))
    outs = {name: ([up.upscale(f) for f in frames], up.last_tile) for name, up in ups.items()}
    runs = ups['base'].backend.runs
    nets.cleanup()
    return outs, runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default='realesrgan-x4plus', help='an RRDBNet zoo name or weights file')
    ap.add_argument('--models', type=int, default=5, help='LowBandRRDBNet models besides the base')
    ap.add_argument('--frames', type=int, default=4)
    ap.add_argument('--size', default='192x144', help='LQ size, WxH')
    args = ap.parse_args(argv)
    from realesrgan_paddle.models.zoo import resolve
    base = resolve(args.model, progress=False)
    w, h = (int(v) for v in args.size.lower().split('x'))
    frames = crops(w, h, args.frames)
    tmp = Path(tempfile.mkdtemp(prefix='shared_trunk_'))
    try:
        files = {'base': str(base), **{f'low_{k}': str(p) for k, p in
                                       enumerate(lowband_files(base, args.models, tmp))}}
        t = time.perf_counter()
        got, runs = shared(files, frames, tmp / 'shared')
        t_shared = time.perf_counter() - t
        t = time.perf_counter()
        ref = apart(files, frames, tmp / 'apart')
        t_apart = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    diff = {n: max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(ref[n][0], got[n][0]))
            for n in ref}
    print(f'{args.model} and {args.models} LowBandRRDBNet models on its trunk, {args.frames} frames of {w}x{h}')
    print('| way | seconds (exports included) | trunk passes |')
    print('|---|---|---|')
    print(f'| apart (a predictor each) | {t_apart:.1f} | {len(files) * args.frames} |')
    print(f'| shared (evaluation.shared_trunk) | {t_shared:.1f} | {runs} |')
    print(f'apart / shared: {t_apart / t_shared:.2f}x')
    print('largest output difference between the ways (uint8 levels), with the tile each way chose (0: none; a '
          "tile's seams move the output, and each predictor apart plans its tiles at its own moment's memory):")
    print(', '.join(f'{n} {d} (tiles {ref[n][1]} / {got[n][1]})' for n, d in diff.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
