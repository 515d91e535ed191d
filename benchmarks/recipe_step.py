#!/usr/bin/env python
"""One training step of the one command's recipes as ``tools/finetune_domain.py`` writes them, side by side in one
process, interleaved round by round (the machine's load falls on them alike): seconds per ``optimize`` call, its
ratio to the first configuration, and with ``--profile`` the ops that take the time.

Configurations (``--configs``), each built by the pipeline's own functions (``pipeline/train/recipes.py``
``build_options``, ``pipeline/stages/finetune.py`` ``fitted_overrides``, ``recipes.consistency_options``):

* ``plain``: the compact CPU recipe with a fitted degradation (``--lq-videos``, the default input), as it was before
  the perceptual recipe: the template's terms, ``FITTED_RECIPE``'s (full-band L1, the teacher's band and energy,
  FFT amplitude) and the consistency loss on real LQ crops; the teacher x4plus runs each step.
* ``perceptual``: the same plus ``PERCEPTUAL``'s three parts (the projected discriminator with GAN 1.0, the
  perceptual loss and LPIPS on VGG16): the one command's default when their weights are cached.
* ``perceptual_s1``, ``perceptual_s2``, ``perceptual_s4``: ``perceptual`` with its two VGG16 terms on the first 1,
  2 or 4 images of each batch (their entries' ``samples``; 4 is the whole batch).
* ``lowband``: ``--base realesrgan-x4plus`` (x4plus frozen plus a low-band corrector, ``train.trunk_reuse`` 4
  corrector steps per trunk pass) on the synthetic batch alone: the video case.
* ``lowband_pairs``: the same with real photo pairs (``--hr``/``--lq``) as a second batch (2 LQ crops of 32 px, weight
  0.5, as ``pipeline/inputs/photos.py`` writes it).
* ``lowband_pairs_old``: ``lowband_pairs`` with its pair batches through the generator's own forward, the trunk
  in the dynamic graph once per corrector step (the trainer before issue 79's fix; ``old_pair_path``).
* ``lowband_pairs_reuse``: ``lowband_pairs`` with one pair batch an iteration for all its corrector steps (not the
  trainer's way: ``reused_pair_path``).

Each step gets new tensors of the same crops (GT 96 px for the compact recipes, 160 px for x4plus, batch 4), as in
training: the teacher, the trunk and the losses' feature memo compute again. The CPU settings are train.py's.

    nice -n 10 python benchmarks/recipe_step.py --configs plain perceptual --rounds 4
    nice -n 10 python benchmarks/recipe_step.py --configs lowband lowband_pairs lowband_pairs_old --rounds 3

The first (warm-up) round prints each model's first step's loss values: configurations built alike (``lowband_pairs``
and ``lowband_pairs_old``) start from the same weights and draw the same crops; ``--rounds 0`` prints only those.
"""
import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)
from realesrgan_paddle.utils import runtime_env

ROOT = Path(__file__).resolve().parents[1]
FRAGMENT = {'l1_gt_usm': False, 'percep_gt_usm': False, 'degradation': {'blur_sigma': [1.0, 1.6]}}
PAIRS = {'crop': 32, 'batch_size': 2, 'weight': 0.5}


def make_data(hr, work):
    """``work/{train_hr, lq, pairs/{lq,gt}}`` from the photos of ``hr`` (each cut to a multiple of 4 and shrunk 4x by
    area), and the fitted fragment ``work/fitted.yml``; returns ``work``."""
    import cv2
    import yaml
    from realesrgan_paddle.media.image_io import imread, imwrite
    for sub in ('train_hr', 'val_hr', 'val_lq', 'lq', 'pairs/lq', 'pairs/gt'):
        (work / sub).mkdir(parents=True, exist_ok=True)
    colour = [f for f in sorted(Path(hr).iterdir()) if imread(f).ndim == 3]
    for f in colour[:6]:
        img = imread(f)[..., :3]
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        img = img[:h, :w]
        small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        for path, im in ((work / 'train_hr', img), (work / 'pairs' / 'gt', img), (work / 'lq', small),
                         (work / 'pairs' / 'lq', small)):
            imwrite(path / f'{f.stem}.png', im)
    (work / 'fitted.yml').write_text(yaml.safe_dump(FRAGMENT))
    return work


def recipe(work, base, parts=(), pairs=False, extra=()):
    """The options the finetune stage writes for ``base`` with a fitted degradation, the perceptual recipe's
    ``parts`` (names of ``PERCEPTUAL_WEIGHTS``) and, with ``pairs``, the real photo pairs' batch."""
    from realesrgan_paddle.pipeline.stages.finetune import fitted_overrides
    from realesrgan_paddle.pipeline.train import recipes as R
    path, arch, kind, label = R.resolve_base(base)
    assets = R.official_assets()
    assets = {**assets, **{k: None for k in R.PERCEPTUAL_WEIGHTS if k not in parts}}
    template, _ = R.pick_template(kind, 'cpu', assets)
    paths = {'train_hr': str(work / 'train_hr'), 'val_hr': str(work / 'val_hr'), 'val_lq': str(work / 'val_lq'),
             'experiments_root': str(work / 'experiments')}
    over = fitted_overrides(work / 'fitted.yml', template, arch)
    over += R.consistency_options(template, FRAGMENT['degradation'], work / 'lq')
    if pairs:
        data = {'dataroot_lq': str(work / 'pairs' / 'lq'), 'dataroot_gt': str(work / 'pairs' / 'gt'), **PAIRS}
        over.append(f'datasets.real_pairs={json.dumps(data)}')
    opt, _, _ = R.build_options(template, path, arch, label, kind, 'cpu', paths, None, assets, over + list(extra))
    missing = [p for p in parts if not assets.get(p)]
    if missing:
        raise SystemExit(f'{", ".join(missing)} not cached: {R.FETCH_LINE}')
    return opt


CONFIGS = {'plain': ('realesr-animevideov3', (), False),
           'perceptual': ('realesr-animevideov3', ('efficientnet-lite0', 'vgg16', 'lpips'), False),
           'lowband': ('realesrgan-x4plus', (), False), 'lowband_pairs': ('realesrgan-x4plus', (), True),
           'lowband_pairs_old': ('realesrgan-x4plus', (), True),
           'lowband_pairs_reuse': ('realesrgan-x4plus', (), True)}
CONFIGS.update({f'perceptual_s{k}': CONFIGS['perceptual'] for k in (1, 2, 4)})


def samples_overrides(name):
    """``perceptual_s<k>``: the VGG16 terms (perceptual loss and LPIPS) on the first k images of each batch."""
    if not name.startswith('perceptual_s'):
        return ()
    k = int(name.removeprefix('perceptual_s'))
    return tuple(f'train.losses.{n}.samples={k}' for n in ('l_g_percep', 'l_g_lpips'))


def old_pair_path(model):
    """The trainer before issue 79's fix, on ``model``: each corrector step draws its pair batch and runs the
    generator's own forward on it (the frozen trunk in the dynamic graph, under ``no_grad``)."""
    model.pair_batches = lambda n: [None] * n
    values = model.pair_terms.values

    def old_terms(lq, gt, gt_usm, pair=None):
        from realesrgan_paddle.training.step_terms import StepRefs, evaluate
        terms = evaluate(model.terms, StepRefs(model, lq, gt, gt_usm, model.output))
        plq, pgt = model.real_pairs.batch()
        terms.update(values(model, (plq, pgt, None)))
        return terms
    model._terms = old_terms
    return model


def build(name, work, log):
    """The trainer of configuration ``name``, its options read back as train.py reads them."""
    import paddle
    from realesrgan_paddle.pipeline.train.recipes import dump
    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    base, parts, pairs = CONFIGS[name]
    f = work / f'{name}.yml'
    f.write_text(dump(recipe(work, base, parts, pairs, samples_overrides(name))))
    paddle.seed(0)
    model = build_model(load_options(f), log)
    if name.endswith('_old'):
        return old_pair_path(model)
    return reused_pair_path(model) if name.endswith('_reuse') else model


def reused_pair_path(model):
    """A variant not in the trainer, for the decision: one pair batch an iteration, its trunk output reused by the
    ``train.trunk_reuse`` corrector steps as the synthetic batch's is (the corrector sees a quarter of the crops)."""
    draw = model.pair_batches
    model.pair_batches = lambda n: draw(1) * n
    return model


def crops(hr, size, batch=4):
    """``(lq, gt)``: the top-left ``size`` px of the first ``batch`` photos of ``hr`` and their 4x area averages."""
    import numpy as np
    import paddle
    from realesrgan_paddle.media.image_io import imread
    gt = [imread(f)[:size, :size, :3][..., ::-1].transpose(2, 0, 1) for f in sorted(Path(hr).iterdir())[:batch]]
    gt = paddle.to_tensor(np.ascontiguousarray(np.stack(gt)).astype('float32') / 255)
    return paddle.nn.functional.avg_pool2d(gt, 4), gt


def profile(fn):
    """The ops of one call of ``fn`` by CPU time (Paddle's profiler summary)."""
    import paddle.profiler as profiler
    prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU])
    prof.start()
    fn()
    prof.step()
    prof.stop()
    prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit='ms',
                 views=profiler.SummaryView.OperatorView)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--configs', nargs='+', default=['plain', 'perceptual'], choices=list(CONFIGS))
    p.add_argument('--hr', default=str(ROOT.parent / 'shared' / 'data' / 'hr'))
    p.add_argument('--work', default='/tmp/recipe_step')
    p.add_argument('--rounds', type=int, default=4)
    p.add_argument('--profile', action='store_true', help='print the ops of one step of each configuration')
    args = p.parse_args(argv)
    runtime_env.setup(reexec=True, single_arena=True)  # train.py's CPU settings (before paddle loads)
    import os
    work = make_data(args.hr, Path(args.work))
    log = logging.getLogger('bench.recipe_step')
    log.addHandler(logging.NullHandler())
    log.propagate = False
    models = {k: build(k, work, log) for k in args.configs}
    data = {k: crops(work / 'train_hr', m.opt['gt_size']) for k, m in models.items()}
    runs = {k: (lambda m=m, d=data[k]: m.optimize(d[0].clone(), d[1].clone(), d[1].clone(), 1))
            for k, m in models.items()}
    if args.profile:
        for k, fn in runs.items():
            fn()
            print(f'\n## {k}')
            profile(fn)
        return 0
    times = {k: [] for k in runs}
    for r in range(args.rounds + 1):
        for k, fn in runs.items():
            t = time.perf_counter()
            losses = fn()
            if r:  # the first round warms up; its loss values (the models' first step) are printed
                times[k].append(time.perf_counter() - t)
            else:
                print(k, json.dumps({n: round(v, 7) for n, v in losses.items()}), flush=True)
        print(f'round {r}/{args.rounds}, load {os.getloadavg()[0]:.1f}', flush=True)
    if not args.rounds:  # the first step's loss values only
        return 0
    first = statistics.median(times[args.configs[0]])
    print('| configuration | s/step (median) | it/s | x the first | per round |')
    print('|---|---|---|---|---|')
    for k, v in times.items():
        m = statistics.median(v)
        print(f'| {k} | {m:.2f} | {1 / m:.3f} | {m / first:.2f} | {", ".join(f"{t:.2f}" for t in v)} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
