"""TemporalLoss (loss/temporal_agreement.py): kornia habits (value, shape, bad input, gradient, function = Layer), and on a
real photo: a still pair gives 0, a panned pair with its motion gives ~0, with a wrong motion it does not; the
motion given at the input's size is scaled to the output's."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import LOSSES, TemporalLoss, build_loss, flow_warp, temporal_loss


def _pan(photo_batch, shift, size=64):
    """``(frame t, frame t+1)``: windows of one real photo, the second ``shift`` px further right (so frame t+1 at
    ``p`` shows frame t at ``p + shift``), and a mask that leaves out the ``shift`` columns frame t lacks."""
    big = photo_batch(1, size + 2 * abs(shift) + 8)
    a = big[:, :, 4:4 + size, 4 + abs(shift):4 + abs(shift) + size]
    b = big[:, :, 4:4 + size, 4 + abs(shift) + shift:4 + abs(shift) + shift + size]
    return a, b


def _flow(n, h, w, dx=0.0, dy=0.0):
    f = np.zeros((n, 2, h, w), np.float32)
    f[:, 0], f[:, 1] = dx, dy
    return paddle.to_tensor(f)


def _mask(n, h, w, cols=0):
    m = np.ones((n, 1, h, w), np.float32)
    if cols:
        m[..., -cols:] = 0
    return paddle.to_tensor(m)


def test_still_pair_gives_zero(photo_batch):
    a = photo_batch(2, 48)
    assert float(temporal_loss(a, a, _flow(2, 48, 48), _mask(2, 48, 48))) == pytest.approx(0.0, abs=1e-6)


def test_shifted_pair_with_the_right_flow_is_near_zero_and_a_wrong_one_is_not(photo_batch):
    a, b = _pan(photo_batch, 3)
    m = _mask(1, 64, 64, cols=3)
    right = float(temporal_loss(a, b, _flow(1, 64, 64, dx=3.0), m))
    wrong = float(temporal_loss(a, b, _flow(1, 64, 64), m))
    opposite = float(temporal_loss(a, b, _flow(1, 64, 64, dx=-3.0), m))
    assert right < 1e-5 and wrong > 0.01 and opposite > wrong
    # a sub-pixel motion: bilinear, close but not exact; still far below no motion
    assert float(temporal_loss(a, b, _flow(1, 64, 64, dx=2.5), m)) < wrong


def test_flow_at_the_input_size_is_scaled_to_the_output(photo_batch):
    """Outputs 64x64 of 16x16 inputs that moved by 1 LQ px: the flow given at 16x16 moves the output by 4 px."""
    a, b = _pan(photo_batch, 4)
    m = _mask(1, 16, 16, cols=2)  # the bilinear mask reaches 4 px into the 4 columns frame t lacks: 2 LQ px
    assert float(temporal_loss(a, b, _flow(1, 16, 16, dx=1.0), m)) < 1e-5
    assert float(temporal_loss(a, b, _flow(1, 16, 16, dx=0.0), m)) > 0.01
    with pytest.raises(ValueError, match='integer scale'):
        temporal_loss(a, b, _flow(1, 24, 16), _mask(1, 24, 16))


def test_mask_weights_the_mean_and_shapes():
    rng = np.random.default_rng(0)
    a, b = (paddle.to_tensor(rng.random((2, 3, 8, 8)).astype('float32')) for _ in range(2))
    m = np.zeros((2, 1, 8, 8), np.float32)
    m[:, :, :4] = 1
    got = float(temporal_loss(a, b, _flow(2, 8, 8), paddle.to_tensor(m)))
    want = np.abs(a.numpy() - b.numpy())[:, :, :4].mean()
    assert got == pytest.approx(want, rel=1e-5)
    assert float(temporal_loss(a, b, _flow(2, 8, 8), paddle.to_tensor(m), 'sum')) == pytest.approx(
        np.abs(a.numpy() - b.numpy())[:, :, :4].sum(), rel=1e-5)
    assert temporal_loss(a, b, _flow(2, 8, 8), _mask(2, 8, 8), 'none').shape == [2, 3, 8, 8]
    assert float(temporal_loss(a, b, _flow(2, 8, 8), paddle.zeros([2, 1, 8, 8]))) == 0.0  # nothing agrees
    assert flow_warp(a, _flow(2, 8, 8)).shape == [2, 3, 8, 8]


def test_function_equals_layer_and_registry():
    rng = np.random.default_rng(1)
    a, b = (paddle.to_tensor(rng.random((1, 3, 8, 8)).astype('float32')) for _ in range(2))
    f, m = _flow(1, 2, 2, dx=0.3), _mask(1, 2, 2)
    layer = build_loss({'type': 'TemporalLoss', 'loss_weight': 2.5})
    assert isinstance(layer, TemporalLoss) and LOSSES['TemporalLoss'] is TemporalLoss
    assert TemporalLoss.LOSS_TARGET == 'lq_pair' and TemporalLoss.LOSS_LOG == 'temp'
    assert float(layer(a, b, f, m)) == pytest.approx(2.5 * float(temporal_loss(a, b, f, m)), rel=1e-6)


def test_gradient_reaches_both_outputs(photo_batch):
    a, b = _pan(photo_batch, 2, 32)
    a, b = paddle.to_tensor(a.numpy(), stop_gradient=False), paddle.to_tensor(b.numpy() + 0.05, stop_gradient=False)
    TemporalLoss()(a, b, _flow(1, 8, 8, dx=0.5), _mask(1, 8, 8)).backward()
    assert float(a.grad.abs().sum()) > 0 and float(b.grad.abs().sum()) > 0


def test_bad_input():
    x = paddle.zeros([1, 3, 8, 8])
    f, m = _flow(1, 8, 8), _mask(1, 8, 8)
    with pytest.raises(ValueError, match='one shape'):
        temporal_loss(x, paddle.zeros([1, 3, 8, 9]), f, m)
    with pytest.raises(ValueError, match='NCHW'):
        temporal_loss(paddle.zeros([3, 8, 8]), paddle.zeros([3, 8, 8]), f, m)
    with pytest.raises(ValueError, match='flow'):
        temporal_loss(x, x, paddle.zeros([1, 3, 8, 8]), m)
    with pytest.raises(ValueError, match='mask'):
        temporal_loss(x, x, f, paddle.zeros([1, 1, 4, 4]))
    with pytest.raises(TypeError):
        temporal_loss(np.zeros((1, 3, 8, 8)), x, f, m)
    with pytest.raises(ValueError, match='reduction'):
        temporal_loss(x, x, f, m, 'max')
