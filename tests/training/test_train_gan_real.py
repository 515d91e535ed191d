"""``train.gan_real: teacher``: the discriminator's real samples are the anchor's teacher on the same degraded
input instead of the GT; the option needs the GAN model and a teacher."""
import logging

import numpy as np
import paddle
import pytest

from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import OptionsError, load_options

from tests.training.smoke import SMOKE, _batch

LOG = logging.getLogger('test.train.gan_real')


def _opts(tmp_path, path, real='teacher'):
    return [f'path.experiments_root={tmp_path}', f'path.pretrain_network_g={path}', 'train.teacher_backend=dynamic',
            'train.anchor_opt={"type": "SelfAnchorLoss", "high_weight": 0.0, "energy_weight": 1.0}',
            f'train.gan_real={real}', 'train.net_d_init_iters=0', 'train.ema_decay=0']


@pytest.mark.parametrize('real', ['teacher', 'gt'])
def test_discriminator_sees_the_chosen_real_samples(tmp_path, base_weights, photo_batch, real):
    path, _ = base_weights
    paddle.seed(0)
    model = build_model(load_options(SMOKE, _opts(tmp_path, path, real)), LOG)
    lq, gt, gt_usm = _batch(photo_batch)
    seen = []
    model.net_d.register_forward_pre_hook(lambda layer, inputs: seen.append(inputs[0].numpy().copy()))
    with paddle.no_grad():
        want = (model.teacher(lq) if real == 'teacher' else (gt_usm if model.opt['gan_gt_usm'] else gt)).numpy()
    losses = model.optimize(lq, gt, gt_usm, 1)
    assert {'l_g_gan', 'l_d_real', 'l_d_fake'} <= set(losses)
    n = want.shape[0]
    d_batch = seen[-1]  # the discriminator's step: real then fake in one batch
    assert d_batch.shape[0] == 2 * n
    np.testing.assert_allclose(d_batch[:n], want, atol=1e-5)


def test_gan_real_teacher_needs_its_parts(tmp_path, base_weights):
    path, _ = base_weights
    with pytest.raises(OptionsError, match='gan_real'):  # no GAN model
        load_options(SMOKE, [*_opts(tmp_path, path), 'model_type=RealESRNetModel', 'network_d=null',
                             'train.gan_opt=null'])
    with pytest.raises(OptionsError, match='gan_real'):  # no teacher
        load_options(SMOKE, [*_opts(tmp_path, path), 'train.anchor_opt=null'])
    with pytest.raises(OptionsError, match='gan_real'):
        load_options(SMOKE, _opts(tmp_path, path, 'pixels'))


def test_teacher_runs_once_per_batch(tmp_path, base_weights, photo_batch):
    """The anchor loss and the teacher-real critic share one teacher pass per batch."""
    path, _ = base_weights
    paddle.seed(0)
    model = build_model(load_options(SMOKE, _opts(tmp_path, path)), LOG)
    calls = []
    run = model.teacher.__call__
    model.teacher = lambda x: calls.append(1) or run(x)
    model.optimize(*_batch(photo_batch), 1)
    assert len(calls) == 1
    model.optimize(*_batch(photo_batch), 2)  # a new batch: a new pass
    assert len(calls) == 2
