"""Tiling: window layout, exact blending of a local op, and no seam with a real network on a real photo."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.inference.tiling import ramp_weight, tile_grid, tiled_forward, window_starts


@pytest.mark.parametrize('size,tile,pad', [(100, 32, 8), (64, 64, 10), (65, 16, 4), (33, 40, 10), (200, 48, 0)])
def test_windows_cover_with_one_shape(size, tile, pad):
    starts, win = window_starts(size, tile, pad)
    assert win == min(size, tile + 2 * pad)
    covered = np.zeros(size, bool)
    for s in starts:
        assert 0 <= s and s + win <= size
        covered[s:s + win] = True
    assert covered.all()
    assert starts == sorted(set(starts))


def test_grid_respects_mod():
    ys, xs, wh, ww, pad = tile_grid(96, 132, 30, 5, mod=4)
    assert wh % 4 == 0 and ww % 4 == 0 and pad % 4 == 0
    assert all(y % 4 == 0 for y in ys) and all(x % 4 == 0 for x in xs)


def test_ramp_is_one_at_image_border_and_fades_inside():
    w = ramp_weight(40, 0, 100, 10)
    assert w[0] == 1 and w[-1] < 0.1 and np.all(np.diff(w[-10:]) < 0)
    w2 = ramp_weight(40, 60, 100, 10)
    assert w2[-1] == 1 and w2[0] < 0.1


def _nearest_x2(x):
    return x.repeat(2, axis=2).repeat(2, axis=3)


def test_blending_is_exact_for_a_local_op():
    x = np.random.default_rng(0).random((3, 70, 90), dtype=np.float32)
    calls = []
    out = tiled_forward(x, lambda p: calls.append(p.shape) or _nearest_x2(p), 2, tile=24, tile_pad=6,
                        progress=lambda d, t: None)
    np.testing.assert_allclose(out, _nearest_x2(x[None])[0], atol=1e-5)
    assert len(calls) > 4 and len(set(calls)) == 1  # every tile has the same shape (one predictor shape)


def test_tile_needs_mod_multiple():
    with pytest.raises(ValueError, match='multiple of 2'):
        tiled_forward(np.zeros((3, 33, 40), np.float32), _nearest_x2, 2, tile=16, tile_pad=2, mod=2)


def _seam_stats(tiled, full, tile_hr):
    """Mean abs error within 2 px of the tile-core boundaries vs elsewhere, and the gradient jump ratio there."""
    err = np.abs(tiled.astype(np.float32) - full.astype(np.float32)).mean(axis=2)
    h, w = err.shape
    mask = np.zeros((h, w), bool)
    cols = [x for x in range(tile_hr, w, tile_hr)]
    rows = [y for y in range(tile_hr, h, tile_hr)]
    for x in cols:
        mask[:, x - 2:x + 2] = True
    for y in rows:
        mask[y - 2:y + 2, :] = True
    jt = np.abs(np.diff(tiled.astype(np.float32), axis=1)).mean(axis=(0, 2))
    jf = np.abs(np.diff(full.astype(np.float32), axis=1)).mean(axis=(0, 2))
    idx = [x - 1 for x in cols]
    return err[mask].mean(), err[~mask].mean(), jt[idx].mean() / jf[idx].mean()


def test_tiled_equals_untiled_without_seam(tiny_models, hr_photos):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.evaluation.metrics import psnr
    hr = next(cv2.imread(str(p)) for p in hr_photos if cv2.imread(str(p)).shape[0] >= 400)
    hr = hr[:384, :512]
    lr = cv2.resize(hr, (128, 96), interpolation=cv2.INTER_AREA)
    up = Upscaler(tiny_models['rrdb_x4'], backend='dynamic', tile=0)
    full = up.upscale(lr)
    up.tile, up.tile_pad = 32, 10
    tiled = up.upscale(lr)
    assert up.last_tile == 32
    assert abs(psnr(tiled, hr) - psnr(full, hr)) <= 0.5
    assert psnr(tiled, full) > 40
    border, elsewhere, jump = _seam_stats(tiled, full, 32 * 4)
    assert border <= 1.5 * elsewhere + 0.05, (border, elsewhere)
    assert jump < 1.1
    # the same check sees the seams of plain stitching (no overlap): the test can fail
    up.tile_pad = 0
    stitched = up.upscale(lr)
    border0, elsewhere0, _ = _seam_stats(stitched, full, 32 * 4)
    assert border0 > 2 * elsewhere0


def test_tiles_with_mod_padding_x2(tiny_models, photo):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.evaluation.metrics import psnr
    lr = photo[:45, :71]  # odd sizes: padded to the x2 model's unshuffle factor
    up = Upscaler(tiny_models['rrdb_x2'], backend='dynamic', tile=0)
    full = up.upscale(lr)
    assert full.shape == (90, 142, 3)
    up.tile, up.tile_pad = 17, 5  # rounded up to multiples of 2 inside
    tiled = up.upscale(lr)
    assert tiled.shape == full.shape and psnr(tiled, full) > 35


def test_auto_tile_from_free_memory(monkeypatch):
    from realesrgan_paddle.inference import memory
    x4plus = {'type': 'RRDBNet', 'scale': 4, 'num_feat': 64, 'num_block': 23, 'num_grow_ch': 32}
    monkeypatch.setattr(memory, 'available_memory', lambda: 16 << 30)
    assert memory.auto_tile(x4plus, 64, 64, 10) == 0  # fits: no tiling
    t = memory.auto_tile(x4plus, 3000, 4000, 10)  # a 4000x3000 photo must be tiled
    assert 64 <= t <= memory.MAX_TILE_CPU and t % 16 == 0
    need = (t + 20) ** 2 * memory.SAFETY * memory.activation_bytes_per_pixel(x4plus)
    assert need <= 0.5 * (16 << 30)
    assert memory.auto_tile(x4plus, 3000, 4000, 10, backend='dynamic') < t
    monkeypatch.setattr(memory, 'available_memory', lambda: 1 << 30)
    assert memory.auto_tile(x4plus, 3000, 4000, 10) == memory.MIN_TILE  # starved: smallest tile, no crash
