"""Frame filters of the dataset builder on real photos."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.data.builder.frame_filters import (
    FilterConfig, FrameFilter, HashIndex, blur_score, detect_bars, exclude_box,
    luma_stats, parse_box, phash, to_gray)


@pytest.fixture(scope='module')
def photos(hr_photos):
    imgs = []
    for p in hr_photos:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is not None and min(img.shape[:2]) >= 300 and img.std() > 20:
            imgs.append(img)
    assert len(imgs) >= 3
    return imgs


def test_blur_score_drops_with_blur(photos):
    for img in photos[:4]:
        g = to_gray(img)
        s0 = blur_score(g)
        s1 = blur_score(cv2.GaussianBlur(g, (0, 0), 1.0))
        s2 = blur_score(cv2.GaussianBlur(g, (0, 0), 2.5))
        assert s0 > s1 > s2
        assert s2 < FilterConfig().blur < s0


def test_blur_score_rejects_color():
    with pytest.raises(ValueError):
        blur_score(np.zeros((8, 8, 3), np.uint8))


def test_luma_stats_black_and_flat(photos):
    g = to_gray(photos[0])
    mean, std = luma_stats(g)
    assert mean == pytest.approx(g.mean(), abs=1e-3) and std == pytest.approx(g.std(), abs=1e-3)
    dark = (photos[0] * 0.05).astype(np.uint8)
    flat = np.full_like(photos[0], 128) + np.random.default_rng(0).integers(0, 3, photos[0].shape, dtype=np.uint8)
    f = FrameFilter(FilterConfig(min_size=None, dedupe=None))
    assert f(dark)['reason'] == 'black'
    assert f(flat)['reason'] == 'flat'
    assert f(photos[0])['reason'] is None


@pytest.mark.parametrize('pad', [(60, 60, 0, 0), (0, 0, 90, 90), (40, 44, 30, 26)])
def test_detect_bars_exact_on_padded_photo(photos, pad):
    top, bottom, left, right = pad
    img = photos[1]
    h, w = img.shape[:2]
    padded = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(16, 16, 16))
    noise = np.random.default_rng(1).integers(0, 4, padded.shape, dtype=np.uint8)
    padded = cv2.add(padded, noise)  # compressed bars are never perfectly uniform
    assert detect_bars(to_gray(padded)) == (left, top, w, h)


def test_detect_bars_keeps_unpadded_and_black(photos):
    for img in photos:
        g = to_gray(img)
        x, y, w, h = detect_bars(g)
        assert w >= 0.9 * g.shape[1] and h >= 0.9 * g.shape[0]
    black = np.zeros((120, 200), np.uint8)
    assert detect_bars(black) == (0, 0, 200, 120)
    with pytest.raises(ValueError):
        detect_bars(np.zeros((4, 4, 3), np.uint8))


def test_exclude_box():
    rect = (0, 0, 1920, 1080)
    # a scoreboard in the top-left corner: keep everything below it
    assert exclude_box(rect, (50, 40, 400, 60)) == (0, 100, 1920, 980)
    # a logo on the right edge, full height: keep the left part
    assert exclude_box(rect, (1800, 0, 120, 1080)) == (0, 0, 1800, 1080)
    # no overlap: unchanged
    assert exclude_box((0, 100, 640, 380), (0, 0, 640, 100)) == (0, 100, 640, 380)
    assert parse_box('10, 20,30,40') == (10, 20, 30, 40)
    for bad in ('1,2,3', 'a,b,c,d', '0,0,0,10', '-1,0,5,5'):
        with pytest.raises(ValueError, match='--crop'):
            parse_box(bad)


def test_phash_near_and_far(photos):
    hashes = [phash(to_gray(im)) for im in photos]
    for im, h in zip(photos, hashes):
        ok, buf = cv2.imencode('.jpg', cv2.resize(im, None, fx=0.5, fy=0.5), [cv2.IMWRITE_JPEG_QUALITY, 60])
        h2 = phash(to_gray(cv2.imdecode(buf, cv2.IMREAD_COLOR)))
        assert bin(h ^ h2).count('1') <= FilterConfig().dedupe
    far = [bin(a ^ b).count('1') for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    assert min(far) > FilterConfig().dedupe


def test_hash_index():
    idx = HashIndex()
    assert idx.nearest(5) == (None, None)
    rng = np.random.default_rng(0)
    values = [int(v) for v in rng.integers(0, 2**63, 200)]
    for i, v in enumerate(values):
        idx.add(v, f'f{i}')
    assert len(idx) == 200
    assert idx.nearest(values[150]) == (0, 'f150')
    assert idx.nearest(values[7] ^ 0b101) == (2, 'f7')


def test_frame_filter_order_and_crops(photos):
    img = photos[1]
    h, w = img.shape[:2]
    padded = cv2.copyMakeBorder(img, 50, 50, 0, 0, cv2.BORDER_CONSTANT, value=0)
    cfg = FilterConfig(min_size=100, crops=[(0, 50, 100, 40)])
    f = FrameFilter(cfg)
    res = f(padded)
    # bars cropped first, then the overlay box (top-left, inside the picture) cut away
    assert res['bars'] and res['overlay'] and res['reason'] is None
    assert res['crop'] == [0, 90, w, h - 40]
    f.keep(res, 'a.png')
    again = f(padded)
    assert again['reason'] == 'duplicate' and again['dup_of'] == 'a.png' and again['dup_dist'] == 0
    assert FrameFilter(FilterConfig(min_size=10_000))(img)['reason'] == 'small'
    off = FrameFilter(FilterConfig.off())
    r = off(padded)
    assert r['reason'] is None and r['crop'] == [0, 0, w, h + 100]
