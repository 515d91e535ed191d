"""Self-anchoring in the trainer: the frozen teacher (predictor and dynamic graph) is the base network, the
student starts equal to it (anchor term = low band only), the option checks; ``train.teacher`` names another
model (a weights file of another architecture, an export folder) and the teacher is that model."""
import logging

import numpy as np
import paddle
import pytest

from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import OptionsError, load_options
from realesrgan_paddle.training.teacher import FrozenTeacher

from tests.nets import rrdb, save_tiny, srvgg
from tests.training.smoke import SMOKE, _batch
from tests.cli_checks import a_line

LOG = logging.getLogger('test.train.anchor')
ANCHOR = ['model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null', 'train.pixel_opt.loss_weight=0.0',
          'train.anchor_opt.loss_weight=1.0', 'train.ema_decay=0']


@pytest.mark.parametrize('backend', ['predictor', 'dynamic'])
def test_teacher_is_the_base_network(base_weights, backend, photo_batch, tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))  # the predictor's export goes here
    path, net = base_weights
    lq = paddle.nn.functional.avg_pool2d(photo_batch(2, 64), 4)
    teacher = FrozenTeacher(path, backend, 'cpu', LOG)
    assert teacher.backend == backend
    net.eval()
    with paddle.no_grad():
        ref = net(lq).numpy()
    out = teacher(lq)
    assert out.stop_gradient and out.shape == [2, 3, 64, 64]
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-4)


def test_anchor_starts_at_the_low_band_and_trains(tmp_path, base_weights, photo_batch):
    path, net = base_weights
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'path.pretrain_network_g={path}',
                               'train.teacher_backend=dynamic', *ANCHOR])
    paddle.seed(0)
    model = build_model(opt, LOG)
    lq, gt, gt_usm = _batch(photo_batch)
    from realesrgan_paddle.loss import high_band_l1_loss
    with paddle.no_grad():
        out0 = model.g(lq)
    # the student is the teacher: the anchor's high-band term is 0, the low band's L1 is all there is
    assert float(high_band_l1_loss(out0, model.teacher(lq))) == pytest.approx(0.0, abs=1e-5)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    losses = model.optimize(lq, gt, gt_usm, 1)
    assert losses['l_g_anchor_low'] > 0 and losses['l_g_pix'] == 0.0 and losses['l_g_anchor_high'] < 1e-5
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())
    # the teacher did not move
    np.testing.assert_allclose(model.teacher(lq).numpy(), out0.numpy(), atol=1e-6)


def test_anchor_options_are_checked(tmp_path):
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *ANCHOR, 'train.teacher_backend=onnx',
                             'train.anchor_opt.sigma=wide'])
    text = str(e.value)
    a_line(text, 'train.anchor_opt', 'path.pretrain_network_g')
    assert 'train.teacher_backend' in text and 'train.anchor_opt.sigma' in text
    with pytest.raises(ValueError, match='teacher_backend'):
        FrozenTeacher('x.pdparams', 'onnx')


def _outputs(weights, lq):
    from realesrgan_paddle import models
    net, _ = models.load_network(weights)
    net.eval()
    with paddle.no_grad():
        return net(lq).numpy()


@pytest.mark.parametrize('backend', ['predictor', 'dynamic'])
def test_train_teacher_is_that_model_not_the_base(tmp_path, base_weights, photo_batch, backend, monkeypatch):
    """train.teacher = an RRDBNet weights file: the trainer's teacher gives that network's output (not the
    base's), and the student's first step is pulled towards its band."""
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    path, _ = base_weights
    other = save_tiny(tmp_path / 'teacher.pdparams', rrdb(), seed=7)
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'path.pretrain_network_g={path}',
                               f'train.teacher={other}', f'train.teacher_backend={backend}', *ANCHOR])
    paddle.seed(0)
    model = build_model(opt, LOG)
    lq, gt, gt_usm = _batch(photo_batch)
    assert model.teacher.weights == str(other) and model.teacher.backend == backend
    got = model.teacher(lq).numpy()
    np.testing.assert_allclose(got, _outputs(other, lq), atol=1e-4)
    assert np.abs(got - _outputs(path, lq)).mean() > 1e-2  # not the base
    from realesrgan_paddle.loss import high_band_l1_loss
    with paddle.no_grad():
        out0 = model.g(lq)
    # the student is not the teacher: the high band term is not zero at the first step
    assert float(high_band_l1_loss(out0, model.teacher(lq))) > 1e-4
    assert model.optimize(lq, gt, gt_usm, 1)['l_g_anchor_high'] > 1e-4


def test_teacher_from_an_export_folder(tmp_path, photo_batch, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    from realesrgan_paddle.inference.export.paddle_export import cached_export
    weights = save_tiny(tmp_path / 't.pdparams', srvgg(), seed=5)
    folder = cached_export(str(weights))
    lq = paddle.nn.functional.avg_pool2d(photo_batch(1, 64), 4)
    teacher = FrozenTeacher(folder, 'auto', 'cpu', LOG)
    assert teacher.backend == 'predictor' and teacher.weights == str(folder)
    np.testing.assert_allclose(teacher(lq).numpy(), _outputs(weights, lq), atol=1e-4)
    with pytest.raises(ValueError, match='export folder: it runs on the predictor only'):
        FrozenTeacher(folder, 'dynamic', 'cpu')


def test_teacher_references_are_checked(tmp_path):
    with pytest.raises(ValueError, match='train.teacher: bicubic: a bicubic model cannot be a teacher'):
        FrozenTeacher('bicubic')
    with pytest.raises(ValueError, match='train.teacher: .*no such model file'):
        FrozenTeacher(str(tmp_path / 'missing.pdparams'))
    with pytest.raises(OptionsError, match='train.teacher: file .or model-zoo name. not found'):
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *ANCHOR, f'train.teacher={tmp_path}/no.pdparams'])
    # a teacher alone is enough for the anchor (a student trained from scratch)
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', *ANCHOR, 'train.teacher=realesrgan-x4plus'])
    assert opt['train']['teacher'] == 'realesrgan-x4plus'
