"""Export a generator to the legacy static graph for Paddle Inference.

    python tools/export_model.py --model_path X.pdparams --save-inference-dir ./infer
    python tools/export_model.py --model-dir ./experiments/NAME/models/net_g_5000.pdparams \\
        --save-inference-dir ./infer/ --block 23

Writes inference.pdmodel, inference.pdiparams (dynamic N/H/W input) and
model_info.json (arch, scale, mod, source, dtype). The model (--model_path, or
--model-dir as in the original PaddleGAN-style command) is a .pdparams/.pth/
.safetensors file or a zoo name such as realesrgan-x4plus; there is no default.
--block/--num_feat/--scale complete bare weights whose architecture is not
stored in the file, and are checked against a file that stores it. --dni OTHER W
exports the network interpolation W x model + (1 - W) x OTHER (ESRGAN's DNI).
"""
import sys
import time
from pathlib import Path


if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.inference.backends import PredictorBackend  # noqa: E402
from realesrgan_paddle.inference.export.paddle_export import export_static  # noqa: E402
from realesrgan_paddle.inference.export.export_check import check_input, judge  # noqa: E402
from realesrgan_paddle.inference.upscaler import resolve_model  # noqa: E402
from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, RawHelpFormatter, add_output, check_dni_weight, fail, returns_status)
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, write_error  # noqa: E402
from realesrgan_paddle.utils.progress import is_tty  # noqa: E402


def build_parser():
    p = ArgumentParser(prog='export_model.py', description=__doc__.split('\n\n')[0],
                       formatter_class=RawHelpFormatter)
    p.add_argument('-m', '--model_path', '--model-dir', dest='model_path', default=None,
                   help='the model to export: weights file (.pdparams/.pth/.safetensors) or zoo name (required)')
    add_output(p, aliases=('--save-inference-dir',), default='./infer',
               help='output folder for inference.pdmodel/.pdiparams and model_info.json (default ./infer)')
    p.add_argument('--block', '--num_block', dest='num_block', type=int, default=None,
                   help='RRDBNet num_block, for weights that do not store their architecture')
    p.add_argument('--num_feat', type=int, default=None, help='num_feat, for weights that do not store it')
    p.add_argument('--scale', type=int, default=None, help='network scale, for weights that do not store it')
    p.add_argument('-dn', '--denoise_strength', type=float, default=None,
                   help='0..1, only with the zoo model realesr-general-x4v3 (blends it with its wdn variant)')
    p.add_argument('--dni', nargs=2, default=None, metavar=('OTHER', 'W'),
                   help='network interpolation (DNI): export W x the model + (1 - W) x OTHER (weights file or zoo '
                        'name of the same architecture); W 1 = the model, 0 = OTHER')
    p.add_argument('--check', type=int, default=64,
                   help='compare the exported graph with the network on an NxN real photo crop (0: skip; default 64)')
    return p


def parse_args(argv):
    args = build_parser().parse_args(argv)
    if not args.model_path:
        fail('export_model.py', 'no model given: pass --model_path (or --model-dir) WEIGHTS_OR_ZOO_NAME')
    return args


CHECK_RANGE = (8, 1024)  # --check input sizes that are safe and quick to run


def say(line):
    """What a slow step is doing, on a terminal only (a log or a caller reading stderr gets the results)."""
    if is_tty():
        print(line, file=sys.stderr, flush=True)


@returns_status
def main(argv=None):
    args = parse_args(argv)
    if args.check and not CHECK_RANGE[0] <= args.check <= CHECK_RANGE[1]:
        fail(None, f'--check must be 0 (skip) or between {CHECK_RANGE[0]} and {CHECK_RANGE[1]}, got {args.check}')
    runtime_env.setup()

    from realesrgan_paddle import models
    # flag names; load_network maps them to the network's keys (scale -> upscale for SRVGGNetCompact)
    over = {k: v for k, v in (('num_block', args.num_block), ('num_feat', args.num_feat), ('scale', args.scale))
            if v is not None}
    say(f'loading {args.model_path or "the default model"} ...')
    try:
        dni = None
        if args.dni:
            dni = (args.dni[0], check_dni_weight(args.dni[1], '--dni W'))
        path = resolve_model(args.model_path, args.denoise_strength, dni=dni)
        net, arch = models.load_network(path, arch=over or None)
    except Exception as e:  # user error: bad path or weights that do not fit
        fail(None, f'cannot load the model: {e}')
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        fail(None, f'{out} exists and is not a directory')
    try:  # the weights may sit in the output folder under an export's name
        check_no_clobber([path], [out / n for n in ('inference.pdmodel', 'inference.pdiparams',
                                                    'inference.pdiparams.info', 'model_info.json')])
    except OutputClash as e:
        fail(None, e)
    t = time.perf_counter()
    say(f'exporting the static graph to {out} ...')
    try:
        export_static(net, arch, out, source=path)
    except OSError as e:
        fail(None, write_error(out, e))
    print(f'exported {path} ({arch["type"]}, x{models.net_scale(arch)}) to {out} in {time.perf_counter() - t:.1f} s')
    if args.check:
        import paddle

        mod = models.pad_multiple(arch)
        n = max(args.check // mod, 1) * mod
        x = check_input(n, int(arch.get('num_in_ch', 3)))  # a real photo crop: inference/export/export_check.py
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        say(f'checking the export on a {n}x{n} photo crop ...')
        pred = PredictorBackend(out)
        err, scale, ok = judge(pred.forward(x), ref)
        print(f'check on a {n}x{n} photo crop: predictor ({pred.engine} engine) vs dynamic graph max abs diff '
              f'{err:.2e}')
        if not ok:
            fail(None, f'the exported graph does not match the network (max abs diff {err:.2e}, output range '
                       f'{scale:.3g})', 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
