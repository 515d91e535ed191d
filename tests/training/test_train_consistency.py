"""The consistency loss in the trainer: real LQ crops (data/datasets/real_lq_crops.py) through the generator, the term in the
losses, the option pairing check, and bad real-LQ folders in one line."""
import logging

import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.datasets.real_lq_crops import RealLQCrops
from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import OptionsError, load_options

from tests.training.smoke import SMOKE, _batch
from tests.cli_checks import one_line

LOG = logging.getLogger('test.train.consistency')
NET = ['model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null']


@pytest.fixture
def real_lq(tmp_path, photo_crops):
    d = tmp_path / 'real_lq'
    d.mkdir()
    for i, c in enumerate(photo_crops(3, 40)):
        cv2.imwrite(str(d / f'f_{i}.png'), cv2.resize(c, (20, 20), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(d / 'small.png'), photo_crops(1, 12)[0])  # smaller than the crop: reflect-padded
    return d


def _cons(d, weight=1.0, crop=16, batch=3):
    return [f'train.consistency_opt={{"type": "ConsistencyLoss", "loss_weight": {weight}, "sigma": 0.6}}',
            f'datasets.real_lq={{"dataroot_lq": "{d}", "crop": {crop}, "batch_size": {batch}}}']


def test_real_lq_crops(real_lq):
    a, b = RealLQCrops(real_lq, 16, 5, seed=1), RealLQCrops(real_lq, 16, 5, seed=1)
    x = a.sample()
    assert len(a) == 4 and x.shape == (5, 3, 16, 16) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.array_equal(x, b.sample())  # seeded: reproducible
    assert a.batch().shape == [5, 3, 16, 16]


def test_consistency_term_trains(tmp_path, photo_batch, real_lq):
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *_cons(real_lq)])
    paddle.seed(0)
    model = build_model(opt, LOG)
    assert model.sources['real_lq'].batch_size == 3 and [(t.loss.scale, t.target) for t in model.terms if t.name == 'l_g_cons'] == [(4, 'lq')]
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    lq, gt, gt_usm = _batch(photo_batch)
    losses = model.optimize(lq, gt, gt_usm, 1)
    assert losses['l_g_cons'] > 0 and np.isfinite(losses['l_g_cons'])
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())
    # only the consistency term (pixel weight 0): the generator still moves, through the real LQ alone
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, 'train.pixel_opt.loss_weight=0.0',
                               *_cons(real_lq, 5.0)])
    model = build_model(opt, LOG)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    losses = model.optimize(lq, gt, gt_usm, 1)
    assert losses['l_g_pix'] == 0.0 and losses['l_g_cons'] > 0
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())


def test_consistency_options_checked(tmp_path, real_lq):
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, _cons(real_lq)[0]])
    one_line(str(e.value), 'train.consistency_opt', 'datasets.real_lq')
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *_cons(tmp_path / 'nothing')])
    assert 'datasets.real_lq.dataroot_lq' in str(e.value)


def test_bad_real_lq_folders_one_line(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no images'):
        RealLQCrops(tmp_path / 'empty')
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(ValueError) as e:
        RealLQCrops(bad)
    assert 'broken.png' in str(e.value) and 'cannot read' in str(e.value) and '\n' not in str(e.value)
    with pytest.raises(ValueError, match='crop must be'):
        RealLQCrops(bad, crop=2)


def test_stability_term_trains_on_real_frames_and_on_the_batch(tmp_path, photo_batch, real_lq):
    """train.stability_opt: on the real LQ crops when datasets.real_lq is set, else on the synthetic batch; the
    generator moves through it alone (pixel weight 0)."""
    stab = 'train.stability_opt={"type": "StabilityLoss", "loss_weight": 5.0, "noise_sigma": [1.0, 2.0]}'
    lq, gt, gt_usm = _batch(photo_batch)
    for extra in ([*_cons(real_lq, 0.0)], []):
        opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, 'train.pixel_opt.loss_weight=0.0',
                                   stab, *extra])
        paddle.seed(0)
        model = build_model(opt, LOG)
        assert [t.loss.noise_sigma for t in model.terms if t.name == 'l_g_stab'] == [(1.0, 2.0)]
        before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
        losses = model.optimize(lq, gt, gt_usm, 1)
        assert losses['l_g_stab'] > 0 and np.isfinite(losses['l_g_stab'])
        assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())
