"""One command from domain footage to a finetuned, evaluated and exported model.

    python tools/finetune_domain.py --videos DIR --work DIR
        [--base realesr-animevideov3|realesrgan-x4plus|PATH] [--iters N | --budget 30m]
        [--device cpu|gpu] [--compare NAME=MODEL ... | none] [-o key.sub=value ...]

Stages, each resumable (a finished stage is skipped; a changed setting redoes it and the
later ones): keyframes (one frame every --every s, the builder's filters), split by time per
video (the last --holdout of each video held out, more when fewer than 12 frames would be, --gap
seconds between; near-duplicates judged on what moves in each clip are removed within each side and
across), a degraded held-out set (make_lq_data.py, fixed seed), finetune (a recipe from
options/finetune_domain_*.yml), evaluate (bicubic, base, finetuned, --compare models: x4plus by default) and
choose the checkpoint, then sweep DNI blends of the base and that checkpoint and pick the point that beats the
compared models and the base on both axes (docs/finetune_domain.md), export it or the --dni-weight blend
(WORK/export/inference.pdmodel), report with the perception-distortion frontier (WORK/report.md, .html).
"""
import os
import signal
import sys
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.pipeline.context import DomainError, Settings  # noqa: E402
from realesrgan_paddle.pipeline.inputs.lq_flow_pairs import temporal_wanted  # noqa: E402
from realesrgan_paddle.pipeline.inputs.photos import sort_inputs  # noqa: E402
from realesrgan_paddle.pipeline.pipeline import check_compare, check_outputs, check_work, run  # noqa: E402
from realesrgan_paddle.pipeline.inputs.real_lq import check_lq_footage  # noqa: E402
from realesrgan_paddle.pipeline.train.recipes import (RecipeError, check_base_ref, fetch_recipe_weights,  # noqa: E402
                                                 parse_budget, stable_overrides)
from realesrgan_paddle.pipeline.stage_list import NAMES  # noqa: E402
from realesrgan_paddle.pipeline.stages.data import find_input_videos  # noqa: E402
from realesrgan_paddle.utils.cli_parser import returns_status  # noqa: E402  (standard library only)
from realesrgan_paddle.utils.cli_parser import ArgumentParser, add_device, add_quiet, fail  # noqa: E402
from realesrgan_paddle.data.fit.footage_fit import FIT_FRAMES, MAX_FIT_FRAMES  # noqa: E402
from realesrgan_paddle.utils.download import OFFLINE_ENV  # noqa: E402
from realesrgan_paddle.utils.runtime_env import setup  # noqa: E402


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--hr', '--videos', dest='videos', nargs='+', required=True, metavar='PATH',
                   help='the domain\'s high-resolution material: videos, image folders or both (--videos is an alias); '
                        'photos are filtered and deduplicated like keyframes and split at random with --seed')
    p.add_argument('--work', required=True, help='work folder: every stage writes here; re-run to resume')
    p.add_argument('--base', default='realesr-animevideov3',
                   help='realesr-animevideov3 (default), realesrgan-x4plus, another x4 zoo upscaler (spanx4_ch48, '
                        '...) or a x4 weights file of any architecture (a SPAN, DAT, ... base trains with the '
                        'compact recipe)')
    g = p.add_mutually_exclusive_group()
    g.add_argument('--iters', type=int, default=None, help='training iterations (default: the recipe\'s)')
    g.add_argument('--budget', default=None,
                   help='training time such as 30m or 1h: a timed warm-up turns it into iterations')
    add_device(p, choices=('cpu', 'gpu'), help='where to train and evaluate (default: cpu)')
    p.add_argument('--train-procs', default='auto', metavar='N',
                   help='CPU processes that train together, each on part of every batch (default: auto: 2 on a CPU '
                        'with 2 cores or more, for 100 iterations or more, except the x4plus recipe; 1 otherwise)')
    p.add_argument('--compare', nargs='+', default=None, metavar='NAME=MODEL',
                   help='the models the export must beat on both axes (PSNR and LPIPS), beside the base: weights '
                        'files, export folders or zoo names (default: x4plus=realesrgan-x4plus; none: only the base)')
    p.add_argument('-o', '--override', action='append', default=[], metavar='KEY.SUB=VALUE',
                   help='training option override, as train.py -o (repeatable)')
    p.add_argument('--every', type=float, default=0.4, help='seconds between extracted frames (default: 0.4)')
    p.add_argument('--min-size', type=int, default=200, help='drop frames whose short side is below this (default: 200; '
                        'lower it for small footage, e.g. 144 for 176x144)')
    p.add_argument('--holdout', type=float, default=0.2, help='fraction of each video, at its end, held out (default: 0.2)')
    p.add_argument('--gap', type=float, default=1.0, help='seconds between train and held-out frames (default: 1.0)')
    p.add_argument('--near-duplicate', type=float, default=0.25, metavar='D',
                   help='two frames of a clip are near-duplicates when they differ on less than this fraction of '
                        'what moves in the clip (default: 0.25); the split keeps one of them')
    p.add_argument('--seed', type=int, default=0, help='seed of the held-out degradation (default: 0)')
    p.add_argument('--lq', '--lq-videos', dest='lq_videos', nargs='+', default=[], metavar='PATH',
                   help='the low-resolution footage or photos to upscale (videos or image folders; --lq-videos is an '
                        'alias): the training and held-out degradation are fitted to it (tools/fit_degradation.py) '
                        'instead of the generic one; LQ photos named like --hr photos are real pairs: training pairs '
                        '(--pair-ratio) and the held-out pairs that decide the export, misaligned ones dropped')
    p.add_argument('--pair-ratio', type=float, default=0.5, metavar='R',
                   help='with real photo pairs: the weight of their batch in the loss beside the fitted synthetic '
                        'batch\'s 1 (default: 0.5, not tuned; 0: the pairs only fit and judge)')
    p.add_argument('--fit-frames', type=int, default=FIT_FRAMES, metavar='N',
                   help=f'with --lq-videos: frames sampled from each side for the degradation fit (default: '
                        f'{FIT_FRAMES}; the fit\'s time grows with N)')
    p.add_argument('--no-generic', dest='generic', action='store_false',
                   help='with --lq-videos: train on your frames alone, without the six generic photos the recipe adds '
                        'beside them (assets/generic)')
    p.add_argument('--force-export', action='store_true',
                   help='export the chosen model even when it loses to bicubic on both axes (PSNR, and NIQE or '
                        'detail); without it such a run stops before the export and says so')
    p.add_argument('--dni-weight', type=float, default=None, metavar='W',
                   help='export the DNI blend W x the finetune + (1 - W) x the base (0..1) instead of the point the '
                        'sweep\'s rule chose; a re-run with another W redoes only the export and the report')
    p.add_argument('--stable', action='store_true',
                   help='with --lq-videos: train for video that holds still: adds the stability term and the '
                        'temporal term (consecutive real LQ frames must agree along their motion), weight 10 each '
                        '(your own -o train.losses.l_g_stab... / l_g_temp... win). On a static camera: a third '
                        'less flicker at the same PSNR, three quarters of the detail, 1.5x the training time '
                        '(docs/experiments/stability.md)')
    p.add_argument('--allow-flicker', action='store_true',
                   help='with --lq-videos: let the selection choose a checkpoint whose FLICKER on consecutive held-out '
                        'LQ frames is more than 1.3x the base\'s (refused by default; the report names it)')
    p.add_argument('--no-fetch', action='store_true',
                   help='fetch nothing from the network (the perceptual recipe\'s weights, zoo models): the run uses '
                        'what is cached and says in one line what it would have fetched; as '
                        'REALESRGAN_PADDLE_OFFLINE=1 in the environment')
    p.add_argument('--stop-after', choices=NAMES, default=None, help='stop after this stage')
    add_quiet(p)
    return p.parse_args(argv)


def _bad(msg):
    """One ``error:`` line, exit status 2 (``utils.cli_parser.fail``; ``main`` returns the status)."""
    fail(None, msg)


def _terminated(signum, frame):
    raise KeyboardInterrupt  # the running stage cleans up: the trainer child is stopped, finished stages stay


def _interrupt_on_termination():
    """SIGTERM and SIGHUP (a closed terminal, a job scheduler) end the run like Ctrl-C: one line, exit 130."""
    for sig in ('SIGTERM', 'SIGHUP'):
        if hasattr(signal, sig):
            signal.signal(getattr(signal, sig), _terminated)


@returns_status
def main(argv=None):
    args = parse_args(argv)
    if args.no_fetch:  # the whole run and the tools it starts (train.py): utils.download.offline
        os.environ[OFFLINE_ENV] = '1'
    if args.iters is not None and args.iters < 1:
        return _bad(f'--iters must be >= 1, got {args.iters}')
    if args.every <= 0 or not 0 < args.holdout < 1 or args.gap < 0 or args.near_duplicate < 0:
        return _bad('--every must be > 0, --holdout in (0, 1), --gap >= 0 and --near-duplicate >= 0')
    if not 2 <= args.fit_frames <= MAX_FIT_FRAMES:
        return _bad(f'--fit-frames must be in [2, {MAX_FIT_FRAMES}], got {args.fit_frames}')
    if not 0.0 <= args.pair_ratio <= 10.0:
        return _bad(f'--pair-ratio must be in [0, 10], got {args.pair_ratio}')
    if args.dni_weight is not None and not 0.0 <= args.dni_weight <= 1.0:
        return _bad(f'--dni-weight must be in [0, 1], got {args.dni_weight}')
    if args.train_procs != 'auto' and not (args.train_procs.isdigit() and 1 <= int(args.train_procs) <= 8):
        return _bad(f'--train-procs must be auto or 1 to 8, got {args.train_procs!r}')
    compare = None if args.compare is None else {}  # None: Settings' default (x4plus unless it is the base)
    for item in [] if args.compare in (None, ['none']) else args.compare:
        name, sep, model = item.partition('=')
        if not sep or not name or not model or name in ('bicubic', 'base', 'finetuned'):
            return _bad(f'--compare expects NAME=MODEL with a new NAME, got {item!r}')
        compare[name] = model
    try:
        inputs = sort_inputs(args.videos, args.lq_videos)
        overrides = (stable_overrides() if args.stable else []) + list(args.override)
        if args.budget:
            parse_budget(args.budget)
        # the CPU settings before anything imports paddle (the zoo's names for --base, the loss registry for -o);
        # its first import, wherever it happens, is quiet (runtime_env._QuietFirstImport)
        setup(reexec=True)
        check_base_ref(args.base)
        if temporal_wanted(overrides) and not args.lq_videos:
            return _bad('--stable needs --lq-videos: its temporal term compares consecutive real LQ frames'
                        if args.stable else
                        'the temporal loss (TemporalLoss) needs consecutive real LQ frames: give --lq-videos')
        first = Settings(videos=inputs['videos'], work=Path(args.work), base=args.base, compare=compare,
                         hr_photos=inputs['hr_photos'])
        check_outputs(first)
        check_work(args.work)
        videos = find_input_videos(first)
        if args.lq_videos:
            check_lq_footage(videos, args.lq_videos)
        check_compare(first.compare)  # every cheap check before a fetch or its note
        if args.device == 'gpu':  # before the keyframes and the split, not at the training stage
            from realesrgan_paddle.training.dist import GPU_BUILD, gpu_available
            if not gpu_available():
                return _bad(f'--device gpu: this Paddle build has no CUDA GPU ({GPU_BUILD}); use --device cpu')
        _interrupt_on_termination()  # after paddle loaded: it installs its own SIGTERM handler
        for line in fetch_recipe_weights(args.base, args.device, progress=not args.quiet):
            print(f'note: {line}', file=sys.stderr)  # the perceptual recipe's weights, through the model zoo
        settings = Settings(videos=inputs['videos'], work=Path(args.work), base=args.base,
                            iters=args.iters, budget=args.budget, device=args.device, compare=compare,
                            overrides=overrides, every=args.every, min_size=args.min_size,
                            holdout=args.holdout, gap=args.gap, duplicate=args.near_duplicate, seed=args.seed,
                            lq_videos=[str(v) for v in args.lq_videos], quiet=args.quiet,
                            dni_weight=args.dni_weight, fit_frames=args.fit_frames, generic=args.generic,
                            allow_flicker=args.allow_flicker, force_export=args.force_export,
                            hr_photos=inputs['hr_photos'], lq_photos=inputs['lq_photos'], pair_ratio=args.pair_ratio,
                            train_procs=args.train_procs)
        line = run(settings, argv=['python', 'tools/finetune_domain.py', *(argv if argv is not None else sys.argv[1:])],
                   stop_after=args.stop_after)
    except RecipeError as exc:
        return _bad(str(exc))
    except DomainError as exc:
        fail(None, exc, exc.code)
    except KeyboardInterrupt:
        print('interrupted: re-run the same command to resume', file=sys.stderr)
        return 130
    print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
