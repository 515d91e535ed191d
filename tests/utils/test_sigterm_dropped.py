"""A SIGTERM turned into a KeyboardInterrupt (utils/runtime_env.python_sigterm) whose exception Python drops, as it
does in a ``__del__`` ("Exception ignored"), is raised again by ``raise_if_terminated`` at the trainer's next step."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import gc, os, signal
    from realesrgan_paddle.utils import runtime_env
    runtime_env.python_sigterm(interrupt=True)

    class Finalised:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside __del__: its exception is dropped
            for _ in range(1000):
                pass
    Finalised()
    gc.collect()
    print('went on', flush=True)
    try:
        runtime_env.raise_if_terminated()
    except KeyboardInterrupt:
        print('interrupted', flush=True)
    runtime_env.raise_if_terminated()  # once only
    runtime_env.python_sigterm(interrupt=True)  # a new handler starts clean
    runtime_env.raise_if_terminated()
    print('clean', flush=True)
    Finalised()  # dropped again
    gc.collect()
    runtime_env.python_sigterm()  # a deferred paddle import puts the same handler back: the flag stays
    try:
        runtime_env.raise_if_terminated()
    except KeyboardInterrupt:
        print('kept', flush=True)
''')


def test_a_dropped_sigterm_interrupt_is_raised_at_the_next_check():
    res = subprocess.run([sys.executable, '-c', SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ['went', 'on', 'interrupted', 'clean', 'kept'], (res.stdout, res.stderr[-2000:])
    assert 'KeyboardInterrupt' in res.stderr  # Python's own "Exception ignored in" line: the interrupt was dropped


def test_the_video_frame_loop_raises_a_dropped_interrupt(tiny_models, tmp_path):
    """The frame loop checks at each model call: a dropped SIGTERM's interrupt ends a video run, which removes its
    temporary output."""
    import pytest

    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.utils import runtime_env
    from tests.inference.segment_clips import make_clip
    clip = make_clip(tmp_path / 'clip.mkv', seconds=1, fps=10, gop=5, size='32x24')
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    before = sorted(p.name for p in tmp_path.iterdir())
    runtime_env._TERMINATED.set()  # as the handler leaves it when Python dropped its KeyboardInterrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            up.upscale_video(str(clip), str(tmp_path / 'out.mp4'), temporal='off')
    finally:
        runtime_env._TERMINATED.clear()
    assert not (tmp_path / 'out.mp4').exists() and sorted(p.name for p in tmp_path.iterdir()) == before
