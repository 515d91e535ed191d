"""Distil x4plus into a compact (SRVGGNetCompact) model, as a start for a compact finetune.

    python tools/distill_base.py --input photos/ --work runs/distil --output weights/compact_distilled.pdparams
    python tools/finetune_domain.py --videos footage/ --base weights/compact_distilled.pdparams --work runs/x

Stages (each resumes where an interrupted run stopped; ``--work`` keeps them):
1. ``lq_<seed>/``: a generic-degraded LQ copy of the HR images per ``--seeds`` (``make_lq_data.py``);
2. ``teacher_<seed>/``: the teacher's (default realesrgan-x4plus) output on each LQ image;
3. ``states/``: the student (``--init``, default realesr-animevideov3, refitted for the bilinear skip) trained on
   random crops of those pairs towards the teacher's output: L1, the strength of its finest band, and a term
   against a mesh on the 4 px grid (``training/distill.py``). No GT is used: any photos do.
The weights are written to ``--output`` (never over an input) and can be the ``--base`` of
``tools/finetune_domain.py``. Measured in docs/experiments/gan_cpu.md ("A compact base distilled from x4plus"): on unseen
street frames it gains PSNR and detail over the official compact model, but much of the detail is a faint fine
hatching, not texture; it is not the pipeline's default.

Exit status: 0 ok, 2 refused or bad input.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.checkpoint_io.state_file import (  # noqa: E402
    CheckpointFormatError, UnsafeCheckpointError, save_checkpoint)
from realesrgan_paddle.data import make_lq as make_lq_data  # noqa: E402
from realesrgan_paddle.media.image_io import ImageReadError  # noqa: E402
from realesrgan_paddle.training.checkpoints import to_numpy_state  # noqa: E402
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, add_input, add_output, add_quiet, fail, returns_status)
from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.outputs import OutputClash, check_writable  # noqa: E402


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    add_input(p, required=True, help='folder of HR photos or frames (searched recursively)')
    p.add_argument('--work', required=True, help='folder for the LQ copies, teacher outputs and training states')
    add_output(p, 'the .pdparams file to write (never an input)', required=True)
    p.add_argument('--teacher', default='realesrgan-x4plus', help='the model to distil (default realesrgan-x4plus)')
    p.add_argument('--init', default='realesr-animevideov3',
                   help='the compact model the student starts from (default realesr-animevideov3)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='one degraded copy per seed (default 0 1)')
    p.add_argument('--iters', type=int, default=500, help='training iterations (default 500)')
    p.add_argument('--batch', type=int, default=8, help='crops per iteration (default 8)')
    p.add_argument('--crop', type=int, default=32, help='LQ crop size in pixels (default 32)')
    p.add_argument('--lr', type=float, default=2e-4, help='Adam learning rate, cosine to 5 %% (default 2e-4)')
    p.add_argument('--energy', type=float, default=15.0, help='weight of the band-strength term (default 15)')
    p.add_argument('--grid', type=float, default=20.0,
                   help='weight of the term against an error repeating every 4 px, a mesh (default 20)')
    p.add_argument('--every', type=int, default=250, help='iterations between training states (default 250)')
    add_quiet(p)
    return p.parse_args(argv)


def _check_args(args):
    out, inp = Path(args.output), Path(args.input)
    if not inp.is_dir():
        fail(None, f'{inp}: --input folder not found')
    if out.suffix != '.pdparams':
        fail(None, f'{out}: --output must be a .pdparams file')
    if out.exists():
        fail(None, f'{out}: already exists; give another --output (nothing is overwritten)')
    for name in ('iters', 'batch', 'crop', 'every'):
        if getattr(args, name) < 1:
            fail(None, f'--{name} must be >= 1, got {getattr(args, name)}')
    if args.lr <= 0 or args.energy < 0 or args.grid < 0:
        fail(None, f'--lr must be > 0, --energy and --grid >= 0, got {args.lr}, {args.energy}, {args.grid}')
    for flag, folder in (('--work', args.work), ('--output', out.parent)):  # before an hour of training
        try:
            check_writable(folder)
        except OutputClash as exc:
            fail(None, f'{flag} {exc}')


def _degrade(args, work, log):
    for seed in args.seeds:
        argv = ['-i', str(args.input), '-o', str(work / f'lq_{seed}'), '--seed', str(seed)]
        status = make_lq_data.main(argv)
        if status == 1:  # some images failed (one line each above): the others are used
            log(f'seed {seed}: some images of {args.input} could not be degraded (see above); going on without them')
        elif status not in (0, None):
            fail(None, f'{args.input}: the degraded copy for seed {seed} failed (see above)', 1)


def _pairs(args, work, teacher, log):
    from realesrgan_paddle.training.distill import PairSet, teacher_outputs
    for seed in args.seeds:
        n = teacher_outputs(work / f'lq_{seed}', work / f'teacher_{seed}', teacher, progress=not args.quiet)
        log(f'teacher outputs for seed {seed}: {n} written')
    pairs = PairSet([(work / f'lq_{s}', work / f'teacher_{s}') for s in args.seeds], crop=args.crop)
    log(f'{len(pairs.pairs)} pairs of at least {args.crop} px')
    return pairs


def _run(args):
    from realesrgan_paddle.models.zoo import resolve
    from realesrgan_paddle.training.distill import build_student
    from realesrgan_paddle.training.teacher import FrozenTeacher
    net, arch = build_student(resolve(args.init))  # both models first: a bad one stops before any stage
    teacher = FrozenTeacher(args.teacher, 'predictor', role='to distil')
    work = Path(args.work)  # made by _check_args (check_writable)
    with open(work / 'distill.log', 'a', encoding='utf-8') as log_file:
        def log(line):
            print(line, flush=True)
            log_file.write(line + '\n')
            log_file.flush()
        _degrade(args, work, log)
        _distil(args, work, net, arch, _pairs(args, work, teacher, log), log)


def _distil(args, work, net, arch, pairs, log):
    from realesrgan_paddle.training.distill import train
    loss = train(net, pairs, work / 'states', args.iters, args.batch, args.lr, args.energy, args.every,
                 log=log, progress=not args.quiet, grid_weight=args.grid)
    meta = {'source': f'{args.teacher} distilled into {args.init} (tools/distill_base.py)',
            'distil': {'iters': args.iters, 'batch': args.batch, 'crop': args.crop, 'lr': args.lr,
                       'energy': args.energy, 'grid': args.grid, 'seeds': list(args.seeds),
                       'pairs': len(pairs.pairs), 'final_loss': None if loss is None else round(loss, 5)}}
    save_checkpoint(args.output, params=to_numpy_state(net), arch=arch, meta=meta)
    done = 'already trained' if loss is None else f'final loss {loss:.4f}'
    log(f'wrote {args.output}: {args.iters} iterations, {done}')


@returns_status
def main(argv=None):
    args = parse_args(argv)
    _check_args(args)
    runtime_env.setup()
    try:
        _run(args)
    except (UnsafeCheckpointError, CheckpointFormatError, ImageReadError, ValueError, OSError) as e:
        fail(None, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    return 0


if __name__ == '__main__':
    sys.exit(main())
