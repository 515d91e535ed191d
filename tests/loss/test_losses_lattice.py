"""LatticeLoss: the output's period-4 lattice (luma steps across the 4-px grid's lines above those inside the
cells) held to the anchor's (kornia habits: value on a known case, gradient, function = Layer, bad input)."""
import numpy as np
import paddle
import pytest

from loss import LatticeLoss, build_loss, lattice_excess, lattice_loss, self_anchor_loss
from tests.op_tester import LossTester, photo

_Y = np.array([0.299, 0.587, 0.114])


def _excess_np(x, p=4):
    """Reference: mean |luma step| across the grid lines minus inside the cells, per image."""
    y = np.einsum('nchw,c->nhw', x.astype(np.float64), _Y)
    steps = [np.abs(np.diff(y, axis=2)), np.abs(np.diff(y, axis=1)).transpose(0, 2, 1)]
    on = [(np.arange(s.shape[2]) + 1) % p == 0 for s in steps]
    mean_on = sum(s[:, :, m].sum((1, 2)) for s, m in zip(steps, on)) / sum(s[:, :, m][0].size for s, m in zip(steps, on))
    mean_off = sum(s[:, :, ~m].sum((1, 2)) for s, m in zip(steps, on)) / sum(s[:, :, ~m][0].size
                                                                             for s, m in zip(steps, on))
    return mean_on - mean_off


def _inside_pattern(shape, amp=0.1):
    """A grey period-4 pattern whose steps are all inside the cells (columns and rows 1 of each 4 raised):
    its lattice excess is negative."""
    n, c, h, w = shape
    col = (np.arange(w) % 4 == 1).astype(np.float32)
    row = (np.arange(h) % 4 == 1).astype(np.float32)
    return amp * np.maximum(row[:, None], col[None, :])[None, None].repeat(n, 0).repeat(c, 1)


def test_value_against_numpy_and_known_cases():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 20, 28)).astype('float32')
    np.testing.assert_allclose(lattice_excess(paddle.to_tensor(x)).numpy(), _excess_np(x), rtol=1e-4)
    # the input's pixels drawn as 4x4 blocks: no step inside the cells, every step on a line
    small = rng.random((2, 3, 6, 6)).astype('float32')
    blocky = small.repeat(4, 2).repeat(4, 3)
    got = lattice_excess(paddle.to_tensor(blocky)).numpy()
    assert (got > 0.1).all()
    np.testing.assert_allclose(got, _excess_np(blocky), rtol=1e-4)
    # the same blocks moved by 2 px: their edges run through the cells, so the excess is negative; the loss is
    # two-sided (a lattice below the anchor's costs too) and 0 against the same image
    moved = paddle.to_tensor(np.ascontiguousarray(blocky[:, :, 2:22, 2:22]))
    assert (lattice_excess(moved).numpy() < 0).all()
    assert float(lattice_loss(moved, moved * 0 + 0.5)) == pytest.approx(float(-lattice_excess(moved).mean()))
    assert float(lattice_loss(moved, moved)) == 0.0
    # a photo has about none; the blocks cost their excess over the anchor's
    ph = paddle.to_tensor(photo((2, 3, 24, 24)))
    assert np.abs(lattice_excess(ph).numpy()).max() < 0.3 * float(paddle.abs(ph[:, :, :, 1:] - ph[:, :, :, :-1]).mean())
    want = np.abs(_excess_np(blocky) - _excess_np(photo((2, 3, 24, 24)))).mean()
    assert float(lattice_loss(paddle.to_tensor(blocky), ph)) == pytest.approx(want, rel=1e-4)


def test_gradient_only_shrinks_the_steps_on_the_lines():
    """The steps inside the cells are the reference: the gradient reaches only pixels next to a line."""
    rng = np.random.default_rng(1)
    x = paddle.to_tensor(rng.random((1, 3, 6, 6)).astype('float32').repeat(4, 2).repeat(4, 3), stop_gradient=False)
    lattice_loss(x, paddle.full_like(x, 0.5)).backward()
    g = np.abs(x.grad.numpy()).sum((0, 1))
    inner = (np.arange(24) % 4 == 1) | (np.arange(24) % 4 == 2)
    assert g[np.ix_(inner, inner)].sum() == 0 and g.sum() > 0


class TestLattice(LossTester):
    """(pred, anchor): the anchor's steps are inside the cells, so a photo's lattice exceeds it."""
    shapes = [(2, 3, 16, 16), (1, 3, 24, 40)]
    prediction_only = True
    grad_rtol = 0.1  # |x| has a kink at 0
    none_shape = staticmethod(lambda shape: (shape[0],))
    bad_inputs = [
        (lambda t: lattice_excess(paddle.zeros([1, 2, 16, 16])), ValueError, 'N1HW or N3HW'),
        (lambda t: lattice_excess(paddle.zeros([1, 3, 4, 16])), ValueError, 'period'),
        (lambda t: lattice_loss(paddle.zeros([1, 3, 16, 16]), paddle.zeros([1, 3, 16, 16]), period=1), ValueError,
         'period'),
        (lambda t: LatticeLoss(period=1), ValueError, 'period')]

    def make_inputs(self, shape):
        return (np.clip(photo(shape, seed=1) + _inside_pattern(shape), 0, 1),)

    def loss(self, pred, anchor, reduction='mean'):
        return lattice_loss(pred, anchor, 4, reduction)

    def layer(self):
        return LatticeLoss(self.WEIGHT, period=4)


def test_self_anchor_lattice_option(photo_batch):
    """``lattice_weight`` adds ``lattice_loss(pred, anchor)``; the Layer and the registry pass it; < 0 refused."""
    gt = photo_batch(2, 32)
    blocky = paddle.to_tensor(gt.numpy()[:, :, ::4, ::4].repeat(4, 2).repeat(4, 3))
    base = float(self_anchor_loss(blocky, gt, gt))
    got = float(self_anchor_loss(blocky, gt, gt, lattice_weight=3.0))
    assert got == pytest.approx(base + 3.0 * float(lattice_loss(blocky, gt)), rel=1e-5) and got > base + 0.01
    layer = build_loss({'type': 'SelfAnchorLoss', 'loss_weight': 0.5, 'lattice_weight': 3.0})
    assert layer.lattice_weight == 3.0 and float(layer(blocky, gt, gt)) == pytest.approx(0.5 * got, rel=1e-5)
    with pytest.raises(ValueError, match='lattice_weight'):
        self_anchor_loss(blocky, gt, gt, lattice_weight=-1)
