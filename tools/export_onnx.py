"""Export a generator to ONNX with dynamic N/H/W (paddle2onnx), and check it against Paddle.

    python tools/export_onnx.py -m realesr-animevideov3 -o model.onnx
    python tools/export_onnx.py -m net_g_5000.pdparams -o model.onnx --opset 17

Writes MODEL.onnx and MODEL.json (arch, scale, mod, opset, dtype). The check
runs the ONNX file in onnxruntime and the network in Paddle at two input sizes
and prints the PSNR between them (fails under 50 dB; 40 dB with --fp16).
Needs `pip install -r requirements-onnx.txt`.
"""
import sys
from pathlib import Path

import numpy as np

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend  # noqa: E402
from realesrgan_paddle.inference.export.onnx_check import load_onnx_info  # noqa: E402
from realesrgan_paddle.inference.export.onnx_export import MissingPaddle2Onnx, export_onnx  # noqa: E402
from realesrgan_paddle.inference.upscaler import resolve_model  # noqa: E402
from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, RawHelpFormatter, add_output, fail, returns_status)
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, check_writable  # noqa: E402


def build_parser():
    p = ArgumentParser(prog='export_onnx.py', description=__doc__.split('\n\n')[0], formatter_class=RawHelpFormatter)
    p.add_argument('-m', '--model_path', default=None, help='weights file (.pdparams/.pth/.safetensors) or zoo name')
    add_output(p, default=None, help='the .onnx file to write')
    p.add_argument('--opset', type=int, default=None,
                   help='ONNX opset, 11..19 (default 13, or the lowest the network needs: 16 for RealPLKSR)')
    p.add_argument('--fp16', action='store_true',
                   help='float16 weights and arithmetic, float32 input/output (onnxconverter-common; for GPU '
                        'providers: onnxruntime\'s CPU provider casts it back to float32 and is no faster)')
    p.add_argument('--check', type=int, nargs='*', default=[32, 48],
                   help='input sizes to compare ORT with Paddle at, 8 to 1024 (default 32 48; none: skip)')
    return p


CHECK_RANGE = (8, 1024)  # --check sizes that are safe and quick to run (40000 ran the network on 1.6 GP)


def psnr_between(a, b):
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float('inf') if mse == 0 else 10 * np.log10(1 / mse)


def check(net, onnx_file, sizes, mod, cin=3):
    """[(size, psnr)] of onnxruntime against the Paddle network on random inputs."""
    import paddle

    ort = OnnxBackend(onnx_file)
    res = []
    for i, n in enumerate(sizes):
        n = max(n // mod, 1) * mod
        x = np.random.default_rng(i).random((1, cin, n, n + mod), dtype=np.float32)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        res.append((f'{n}x{n + mod}', psnr_between(ort.forward(x), ref)))
    return res


@returns_status
def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.model_path or not args.output:
        fail('export_onnx.py', 'pass --model_path WEIGHTS_OR_ZOO_NAME and --output FILE.onnx')
    out = Path(args.output)
    if out.suffix.lower() != '.onnx':
        fail('export_onnx.py', f'{out}: the output must end in .onnx')
    bad = next((n for n in args.check or [] if not CHECK_RANGE[0] <= n <= CHECK_RANGE[1]), None)
    if bad is not None:  # before the model loads
        fail('export_onnx.py', f'--check sizes must be between {CHECK_RANGE[0]} and {CHECK_RANGE[1]}, got {bad}')
    runtime_env.setup()
    from realesrgan_paddle import models
    try:
        path = resolve_model(args.model_path)
        net, arch = models.load_network(path)
        check_no_clobber([path], [out, out.with_suffix('.json')])
        check_writable(out.parent)  # a file or a dead link in the path: named, not an errno
        export_onnx(net, arch, out, opset=args.opset, fp16=args.fp16, source=path,
                    verify=lambda f: _verify(net, f, args.check or [], models.pad_multiple(arch), args.fp16))
        opset = load_onnx_info(out)['opset']
    except (MissingPaddle2Onnx, OutputClash, ValueError, FileNotFoundError, OSError, RuntimeError) as e:
        fail(None, e)
    except Exception as e:  # noqa: BLE001  paddle2onnx reports unsupported ops with its own exceptions
        fail(None, f'paddle2onnx could not convert {path} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); '
                   'an op it does not support? try another --opset')
    print(f'exported {path} ({arch["type"]}, x{models.net_scale(arch)}) to {out} (opset {opset}, '
          f'{"fp16" if args.fp16 else "fp32"}, {out.stat().st_size / 2**20:.1f} MiB)')
    return 0


def _verify(net, onnx_file, sizes, mod, fp16):
    """Run before the file is renamed into place: a mismatch leaves nothing written."""
    floor = 40 if fp16 else 50
    for size, db in check(net, onnx_file, sizes, mod):
        print(f'check {size}: onnxruntime vs Paddle PSNR {db:.1f} dB (RGB, peak 1)')
        if db < floor:
            fail(None, f'the ONNX model does not match the network ({db:.1f} < {floor} dB); nothing written', 1)


if __name__ == '__main__':
    sys.exit(main())
