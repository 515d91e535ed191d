"""Tiny inputs never reach Paddle Inference's native crash: a 1x1 image aborted (free(): invalid next
size) and --tile 1 --tile_pad 0 hung or aborted, with a small SRVGG export (4 features) on oneDNN.
Padded to 8 px and crop back; tiles raised to 8 with a warning. Subprocesses with a timeout."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.nets import srvgg

ROOT = Path(__file__).resolve().parents[2]
SRVGG4 = srvgg(num_feat=4)


def _tool(name, *args, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / 'tools' / name), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_windows_never_smaller_than_min_side():
    from realesrgan_paddle.inference.tiling import MIN_SIDE, tiled_forward
    seen = []

    def fwd(p):
        seen.append(p.shape[2:])
        return np.repeat(np.repeat(p, 2, axis=2), 2, axis=3)
    for h, w, tile, pad in ((1, 1, 0, 0), (2, 3, 0, 10), (20, 30, 1, 0), (5, 40, 2, 1)):
        seen.clear()
        x = np.random.default_rng(0).random((3, h, w), dtype=np.float32)
        out = tiled_forward(x, fwd, 2, tile=tile, tile_pad=pad)
        assert out.shape == (3, 2 * h, 2 * w)
        assert min(min(s) for s in seen) >= MIN_SIDE, (h, w, tile, seen)
        if tile == 0:  # padding at the bottom/right is cropped away exactly
            assert np.array_equal(out, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2))


@pytest.mark.slow
def test_infer_tiny_images_and_tile_1(tmp_path, hr_photos):
    from tests.nets import save_tiny
    save_tiny(tmp_path / 'srvgg4.pdparams', SRVGG4)
    r = _tool('export_model.py', '-m', tmp_path / 'srvgg4.pdparams', '-o', tmp_path / 'exp', '--check', '16')
    assert r.returncode == 0, r.stderr[-2000:]
    photo = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    cases = {'one.png': photo[:1, :1], 'two_by_three.png': photo[:2, :3], 'mid.png': photo[:20, :30]}
    for name, img in cases.items():
        cv2.imwrite(str(tmp_path / name), img)
    for name in ('one.png', 'two_by_three.png'):
        r = _tool('infer.py', '-i', tmp_path / name, '-o', tmp_path / f'up_{name}', '-m', tmp_path / 'exp', '-q')
        assert r.returncode == 0, (name, r.returncode, r.stderr[-2000:])
        h, w = cases[name].shape[:2]
        assert cv2.imread(str(tmp_path / f'up_{name}')).shape == (4 * h, 4 * w, 3)
    r = _tool('infer.py', '-i', tmp_path / 'mid.png', '-o', tmp_path / 'up_tile1.png', '-m', tmp_path / 'exp', '-q',
              '--tile', '1', '--tile_pad', '0')
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert 'WARNING: tile 1 raised to 8' in r.stderr
    assert cv2.imread(str(tmp_path / 'up_tile1.png')).shape == (80, 120, 3)


def test_output_size_limit_and_outscale_range(tiny_models, monkeypatch):
    import pytest

    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    img = np.full((20, 30, 3), 128, np.uint8)
    assert up.upscale(img).shape == (80, 120, 3)
    monkeypatch.setenv('RESR_MAX_OUTPUT_PIXELS', '5000')
    with pytest.raises(ValueError, match=r'the output would be 120x80 pixels, more than the limit of 0.005 MP'):
        up.upscale(img)
    monkeypatch.setenv('RESR_MAX_OUTPUT_PIXELS', '0')
    for bad in (float('inf'), 1e6, -1.0, float('nan')):
        with pytest.raises(ValueError, match='outscale must be between 0.01 and 16'):
            up.upscale(img, outscale=bad)
    assert up.upscale(img, outscale=1.5).shape == (30, 45, 3)
