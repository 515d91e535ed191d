"""Pixel and GAN losses: values against numpy/torch formulas, reductions, weights, bad input, gradients."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import GANLoss, L1Loss, MSELoss, build_loss, gan_loss, l1_loss, mse_loss
from tests.op_tester import LossTester


def _pair(seed=0, shape=(2, 3, 8, 8)):
    rng = np.random.default_rng(seed)
    a, b = rng.random(shape).astype('float32'), rng.random(shape).astype('float32')
    return a, b, paddle.to_tensor(a), paddle.to_tensor(b)


def test_l1_value_and_reductions():
    a, b, ta, tb = _pair()
    assert float(l1_loss(ta, tb)) == pytest.approx(np.abs(a - b).mean(), rel=1e-6)
    assert float(l1_loss(ta, tb, 'sum')) == pytest.approx(np.abs(a - b).sum(), rel=1e-5)
    assert tuple(l1_loss(ta, tb, 'none').shape) == a.shape
    assert float(mse_loss(ta, tb)) == pytest.approx(((a - b) ** 2).mean(), rel=1e-6)


class TestL1(LossTester):
    grad_rtol = 0.1  # |x| has a kink at 0: a few pixels of the photo pair sit within the step
    bad_inputs = [(lambda t: L1Loss(reduction='median'), ValueError, 'reduction'),
                  (lambda t: build_loss({'type': 'Nope'}), ValueError, 'unknown loss')]

    def loss(self, pred, target, reduction='mean'):
        return l1_loss(pred, target, reduction)

    def layer(self):
        return L1Loss(loss_weight=self.WEIGHT)


class TestMSE(LossTester):
    bad_inputs = [(lambda t: MSELoss(reduction='median'), ValueError, 'reduction')]

    def loss(self, pred, target, reduction='mean'):
        return mse_loss(pred, target, reduction)

    def layer(self):
        return MSELoss(self.WEIGHT)


def test_l1_bad_input():
    _, _, ta, _ = _pair()
    with pytest.raises(ValueError, match='shapes differ'):
        l1_loss(ta, ta[:, :, :4])


def test_l1_gradient_is_sign_over_n():
    a, b, ta, tb = _pair(2)
    ta.stop_gradient = False
    l1_loss(ta, tb).backward()
    np.testing.assert_allclose(ta.grad.numpy(), np.sign(a - b) / a.size, rtol=1e-6)


def test_vanilla_gan_matches_bce_formula(torch):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 1, 8, 8)).astype('float32') * 3
    t = paddle.to_tensor(x)
    sig = 1 / (1 + np.exp(-x.astype('float64')))
    assert float(gan_loss(t, True)) == pytest.approx(-np.log(sig).mean(), rel=1e-5)
    assert float(gan_loss(t, False)) == pytest.approx(-np.log(1 - sig).mean(), rel=1e-5)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(x), torch.ones(x.shape))
    assert float(gan_loss(t, True)) == pytest.approx(float(ref), rel=1e-5)


def test_gan_loss_weight_only_for_generator():
    t = paddle.to_tensor(np.linspace(-2, 2, 16, dtype='float32').reshape(1, 1, 4, 4))
    crit = GANLoss('vanilla', loss_weight=0.1)
    assert float(crit(t, True, is_disc=False)) == pytest.approx(0.1 * float(gan_loss(t, True)), rel=1e-6)
    assert float(crit(t, True, is_disc=True)) == pytest.approx(float(gan_loss(t, True)), rel=1e-6)


def test_other_gan_types():
    x = np.array([-1.5, -0.2, 0.3, 2.0], dtype='float32').reshape(1, 1, 2, 2)
    t = paddle.to_tensor(x)
    assert float(gan_loss(t, True, 'lsgan')) == pytest.approx(((x - 1) ** 2).mean(), rel=1e-6)
    assert float(gan_loss(t, True, 'hinge', is_disc=True)) == pytest.approx(np.maximum(0, 1 - x).mean(), rel=1e-6)
    assert float(gan_loss(t, False, 'hinge', is_disc=True)) == pytest.approx(np.maximum(0, 1 + x).mean(), rel=1e-6)
    assert float(gan_loss(t, True, 'hinge', is_disc=False)) == pytest.approx(-x.mean(), rel=1e-6)
    assert float(gan_loss(t, True, 'wgan')) == pytest.approx(-x.mean(), rel=1e-6)
    with pytest.raises(ValueError, match='gan_type'):
        GANLoss('relativistic')


def test_gan_gradient_pushes_logits_towards_target():
    t = paddle.to_tensor(np.zeros((1, 1, 4, 4), 'float32'), stop_gradient=False)
    gan_loss(t, True).backward()
    g = t.grad.numpy()
    assert np.all(g < 0) and np.allclose(g, -0.5 / 16)  # d/dx -log(sigmoid(x)) at 0 = -0.5, mean over 16
