"""tools/export_model.py, tools/infer.py and tools/predict.py end to end (subprocesses)."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.nets import rrdb
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
ARCH = rrdb(scale=2, num_grow_ch=8)


def _run(tool, *args):
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / tool), *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    return res.returncode, res.stdout, res.stderr


@pytest.fixture(scope='module')
def setup(tmp_path_factory, hr_photos):
    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    d = tmp_path_factory.mktemp('cli')
    net = models.build_network(ARCH)
    rng = np.random.default_rng(0)
    state = {}
    for k, v in net.state_dict().items():
        shape = tuple(v.shape)
        std = 1.0 / np.sqrt(np.prod(shape[1:])) if len(shape) == 4 else 0.02
        state[k] = rng.normal(0, std, shape).astype(np.float32)
    state['conv_last.bias'][:] = 0.5
    weights = save_checkpoint(d / 'tiny_x2.pdparams', params=state, arch=ARCH)
    photo = next(cv2.imread(str(p)) for p in hr_photos if cv2.imread(str(p)).ndim == 3)
    inputs = d / 'in'
    inputs.mkdir()
    good = inputs / 'good.png'
    cv2.imwrite(str(good), photo[100:164, 100:180])
    data = good.read_bytes()
    (inputs / 'truncated.png').write_bytes(data[:len(data) // 3])
    (inputs / 'notes.jpg').write_text('this is a text file, not a JPEG\n')
    return d, weights, inputs, good


def test_export_infer_predict_agree_and_bad_inputs(setup):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.evaluation.metrics import psnr
    d, weights, inputs, good = setup
    rc, out, err = _run('export_model.py', '--model_path', weights, '--save-inference-dir', d / 'infer')
    assert rc == 0, err
    assert (d / 'infer' / 'inference.pdmodel').is_file() and 'max abs diff' in out

    rc, _, err = _run('infer.py', '--input', inputs, '--output', d / 'out_infer', '--model_path', d / 'infer', '-q')
    assert rc == 1  # two inputs failed
    failed = [ln for ln in err.splitlines() if ln.startswith('failed:')]
    assert len(failed) == 2
    assert any('truncated.png' in ln and 'truncated' in ln.split('truncated.png', 1)[1] for ln in failed)
    assert any('notes.jpg' in ln and 'not an image' in ln for ln in failed)
    assert 'Traceback' not in err
    assert '1 done, 2 failed' in err and 's/MP' in err
    got_infer = cv2.imread(str(d / 'out_infer' / 'good_out.png'))

    rc, _, err = _run('predict.py', '-i', good, '-o', d / 'pred.png', '--model_path', weights, '--fp16', '-q')
    assert rc == 0, err
    assert 'GPU only' in err  # --fp16 on CPU: a warning, not a crash
    got_pred = cv2.imread(str(d / 'pred.png'))
    assert got_pred.shape == got_infer.shape == (128, 160, 3)
    assert psnr(got_pred, got_infer) >= 45
    api = Upscaler(weights, backend='dynamic').upscale(cv2.imread(str(good)))
    np.testing.assert_array_equal(api, got_pred)  # the Python API gives the CLI's result


def test_output_equal_to_input_is_refused(setup):
    d, weights, inputs, good = setup
    before = good.read_bytes()
    rc, _, err = _run('predict.py', '-i', good, '-o', good, '--model_path', weights, '-q')
    assert rc == 2 and 'Traceback' not in err and a_line(err, f'{good}: it is the input {good}')
    assert good.read_bytes() == before


def test_bad_model_and_missing_input_are_one_line(setup, tmp_path):
    d, weights, inputs, good = setup
    rc, _, err = _run('infer.py', '-i', good, '-o', tmp_path, '--model_path', tmp_path / 'missing.pdparams')
    assert rc == 2 and 'missing.pdparams' in err and 'Traceback' not in err
    rc, _, err = _run('infer.py', '-i', tmp_path / 'nothing_here', '-o', tmp_path, '--model_path', weights)
    assert rc == 2 and 'nothing_here' in err and 'Traceback' not in err


def test_engine_flag_picks_the_predictor_engine(setup, tmp_path):
    """--engine onednn and the default (OpenVINO for RRDBNet where the build has it) give the same image."""
    from realesrgan_paddle.evaluation.metrics import psnr
    d, weights, inputs, good = setup
    outs = {}
    for engine in ('auto', 'onednn'):
        rc, _, err = _run('infer.py', '-i', good, '-o', tmp_path / f'{engine}.png', '--model_path', weights,
                          '--engine', engine)
        assert rc == 0, err
        assert 'via predictor (' in err
        outs[engine] = (cv2.imread(str(tmp_path / f'{engine}.png')), err)
    assert 'via predictor (onednn)' in outs['onednn'][1]
    assert psnr(outs['auto'][0], outs['onednn'][0]) >= 45
    rc, _, err = _run('infer.py', '-i', good, '-o', tmp_path / 'x.png', '--model_path', weights, '--engine', 'tpu')
    assert rc == 2 and 'invalid choice' in err
