"""Train or finetune Real-ESRNet / Real-ESRGAN from a BasicSR-style options file.

    python train.py --yml_path options/finetune_realesrgan_x4plus.yml [--auto_resume] [--debug] \\
        [-o train.total_iter=1000 -o path.experiments_root=/tmp/x ...]

Several GPUs: python train.py --gpus 0,1,2,3 --yml_path ... (checks the GPUs and the options, then starts
python -m paddle.distributed.launch --gpus 0,1,2,3 train.py --yml_path ...; several CPU processes:
python -m paddle.distributed.launch --nproc_per_node 2 train.py ...).
"""
import os
import sys
from pathlib import Path

from realesrgan_paddle.checkpoint_io.state_file import CheckpointFormatError, UnsafeCheckpointError
from realesrgan_paddle.training.option_file import OptionsError, force_yml_overrides, load_options
from realesrgan_paddle.utils.cli_parser import ArgumentParser, RawHelpFormatter, fail, returns_status  # standard library only
from realesrgan_paddle.utils.outputs import write_reason
from realesrgan_paddle.utils.runtime_env import die_with_parent, interrupt_on_sigterm, setup


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=RawHelpFormatter)
    p.add_argument('--yml_path', '--opt', '-opt', dest='yml_path', required=True,
                   help='options YAML file (this project\'s, or an official Real-ESRGAN/BasicSR one)')
    p.add_argument('--auto_resume', action='store_true', help='continue from the newest complete training state')
    p.add_argument('--debug', action='store_true', help='a few iterations, each one logged (experiment debug_<name>)')
    p.add_argument('-o', '--override', action='append', default=[], metavar='KEY.SUB=VALUE',
                   help='override an option, e.g. -o train.total_iter=8 (repeatable)')
    p.add_argument('--force_yml', nargs='+', action='extend', default=[], metavar='KEY:SUB=VALUE',
                   help='BasicSR\'s override spelling, e.g. --force_yml train:total_iter=8 logger:print_freq=1; '
                        'applied after -o')
    p.add_argument('--gpus', default=None, metavar='IDS',
                   help='train on these GPUs, one process each, e.g. --gpus 0,1,2,3: the GPUs and the options are '
                        'checked, then python -m paddle.distributed.launch starts the processes')
    p.add_argument('--launcher', choices=('none', 'pytorch', 'slurm'), default='none',
                   help='accepted for BasicSR command lines and not needed: start several processes with '
                        'python -m paddle.distributed.launch')
    p.add_argument('--local_rank', type=int, default=0,
                   help='accepted for BasicSR command lines; the rank comes from paddle.distributed')
    return p.parse_args(argv)


@returns_status
def main(argv=None):
    die_with_parent()  # under tools/finetune_domain.py: stop with the pipeline
    args = parse_args(argv)
    setup(reexec=True, single_arena=True)  # the degradation runs batch slices on threads
    if args.launcher != 'none':
        print(f'warning: --launcher {args.launcher} has no effect here; start several processes with '
              'python -m paddle.distributed.launch', file=sys.stderr)
    try:
        overrides = args.override + force_yml_overrides(args.force_yml)
        opt = load_options(args.yml_path, overrides)
    except OptionsError as exc:  # with the weights it names, so that one pass lists everything to fix
        fail(None, [f'{args.yml_path}: {problem}' for problem in exc.problems + weight_problems(exc.opt)])
    if args.debug:
        opt['name'] = 'debug_' + opt['name']

    problems = weight_problems(opt)
    if problems:
        fail(None, [f'{args.yml_path}: {problem}' for problem in problems])

    if args.gpus is not None and 'PADDLE_TRAINER_ID' not in os.environ:
        if opt.get('device') == 'cpu':
            fail(None, f'{args.yml_path}: device: cpu, but --gpus {args.gpus} was given; use -o device=auto')
        launch_on_gpus(args.gpus, argv)  # does not return

    from realesrgan_paddle.loss.perceptual import VGGWeightsMissing
    from realesrgan_paddle.training.dist import DeviceUnavailable
    from realesrgan_paddle.training.guarded_step import NonFiniteLossError
    from realesrgan_paddle.training.trainer import train
    interrupt_on_sigterm()
    try:
        train(opt, auto_resume=args.auto_resume, debug=args.debug)
    except (CheckpointFormatError, UnsafeCheckpointError, DeviceUnavailable) as exc:  # bad input or options
        fail(None, exc)
    except (VGGWeightsMissing, NonFiniteLossError, FileNotFoundError) as exc:
        fail(None, exc, 1)
    except ValueError as exc:  # bad data or weights found while building (empty folder, shape mismatch...)
        if os.environ.get('RESR_TRACEBACK') == '1':
            raise
        fail(None, f'{exc} (RESR_TRACEBACK=1 shows the traceback)', 1)
    except KeyboardInterrupt:
        print('interrupted: continue with the same command plus --auto_resume', file=sys.stderr)
        return 130
    except OSError as exc:  # a read-only experiments_root, a disk that fills: one line; checkpoints are atomic
        if os.environ.get('RESR_TRACEBACK') == '1':
            raise
        where = f'{exc.filename}: ' if exc.filename else ''
        why = exc.strerror or exc
        if exc.filename and isinstance(exc, (FileExistsError, NotADirectoryError)):  # a file or dead link in the path
            why = write_reason(exc.filename, exc)
        fail(None, f'{where}{why} (once fixed, continue with the same command plus --auto_resume)', 1)
    return 0


def weight_problems(opt):
    """One line per weight file (zoo model, netD, VGG19) the options name that is not at hand and cannot be
    fetched. For options that failed their check (``opt`` may be odd or None) this is best effort."""
    if not isinstance(opt, dict):
        return []
    from realesrgan_paddle.training.steps import check_pretrained_weights
    try:
        return check_pretrained_weights(opt)
    except Exception:  # noqa: BLE001  (options with other problems: those lines are printed already)
        return []


def launch_on_gpus(gpus, argv):
    """Check ``--gpus`` against this Paddle build and machine (one line if it cannot run), then replace this
    process by Paddle's launcher, which starts one train.py per GPU."""
    from realesrgan_paddle.training.dist import gpus_problem, launcher_command, parse_gpu_ids
    try:
        ids = parse_gpu_ids(gpus)
    except ValueError as exc:
        fail(None, exc)
    import paddle
    compiled = paddle.device.is_compiled_with_cuda()
    problem = gpus_problem(ids, compiled, paddle.device.cuda.device_count() if compiled else 0)
    if problem:
        fail(None, problem)
    cmd = launcher_command(ids, script_path(), sys.argv[1:] if argv is None else list(argv))
    print(f'starting {len(ids)} process(es): {" ".join(cmd[1:])}', file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)


def script_path():
    """The script Paddle's launcher starts once per GPU: the clone's ``train.py``, installed this module's file."""
    clone = Path(__file__).resolve().parents[1] / 'train.py'
    return clone if clone.is_file() else Path(__file__).resolve()


if __name__ == '__main__':
    sys.exit(main())
