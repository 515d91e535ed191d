"""The wrappers released files use (``checkpoint_io.state_file.pick_params``: ``params-ema``, ``model_state_dict``,
``model``, ``net``, a single entry) read from files on disk, and the hostile shapes of them: a wrapper of strings, a
wrapper whose keys are not names, a single entry holding a list, the preferred key holding nothing. Each is read
through ``load_state_file`` (the restricted reader), the good ones also through the public ``Upscaler`` against the
bare state dict, bit for bit; the bad ones give one line naming the file through ``tools/predict.py``."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params

from tests.cli_checks import a_line
from tests.nets import TINY, tiny_state

ROOT = Path(__file__).resolve().parents[2]
ARCH = TINY['srvgg_x4']


def _write(path, obj):
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=4)
    return path


def _read(path):
    return pick_params(load_state_file(path), with_key=True)


@pytest.fixture(scope='module')
def state():
    return tiny_state(ARCH, 0)


@pytest.mark.parametrize('wrap, used', [
    (lambda s: {'params-ema': s, 'model': {k: v * 0 for k, v in s.items()}}, 'params-ema'),
    (lambda s: {'model_state_dict': s, 'optimizer_state_dict': {'lr': 0.1}, 'epoch': 3}, 'model_state_dict'),
    (lambda s: {'model': s, 'optimizer': {'state': {}, 'param_groups': []}}, 'model'),
    (lambda s: {'net': {f'module.{k}': v for k, v in s.items()}}, 'net'),
    (lambda s: {'generator': s}, 'generator'),  # the one dict a single-entry file holds
    (lambda s: {'model': {'note': 'strings are skipped'}, 'params': s}, 'params'),  # params before the wrappers
])
def test_released_wrappers_read_the_network(tmp_path, state, wrap, used):
    path = _write(tmp_path / 'user.pth', wrap(state))
    got, _, key = _read(path)
    assert key == used
    assert sorted(got) == sorted(state)
    for k in state:
        np.testing.assert_array_equal(got[k], state[k])


def test_a_wrapped_file_upscales_as_the_bare_one(tmp_path, state):
    """The public Upscaler on a real photo crop: a ``{'model': ...}`` file and the bare state dict, bit for bit."""
    from skimage import data
    from realesrgan_paddle.inference import Upscaler
    x = np.ascontiguousarray(data.astronaut()[100:131, 200:237].transpose(2, 0, 1).astype(np.float32) / 255)
    bare = _write(tmp_path / 'bare.pth', dict(state))
    wrapped = _write(tmp_path / 'wrapped.pth', {'model': dict(state), 'optimizer': {'step': 10}})
    outs = [Upscaler(str(p), backend='dynamic', tile=0, precision='fp32').run_chw(x) for p in (bare, wrapped)]
    assert outs[0].shape == (3, 31 * 4, 37 * 4)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize('obj, says', [
    ({'model': {'a': 'text'}, 'net': {'b': 3}}, 'no tensors found'),
    ({'only': [np.zeros(3, np.float32)]}, 'no tensors found'),
    ({'net': {7: np.zeros(3, np.float32)}}, 'stored under the key 7'),
    ({'params_ema': {}, 'model': {}}, 'no tensors found'),
])
def test_hostile_wrappers_are_refused(tmp_path, obj, says):
    path = _write(tmp_path / 'hostile.pth', obj)
    with pytest.raises(ValueError, match=says):
        _read(path)


def test_hostile_wrapper_is_one_line_from_the_tool(tmp_path):
    path = _write(tmp_path / 'hostile.pth', {'model': {'a': 'text'}, 'net': {'b': 3}})
    out = tmp_path / 'out'
    r = subprocess.run([sys.executable, 'tools/predict.py', '--model_path', str(path), '--input',
                        str(ROOT / 'assets' / 'example_lq.png'), '--output', str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert 'Traceback' not in r.stderr
    line = a_line(r.stderr, str(path), 'no tensors found')
    assert len(line) < 400
    assert not out.exists() or not any(out.iterdir())
