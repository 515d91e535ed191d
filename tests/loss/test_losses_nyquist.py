"""loss/nyquist.py: the local amplitude of the luma's period-2 patterns, and the excess over an anchor's
(kornia habit: value on a known case, shape, gradient, function against Layer, bad input)."""
import numpy as np
import paddle
import pytest

from loss import build_loss
from loss.anchor import self_anchor_loss
from loss.nyquist import NyquistExcessLoss, nyquist_amplitude, nyquist_excess_loss


def _img(pattern, amp=0.1, size=32):
    yy, xx = np.mgrid[0:size, 0:size]
    p = {'checker': (-1.0) ** (xx + yy), 'stripes_x': (-1.0) ** xx, 'stripes_y': (-1.0) ** yy,
         'flat': np.zeros((size, size)), 'slow': np.cos(2 * np.pi * xx / 16)}[pattern]
    return paddle.to_tensor(np.repeat((0.5 + amp * p)[None, None], 3, 1).astype('float32'))


@pytest.mark.parametrize('pattern', ['checker', 'stripes_x', 'stripes_y'])
def test_amplitude_of_period_2_patterns(pattern):
    a = nyquist_amplitude(_img(pattern, 0.1))
    assert a.shape == [1, 1, 32, 32]
    assert float(a[:, :, 8:24, 8:24].mean()) == pytest.approx(0.1, rel=1e-3)  # away from the reflected border


def test_blind_to_flat_and_slow_content():
    assert float(nyquist_amplitude(_img('flat')).max()) < 1e-3
    assert float(nyquist_amplitude(_img('slow', 0.2))[:, :, 8:24, 8:24].mean()) < 0.01  # period 16 px


def test_excess_is_one_sided_and_matches_the_layer():
    checker, flat = _img('checker', 0.1), _img('flat')
    assert float(nyquist_excess_loss(flat, checker)) == pytest.approx(0.0, abs=1e-6)  # less than the anchor: free
    v = float(nyquist_excess_loss(checker, flat))
    assert v > 0.08
    assert float(NyquistExcessLoss(loss_weight=2.0)(checker, flat)) == pytest.approx(2 * v, rel=1e-6)
    assert float(build_loss({'type': 'NyquistExcessLoss', 'window': 8})(checker, flat)) == pytest.approx(v, rel=1e-6)
    assert nyquist_excess_loss(checker, flat, reduction='none').shape == [1, 1, 32, 32]


def test_gradient_removes_the_checker():
    pred = _img('checker', 0.1)
    pred.stop_gradient = False
    nyquist_excess_loss(pred, _img('flat')).backward()
    g = pred.grad.numpy()[0, 1]
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    stepped = pred.numpy()[0, 1] - 0.5 * g / np.abs(g).max() * 0.05
    ref = pred.numpy()[0, 1]
    assert np.abs(stepped - 0.5)[8:24, 8:24].mean() < np.abs(ref - 0.5)[8:24, 8:24].mean()  # the step shrinks it


def test_in_the_anchor_loss():
    checker, flat = _img('checker', 0.1), _img('flat')
    base = float(self_anchor_loss(checker, checker, flat, high_weight=0.0))
    with_term = float(self_anchor_loss(checker, checker, flat, high_weight=0.0, nyquist_weight=3.0))
    assert with_term - base == pytest.approx(3.0 * float(nyquist_excess_loss(checker, flat)), rel=1e-5)
    layer = build_loss({'type': 'SelfAnchorLoss', 'high_weight': 0.0, 'nyquist_weight': 3.0, 'coarse_weight': 1.0})
    want = float(self_anchor_loss(checker, checker, flat, high_weight=0.0, nyquist_weight=3.0, coarse_weight=1.0))
    assert float(layer(checker, checker, flat)) == pytest.approx(want, rel=1e-6)
    # the coarse band (one octave down) does not see the checker, the fine energy term does
    assert want == pytest.approx(with_term, rel=1e-4)


def test_bad_input():
    with pytest.raises(ValueError, match='nyquist_amplitude'):
        nyquist_amplitude(paddle.zeros([1, 2, 8, 8]))
    with pytest.raises(ValueError, match='nyquist_amplitude'):
        nyquist_amplitude(paddle.zeros([1, 3, 8, 8]), window=0)
    with pytest.raises(ValueError, match='differ in shape'):
        nyquist_excess_loss(paddle.zeros([1, 3, 8, 8]), paddle.zeros([1, 3, 8, 9]))
    with pytest.raises(ValueError, match='nyquist_weight'):
        self_anchor_loss(_img('flat'), _img('flat'), _img('flat'), nyquist_weight=-1.0)
    with pytest.raises(ValueError, match='window'):
        NyquistExcessLoss(window=0)
