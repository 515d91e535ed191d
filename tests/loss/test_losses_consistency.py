"""ConsistencyLoss: the output, blurred and area-downscaled, against the real LQ input (kornia habits: value on
a known case, gradient, function = Layer, bad input)."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import LOSSES, ConsistencyLoss, build_loss, consistency_loss
from realesrgan_paddle.loss.consistency import redegrade
from realesrgan_paddle.loss.frequency import gaussian_blur


def test_value_against_opencv_area_downscale():
    rng = np.random.default_rng(0)
    pred = rng.random((2, 3, 32, 40)).astype('float32')
    lq = rng.random((2, 3, 8, 10)).astype('float32')
    area = np.stack([[cv2.resize(c, (10, 8), interpolation=cv2.INTER_AREA) for c in img] for img in pred])
    got = float(consistency_loss(paddle.to_tensor(pred), paddle.to_tensor(lq), scale=4, sigma=0))
    assert got == pytest.approx(np.abs(area - lq).mean(), rel=1e-5)


def test_known_cases_on_a_photo(photo_batch):
    """An output that repeats each LQ pixel explains the input exactly; a zero-mean pattern with the scale's
    period is invisible; a brightness offset costs the offset; the blur is the one of loss.frequency."""
    hr = photo_batch(2, 64)
    lq = paddle.nn.functional.avg_pool2d(hr, 4)
    nearest = paddle.nn.functional.interpolate(lq, scale_factor=4, mode='nearest')
    assert float(consistency_loss(nearest, lq, 4, 0.0)) < 1e-7
    assert float(consistency_loss(hr, lq, 4, 0.0)) < 1e-7
    grid = paddle.to_tensor(((np.indices((64, 64)).sum(0) % 2) * 2 - 1).astype('float32')) * 0.05
    assert float(consistency_loss(hr + grid, lq, 4, 0.0)) < 1e-6
    assert float(consistency_loss(hr + 0.1, lq, 4, 0.0)) == pytest.approx(0.1, rel=1e-4)
    ref = paddle.nn.functional.avg_pool2d(gaussian_blur(hr, 0.8), 4)
    np.testing.assert_allclose(redegrade(hr, 4, 0.8).numpy(), ref.numpy(), atol=1e-6)
    # an output blurred beyond the input's own blur departs from it
    assert float(consistency_loss(gaussian_blur(hr, 3.0), lq, 4, 0.0)) > 0.005


def test_gradient_reaches_pred_only(photo_batch):
    hr = photo_batch(1, 32)
    lq = paddle.nn.functional.avg_pool2d(hr, 4) + 0.05
    pred = hr.clone()
    pred.stop_gradient = False
    lq.stop_gradient = False
    consistency_loss(pred, lq, 4, 0.6).backward()
    g = pred.grad.numpy()
    assert np.isfinite(g).all() and np.abs(g).sum() > 0
    assert lq.grad is None


def test_reductions_and_layer_equals_function():
    rng = np.random.default_rng(1)
    pred = paddle.to_tensor(rng.random((2, 3, 16, 16)).astype('float32'))
    lq = paddle.to_tensor(rng.random((2, 3, 4, 4)).astype('float32'))
    v = consistency_loss(pred, lq, 4, 0.5)
    assert v.shape == [] and consistency_loss(pred, lq, 4, 0.5, 'none').shape == [2, 3, 4, 4]
    assert float(consistency_loss(pred, lq, 4, 0.5, 'sum')) == pytest.approx(float(v) * 96, rel=1e-4)
    layer = ConsistencyLoss(2.0, scale=4, sigma=0.5)
    assert float(layer(pred, lq)) == pytest.approx(2 * float(v), rel=1e-6)
    assert LOSSES['ConsistencyLoss'] is ConsistencyLoss
    assert isinstance(build_loss({'type': 'ConsistencyLoss', 'scale': 2}), ConsistencyLoss)
    x2 = paddle.to_tensor(rng.random((1, 3, 8, 8)).astype('float32'))
    assert float(consistency_loss(x2, paddle.nn.functional.avg_pool2d(x2, 2), 2)) < 1e-7


def test_bad_input():
    pred, lq = paddle.zeros([1, 3, 16, 16]), paddle.zeros([1, 3, 4, 4])
    with pytest.raises(ValueError, match='is not lq'):
        consistency_loss(pred, paddle.zeros([1, 3, 5, 4]), 4)
    with pytest.raises(ValueError, match='is not lq'):
        consistency_loss(pred, lq, 2)
    with pytest.raises(ValueError, match='NCHW'):
        consistency_loss(pred[0], lq[0], 4)
    with pytest.raises(ValueError, match='scale'):
        consistency_loss(pred, lq, 0)
    with pytest.raises(ValueError, match='sigma'):
        consistency_loss(pred, lq, 4, -1)
    with pytest.raises(TypeError, match='paddle Tensors'):
        consistency_loss(np.zeros((1, 3, 16, 16)), lq, 4)
    with pytest.raises(ValueError, match='reduction'):
        consistency_loss(pred, lq, 4, 0, 'max')
    for kw in ({'scale': 1.5}, {'sigma': -0.1}, {'reduction': 'max'}):
        with pytest.raises(ValueError):
            ConsistencyLoss(**kw)
