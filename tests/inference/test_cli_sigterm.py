"""SIGTERM to tools/infer.py and tools/predict.py ends the run as Ctrl-C does: one line, status 130, no
C++ stack from Paddle's own handler, and no output file left half-written."""
import signal
import subprocess
import sys
import time

import cv2
import pytest

from realesrgan_paddle.inference.done_log import DONE_NAME
from tests.user_path import ROOT


@pytest.mark.parametrize('tool', ['tools/infer.py', 'tools/predict.py'])
def test_sigterm_is_one_line(tool, tmp_path, tiny_models, photo):
    src = tmp_path / 'in'
    src.mkdir()
    big = cv2.resize(photo, (photo.shape[1] * 4, photo.shape[0] * 4))
    for i in range(200):
        cv2.imwrite(str(src / f'{i:03d}.png'), big)
    out = tmp_path / 'out'
    proc = subprocess.Popen([sys.executable, tool, '--input', str(src), '--output', str(out), '--model_path',
                             str(tiny_models['srvgg_x4']), '-q'], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (out.is_dir() and any(out.glob('*_out.png'))):
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == 'interrupted' and 'FatalError' not in err and 'Traceback' not in err
    # no temporary file left behind (the list of finished outputs, for a re-run to skip, is no temp file)
    assert all(p.name.endswith('_out.png') or p.name == DONE_NAME for p in out.iterdir())
