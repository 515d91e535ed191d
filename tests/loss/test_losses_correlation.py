"""BandCorrelationLoss: 1 - the local correlation of the output's luma Laplacian with the anchor's, tiles weighted
by the anchor's band energy (kornia habits: value on a known case, gradient, function = Layer, bad input)."""
import numpy as np
import paddle
import pytest

from loss import (BandCorrelationLoss, band_correlation_loss, build_loss, hf_energy_loss, local_band_correlation,
                  self_anchor_loss)
from loss.correlation import band_energy_loss
from tests.op_tester import LossTester, photo

_Y = np.array([0.299, 0.587, 0.114])


def _band_np(x):
    """Reference luma Laplacian (4-neighbour, reflect-padded) of an NCHW array, N x H x W."""
    y = np.pad(np.einsum('nchw,c->nhw', x.astype(np.float64), _Y), ((0, 0), (1, 1), (1, 1)), mode='reflect')
    return y[:, :-2, 1:-1] + y[:, 2:, 1:-1] + y[:, 1:-1, :-2] + y[:, 1:-1, 2:] - 4 * y[:, 1:-1, 1:-1]


def _t(a):
    return paddle.to_tensor(np.ascontiguousarray(a, dtype=np.float32))


def test_ncc_against_numpy_on_one_tile():
    x, a = photo((1, 3, 16, 16), seed=1), photo((1, 3, 16, 16))
    ncc, va = local_band_correlation(_t(x), _t(a), window=8)
    assert tuple(ncc.shape) == (1, 1, 2, 2)
    p, q = _band_np(x)[0, 8:16, 0:8].ravel(), _band_np(a)[0, 8:16, 0:8].ravel()
    want = np.mean((p - p.mean()) * (q - q.mean())) / np.sqrt((p.var() + 1e-6) * (q.var() + 1e-6))
    assert float(ncc[0, 0, 1, 0]) == pytest.approx(want, rel=1e-3)
    assert float(va[0, 0, 1, 0]) == pytest.approx(q.var(), rel=1e-3)


def test_amplitude_free_and_blind_to_grain_and_blocks():
    """The anchor's pattern at any strength (and any offset) scores ~0, its inverse ~2; grain and 4x4 blocks,
    though full of fine-band energy, score ~1; a flat band scores 1."""
    a = photo((2, 3, 32, 32))
    blur = 0.25 * (a + np.roll(a, 1, 2) + np.roll(a, 1, 3) + np.roll(a, (1, 1), (2, 3)))
    loss = lambda x: float(band_correlation_loss(_t(x), _t(a)))  # noqa: E731
    assert loss(a) < 0.02 and loss(0.3 * a + 0.2) < 0.05 and loss(3.0 * a - 1.0) < 0.02
    assert loss(-a) > 1.95
    grain = a + np.random.default_rng(0).normal(0, 0.05, a.shape)
    assert 0.1 < loss(grain) < 0.5  # the pattern is still there under the grain, which costs
    assert 0.8 < loss(0.5 + np.random.default_rng(0).normal(0, 0.05, a.shape)) < 1.2  # grain alone
    assert 0.2 < loss(blur) < 0.8  # a blur keeps part of the pattern
    blocks = a[:, :, ::4, ::4].repeat(4, 2).repeat(4, 3)
    assert loss(blocks) > 0.8
    assert loss(np.full_like(a, 0.5)) == pytest.approx(1.0, abs=1e-6)


def test_flat_anchor_tiles_do_not_count():
    """Grain where the anchor is flat costs nothing; where the anchor has texture it costs."""
    a = photo((1, 3, 32, 32))
    a[:, :, :, :16] = 0.5  # left half of the anchor flat: its first column of tiles has no band at all
    x = a.copy()
    noisy_left, noisy_right = x.copy(), x.copy()
    rng = np.random.default_rng(0)
    noisy_left[:, :, :, :7] += rng.normal(0, 0.05, (1, 3, 32, 7))  # its Laplacian stays in columns 0-7
    noisy_right[:, :, :, 16:] += rng.normal(0, 0.05, (1, 3, 32, 16))
    base = float(band_correlation_loss(_t(x), _t(a)))
    assert float(band_correlation_loss(_t(noisy_left), _t(a))) == pytest.approx(base, abs=1e-4)
    assert float(band_correlation_loss(_t(noisy_right), _t(a))) > base + 0.2


class TestBandCorrelation(LossTester):
    """(pred, anchor)."""
    shapes = [(2, 3, 32, 32), (1, 3, 24, 40)]
    prediction_only = True
    zero_at_target = False  # 1 - var/(var + eps): ~1e-3, checked above
    none_shape = staticmethod(lambda shape: (shape[0], 1, shape[2] // 8, shape[3] // 8))
    bad_inputs = [
        (lambda t: band_correlation_loss(paddle.zeros([1, 2, 16, 16]), paddle.zeros([1, 2, 16, 16])), ValueError,
         'channels'),
        (lambda t: band_correlation_loss(paddle.zeros([1, 3, 16, 16]), paddle.zeros([1, 3, 16, 16]), window=1),
         ValueError, 'window'),
        (lambda t: band_correlation_loss(paddle.zeros([1, 3, 6, 16]), paddle.zeros([1, 3, 6, 16])), ValueError,
         'window'),
        (lambda t: BandCorrelationLoss(window=1), ValueError, 'window')]

    def loss(self, pred, anchor, reduction='mean'):
        return band_correlation_loss(pred, anchor, 8, reduction)

    def layer(self):
        return BandCorrelationLoss(self.WEIGHT, window=8)


def test_self_anchor_corr_option(photo_batch):
    """``corr_weight`` adds ``band_correlation_loss(pred, anchor, window)``; the Layer and the registry pass it;
    < 0 refused."""
    gt = photo_batch(2, 32)
    blocky = paddle.to_tensor(gt.numpy()[:, :, ::4, ::4].repeat(4, 2).repeat(4, 3))
    base = float(self_anchor_loss(blocky, gt, gt))
    got = float(self_anchor_loss(blocky, gt, gt, corr_weight=3.0))
    assert got == pytest.approx(base + 3.0 * float(band_correlation_loss(blocky, gt)), rel=1e-5) and got > base + 1
    layer = build_loss({'type': 'SelfAnchorLoss', 'loss_weight': 0.5, 'corr_weight': 3.0})
    assert layer.corr_weight == 3.0 and float(layer(blocky, gt, gt)) == pytest.approx(0.5 * got, rel=1e-5)
    with pytest.raises(ValueError, match='corr_weight'):
        self_anchor_loss(blocky, gt, gt, corr_weight=-1)


def test_masked_energy_weights_by_the_anchor_strength():
    """Where the anchor is flat, grain costs ~nothing (the plain energy term charges it); where the anchor is
    textured the weight is near 1 and the term is close to the plain one; the weight is 1/2 at the mean."""
    a = photo((1, 3, 32, 32))
    a[:, :, :, :16] = 0.5
    grain = a.copy()
    grain[:, :, :, :8] += np.random.default_rng(0).normal(0, 0.05, (1, 3, 32, 8))
    masked = band_energy_loss(_t(grain), _t(a), reduction='none').numpy()[0, 0]
    plain = hf_energy_loss(_t(grain), _t(a), reduction='none').numpy()[0, 0]
    assert masked[:, :4].mean() < 1e-3 * plain[:, :4].mean() and plain[:, :4].mean() > 0.01
    flat = np.full_like(a, 0.5)
    ratio = band_energy_loss(_t(flat), _t(a), reduction='none').numpy()[0, 0, :, 24:] / \
        hf_energy_loss(_t(flat), _t(a), reduction='none').numpy()[0, 0, :, 24:]
    assert 0.3 < ratio.mean() < 1.0
    assert float(band_energy_loss(_t(a), _t(a))) == 0.0
    x = paddle.to_tensor(grain.astype('float32'), stop_gradient=False)
    band_energy_loss(x, _t(a)).backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()).sum() > 0


def test_self_anchor_energy_mask_option(photo_batch):
    gt = photo_batch(2, 32)
    x = gt * 0.5 + 0.25
    base = float(self_anchor_loss(x, gt, gt))
    got = float(self_anchor_loss(x, gt, gt, energy_weight=2.0, energy_mask=True))
    assert got == pytest.approx(base + 2.0 * float(band_energy_loss(x, gt)), rel=1e-5)
    layer = build_loss({'type': 'SelfAnchorLoss', 'energy_weight': 2.0, 'energy_mask': True})
    assert float(layer(x, gt, gt)) == pytest.approx(got, rel=1e-5)
    with pytest.raises(ValueError, match='energy_mask'):
        self_anchor_loss(x, gt, gt, energy_weight=1.0, energy_mask=True, energy_space='rgb')
    with pytest.raises(ValueError, match='energy_mask'):
        build_loss({'type': 'SelfAnchorLoss', 'energy_mask': True, 'energy_pool': 2})


def test_smooth_energy_is_blind_to_the_checker():
    """The period-2 checkerboard (and stripes) has the most 4-neighbour Laplacian energy per amplitude; through
    the binomial pre-blur it has none, while a period-8 pattern keeps most of its energy."""
    n = np.arange(32)
    flat = np.full((1, 3, 32, 32), 0.5, np.float32)
    checker = flat + 0.05 * ((n[:, None] + n[None, :]) % 2 * 2 - 1).astype(np.float32)
    stripes = flat + 0.05 * (n[None, :] % 2 * 2 - 1).astype(np.float32).repeat(32, 0)
    wave = flat + 0.05 * np.sin(2 * np.pi * n / 8)[None, :].astype(np.float32).repeat(32, 0)
    for x in (checker, stripes):
        assert float(band_energy_loss(_t(x), _t(flat), mask=False)) > 0.1
        assert float(band_energy_loss(_t(x), _t(flat), mask=False, smooth=True)) < 1e-3
    plain = float(band_energy_loss(_t(wave), _t(flat), mask=False))
    assert float(band_energy_loss(_t(wave), _t(flat), mask=False, smooth=True)) > 0.5 * plain
    assert plain == pytest.approx(float(hf_energy_loss(_t(wave), _t(flat))), rel=1e-5)
    got = float(self_anchor_loss(_t(checker), _t(flat), _t(flat), energy_weight=1.0, energy_smooth=True))
    assert got == pytest.approx(float(self_anchor_loss(_t(checker), _t(flat), _t(flat))), abs=1e-4)
    assert build_loss({'type': 'SelfAnchorLoss', 'energy_smooth': True}).energy_smooth
