"""SelfAnchorLoss.energy_cap / hf_energy_loss(cap=): the energy target is the minimum of the anchor's and the GT's
local band energy (value on a known case, gradient, function = Layer, bad input)."""
import numpy as np
import paddle
import pytest

from loss import build_loss, hf_energy_loss, self_anchor_loss
from tests.op_tester import photo


def _t(a, grad=False):
    t = paddle.to_tensor(np.ascontiguousarray(a, dtype=np.float32))
    t.stop_gradient = not grad
    return t


FLAT = np.full((1, 3, 32, 32), 0.5, np.float32)
TEXTURED = photo((1, 3, 32, 32))


def test_soft_gt_asks_for_no_texture():
    """GT flat, anchor textured: capped, a flat output meets the energy term (uncapped it is asked for the
    anchor's texture); a textured output is pushed down to the GT's energy."""
    flat, tex = _t(FLAT), _t(TEXTURED)
    assert float(hf_energy_loss(flat, tex)) > 0.01
    assert float(hf_energy_loss(flat, tex, cap=flat)) == pytest.approx(0.0, abs=1e-6)
    assert float(hf_energy_loss(tex, tex, cap=flat)) == pytest.approx(float(hf_energy_loss(tex, flat)), rel=1e-5)
    # a cap with more texture than the anchor changes nothing
    assert float(hf_energy_loss(flat, flat, cap=tex)) == pytest.approx(0.0, abs=1e-6)


def test_anchor_loss_key_and_layer():
    pred, gt, anchor = _t(photo((2, 3, 32, 32), seed=3)), _t(np.concatenate([FLAT, TEXTURED])), _t(photo((2, 3, 32, 32)))
    opts = dict(sigma=1.5, high_weight=0.0, energy_weight=5.0)
    capped = float(self_anchor_loss(pred, gt, anchor, energy_cap=True, **opts))
    assert capped != pytest.approx(float(self_anchor_loss(pred, gt, anchor, **opts)), rel=1e-4)
    layer = build_loss({'type': 'SelfAnchorLoss', 'energy_cap': True, **opts})
    assert layer.energy_cap and float(layer(pred, gt, anchor)) == pytest.approx(capped, rel=1e-6)


def test_gradient_reaches_pred_only():
    pred, gt, anchor = _t(TEXTURED, grad=True), _t(FLAT, grad=True), _t(photo((1, 3, 32, 32), seed=5), grad=True)
    self_anchor_loss(pred, gt, anchor, high_weight=0.0, energy_weight=1.0, energy_cap=True).backward()
    g = pred.grad.numpy()
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    assert gt.grad is None or not np.abs(gt.grad.numpy()).any()
    assert anchor.grad is None or not np.abs(anchor.grad.numpy()).any()


def test_bad_input():
    with pytest.raises(ValueError, match='energy_cap'):
        self_anchor_loss(_t(FLAT), _t(FLAT), _t(FLAT), energy_weight=1.0, energy_cap=True, energy_mask=True)
    with pytest.raises(ValueError, match='energy_cap'):
        build_loss({'type': 'SelfAnchorLoss', 'energy_cap': True, 'energy_smooth': True})
    with pytest.raises(ValueError):
        hf_energy_loss(_t(FLAT), _t(FLAT), cap=_t(np.zeros((1, 3, 16, 16))))
