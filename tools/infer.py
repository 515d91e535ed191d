"""Upscale images/videos with Paddle Inference (CPU: the OpenVINO engine for RRDBNet, oneDNN otherwise; --engine).

    python tools/infer.py --input IN --output OUT --model_path ./infer

--model_path: a directory from tools/export_model.py, a weights file (exported
once into ~/.cache/realesrgan-paddle/infer) or a zoo name. Without it the
default model realesrgan-x4plus is used.
"""
import sys

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.inference.upscale_cli import main as run  # noqa: E402  (no paddle yet: the CPU env is set first)


def main(argv=None):
    return run(sys.argv[1:] if argv is None else argv, 'predictor', 'infer.py',
               'Real-ESRGAN upscaling with Paddle Inference.',
               'export directory (inference.pdmodel), weights file or zoo name; default: realesrgan-x4plus')


if __name__ == '__main__':
    sys.exit(main())
