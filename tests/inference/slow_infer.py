"""``tools/infer.py`` with a slower model, for a test that must kill a run mid-video.

    python tests/inference/slow_infer.py SECONDS_PER_FRAME [tools/infer.py arguments]

Every batch through the model first sleeps SECONDS_PER_FRAME per frame (``inference.video.frame_loop.run_model``
replaced in this process); then tools/infer.py runs as its own ``__main__``. Run it with ``RESR_NO_REEXEC=1``: a
re-exec of tools/infer.py would start without the slower model.
"""
import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main():
    delay = float(sys.argv[1])
    from realesrgan_paddle.inference.video import frame_loop
    run_model = frame_loop.run_model

    def slow(up, frames, *args, **kwargs):
        time.sleep(delay * len(frames))
        return run_model(up, frames, *args, **kwargs)

    frame_loop.run_model = slow
    infer = ROOT / 'tools' / 'infer.py'
    sys.argv = [str(infer)] + sys.argv[2:]
    runpy.run_path(str(infer), run_name='__main__')


if __name__ == '__main__':
    main()
