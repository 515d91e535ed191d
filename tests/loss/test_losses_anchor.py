"""Self-anchoring's terms (loss/anchor.py): the low band towards the GT (LowPassL1Loss), the high band and the colour
band towards the teacher's output (HighBandL1Loss, ChromaBandLoss), and the old single SelfAnchorLoss spelling
mapped onto them (kornia habits: value on a known case, gradient, function = Layer, bad input)."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import (
    LOSSES, ChromaBandLoss, HighBandL1Loss, SelfAnchorLoss, build_loss, chroma_band_loss, high_band_l1_loss,
    hf_energy_loss, lowpass_l1_loss)
from realesrgan_paddle.loss.frequency import gaussian_blur
from tests.op_tester import LossTester, photo


def _blur_np(x, sigma):
    r = max(1, int(round(3 * sigma)))
    return np.stack([[cv2.GaussianBlur(c.astype('float64'), (2 * r + 1, 2 * r + 1), sigma,
                                       borderType=cv2.BORDER_REFLECT_101) for c in img] for img in x])


FNS = {'LowPassL1Loss': lambda p, t, e: lowpass_l1_loss(p, t, e['sigma']),
       'HighBandL1Loss': lambda p, t, e: high_band_l1_loss(p, t, e['sigma']),
       'HFEnergyLoss': lambda p, t, e: hf_energy_loss(p, t, e['window'], pool=e['pool'], space=e['space']),
       'ChromaBandLoss': lambda p, t, e: chroma_band_loss(p, t, e['sigma'])}
ANCHOR = {'type': 'SelfAnchorLoss', 'loss_weight': 1.0, 'sigma': 1.5, 'high_weight': 1.0, 'energy_weight': 0.0,
          'window': 8, 'reduction': 'mean', 'energy_space': 'luma', 'chroma_weight': 0.0, 'energy_pool': 1}


def anchor_entries(cfg):
    """The entries one ``SelfAnchorLoss`` entry (the old ``train.anchor_opt``) stands for."""
    return SelfAnchorLoss.parts(cfg, cfg['loss_weight'], 'l_g_anchor')


def self_anchor_loss(pred, target, anchor, **over):
    """The old single loss, as the sum of the train.losses entries ``train.anchor_opt`` maps to."""
    total = 0.0
    for e in anchor_entries({**ANCHOR, **over}):
        total = total + e['weight'] * FNS[e['type']](pred, target if e['target'] == 'gt' else anchor, e)
    return total


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


class _BandTester(LossTester):
    """A band loss of (pred, anchor) at sigma 1: ``fn``, the function, and ``cls``, its Layer."""
    shapes = [(2, 3, 16, 16), (1, 3, 24, 40)]
    prediction_only = True
    grad_rtol = 0.1  # |x| has a kink at 0
    fn = cls = None

    def loss(self, pred, anchor, reduction='mean'):
        return self.fn(pred, anchor, 1.0, reduction)

    def layer(self):
        return self.cls(self.WEIGHT, sigma=1.0)


class TestHighBand(_BandTester):
    """(pred, teacher): the high band towards the teacher's."""
    fn, cls = staticmethod(high_band_l1_loss), HighBandL1Loss
    bad_inputs = [
        (lambda t: high_band_l1_loss(*_three()[:1], _three()[2][:, :, :8]), ValueError, 'differ in shape'),
        (lambda t: high_band_l1_loss(*[x[0] for x in _three()[:2]]), ValueError, 'NCHW'),
        (lambda t: high_band_l1_loss(_three()[0], _three()[1].numpy()), TypeError, 'paddle Tensors'),
        (lambda t: high_band_l1_loss(*_three()[:2], sigma=0), ValueError, 'sigma'),
        (lambda t: HighBandL1Loss(sigma=-1), ValueError, 'sigma')]


def test_registered_with_their_targets():
    assert LOSSES['HighBandL1Loss'] is HighBandL1Loss and LOSSES['ChromaBandLoss'] is ChromaBandLoss
    assert HighBandL1Loss.LOSS_TARGET == ChromaBandLoss.LOSS_TARGET == 'teacher'
    assert build_loss({'type': 'HighBandL1Loss', 'sigma': 2.0}).sigma == 2.0
    # the single old loss is a composite entry: registered (a type of train.losses), expanded, never built
    assert LOSSES['SelfAnchorLoss'] is SelfAnchorLoss and SelfAnchorLoss.LOSS_TARGET == 'teacher'
    with pytest.raises(TypeError, match='composite'):
        build_loss({'type': 'SelfAnchorLoss'})


def test_composite_entry_expands_to_named_parts():
    from realesrgan_paddle.training.loss_terms import validate_losses
    problems = []
    got = validate_losses([{'type': 'L1Loss', 'name': 'l_g_pix'},
                           {'type': 'SelfAnchorLoss', 'weight': 2.0, 'energy_weight': 10.0, 'sigma': 1.0}], problems)
    assert not problems
    assert [(e['name'], e['type'], e['target'], e['weight']) for e in got] == [
        ('l_g_pix', 'L1Loss', 'gt', 1.0), ('l_g_anchor_low', 'LowPassL1Loss', 'gt', 2.0),
        ('l_g_anchor_high', 'HighBandL1Loss', 'teacher', 2.0), ('l_g_anchor_energy', 'HFEnergyLoss', 'teacher', 20.0)]
    assert got[1]['sigma'] == 1.0 and got[3]['window'] == 8
    validate_losses([{'type': 'SelfAnchorLoss', 'energy_space': 'blue', 'loss_weight': 1.0}], problems)
    assert any('energy_space' in p for p in problems) and any('loss_weight: not a key' in p for p in problems)


def test_old_anchor_maps_to_its_terms_with_their_weights():
    entries = anchor_entries({**ANCHOR, 'loss_weight': 2.0, 'high_weight': 0.5, 'energy_weight': 10.0,
                              'chroma_weight': 20.0, 'energy_space': 'grey', 'energy_pool': 2, 'window': 6})
    got = [(e['type'], e['target'], e['weight']) for e in entries]
    assert got == [('LowPassL1Loss', 'gt', 2.0), ('HighBandL1Loss', 'teacher', 1.0), ('HFEnergyLoss', 'teacher', 20.0),
                   ('ChromaBandLoss', 'teacher', 40.0)]
    assert entries[2]['space'] == 'grey' and entries[2]['pool'] == 2 and entries[2]['window'] == 6
    # energy and colour only when on; the high band always (the old loss computed it at weight 0 too)
    assert [e['type'] for e in anchor_entries({**ANCHOR, 'high_weight': 0.0})] == ['LowPassL1Loss', 'HighBandL1Loss']


def test_energy_term_adds_the_band_strength_towards_the_anchor(photo_batch):
    """``energy_weight`` adds ``hf_energy_loss(pred, anchor)``: phase-free, so a shifted texture of the
    anchor's strength costs less there than the same texture flattened."""
    from realesrgan_paddle.loss.frequency import hf_energy_loss
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    base = float(self_anchor_loss(shifted, gt, gt))
    with_e = float(self_anchor_loss(shifted, gt, gt, energy_weight=2.0, window=8))
    assert with_e == pytest.approx(base + 2.0 * float(hf_energy_loss(shifted, gt, 8)), rel=1e-5)
    flat = gaussian_blur(gt, 2.0)
    assert float(hf_energy_loss(shifted, gt, 8)) < 0.5 * float(hf_energy_loss(flat, gt, 8))
    with pytest.raises(ValueError, match='window'):
        build_loss({'type': 'HFEnergyLoss', 'window': 0})


def test_energy_term_per_channel(photo_batch):
    """``energy_space='rgb'`` adds the per-channel energy term instead of the luma one; layer = function; a bad
    space is refused."""
    from realesrgan_paddle.loss.frequency import hf_energy_loss
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    base = float(self_anchor_loss(shifted, gt, gt))
    got = float(self_anchor_loss(shifted, gt, gt, energy_weight=2.0, window=8, energy_space='rgb'))
    assert got == pytest.approx(base + 2.0 * float(hf_energy_loss(shifted, gt, 8, space='rgb')), rel=1e-5)
    with pytest.raises(ValueError, match='space'):
        build_loss({'type': 'HFEnergyLoss', 'space': 'lab'})


def _ripple(n=64, s=0.05):
    return ((np.indices((n, n)).sum(0) % 2) * 2 - 1).astype('float32') * s


def test_chroma_of_grey_is_zero_and_of_red_its_distance_from_luma():
    from realesrgan_paddle.loss.frequency import chroma
    grey = paddle.full([1, 3, 4, 4], 0.4)
    assert float(paddle.abs(chroma(grey)).max()) < 1e-7
    red = paddle.to_tensor(np.array([1.0, 0, 0], 'float32').reshape(1, 3, 1, 1) * np.ones((1, 3, 2, 2), 'float32'))
    np.testing.assert_allclose(chroma(red)[0, :, 0, 0].numpy(), [0.701, -0.299, -0.299], atol=1e-6)
    with pytest.raises(ValueError, match='N3HW'):
        chroma(paddle.zeros([1, 1, 4, 4]))


def test_chroma_band_grey_texture_is_free_colour_texture_costs(photo_batch):
    """Grey texture (the same ripple in R, G and B) costs nothing; a ripple in green only costs the mean of
    its colour part's high band, (1 - 0.587, 0.587, 0.587) x its amplitude over three channels (the band of a
    Nyquist ripple is nearly all of it); low-band colour changes are free."""
    from realesrgan_paddle.loss import chroma_band_loss
    gt = photo_batch(2, 64)
    s = 0.05
    r = paddle.to_tensor(_ripple(64, s))
    assert float(chroma_band_loss(gt + r, gt)) < 1e-6
    green = paddle.concat([gt[:, :1], gt[:, 1:2] + r, gt[:, 2:]], axis=1)
    expected = s * (1 - 0.587 + 2 * 0.587) / 3
    assert float(chroma_band_loss(green, gt)) == pytest.approx(expected, rel=0.03)
    tint = paddle.concat([gt[:, :1] + 0.1, gt[:, 1:]], axis=1)
    assert float(chroma_band_loss(tint, gt)) < 1e-3 * 0.1


def test_grey_energy_space_adds_grey_texture(photo_batch):
    """``space='grey'`` measures the mean of R, G and B: on a grey image it is luma's value, and its gradient is
    the same in the three channels (luma's is not), so the texture it asks for has no colour."""
    from realesrgan_paddle.loss.frequency import hf_energy_loss
    gt = photo_batch(2, 48)
    g = gt.mean(axis=1, keepdim=True).tile([1, 3, 1, 1])
    flat = gaussian_blur(g, 2.0)
    assert float(hf_energy_loss(flat, g, 8, space='grey')) == pytest.approx(float(hf_energy_loss(flat, g, 8)),
                                                                            rel=1e-4)
    grads = {}
    for space in ('grey', 'luma'):
        x = paddle.to_tensor(flat.numpy(), stop_gradient=False)
        hf_energy_loss(x, gt, 8, space=space).backward()
        grads[space] = x.grad.numpy()
    gg, gl = grads['grey'], grads['luma']
    assert np.abs(gg).sum() > 0
    np.testing.assert_allclose(gg[:, 0], gg[:, 1], atol=1e-9)
    np.testing.assert_allclose(gg[:, 2], gg[:, 1], atol=1e-9)
    assert np.abs(gl[:, 1]).sum() > 4 * np.abs(gl[:, 2]).sum()  # luma's gradient: green 0.587, blue 0.114
    from realesrgan_paddle.loss import HFEnergyLoss
    assert float(HFEnergyLoss(2.0, 8, space='grey')(flat, g)) == pytest.approx(
        2 * float(hf_energy_loss(flat, g, 8, space='grey')), rel=1e-6)
    with pytest.raises(ValueError, match='space'):
        HFEnergyLoss(space='lab')


class TestChromaBand(_BandTester):
    """(pred, anchor): the colour part's high band towards the anchor's."""
    fn, cls = staticmethod(chroma_band_loss), ChromaBandLoss
    bad_inputs = [
        (lambda t: chroma_band_loss(*[paddle.to_tensor(photo((1, 1, 16, 16), s)) for s in (0, 1)]), ValueError,
         'channels'),
        (lambda t: chroma_band_loss(*_three()[:2], sigma=0), ValueError, 'sigma'),
        (lambda t: ChromaBandLoss(sigma=-1), ValueError, 'sigma')]


def test_self_anchor_chroma_and_pool_options(photo_batch):
    """``chroma_weight`` adds ``chroma_band_loss(pred, anchor, sigma)``, ``energy_pool`` the pooled energy
    term; the Layer passes both; bad values are refused."""
    from realesrgan_paddle.loss.frequency import hf_energy_loss
    big = photo_batch(2, 72)
    gt, shifted = big[:, :, 4:68, 4:68], big[:, :, :64, :64]
    base = float(self_anchor_loss(shifted, gt, gt))
    got = float(self_anchor_loss(shifted, gt, gt, chroma_weight=3.0))
    assert got == pytest.approx(base + 3.0 * float(chroma_band_loss(shifted, gt, 1.5)), rel=1e-5)
    pooled = float(self_anchor_loss(shifted, gt, gt, energy_weight=2.0, energy_pool=2, energy_space='grey'))
    energy = float(hf_energy_loss(shifted, gt, 8, pool=2, space='grey'))
    assert pooled == pytest.approx(base + 2.0 * energy, rel=1e-5)
    with pytest.raises(ValueError, match='sigma'):
        ChromaBandLoss(sigma=0)
