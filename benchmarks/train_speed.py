#!/usr/bin/env python
"""Training speed on this machine: iterations per second of the RealESRGAN recipe for a tiny,
a compact (realesr-animevideov3, with the official-size and with the demo's small discriminator) and
the full x4plus configuration, and the share of each
iteration spent loading data, degrading it (USM + second-order pipeline + crop + pool) and in
the G/D optimisation steps.

Configurations are measured interleaved (round-robin, a few iterations each per round) in one
process, so machine load affects them alike; medians per iteration are reported.

    python benchmarks/train_speed.py [--rounds 4] [--iters 3] [--configs tiny compact full]

``--parts`` times the parts of one step instead (benchmarks/_train_parts.py), Paddle against PyTorch eager on
the same networks, weights and tensors, interleaved: the generator step (G), what a discriminator adds (D, for
each ``--d``), the frozen teacher of self-anchoring (Paddle Inference or dynamic graph) and the degradation:

    python benchmarks/train_speed.py --parts --g realesrgan-x4plus --gt-size 96 --batch 2 --d unet64 patch_lq32 patch_wavelet32
"""
import argparse
import logging
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

CONFIGS = {
    # name: (overrides on tiny_smoke.yml, description)
    'tiny': ([], 'SRVGG 8f/2c + UNetD 8f, GT 64, batch 2 (tiny_smoke.yml)'),
    'compact': (['network_g.num_feat=64', 'network_g.num_conv=16', 'network_d.num_feat=64',
                 'datasets.train.batch_size_per_gpu=4', 'gt_size=128', 'datasets.train.crop_pad_size=128'],
                'realesr-animevideov3 (SRVGG 64f/16c) + UNetD 64f, GT 128, batch 4'),
    'demo': (['network_g.num_feat=64', 'network_g.num_conv=16', 'network_d.num_feat=16',
              'datasets.train.batch_size_per_gpu=4', 'gt_size=96', 'datasets.train.crop_pad_size=128'],
             'the CPU finetune demo: SRVGG 64f/16c + UNetD 16f, GT 96, batch 4'),
    'full': (['network_g={type: RRDBNet, num_feat: 64, num_block: 23, num_grow_ch: 32, scale: 4}',
              'network_d.num_feat=64', 'datasets.train.batch_size_per_gpu=2', 'gt_size=128',
              'datasets.train.crop_pad_size=128'],
             'x4plus (RRDBNet 23 blocks) + UNetD 64f, GT 128, batch 2 (official: GT 256, batch 12 per GPU)'),
}


def build(name, hr_dir):
    from realesrgan_paddle.training.data_setup import build_feeder, build_train_loader
    from realesrgan_paddle.training.steps import build_model
    from realesrgan_paddle.training.option_file import load_options
    overrides, _ = CONFIGS[name]
    opt = load_options(ROOT / 'options' / 'tiny_smoke.yml',
                       [f'datasets.train.dataroot_gt={hr_dir}', 'datasets.train.dataset_enlarge_ratio=100',
                        'train.perceptual_opt=~', *overrides])
    log = logging.getLogger(f'bench.{name}')
    log.addHandler(logging.NullHandler())
    log.propagate = False
    model = build_model(opt, log)
    loader, _, _ = build_train_loader(opt, 0, 1, log)
    feeder = build_feeder(opt, log)
    return {'model': model, 'feeder': feeder, 'it': iter(loader), 'loader': loader, 'n': 0,
            't_load': [], 't_deg': [], 't_step': [], 't_iter': []}


D_ARCHS = {f'unet{f}': {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': f, 'skip_connection': True}
           for f in (16, 32, 64)}
D_ARCHS.update({f'patch_{v}32': {'type': 'PatchDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 32, 'num_layers': n,
                                 'view': v} for v, n in (('lq', 3), ('wavelet', 2), ('rgb', 3))})


def feeder_step(hr_dir, gt_size, batch):
    """One call = one batch through the training pair maker (USM + second-order degradation + crop + pool)."""
    from realesrgan_paddle.training.data_setup import build_feeder, build_train_loader
    from realesrgan_paddle.training.option_file import load_options
    opt = load_options(ROOT / 'options' / 'finetune_domain_x4plus_cpu.yml',
                       [f'datasets.train.dataroot_gt={hr_dir}', 'datasets.train.dataset_enlarge_ratio=100',
                        f'gt_size={gt_size}', f'datasets.train.batch_size_per_gpu={batch}', 'val=null', 'datasets.val=null',
                        'path.pretrain_network_g=null', 'path.pretrain_network_d=null'])
    log = logging.getLogger('bench.feeder')
    log.addHandler(logging.NullHandler())
    log.propagate = False
    loader, _, _ = build_train_loader(opt, 0, 1, log)
    feeder = build_feeder(opt, log)
    state = {'it': iter(loader), 'n': 0}

    def run():
        try:
            batch_ = next(state['it'])
        except StopIteration:
            state['it'] = iter(loader)
            batch_ = next(state['it'])
        state['n'] += 1
        feeder(batch_, state['n'])
    return run


def run_parts(args, hr):
    """Interleaved medians of every (part, framework) closure; prints one table."""
    import tempfile

    import torch

    from realesrgan_paddle.models.zoo import resolve
    from _train_parts import build_parts
    torch.set_num_threads(int(args.threads or os.environ.get('OMP_NUM_THREADS') or os.cpu_count()))
    weights = resolve(args.g)
    cache = Path(tempfile.mkdtemp(prefix='train_parts_'))
    parts = {}
    for i, d in enumerate(args.d or [None]):
        built = build_parts(weights, D_ARCHS.get(d), args.batch, args.gt_size, cache,
                            feeder_step(hr, args.gt_size, args.batch) if i == 0 else None)
        for (part, fw), fn in built.items():
            if part == 'D':
                part = f'D {d}'
            parts.setdefault((part, fw), fn)
    times = {k: [] for k in parts}
    for k, fn in parts.items():
        for _ in range(args.warmup):
            fn()
    for r in range(args.rounds):
        for k, fn in parts.items():
            for _ in range(args.iters):
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
        print(f'round {r + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}', flush=True)
    print(f'\n{args.g}, GT {args.gt_size}, batch {args.batch}; seconds per call (median)\n')
    print('| part | paddle | torch eager | paddle / torch |')
    print('|---|---|---|---|')
    med = statistics.median
    for part in dict.fromkeys(p for p, _ in parts):
        pd, tc = times.get((part, 'paddle')), times.get((part, 'torch'))
        ratio = f'{med(pd) / med(tc):.2f}' if pd and tc else ''
        print(f'| {part} | {med(pd):.3f} |' if pd else f'| {part} | |', f'{med(tc):.3f} |' if tc else ' |', ratio, '|')


def step(run, seed):
    t0 = time.perf_counter()
    try:
        batch = next(run['it'])
    except StopIteration:
        run['it'] = iter(run['loader'])
        batch = next(run['it'])
    t1 = time.perf_counter()
    lq, gt, gt_usm = run['feeder'](batch, seed)
    t2 = time.perf_counter()
    run['n'] += 1
    run['model'].optimize(lq, gt, gt_usm, run['n'])
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--iters', type=int, default=3, help='iterations per config per round')
    ap.add_argument('--warmup', type=int, default=2, help='untimed iterations per config first')
    ap.add_argument('--hr', default=None, help='HR folder (default ../shared/data/hr, else tests/data/images)')
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--parts', action='store_true', help='time the parts of one step, Paddle against torch eager')
    ap.add_argument('--g', default='realesrgan-x4plus', help='--parts: generator (zoo name or weights file)')
    ap.add_argument('--d', nargs='*', default=['unet64'], choices=list(D_ARCHS), help='--parts: discriminators')
    ap.add_argument('--gt-size', type=int, default=96, help='--parts: GT crop size')
    ap.add_argument('--batch', type=int, default=2, help='--parts: batch size')
    args = ap.parse_args()
    from realesrgan_paddle.utils.runtime_env import setup
    setup(args.threads, reexec=True, single_arena=True)
    import paddle
    paddle.set_device('cpu')
    hr = args.hr or (str(ROOT.parent / 'shared' / 'data' / 'hr') if (ROOT.parent / 'shared' / 'data' / 'hr').is_dir()
                     else str(ROOT / 'tests' / 'data' / 'images' / 'train_hr'))
    print(f'HR images: {hr}; paddle {paddle.__version__}, device cpu; load {os.getloadavg()[0]:.2f}')
    if args.parts:
        return run_parts(args, hr)
    runs = {}
    for name in args.configs:
        paddle.seed(0)
        runs[name] = build(name, hr)
        for w in range(args.warmup):
            step(runs[name], 1000 + w)
    for r in range(args.rounds):
        for name, run in runs.items():
            for i in range(args.iters):
                tl, td, ts = step(run, r * 100 + i)
                run['t_load'].append(tl)
                run['t_deg'].append(td)
                run['t_step'].append(ts)
                run['t_iter'].append(tl + td + ts)
        print(f'round {r + 1}/{args.rounds} done', flush=True)
    print()
    print('| config | it/s | s/iter | data loading | degradation | G/D steps | what |')
    print('|---|---|---|---|---|---|---|')
    med = statistics.median
    for name, run in runs.items():
        it = med(run['t_iter'])
        tot = sum(run['t_iter'])
        share = [100 * sum(run[k]) / tot for k in ('t_load', 't_deg', 't_step')]
        print(f'| {name} | {1 / it:.3f} | {it:.3f} | {share[0]:.0f}% | {share[1]:.0f}% | {share[2]:.0f}% | '
              f'{CONFIGS[name][1]} |')
    names = list(runs)
    if len(names) > 1:
        base = med(runs[names[0]]['t_iter'])
        print('\nratios (s/iter vs ' + names[0] + '): ' +
              ', '.join(f'{n} {med(runs[n]["t_iter"]) / base:.1f}x' for n in names[1:]))


if __name__ == '__main__':
    main()
