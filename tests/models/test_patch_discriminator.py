"""PatchDiscriminatorSN and its Haar view (kornia habits: known case, shape, gradient, bad input), and the
GAN trainer with it as network_d."""
import logging
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.feature_nets.patch_discriminator import VIEWS, PatchDiscriminatorSN, haar_high

ROOT = Path(__file__).resolve().parents[2]


def _d(view, **kw):
    paddle.seed(0)
    return models.build_network({'type': 'PatchDiscriminatorSN', 'num_feat': 8, 'view': view, **kw})


def test_haar_high_known_cases():
    """Orthonormal: a flat image has no high band; a checkerboard is all HH; energy splits exactly."""
    flat = paddle.full([1, 2, 8, 8], 0.7)
    assert float(paddle.abs(haar_high(flat)).max()) == 0
    cb = paddle.to_tensor(((np.indices((8, 8)).sum(0) % 2) * 2 - 1).astype('float32'))[None, None]
    lh, hl, hh = haar_high(cb)[0].numpy()
    assert np.abs(lh).max() == 0 and np.abs(hl).max() == 0 and np.allclose(hh, -2.0)
    x = paddle.rand([2, 3, 16, 12])
    low = (x[:, :, 0::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]) / 2
    high = haar_high(x)
    assert high.shape == [2, 9, 8, 6]
    assert float((high ** 2).sum() + (low ** 2).sum()) == pytest.approx(float((x ** 2).sum()), rel=1e-5)


@pytest.mark.parametrize('view, cells', [('rgb', 8), ('wavelet', 4), ('lq', 16)])
def test_logit_map_shapes(view, cells):
    d = _d(view)
    assert d(paddle.rand([2, 3, 64, 64])).shape == [2, 1, cells, cells]
    assert models.get_spec('PatchDiscriminatorSN').generator is False


def test_wavelet_view_sees_texture_only():
    """An even offset (no Haar high band) does not move the wavelet critic; it moves the RGB one (eval mode:
    spectral norm's power iteration does not step between the two calls)."""
    x = paddle.rand([1, 3, 32, 32])
    d, rgb = _d('wavelet'), _d('rgb')
    d.eval(), rgb.eval()
    assert np.allclose(d(x).numpy(), d(x + 0.25).numpy(), atol=1e-6)
    assert not np.allclose(rgb(x).numpy(), rgb(x + 0.25).numpy(), atol=1e-4)


@pytest.mark.parametrize('view', VIEWS)
def test_gradient_reaches_input_and_weights(view):
    d = _d(view)
    x = paddle.rand([1, 3, 32, 32])
    x.stop_gradient = False
    d(x).mean().backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()).sum() > 0
    grads = [p.grad for p in d.parameters() if not p.stop_gradient]
    assert grads and all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_bad_input():
    with pytest.raises(ValueError, match='view must be one of'):
        PatchDiscriminatorSN(view='fft')
    with pytest.raises(ValueError, match='num_layers must be >= 1'):
        PatchDiscriminatorSN(num_layers=0)
    with pytest.raises(ValueError, match=r'expected N x 3 x H x W, got \[1, 1, 32, 32\]'):
        _d('rgb')(paddle.rand([1, 1, 32, 32]))
    with pytest.raises(ValueError, match="view 'lq' needs H and W divisible by 4"):
        _d('lq')(paddle.rand([1, 3, 30, 32]))
    with pytest.raises(ValueError, match="view 'wavelet' needs H and W divisible by 2"):
        _d('wavelet')(paddle.rand([1, 3, 32, 33]))


@pytest.mark.parametrize('view', ['wavelet', 'lq'])
def test_gan_trainer_steps_both_networks_with_it(tmp_path, photo_batch, view):
    from realesrgan_paddle.training.steps import build_model
    from realesrgan_paddle.training.option_file import load_options
    opt = load_options(ROOT / 'options' / 'tiny_smoke.yml', [
        f'path.experiments_root={tmp_path}', 'train.net_d_init_iters=0', 'train.ldl_opt.loss_weight=1.0',
        f'network_d={{type: PatchDiscriminatorSN, num_in_ch: 3, num_feat: 8, num_layers: 2, view: {view}}}'])
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test.patch_d'))
    assert isinstance(model.d, PatchDiscriminatorSN)
    g0 = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    d0 = {k: v.numpy().copy() for k, v in model.d.state_dict().items()}
    gt = photo_batch(2, 64)
    losses = model.optimize(paddle.nn.functional.avg_pool2d(gt, 4), gt, gt, 1)
    for k in ('l_g_gan', 'l_d_real', 'l_d_fake', 'l_g_ldl'):
        assert np.isfinite(losses[k]), k
    assert any(not np.array_equal(v.numpy(), g0[k]) for k, v in model.g.state_dict().items())
    assert any(not np.array_equal(v.numpy(), d0[k]) for k, v in model.d.state_dict().items())


def test_spectral_norm_can_be_left_out():
    with_sn, plain = _d('wavelet'), _d('wavelet', spectral=False)
    assert any(k.endswith('weight_orig') for k in with_sn.state_dict())
    assert not any(k.endswith('weight_orig') for k in plain.state_dict())
    x = paddle.rand([1, 3, 32, 32])
    x.stop_gradient = False
    plain(x).mean().backward()
    assert np.abs(x.grad.numpy()).sum() > 0
