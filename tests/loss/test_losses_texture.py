"""Texture losses without pretrained weights (kornia habits: value on a known case, shape, gradient,
function = Layer, bad input): sliced Wasserstein over random patch projections and the random-weight VGG19
perceptual / Gram loss."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import LOSSES, RandomVGGLoss, SlicedWassersteinLoss, build_loss, sliced_wasserstein_loss
from realesrgan_paddle.loss.frequency import gaussian_blur
from realesrgan_paddle.loss.perceptual import perceptual_loss
from realesrgan_paddle.loss.texture import random_vgg
from tests.op_tester import LossTester


def _swd(pred, target, seed=0, **kw):
    paddle.seed(seed)
    return float(sliced_wasserstein_loss(pred, target, **kw))


def test_swd_known_cases_on_a_photo(photo_batch):
    """The projections are zero-mean and linear: an even offset is invisible, a contrast gain ``a`` costs
    ``|a - 1|`` times the distance to a flat image, and a shift of the texture costs far less than a blur."""
    gt = photo_batch(2, 64)
    kw = dict(num_proj=8, patch=5, scales=2)
    assert _swd(gt, gt, **kw) == pytest.approx(0.0, abs=1e-7)
    assert _swd(gt + 0.1, gt, **kw) < 1e-5
    flat = _swd(paddle.zeros_like(gt), gt, **kw)
    assert flat > 0
    assert _swd(gt * 2.0, gt, **kw) == pytest.approx(flat, rel=1e-4)
    assert _swd(gt * 1.5, gt, **kw) == pytest.approx(0.5 * flat, rel=1e-4)
    # phase-free: the texture moved by 4 px (same statistics, other place) against the texture blurred away
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    blurred = gaussian_blur(gt, 2.0)
    l1 = float(paddle.abs(shifted - gt).mean()) / float(paddle.abs(blurred - gt).mean())
    assert _swd(shifted, gt, **kw) / _swd(blurred, gt, **kw) < 0.5 * l1


def test_swd_shapes_seed_and_reductions():
    rng = np.random.default_rng(1)
    p, t = (paddle.to_tensor(rng.random((2, 3, 32, 32)).astype('float32')) for _ in range(2))
    paddle.seed(3)
    per = sliced_wasserstein_loss(p, t, num_proj=4, patch=3, scales=3, reduction='none')
    assert per.shape == [2, 12] and float(per.min()) >= 0
    paddle.seed(3)
    assert float(sliced_wasserstein_loss(p, t, 4, 3, 3)) == pytest.approx(float(per.mean()), rel=1e-6)
    paddle.seed(3)
    assert float(sliced_wasserstein_loss(p, t, 4, 3, 3, reduction='sum')) == pytest.approx(float(per.sum()), rel=1e-5)
    assert _swd(p, t, seed=4, num_proj=4, patch=3) != _swd(p, t, seed=5, num_proj=4, patch=3)  # fresh projections per call
    one = paddle.to_tensor(rng.random((1, 1, 32, 32)).astype('float32'))
    assert sliced_wasserstein_loss(one, one * 0.5, 2, 3, 1).shape == []  # any channel count


class TestSlicedWasserstein(LossTester):
    """Fresh random projections on every call: each call is seeded the same, so that calls compare."""
    shapes = [(1, 3, 32, 32), (2, 3, 24, 40)]
    prediction_only = True
    none_shape = staticmethod(lambda s: (s[0], 2 * 6))  # per image: scales x num_proj distances
    bad_inputs = [
        (lambda t: sliced_wasserstein_loss(*[paddle.rand([1, 3, 32, 32])] * 2, patch=11, scales=3), ValueError,
         'too small for 3 scales of 11 px'),
        (lambda t: sliced_wasserstein_loss(*[paddle.rand([1, 3, 32, 32])] * 2, num_proj=0), ValueError,
         'num_proj, patch and scales'),
        (lambda t: SlicedWassersteinLoss(scales=0), ValueError, 'num_proj, patch and scales'),
        (lambda t: sliced_wasserstein_loss(paddle.rand([3, 32, 32]), paddle.rand([3, 32, 32])), ValueError, 'NCHW'),
        (lambda t: sliced_wasserstein_loss(paddle.rand([1, 3, 32, 32]), np.zeros((1, 3, 32, 32), 'float32')),
         TypeError, 'paddle Tensors')]

    def loss(self, pred, target, reduction='mean'):
        paddle.seed(7)
        return sliced_wasserstein_loss(pred, target, 6, 5, 2, reduction=reduction)

    def layer(self):
        return SlicedWassersteinLoss(self.WEIGHT, num_proj=6, patch=5, scales=2)

    def call_layer(self, layer, x, *rest):
        paddle.seed(7)
        return layer(x, *rest)


def test_swd_is_registered_with_its_options():
    assert LOSSES['SlicedWassersteinLoss'] is SlicedWassersteinLoss
    assert build_loss({'type': 'SlicedWassersteinLoss', 'num_proj': 2}).num_proj == 2


@pytest.fixture(scope='module')
def rvgg():
    return RandomVGGLoss(perceptual_weight=1.0, style_weight=0.0, seed=0)


def test_random_vgg_is_seeded_he_normal():
    a, b, c = random_vgg(['conv1_2'], 0), random_vgg(['conv1_2'], 0), random_vgg(['conv1_2'], 1)
    wa, wb, wc = (n.state_dict() for n in (a, b, c))
    keys = [k for k in wa if k.endswith('.weight')]
    assert keys and all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in keys)
    assert not np.array_equal(wa[keys[0]].numpy(), wc[keys[0]].numpy())
    w = wa[keys[-1]].numpy()  # conv1_2: 64 x 64 x 3 x 3, He-normal std sqrt(2 / 576)
    assert w.std() == pytest.approx(np.sqrt(2 / np.prod(w.shape[1:])), rel=0.05)
    assert all(p.stop_gradient for p in a.parameters())


def test_random_vgg_known_cases_on_a_photo(photo_batch, rvgg):
    """Zero at the GT; a blur costs more than faint noise of the same L1 size would suggest; the Gram term
    (texture statistics without place) charges a shift far less than the feature term does."""
    gt = photo_batch(2, 64)
    assert float(rvgg(gt, gt)) == pytest.approx(0.0, abs=1e-6)
    blurred = gaussian_blur(gt, 2.0)
    assert float(rvgg(blurred, gt)) > 0
    gram = RandomVGGLoss(perceptual_weight=0.0, style_weight=1.0, seed=0)
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    blurred = gaussian_blur(gt, 2.0)
    assert float(gram(shifted, gt)) / float(gram(blurred, gt)) < 0.5 * float(rvgg(shifted, gt)) / float(rvgg(blurred, gt))


def test_random_vgg_layer_equals_function_and_is_registered(photo_batch, rvgg):
    gt = photo_batch(1, 48)
    pred = gaussian_blur(gt, 1.0)
    layer = RandomVGGLoss(0.5, perceptual_weight=1.0, style_weight=2.0, seed=0)
    net = random_vgg(layer.layer_weights, 0)
    percep, style = perceptual_loss(net(pred), net(gt), layer.layer_weights, 'l1', 1.0, 2.0)
    assert float(layer(pred, gt)) == pytest.approx(0.5 * float(percep + style), rel=1e-5)
    assert LOSSES['RandomVGGLoss'] is RandomVGGLoss
    built = build_loss({'type': 'RandomVGGLoss', 'style_weight': 1.0, 'layer_weights': {'conv2_2': 1.0}})
    assert built.style_weight == 1.0 and built.layer_weights == {'conv2_2': 1.0}


def test_random_vgg_gradient_reaches_the_prediction_only(photo_batch, rvgg):
    gt = photo_batch(1, 32)
    pred = gaussian_blur(gt, 1.0)
    pred.stop_gradient = gt.stop_gradient = False
    rvgg(pred, gt).backward()
    assert np.isfinite(pred.grad.numpy()).all() and np.abs(pred.grad.numpy()).sum() > 0
    assert gt.grad is None or np.abs(gt.grad.numpy()).sum() == 0


def test_random_vgg_bad_input(rvgg):
    x = paddle.rand([1, 3, 32, 32])
    with pytest.raises(ValueError, match='expected 3 channels'):
        rvgg(x[:, :1], x[:, :1])
    with pytest.raises(ValueError, match='differ in shape'):
        rvgg(x, x[:, :, :16])
    with pytest.raises(ValueError, match='one of them > 0'):
        RandomVGGLoss(perceptual_weight=0.0, style_weight=0.0)
    with pytest.raises(ValueError, match='reduction must be mean'):
        RandomVGGLoss(reduction='none')
    with pytest.raises(ValueError, match='criterion'):
        RandomVGGLoss(criterion='l3')
