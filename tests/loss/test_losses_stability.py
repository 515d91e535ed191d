"""StabilityLoss and its input twin (data/degrade/redraw.py): kornia habits (value, shape, bad input, gradient,
function = Layer), and the twin is the same picture with another draw of noise and codec."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.redraw import redraw
from realesrgan_paddle.loss import LOSSES, StabilityLoss, build_loss, stability_loss


def test_value_and_reductions():
    rng = np.random.default_rng(0)
    a, b = (rng.random((2, 3, 8, 12)).astype('float32') for _ in range(2))
    got = stability_loss(paddle.to_tensor(a), paddle.to_tensor(b))
    assert float(got) == pytest.approx(np.abs(a - b).mean(), rel=1e-5)
    assert float(stability_loss(paddle.to_tensor(a), paddle.to_tensor(b), 'sum')) == pytest.approx(
        np.abs(a - b).sum(), rel=1e-5)
    assert stability_loss(paddle.to_tensor(a), paddle.to_tensor(b), 'none').shape == [2, 3, 8, 12]
    assert float(stability_loss(paddle.to_tensor(a), paddle.to_tensor(a))) == 0.0


def test_function_equals_layer_and_registry():
    rng = np.random.default_rng(1)
    a, b = (paddle.to_tensor(rng.random((1, 3, 6, 6)).astype('float32')) for _ in range(2))
    layer = build_loss({'type': 'StabilityLoss', 'loss_weight': 2.5})
    assert isinstance(layer, StabilityLoss) and LOSSES['StabilityLoss'] is StabilityLoss
    assert float(layer(a, b)) == pytest.approx(2.5 * float(stability_loss(a, b)), rel=1e-6)
    assert layer.noise_sigma == (0.5, 3.0) and layer.jpeg_quality == (60.0, 95.0)


def test_gradient_reaches_both_outputs():
    rng = np.random.default_rng(2)
    a = paddle.to_tensor(rng.random((1, 3, 6, 6)).astype('float32'), stop_gradient=False)
    b = paddle.to_tensor(rng.random((1, 3, 6, 6)).astype('float32'), stop_gradient=False)
    StabilityLoss()(a, b).backward()
    assert float(a.grad.abs().sum()) > 0 and float(b.grad.abs().sum()) > 0


def test_bad_input():
    x = paddle.zeros([1, 3, 4, 4])
    with pytest.raises(ValueError, match='shapes differ'):
        stability_loss(x, paddle.zeros([1, 3, 4, 5]))
    with pytest.raises(ValueError, match='NCHW'):
        stability_loss(paddle.zeros([3, 4, 4]), paddle.zeros([3, 4, 4]))
    with pytest.raises(TypeError):
        stability_loss(np.zeros((1, 3, 4, 4)), x)
    with pytest.raises(ValueError, match='noise_sigma'):
        StabilityLoss(noise_sigma=(3.0, 1.0))
    with pytest.raises(ValueError, match='jpeg_quality'):
        StabilityLoss(jpeg_quality=(50, 120))


def test_redraw_is_the_same_picture_with_another_draw(photo_batch):
    lq = photo_batch(3, 32)
    a = redraw(lq, (1.0, 2.0), (70, 90), rng=0)
    b = redraw(lq, (1.0, 2.0), (70, 90), rng=1)
    assert a.shape == lq.shape and float(a.min()) >= 0 and float(a.max()) <= 1 and a.stop_gradient
    diff_picture = float((a - lq).abs().mean()) * 255
    assert 0.5 < diff_picture < 6  # noise of sigma 1-2 and a JPEG round at 70-90: a few levels, not a new picture
    assert float((a - b).abs().mean()) * 255 > 0.5  # two draws differ
    np.testing.assert_array_equal(a.numpy(), redraw(lq, (1.0, 2.0), (70, 90), rng=0).numpy())  # seeded
    with pytest.raises(ValueError, match='RGB NCHW'):
        redraw(paddle.zeros([1, 1, 8, 8]))
