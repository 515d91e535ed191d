"""Upscale images/videos with the Paddle dynamic graph.

    python tools/predict.py --input IN --output OUT --model_path X.pdparams [--block 23]

IN: image, folder, glob or video. Same options and results as tools/infer.py
(which runs the faster Paddle Inference predictor).
"""
import sys

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.inference.upscale_cli import main as run  # noqa: E402  (no paddle yet: the CPU env is set first)


def main(argv=None):
    return run(sys.argv[1:] if argv is None else argv, 'dynamic', 'predict.py',
               'Real-ESRGAN upscaling with the Paddle dynamic graph.',
               'weights (.pdparams/.pth/.safetensors) or a zoo name; default: realesrgan-x4plus')


if __name__ == '__main__':
    sys.exit(main())
