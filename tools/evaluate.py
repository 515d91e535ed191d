"""Compare super-resolution models on distortion and perception (the command line of ``evaluation.evaluate_cli``).

    python tools/evaluate.py --gt HR_DIR --lq LQ_DIR --models bicubic=bicubic base=realesr-animevideov3 mine=W.pdparams
    python tools/evaluate.py --input FRAMES_DIR --models base=realesr-animevideov3 mine=export_dir/

``python tools/evaluate.py -h`` lists the metrics and options.
"""
import sys
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.utils import runtime_env  # noqa: E402

runtime_env.setup()

from realesrgan_paddle.evaluation.evaluate_cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
