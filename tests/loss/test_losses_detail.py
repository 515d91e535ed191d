"""Detail losses (HF energy, FFT amplitude, gradient) and LDL artefact weighting: values against numpy/cv2,
the property they exist for on real photos, layer = function, bad input, gradients."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import (
    FFTAmplitudeLoss, GradientLoss, HFEnergyLoss, LDLLoss, LowPassL1Loss, SubpixelGridLoss, artifact_map,
    build_loss, fft_amplitude_loss, gradient_loss, hf_energy_loss, l1_loss, ldl_loss, lowpass_l1_loss,
    subpixel_grid_loss)
from realesrgan_paddle.loss.frequency import gaussian_blur, laplacian, local_rms, luma
from realesrgan_paddle.loss.ldl import local_variance
from tests.op_tester import LossTester, photo

def _pair(seed=0, shape=(2, 3, 16, 16)):
    rng = np.random.default_rng(seed)
    a, b = rng.random(shape).astype('float32'), rng.random(shape).astype('float32')
    return a, b, paddle.to_tensor(a), paddle.to_tensor(b)


def _luma_np(x):
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def common_bad_inputs(fn):
    """What every detail loss refuses: two shapes, a missing batch axis, numpy arrays."""
    def make(bad):
        def run(tester):
            a, b = photo((2, 3, 16, 16)), photo((2, 3, 16, 16), 1)
            return bad(a, paddle.to_tensor(a), paddle.to_tensor(b))
        return run
    return [(make(lambda a, ta, tb: fn(ta, tb[:, :, :8])), ValueError, 'differ in shape'),
            (make(lambda a, ta, tb: fn(ta[0], tb[0])), ValueError, 'NCHW'),
            (make(lambda a, ta, tb: fn(a, tb)), TypeError, 'paddle Tensors')]


class DetailLoss(LossTester):
    """The checks every detail loss gets (tests/op_tester.py); the gradient never reaches the target."""
    prediction_only = True
    shapes = [(2, 3, 16, 16), (1, 3, 24, 40)]


class TestHFEnergy(DetailLoss):
    none_shape = staticmethod(lambda s: (s[0], 1, s[2], s[3]))
    bad_inputs = common_bad_inputs(hf_energy_loss) + [
        (lambda t: hf_energy_loss(*map(paddle.to_tensor, (photo((1, 2, 16, 16)),) * 2)), ValueError, 'channels'),
        (lambda t: hf_energy_loss(*map(paddle.to_tensor, (photo((1, 3, 16, 16)),) * 2), window=0), ValueError,
         'window'),
        (lambda t: HFEnergyLoss(window=0), ValueError, 'window')]

    def loss(self, pred, target, reduction='mean'):
        return hf_energy_loss(pred, target, 5, reduction)

    def layer(self):
        return HFEnergyLoss(self.WEIGHT, window=5)


class TestFFTAmplitude(DetailLoss):
    none_shape = staticmethod(lambda s: (s[0], s[1], s[2], s[3] // 2 + 1))
    bad_inputs = common_bad_inputs(fft_amplitude_loss)

    def loss(self, pred, target, reduction='mean'):
        return fft_amplitude_loss(pred, target, reduction)

    def layer(self):
        return FFTAmplitudeLoss(self.WEIGHT)


class TestGradient(DetailLoss):
    none_shape = staticmethod(lambda s: (s[0], 1, s[2], s[3]))
    bad_inputs = common_bad_inputs(gradient_loss) + [
        (lambda t: GradientLoss(reduction='median'), ValueError, 'reduction')]

    def loss(self, pred, target, reduction='mean'):
        return gradient_loss(pred, target, reduction)

    def layer(self):
        return GradientLoss(self.WEIGHT)


class TestLowPassL1(DetailLoss):
    none_shape = staticmethod(tuple)
    bad_inputs = common_bad_inputs(lowpass_l1_loss) + [
        (lambda t: lowpass_l1_loss(*map(paddle.to_tensor, (photo((1, 3, 16, 16)),) * 2), sigma=0), ValueError,
         'sigma'),
        (lambda t: LowPassL1Loss(sigma=-1), ValueError, 'sigma')]

    def loss(self, pred, target, reduction='mean'):
        return lowpass_l1_loss(pred, target, 1.5, reduction)

    def layer(self):
        return LowPassL1Loss(self.WEIGHT, 1.5)


class TestSubpixelGrid(DetailLoss):
    shapes = [(2, 3, 16, 16), (1, 3, 24, 40)]
    # 16 sub-pixel positions; one value per window of 2 x 2 cells of 4 x 4 px
    none_shape = staticmethod(lambda s: (s[0], 16, s[2] // 8, s[3] // 8))
    bad_inputs = common_bad_inputs(subpixel_grid_loss) + [
        (lambda t: subpixel_grid_loss(*map(paddle.to_tensor, (photo((1, 3, 14, 14)),) * 2)), ValueError,
         'multiples of period'),
        (lambda t: SubpixelGridLoss(period=1), ValueError, 'period'),
        (lambda t: subpixel_grid_loss(*map(paddle.to_tensor, (photo((1, 3, 16, 16)),) * 2), window=0), ValueError,
         'window')]

    def loss(self, pred, target, reduction='mean'):
        return subpixel_grid_loss(pred, target, 4, 2, reduction)

    def layer(self):
        return SubpixelGridLoss(self.WEIGHT, window=2)


class TestLDL(LossTester):
    """LDL weights the L1 by the artefact map of (output, GT, EMA output): the EMA is the extra input."""
    extra_inputs = 1
    shapes = [(1, 3, 16, 16), (2, 3, 24, 40)]
    bad_inputs = [(lambda t: ldl_loss(*map(paddle.to_tensor, (photo((1, 3, 16, 16)),) * 2),
                                      paddle.to_tensor(photo((1, 3, 8, 16)))), ValueError, 'one shape'),
                  (lambda t: LDLLoss(window=1), ValueError, 'window')]
    grad_rtol = None  # the artefact map is a constant in the gradient (no_grad), as LDL defines it

    def loss(self, pred, target, ema, reduction='mean'):
        return ldl_loss(pred, target, ema, 5, reduction)

    def layer(self):
        return build_loss({'type': 'LDLLoss', 'loss_weight': self.WEIGHT, 'window': 5})  # the registry's


def test_subpixel_grid_none_shape_with_the_default_window():
    _, _, ta, tb = _pair()
    assert subpixel_grid_loss(ta, tb, reduction='none').shape == [2, 16, 1, 1]  # 16 positions, 4x4 cells in one window
    assert gaussian_blur(ta, 2.0).shape == ta.shape


def test_lowpass_l1_matches_cv2_and_ignores_the_finest_band(photo_batch):
    a, b, ta, tb = _pair(8)

    def blur(x):
        return np.stack([[cv2.GaussianBlur(c.astype('float64'), (7, 7), 1.0, borderType=cv2.BORDER_REFLECT_101)
                          for c in img] for img in x])
    assert float(lowpass_l1_loss(ta, tb, sigma=1.0)) == pytest.approx(np.abs(blur(a) - blur(b)).mean(), rel=1e-4)
    # on a real photo, a checkerboard ripple at the Nyquist frequency costs L1 but next to nothing low-passed
    gt = photo_batch(2, 64)
    ripple = paddle.to_tensor(((np.indices((64, 64)).sum(0) % 2) * 2 - 1).astype('float32') * 0.05)
    assert float(lowpass_l1_loss(gt + ripple, gt, 1.5)) < 0.05 * float(l1_loss(gt + ripple, gt))


def test_subpixel_grid_sees_a_pixel_shuffle_grid_and_nothing_else(photo_batch):
    gt = photo_batch(2, 64)
    rng = np.random.default_rng(10)
    grid = paddle.to_tensor(np.tile(rng.normal(0, 0.03, (4, 4)).astype('float32'), (16, 16)))
    noise = paddle.to_tensor(rng.normal(0, 0.03, (2, 3, 64, 64)).astype('float32'))
    g_grid = float(subpixel_grid_loss(gt + grid, gt))
    # a 4-pixel pattern is what it measures; an even shift, a blur and white noise of the same strength are not
    assert g_grid > 5 * float(subpixel_grid_loss(gt + noise, gt))
    assert float(subpixel_grid_loss(gt + 0.1, gt)) < 1e-6
    assert g_grid > 3 * float(subpixel_grid_loss(gaussian_blur(gt, 1.5), gt))
    # numpy reference: per-position means of the luma error over 8x8-cell windows, deviation from their mean
    d = (_luma_np((gt + grid).numpy().astype('float64')) - _luma_np(gt.numpy().astype('float64')))
    pos = d.reshape(2, 16, 4, 16, 4).transpose(0, 2, 4, 1, 3).reshape(2, 16, 2, 8, 2, 8).mean(axis=(3, 5))
    assert g_grid == pytest.approx(np.abs(pos - pos.mean(axis=1, keepdims=True)).mean(), rel=1e-4)


def test_hf_energy_matches_numpy_reference():
    a, b, ta, tb = _pair(1)
    w = 7  # odd: cv2.blur centres an odd box like local_rms does

    def rms(x):
        y = _luma_np(x.astype('float64'))
        out = []
        for img in y:
            lap = cv2.Laplacian(img, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
            out.append(np.sqrt(cv2.blur(lap * lap, (w, w), borderType=cv2.BORDER_REFLECT_101) + 1e-8))
        return np.stack(out)
    ref = np.abs(rms(a) - rms(b)).mean()
    assert float(hf_energy_loss(ta, tb, window=w)) == pytest.approx(ref, rel=1e-4)
    lap = laplacian(luma(ta)).numpy()[0, 0]
    np.testing.assert_allclose(lap, cv2.Laplacian(_luma_np(a)[0].astype('float64'), cv2.CV_64F, ksize=1,
                                                  borderType=cv2.BORDER_REFLECT_101), atol=1e-5)
    for window in (1, 4, 8):
        assert local_rms(luma(ta), window).shape == [2, 1, 16, 16]


def test_fft_and_gradient_match_numpy_reference():
    a, b, ta, tb = _pair(2)
    ref = np.abs(np.abs(np.fft.rfft2(a, norm='ortho')) - np.abs(np.fft.rfft2(b, norm='ortho'))).mean()
    assert float(fft_amplitude_loss(ta, tb)) == pytest.approx(ref, rel=1e-4)

    def mag(x):
        out = []
        for img in _luma_np(x.astype('float64')):
            gx = cv2.Sobel(img, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
            gy = cv2.Sobel(img, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)
            out.append(np.sqrt(gx * gx + gy * gy + 1e-8))
        return np.stack(out)
    assert float(gradient_loss(ta, tb)) == pytest.approx(np.abs(mag(a) - mag(b)).mean(), rel=1e-4)


def test_detail_losses_prefer_a_shifted_texture_to_a_blurred_one(photo_batch):
    """The point of these losses on real photos: a copy shifted by 2 px (right texture, wrong phase) is
    far from the GT for L1 but close for the detail losses; a blurred copy is the opposite."""
    gt = photo_batch(3, 96)
    shifted = paddle.roll(gt, shifts=[2, 2], axis=[2, 3])
    blur = paddle.to_tensor(np.stack([cv2.GaussianBlur(x.transpose(1, 2, 0), (0, 0), 1.5).transpose(2, 0, 1)
                                      for x in gt.numpy()]))
    assert float(l1_loss(shifted, gt)) > float(l1_loss(blur, gt))
    for f in (hf_energy_loss, fft_amplitude_loss):
        assert float(f(shifted, gt)) < 0.6 * float(f(blur, gt)), f.__name__
    # the gradient loss compares edge strength pixel by pixel: blur costs, and so does a wrong phase
    assert float(gradient_loss(blur, gt)) > 0.05 and float(gradient_loss(shifted, gt)) > 0.05


def test_hf_energy_penalises_noise_where_the_target_is_smooth():
    flat = paddle.full([1, 3, 32, 32], 0.5)
    noisy = flat + 0.02 * paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype('float32'))
    assert float(hf_energy_loss(noisy, flat)) > 10 * float(hf_energy_loss(flat + 0.02, flat)) + 1e-3


def test_local_variance_matches_numpy():
    x = np.random.default_rng(5).random((1, 1, 12, 12)).astype('float32')
    xp = np.pad(x[0, 0].astype('float64'), 3, mode='reflect')
    ref = np.array([[xp[i:i + 7, j:j + 7].var(ddof=1) for j in range(12)] for i in range(12)])
    np.testing.assert_allclose(local_variance(paddle.to_tensor(x), 7).numpy()[0, 0], ref, rtol=1e-3, atol=1e-6)


def test_artifact_map_formula_and_ema_mask():
    rng = np.random.default_rng(6)
    gt = rng.random((2, 3, 16, 16)).astype('float32')
    out = gt + 0.1 * rng.standard_normal(gt.shape).astype('float32')
    ema = gt + 0.05 * rng.standard_normal(gt.shape).astype('float32')
    w = artifact_map(paddle.to_tensor(out), paddle.to_tensor(gt), paddle.to_tensor(ema), 7).numpy()
    res, res_ema = np.abs(gt - out).sum(1, keepdims=True), np.abs(gt - ema).sum(1, keepdims=True)
    patch = np.var(res.reshape(2, -1), axis=1, ddof=1) ** 0.2
    lv = local_variance(paddle.to_tensor(res), 7).numpy()
    ref = np.where(res < res_ema, 0.0, lv * patch[:, None, None, None])
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-7)
    assert (w == 0).any() and (w > 0).any()
    # pixels where the current output beats the EMA get weight 0; an exact output costs nothing
    assert float(ldl_loss(paddle.to_tensor(gt), paddle.to_tensor(gt), paddle.to_tensor(gt))) == 0.0


def test_ldl_layer_equals_function_and_has_gradient():
    rng = np.random.default_rng(7)
    gt = paddle.to_tensor(rng.random((1, 3, 16, 16)).astype('float32'))
    out = gt + 0.1 * paddle.to_tensor(rng.standard_normal((1, 3, 16, 16)).astype('float32'))
    ema = gt.clone()  # the EMA is better everywhere: every pixel is weighted
    assert float(LDLLoss(2.0, 5)(out, gt, ema)) == pytest.approx(2 * float(ldl_loss(out, gt, ema, 5)), rel=1e-6)
    out.stop_gradient = False
    ldl_loss(out, gt, ema).backward()
    assert np.isfinite(out.grad.numpy()).all() and np.abs(out.grad.numpy()).sum() > 0


def test_fft_amplitude_luma_space_ignores_colour_texture():
    """``space='luma'``: texture in the chroma only (equal and opposite in R and B at the luma weights) costs
    nothing, while per RGB channel it costs its amplitude; a luma texture costs in both spaces."""
    rng = np.random.default_rng(4)
    gt = paddle.to_tensor(np.full((1, 3, 32, 32), 0.5, 'float32'))
    t = rng.standard_normal((32, 32)).astype('float32') * 0.05
    colour = np.zeros((1, 3, 32, 32), 'float32')
    colour[0, 0], colour[0, 2] = t / 0.299, -t / 0.114
    colour = paddle.to_tensor(colour)
    assert float(fft_amplitude_loss(gt + colour, gt, space='luma')) < 1e-6
    assert float(fft_amplitude_loss(gt + colour, gt)) > 0.01
    grey = paddle.to_tensor(np.broadcast_to(t, (1, 3, 32, 32)).copy())
    assert float(fft_amplitude_loss(gt + grey, gt, space='luma')) > 0.01
    layer = FFTAmplitudeLoss(2.0, space='luma')
    assert float(layer(gt + grey, gt)) == pytest.approx(2 * float(fft_amplitude_loss(gt + grey, gt, space='luma')))
    with pytest.raises(ValueError, match='space'):
        fft_amplitude_loss(gt, gt, space='lab')
    with pytest.raises(ValueError, match='space'):
        FFTAmplitudeLoss(space='yuv')
    assert isinstance(build_loss({'type': 'FFTAmplitudeLoss', 'space': 'luma'}), FFTAmplitudeLoss)


def test_hf_energy_pool_measures_the_coarser_band_where_a_2px_lattice_vanishes():
    """``pool=2``: the same loss on luma averaged over 2 x 2 blocks with half the window; a period-2 checker
    added to a real photo moves the full-band term and leaves the pooled one at 0."""
    img = photo((1, 3, 32, 32))
    checker = np.indices((32, 32)).sum(axis=0) % 2 * 0.2 - 0.1
    lattice = np.clip(img + checker[None, None].astype('float32'), -10, 10)
    ta, tb = paddle.to_tensor(img), paddle.to_tensor(lattice.astype('float32'))
    assert float(hf_energy_loss(tb, ta, 8)) > 0.05
    assert float(hf_energy_loss(tb, ta, 8, pool=2)) == pytest.approx(0.0, abs=1e-6)
    a, b, ta, tb = _pair(2, (2, 3, 16, 16))
    pooled = [paddle.nn.functional.avg_pool2d(luma(t), 2, stride=2) for t in (ta, tb)]
    assert float(hf_energy_loss(ta, tb, 8, pool=2)) == pytest.approx(float(hf_energy_loss(*pooled, 4)), rel=1e-5)
    assert float(HFEnergyLoss(2.0, window=8, pool=2)(ta, tb)) == pytest.approx(
        2 * float(hf_energy_loss(ta, tb, 8, pool=2)), rel=1e-6)
    tp = paddle.to_tensor(a, stop_gradient=False)
    hf_energy_loss(tp, tb, 8, pool=2).backward()
    assert tp.grad is not None and float(tp.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match='pool'):
        hf_energy_loss(ta, tb, 8, pool=0)
    with pytest.raises(ValueError, match='pool'):
        HFEnergyLoss(pool=0)


def test_hf_energy_rgb_space_sees_colour_texture_that_luma_does_not():
    """``space='rgb'``: each channel's Laplacian energy. On a grey photo it equals the luma term (luma of R = G = B
    is that value); a texture added as R up / G down in luma's proportions leaves luma unchanged, so the luma term
    is blind to it (a colour fringe costs nothing) while the per-channel term is not. Layer = function,
    the gradient reaches every channel, bad space."""
    grey = np.repeat(photo((2, 3, 32, 32))[:, 1:2], 3, axis=1)
    rng = np.random.default_rng(3)
    other = np.repeat(rng.random((2, 1, 32, 32)).astype('float32'), 3, axis=1)
    tg, to = paddle.to_tensor(grey), paddle.to_tensor(other)
    assert float(hf_energy_loss(to, tg, 8, space='rgb')) == pytest.approx(float(hf_energy_loss(to, tg, 8)), rel=1e-5)
    pattern = (np.indices((32, 32)).sum(axis=0) % 2 * 0.2 - 0.1).astype('float32')
    fringe = grey.copy()
    fringe[:, 0] += 0.587 * pattern
    fringe[:, 1] -= 0.299 * pattern
    tf = paddle.to_tensor(fringe)
    assert float(hf_energy_loss(tf, tg, 8)) == pytest.approx(0.0, abs=1e-4)
    assert float(hf_energy_loss(tf, tg, 8, space='rgb')) > 0.02
    assert hf_energy_loss(tf, tg, 8, reduction='none', space='rgb').shape == [2, 3, 32, 32]
    assert float(HFEnergyLoss(2.0, window=8, space='rgb')(tf, tg)) == pytest.approx(
        2 * float(hf_energy_loss(tf, tg, 8, space='rgb')), rel=1e-6)
    tp = paddle.to_tensor(other, stop_gradient=False)
    hf_energy_loss(tp, tg, 8, space='rgb').backward()
    assert all(float(tp.grad[:, c].abs().sum()) > 0 for c in range(3))
    with pytest.raises(ValueError, match='space'):
        hf_energy_loss(tf, tg, 8, space='lab')
    with pytest.raises(ValueError, match='space'):
        HFEnergyLoss(space='yuv')
