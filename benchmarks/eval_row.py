#!/usr/bin/env python
"""One row of the evaluator (``evaluation.evaluator.image_metrics``: an output scored against its GT), the two parts
issue 79's profile of the evaluate stage found converting or recomputing the same thing, side by side in one
process, interleaved round by round, with the numbers compared:

* the seven classic metrics (PSNR, SSIM, NIQE, detail, texture, artefact, blocks) each on the BGR images, as before
  (each converts both to Y itself), against ``image_metrics`` on Y planes made once (the GT's once an image);
* DISTS's distance from the output's and the GT's features (each call recomputes the GT's means, centred features
  and variances), against the distance to the GT's kept statistics (``reference``, ``distance_to``), as
  ``evaluation.iqa.Metric`` now scores the many outputs of one GT. Its VGG16 pass is the same in both and not timed.

    python benchmarks/eval_row.py                  # skimage's photos at 512 x 512, four outputs per GT
    python benchmarks/eval_row.py --size 640 480 --rounds 5

DISTS runs with its real weights when they are in the cache, else with random ones (the same arithmetic).
"""
import argparse
import statistics
import time

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)
from realesrgan_paddle.utils import runtime_env

OUTPUTS = 4  # outputs per GT, as the evaluate stage's final comparison scores bicubic, base, finetuned, x4plus


def photos(width, height):
    """skimage's colour photos resized to ``width`` x ``height`` (BGR uint8) with ``OUTPUTS`` blurred and sharpened
    versions each: [(gt, [outputs])]."""
    import cv2
    from skimage import data as skdata
    out = []
    for n in ('astronaut', 'chelsea', 'coffee', 'rocket'):
        gt = cv2.resize(getattr(skdata, n)()[..., ::-1], (width, height), interpolation=cv2.INTER_AREA)
        soft = [cv2.GaussianBlur(gt, (0, 0), s) for s in (0.8, 1.6)]
        out.append((gt, soft + [cv2.addWeighted(gt, 1.5, s, -0.5, 0) for s in soft][:OUTPUTS - 2]))
    return out


def classic_before(sets):
    from realesrgan_paddle.evaluation import metrics as M
    from realesrgan_paddle.evaluation.evaluator import TEXTURE_DETAIL, blocks_or_nan, niqe_or_nan
    return [{'psnr': M.psnr(sr, gt, 4, test_y=True), 'ssim': M.ssim(sr, gt, 4, test_y=True),
             'niqe': niqe_or_nan(sr, 4), 'detail': M.detail_ratio(sr, gt, 4), 'texture': M.texture_ratio(sr, gt, 4, 4),
             'artefact': M.artefact(sr, gt, 4), 'blocks': blocks_or_nan(sr, 4, 4),
             'psnr_at_detail': M.invented_texture_psnr(sr, gt, TEXTURE_DETAIL, 4)} for gt, outs in sets for sr in outs]


def classic_now(sets):
    from realesrgan_paddle.evaluation.evaluator import image_metrics, y_plane
    rows = []
    for gt, outs in sets:
        gy = y_plane(gt)
        rows += [image_metrics(sr, gt, 4, None, 4, gy) for sr in outs]
    return rows


def dists_net():
    """DISTS with its weights when cached, else random ones; and its static feature pass."""
    import paddle
    from realesrgan_paddle.models.feature_nets import iqa_nets
    from realesrgan_paddle.models.feature_nets.static_onednn import StaticForward
    try:
        net, how = iqa_nets.load_dists(), 'its weights'
    except iqa_nets.PerceptionWeightsMissing:
        paddle.seed(0)
        net, how = iqa_nets.DISTS(), 'random weights (not cached)'
    net.eval()
    return net, StaticForward(net.feats, net, 'DISTS features'), how


def dists_feats(sets, feats):
    import paddle
    from realesrgan_paddle.media.image_io import image_to_chw
    t = lambda a: feats(paddle.to_tensor(image_to_chw(a)[None]))  # noqa: E731
    return [(t(gt), [t(sr) for sr in outs]) for gt, outs in sets]


def dists_before(net, fsets):
    return [float(net.distance(fx, fg).numpy()[0]) for fg, fouts in fsets for fx in fouts]


def dists_now(net, fsets):
    out = []
    for fg, fouts in fsets:
        kept = net.reference(fg)
        out += [float(net.distance_to(fx, kept).numpy()[0]) for fx in fouts]
    return out


def timed(fn):
    t = time.perf_counter()
    res = fn()
    return time.perf_counter() - t, res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, nargs=2, default=[512, 512], metavar=('W', 'H'))
    p.add_argument('--rounds', type=int, default=3)
    args = p.parse_args(argv)
    runtime_env.setup()
    import paddle
    sets = photos(*args.size)
    net, feats, how = dists_net()
    with paddle.no_grad():
        fsets = dists_feats(sets, feats)
        runs = {'classic, each metric on the images': lambda: classic_before(sets),
                'classic, Y planes made once': lambda: classic_now(sets),
                'DISTS distance, both sides\' statistics': lambda: dists_before(net, fsets),
                'DISTS distance, the GT\'s kept': lambda: dists_now(net, fsets)}
        times, results = {k: [] for k in runs}, {}
        for r in range(args.rounds + 1):  # the first round warms up
            for k, fn in runs.items():
                dt, results[k] = timed(fn)
                if r:
                    times[k].append(dt)
    n = sum(len(o) for _, o in sets)
    print(f'{n} outputs of {args.size[0]}x{args.size[1]} against {len(sets)} GTs; DISTS with {how}; '
          f'{runtime_env.math_threads()} math threads')
    print('| part of a row | s per output (median) | per round | x faster | the same numbers |')
    print('|---|---|---|---|---|')
    keys = list(runs)
    for before, now in (keys[:2], keys[2:]):
        same = results[before] == results[now]
        for k in (before, now):
            m = statistics.median(times[k]) / n
            ratio = statistics.median(times[before]) / statistics.median(times[k])
            print(f'| {k} | {m:.4f} | {", ".join(f"{t / n:.4f}" for t in times[k])} | {ratio:.2f} | {same} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
