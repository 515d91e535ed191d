"""evaluation/metrics.py: detail ratio and artefact measure move the right way on real photos."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation import metrics as M


@pytest.fixture(scope='module')
def photos(photo_crops):
    return photo_crops(4, 320)


def _noisy(img, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def test_identical_image(photos):
    for img in photos:
        assert M.psnr(img, img, 4, test_y=True) == float('inf')
        assert M.detail_ratio(img, img) == 1.0
        assert M.artefact(img, img) == 0.0


def test_blur_scores_less_detail(photos):
    for img in photos:
        soft = cv2.GaussianBlur(img, (0, 0), 1.0)
        softer = cv2.GaussianBlur(img, (0, 0), 2.0)
        assert M.detail_ratio(softer, img) < M.detail_ratio(soft, img) < 0.7


def test_noise_scores_as_overshoot_and_artefact(photos):
    for img in photos:
        noisy = _noisy(img, 8)
        assert M.detail_ratio(noisy, img) > 1.0
        assert M.artefact(noisy, img) > M.artefact(cv2.GaussianBlur(img, (0, 0), 1.0), img)
        assert M.artefact(_noisy(img, 16), img) > M.artefact(noisy, img) > 1.0


def test_artefact_counts_errors_in_flat_regions_more():
    """The same noise costs more on a flat GT than on a textured one (the GT-smooth weight)."""
    rng = np.random.default_rng(1)
    flat = np.full((128, 128, 3), 120, np.uint8)
    texture = np.clip(120 + rng.normal(0, 40, (128, 128, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
    noise = rng.normal(0, 6, (128, 128, 1)).repeat(3, 2)
    on_flat = M.artefact(np.clip(flat + noise, 0, 255).astype(np.uint8), flat)
    on_texture = M.artefact(np.clip(texture + noise, 0, 255).astype(np.uint8), texture)
    assert on_flat > 3 and on_texture < on_flat


def test_laplacian_energy_and_crop(photos):
    img = photos[0]
    assert M.laplacian_energy(img, 0) > 0
    flat = np.full((40, 40), 50, np.uint8)
    assert M.laplacian_energy(flat) == 0 and np.isnan(M.detail_ratio(flat, flat))
    edge = np.zeros((40, 40), np.uint8)
    edge[:, 2] = 255  # inside the 4 px border only
    assert M.laplacian_energy(edge, 4) == 0 and M.laplacian_energy(edge, 0) > 0


def test_geometric_mean():
    assert M.geometric_mean([0.5, 2.0]) == pytest.approx(1.0)
    assert M.geometric_mean([4.0, float('nan'), None, 0.0, 1.0]) == pytest.approx(2.0)
    assert np.isnan(M.geometric_mean([]))


def test_float_and_uint16_inputs_agree(photos):
    img, out = photos[1], cv2.GaussianBlur(photos[1], (0, 0), 1.0)
    ref = (M.detail_ratio(out, img), M.artefact(out, img))
    as16 = (M.detail_ratio(out.astype(np.uint16) * 257, img.astype(np.uint16) * 257),
            M.artefact(out.astype(np.uint16) * 257, img.astype(np.uint16) * 257))
    asf = (M.detail_ratio(out / 255.0, img / 255.0), M.artefact(out / 255.0, img / 255.0))
    np.testing.assert_allclose(as16, ref, rtol=1e-9)
    np.testing.assert_allclose(asf, ref, rtol=1e-9)


def test_bad_input(photos):
    with pytest.raises(ValueError, match='shapes differ'):
        M.detail_ratio(photos[0][:100], photos[0])
    with pytest.raises(ValueError, match='shapes differ'):
        M.artefact(photos[0][:100], photos[0])


def test_input_detail_is_what_the_degraded_input_keeps(photos):
    for img in photos:
        h, w = img.shape[:2]
        clean = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        assert M.input_detail(clean, img) == pytest.approx(1.0, rel=1e-9)  # the GT's own shrink keeps it all
        blurred = [cv2.resize(cv2.GaussianBlur(img, (0, 0), s), (w // 4, h // 4), interpolation=cv2.INTER_AREA)
                   for s in (2.0, 4.0, 8.0)]
        kept = [M.input_detail(b, img) for b in blurred]
        assert 1.0 > kept[0] > kept[1] > kept[2] and kept[2] < 0.25
        assert M.input_detail(_noisy(clean, 8), img) > 1.0  # noise added by the degradation
    assert np.isnan(M.input_detail(np.full((20, 20, 3), 7, np.uint8), np.full((80, 80, 3), 9, np.uint8)))


def _texture_by_bisection(out, gt, target, shift, sigma=1.5, crop=4):
    """Reference for invented_texture_psnr with one shift: the gain found by bisection on the detail ratio of
    the float Y (not by the closed form), then the PSNR."""
    ym, yg = M.luma(out), M.luma(gt)
    t = np.roll(yg - cv2.GaussianBlur(yg, (0, 0), sigma, borderType=cv2.BORDER_REFLECT), shift, axis=(0, 1))

    def energy(y):
        lap = cv2.Laplacian(y, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)[crop:-crop, crop:-crop]
        return np.mean(lap * lap)
    lo, hi = 0.0, 10.0
    for _ in range(80):
        a = (lo + hi) / 2
        lo, hi = (a, hi) if energy(ym + a * t) < target * energy(yg) else (lo, a)
    y = np.clip(ym + lo * t, 0, 255)[crop:-crop, crop:-crop]
    return 10 * np.log10(255.0 ** 2 / np.mean((y - yg[crop:-crop, crop:-crop]) ** 2)), lo


def test_invented_texture_psnr_matches_a_bisection_reference(photos):
    for img in photos[:2]:
        soft = cv2.GaussianBlur(img, (0, 0), 1.5)
        for target in (0.5, 1.0):
            ref, gain = _texture_by_bisection(soft, img, target, (5, 7))
            assert gain > 0.1
            assert M.invented_texture_psnr(soft, img, target, shifts=((5, 7),)) == pytest.approx(ref, abs=1e-6)


def test_invented_texture_costs_psnr_and_more_detail_costs_more(photos):
    for img in photos:
        soft = cv2.GaussianBlur(img, (0, 0), 1.5)
        now = M.psnr(soft, img, 4, test_y=True)
        est = [M.invented_texture_psnr(soft, img, t) for t in (0.5, 0.7, 1.0)]
        assert now > est[0] > est[1] > est[2]
        # the same band in place (phase known) would gain: displaced, it costs about its own energy
        band = img.astype(np.float64) - cv2.GaussianBlur(img.astype(np.float64), (0, 0), 1.5)
        assert M.psnr(np.clip(soft + band, 0, 255), img, 4, test_y=True) > now > est[2]


def test_invented_texture_leaves_detailed_outputs_alone(photos):
    for img in photos:
        noisy = _noisy(img, 6.0)
        assert M.detail_ratio(noisy, img) > 1.0
        assert M.invented_texture_psnr(noisy, img, 0.7) == pytest.approx(M.psnr(noisy, img, 4, test_y=True), abs=1e-9)
    assert M.invented_texture_psnr(photos[0], photos[0]) == float('inf')


def test_invented_texture_bad_input(photos):
    with pytest.raises(ValueError, match='shapes differ'):
        M.invented_texture_psnr(photos[0][:100], photos[0])
    with pytest.raises(ValueError, match='must be > 0'):
        M.invented_texture_psnr(photos[0], photos[0], target=0)
