"""Convert PyTorch Real-ESRGAN/ESRGAN checkpoints (and ncnn models) to Paddle ``.pdparams`` without torch.

    python tools/convert_torch.py --input RealESRGAN_x4plus.pth --output weights/x4plus.pdparams
    python tools/convert_torch.py --input REALSR_DF2K_UP4X.param       # an ncnn graph, its .bin beside it
    python tools/convert_torch.py --input old_esrgan/ --output converted/      # every checkpoint inside
    python tools/convert_torch.py --input RRDB_ESRGAN_x4.pth --block 23 --verify

An ncnn ``.param`` (its ``.bin`` beside it) is imported by ``models.ncnn.ncnn_import``.
Reads ``.pth`` (zip and legacy), ``.safetensors`` and ``.pdparams`` through the
restricted reader (no code from the file runs), picks ``params_ema`` / ``params`` /
a bare state dict, maps old key layouts, detects the architecture and writes it
into the output with the source name and sha256. An ncnn ``.param`` (with the
``.bin`` of the same name beside it) gives the architecture by its graph
(``models.ncnn.ncnn_import``); the architecture flags and ``--verify`` do not apply. ``--verify`` compares against
torch when it is installed (``reference.conversion_check``, the optional room). The conversion itself is
``models.convert.convert_checkpoint``, callable from Python.
Exit status: 0 ok, 1 verification above ``--tol``, 2 refused or bad input.
"""
import sys
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.checkpoint_io.state_file import (  # noqa: E402
    CheckpointFormatError, UnsafeCheckpointError, load_state_file)
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, add_input, add_output, add_quiet, fail, returns_status)
from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.fileio import is_regular_file, require_regular_file  # noqa: E402
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, check_writable  # noqa: E402

runtime_env.setup(quiet=False)  # paddle is imported only once a file passed the safety checks


CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.safetensors', '.param')  # directory mode; a single .pdparams too
NCNN_SUFFIX = '.param'  # an ncnn graph, with its .bin beside it
# the architecture flags; each network's ArchSpec says which of them apply and which key they set
ARCH_FLAGS = ('block', 'scale', 'num_feat', 'num_grow_ch', 'num_conv', 'num_in_ch', 'num_out_ch', 'act_type',
              'skip_connection', 'img_range')


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    add_input(p, required=True, help='.pth/.safetensors/.pdparams file, an ncnn .param (its .bin beside it), or a '
              'directory of checkpoints')
    add_output(p, help='output .pdparams (or directory); default: beside the input')
    p.add_argument('--param_key', default='params_ema', help='state dict to take first (default params_ema, '
                   'then params, then a bare dict)')
    p.add_argument('--arch', help='network type (default: detected from the keys)')
    p.add_argument('--block', type=int, help='RRDBNet num_block (seed-style; checked against the weights)')
    p.add_argument('--scale', type=int, choices=(1, 2, 3, 4, 8), help='upscale factor (RRDBNet scale / SRVGG upscale)')
    p.add_argument('--num_feat', type=int, help='feature channels (default: detected from the weights)')
    p.add_argument('--num_grow_ch', type=int, help='RRDBNet growth channels (default: detected)')
    p.add_argument('--num_conv', type=int, help='SRVGGNetCompact body convolutions (default: detected)')
    p.add_argument('--num_in_ch', type=int, help='input channels (default: detected)')
    p.add_argument('--num_out_ch', type=int, help='output channels (default: detected)')
    p.add_argument('--act_type', choices=('prelu', 'relu', 'leakyrelu'),
                   help='SRVGG activation; ReLU and LeakyReLU have no weights, so detection says relu')
    p.add_argument('--skip_connection', choices=('true', 'false'),
                   help='UNetDiscriminatorSN skip connections (not visible in weights; default true)')
    p.add_argument('--img_range', type=float, choices=(1.0, 255.0),
                   help='input scale, not visible in the weights: SPAN (default 255), SwinIR/HAT (detected: 255 for '
                        'window 7, else 1)')
    p.add_argument('--verify', action='store_true', help='compare with torch on a random input (needs torch)')
    p.add_argument('--tol', type=float, default=1e-4,
                   help='--verify accepts max abs diff / max(1, output peak) up to this (default 1e-4)')
    p.add_argument('--verify_size', type=int, default=32, help='random input height/width for --verify')
    add_quiet(p)
    return p.parse_args(argv)


def _overrides(args):
    """The architecture flags given, by name (``--arch`` is ``type``)."""
    out = {'type': args.arch} if args.arch else {}
    for flag in ARCH_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            out[flag] = (value == 'true') if flag == 'skip_connection' else value
    return out


def convert_one(src, dst, args, log=print):
    """``models.convert.convert_checkpoint`` with the command line's settings. The file is read before
    paddle loads, so that an unsafe or damaged file is refused at once."""
    if Path(src).suffix == NCNN_SUFFIX:
        given = sorted(_overrides(args))
        if given or args.verify:
            flags = ', '.join(f'--{"arch" if f == "type" else f}' for f in given) or '--verify'
            raise ValueError(f'{flags} does not apply to an ncnn '
                             'model: its graph gives the architecture')
        runtime_env.import_paddle_quietly()
        from realesrgan_paddle.models.convert import convert_ncnn
        return convert_ncnn(src, dst, log=log)
    raw = load_state_file(src)
    runtime_env.import_paddle_quietly()
    from realesrgan_paddle.models.convert import convert_checkpoint
    res = convert_checkpoint(src, dst, args.param_key, _overrides(args), log=log, raw=raw)
    if args.verify:  # torch's side lives in the optional reference room, never in models
        from realesrgan_paddle.reference.conversion_check import verify_conversion
        res['verify'] = verify_conversion(src, dst, res['arch'], res['param_key'], args.tol, args.verify_size, log)
    return res


def _message(src, err):
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    named = text.startswith(f'{src}:')  # '<src>: ...' or an ncnn '<src>:<line>: ...'
    return text if named else f'{src}: {text}'


def _default_output(src, output):
    if output is None:
        if src.suffix == '.pdparams':
            raise ValueError('the input is already .pdparams; pass --output')
        return src.with_suffix('.pdparams')
    out = Path(output)
    return out / f'{src.stem}.pdparams' if out.is_dir() else out


@returns_status
def main(argv=None):
    args = parse_args(argv)
    expected = (UnsafeCheckpointError, CheckpointFormatError, ValueError, OSError, MemoryError)
    src = Path(args.input)
    if not src.exists():
        print(f'{src}: no such file or directory', file=sys.stderr)
        return 2
    if not src.is_dir():
        try:
            require_regular_file(src)  # a FIFO or a device: one line, never opened
            dst = _default_output(src, args.output)
            check_writable(dst.parent)  # a path it cannot write is named as the output's, before the conversion
        except OutputClash as e:
            print(e, file=sys.stderr)
            return 2
        except expected as e:
            print(_message(src, e), file=sys.stderr)
            return 2
        try:
            res = convert_one(src, dst, args)
        except expected as e:
            print(_message(src, e), file=sys.stderr)
            return 2
        return 1 if res.get('verify') is not None and res['verify'] > args.tol else 0

    files = sorted(p for p in src.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and is_regular_file(p))
    if not files:
        print(f'{src}: no checkpoints ({", ".join(CHECKPOINT_SUFFIXES)}) in this directory', file=sys.stderr)
        return 2
    out_dir = Path(args.output) if args.output else src
    if out_dir.exists() and not out_dir.is_dir():
        print(f'{out_dir}: --output must be a directory when --input is one', file=sys.stderr)
        return 2
    try:  # a.pth and a.safetensors would both write a.pdparams: refused before anything is written
        check_no_clobber(files, [(out_dir / f'{f.stem}.pdparams', f) for f in files])
        check_writable(out_dir)
    except OutputClash as e:
        fail(None, e)
    failed, above = [], []
    bar = tqdm(files, desc='convert', unit='file', disable=True if args.quiet else None)
    for f in bar:
        bar.set_postfix_str(f.name)
        try:
            res = convert_one(f, out_dir / f'{f.stem}.pdparams', args, log=tqdm.write)
            if res.get('verify') is not None and res['verify'] > args.tol:
                above.append(f)
        except expected as e:
            tqdm.write(_message(f, e), file=sys.stderr)
            failed.append(f)
    print(f'converted {len(files) - len(failed)} of {len(files)} checkpoints into {out_dir}'
          + (f'; {len(failed)} failed' if failed else ''), file=sys.stderr if failed else sys.stdout)
    return 2 if failed else (1 if above else 0)


if __name__ == '__main__':
    sys.exit(main())
