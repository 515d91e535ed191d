"""SelfAnchorLoss: the low band towards the GT, the high band towards the base's own output (kornia habits:
value on a known case, gradient, function = Layer, bad input)."""
import cv2
import numpy as np
import paddle
import pytest

from loss import LOSSES, SelfAnchorLoss, build_loss, self_anchor_loss
from loss.frequency import gaussian_blur
from tests.op_tester import LossTester, photo


def _blur_np(x, sigma):
    r = max(1, int(round(3 * sigma)))
    return np.stack([[cv2.GaussianBlur(c.astype('float64'), (2 * r + 1, 2 * r + 1), sigma,
                                       borderType=cv2.BORDER_REFLECT_101) for c in img] for img in x])


def test_value_against_numpy_bands():
    rng = np.random.default_rng(0)
    p, t, a = (rng.random((2, 3, 20, 20)).astype('float32') for _ in range(3))
    ref = (np.abs(_blur_np(p, 1.5) - _blur_np(t, 1.5))
           + 0.5 * np.abs((p - _blur_np(p, 1.5)) - (a - _blur_np(a, 1.5)))).mean()
    got = float(self_anchor_loss(*map(paddle.to_tensor, (p, t, a)), sigma=1.5, high_weight=0.5))
    assert got == pytest.approx(ref, rel=1e-4)


def test_known_cases_on_a_photo(photo_batch):
    """A ripple at the Nyquist frequency lies entirely in the high band: its cost is its amplitude, and it
    is owed to the anchor, not to the GT."""
    gt = photo_batch(2, 64)
    s = 0.05
    ripple = paddle.to_tensor(((np.indices((64, 64)).sum(0) % 2) * 2 - 1).astype('float32')) * s
    assert float(self_anchor_loss(gt, gt, gt)) == pytest.approx(0.0, abs=1e-7)
    # texture the anchor has and the GT lacks costs nothing; a student without it pays its amplitude
    assert float(self_anchor_loss(gt + ripple, gt, gt + ripple)) < 1e-3 * s
    assert float(self_anchor_loss(gt, gt, gt + ripple)) == pytest.approx(s, rel=0.02)
    assert float(self_anchor_loss(gt + ripple, gt, gt, high_weight=0.5)) == pytest.approx(0.5 * s, rel=0.02)
    # the low band answers to the GT only: an even shift of the anchor is free, one of the student is not
    assert float(self_anchor_loss(gt, gt, gt + 0.2)) < 1e-6
    assert float(self_anchor_loss(gt + 0.2, gt, gt + 0.2)) == pytest.approx(0.2, rel=1e-4)
    # a blurred student pays for the texture the anchor has
    blur = gaussian_blur(gt, 1.5)
    assert float(self_anchor_loss(blur, gt, gt)) > 2 * float(self_anchor_loss(blur, gt, gt, high_weight=0))


def _three(shape=(1, 3, 16, 16)):
    return [paddle.to_tensor(photo(shape, seed)) for seed in (0, 1, 2)]


class TestSelfAnchor(LossTester):
    """(pred, target, anchor): the anchor is the extra input; pred == target still differs from the anchor's
    high band, so the loss is not zero there."""
    extra_inputs = 1
    zero_at_target = False
    prediction_only = True
    shapes = [(2, 3, 16, 16), (1, 3, 24, 40)]
    none_shape = staticmethod(tuple)
    grad_rtol = 0.1  # |x| has a kink at 0
    bad_inputs = [
        (lambda t: self_anchor_loss(*_three()[:2], _three()[2][:, :, :8]), ValueError, 'differ in shape'),
        (lambda t: self_anchor_loss(*[x[0] for x in _three()]), ValueError, 'NCHW'),
        (lambda t: self_anchor_loss(_three()[0], _three()[1].numpy(), _three()[2]), TypeError, 'paddle Tensors'),
        (lambda t: self_anchor_loss(*_three(), sigma=0), ValueError, 'sigma'),
        (lambda t: self_anchor_loss(*_three(), high_weight=-1), ValueError, 'high_weight'),
        (lambda t: SelfAnchorLoss(sigma=-1), ValueError, 'sigma'),
        (lambda t: SelfAnchorLoss(high_weight=-0.1), ValueError, 'high_weight')]

    def loss(self, pred, target, anchor, reduction='mean'):
        return self_anchor_loss(pred, target, anchor, 1.0, 0.3, reduction=reduction)

    def layer(self):
        return SelfAnchorLoss(self.WEIGHT, sigma=1.0, high_weight=0.3)


def test_registered_with_its_options():
    assert LOSSES['SelfAnchorLoss'] is SelfAnchorLoss
    assert build_loss({'type': 'SelfAnchorLoss', 'sigma': 2.0}).sigma == 2.0


def test_energy_term_adds_the_band_strength_towards_the_anchor(photo_batch):
    """``energy_weight`` adds ``hf_energy_loss(pred, anchor)``: phase-free, so a shifted texture of the
    anchor's strength costs less there than the same texture flattened."""
    from loss.frequency import hf_energy_loss
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    base = float(self_anchor_loss(shifted, gt, gt))
    with_e = float(self_anchor_loss(shifted, gt, gt, energy_weight=2.0, window=8))
    assert with_e == pytest.approx(base + 2.0 * float(hf_energy_loss(shifted, gt, 8)), rel=1e-5)
    flat = gaussian_blur(gt, 2.0)
    assert float(hf_energy_loss(shifted, gt, 8)) < 0.5 * float(hf_energy_loss(flat, gt, 8))
    layer = SelfAnchorLoss(0.5, energy_weight=2.0, window=8)
    assert float(layer(shifted, gt, gt)) == pytest.approx(0.5 * with_e, rel=1e-5)
    assert self_anchor_loss(shifted, gt, gt, energy_weight=2.0, reduction='none').shape == [2, 3, 64, 64]
    with pytest.raises(ValueError, match='energy_weight'):
        self_anchor_loss(shifted, gt, gt, energy_weight=-1)
    with pytest.raises(ValueError, match='window'):
        SelfAnchorLoss(window=0)


def test_energy_term_per_channel(photo_batch):
    """``energy_space='rgb'`` adds the per-channel energy term instead of the luma one; layer = function; a bad
    space is refused."""
    from loss.frequency import hf_energy_loss
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    base = float(self_anchor_loss(shifted, gt, gt))
    got = float(self_anchor_loss(shifted, gt, gt, energy_weight=2.0, window=8, energy_space='rgb'))
    assert got == pytest.approx(base + 2.0 * float(hf_energy_loss(shifted, gt, 8, space='rgb')), rel=1e-5)
    layer = SelfAnchorLoss(0.5, energy_weight=2.0, window=8, energy_space='rgb')
    assert float(layer(shifted, gt, gt)) == pytest.approx(0.5 * got, rel=1e-5)
    with pytest.raises(ValueError, match='energy_space'):
        SelfAnchorLoss(energy_space='lab')
