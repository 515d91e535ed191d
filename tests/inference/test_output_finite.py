"""A network that gives NaN or Inf (finite weights of 1e30 overflow float32 in two convs) fails the image or the
video in one line and writes nothing (it wrote a black image with exit status 0); a network whose smallest window
cannot fit in the memory this process can still take is refused when it is set up, and an input whose smallest
tiles cannot fit is refused before it runs (issue 73)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle.inference import memory
from realesrgan_paddle.inference.upscaler import NonFiniteOutput, Upscaler
from tests.inference.video_clips import make_clip
from tests.models.hostile_archs import TINY, save, tiny_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def overflowing(tmp_path_factory):
    """A tiny SRVGG x2 whose weights are all 1e30: finite, so the file loads, but its output is Inf."""
    arch = TINY['SRVGGNetCompact']
    state = {k: np.full_like(v, 1e30) if k.endswith('weight') else v for k, v in tiny_state(arch).items()}
    return save(tmp_path_factory.mktemp('overflow') / 'overflow.pdparams', state, arch)


def test_a_non_finite_output_fails_in_one_line(overflowing, photo):
    up = Upscaler(str(overflowing), backend='dynamic')
    with pytest.raises(NonFiniteOutput) as e:
        up.upscale(photo[:24, :32])
    msg = str(e.value)
    assert msg.startswith(f'{overflowing}: the network gave NaN or Inf values') and '\n' not in msg
    with pytest.raises(NonFiniteOutput):  # tiled, band by band, too
        Upscaler(str(overflowing), backend='dynamic', tile=16).upscale(photo[:40, :40])


def test_the_check_passes_a_working_network_untouched(tiny_models, photo):
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    x = np.ascontiguousarray(photo[:16, :16, ::-1].transpose(2, 0, 1)[None], np.float32) / 255
    assert np.array_equal(up.forward(x), up.backend.forward(x))


def test_infer_writes_nothing_for_a_non_finite_output(overflowing, photo, tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / 'a.png'), photo[:24, :32])
    res = subprocess.run([sys.executable, 'tools/predict.py', '-i', str(tmp_path / 'a.png'), '-o',
                          str(tmp_path / 'out'), '-m', str(overflowing)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 1 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    assert f'failed: {tmp_path / "a.png"}: {overflowing}: the network gave NaN or Inf values' in res.stderr
    assert not list((tmp_path / 'out').glob('*.png')) if (tmp_path / 'out').is_dir() else True


def test_a_video_with_a_non_finite_output_fails_and_writes_nothing(overflowing, shared_data, tmp_path):
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video
    src = make_clip(shared_data, tmp_path / 'clip.mp4', '25', frames=3)
    dst = tmp_path / 'out.mp4'
    with pytest.raises(VideoError) as e:
        upscale_video(Upscaler(str(overflowing), backend='dynamic'), src, dst, progress=False)
    msg = str(e.value)
    assert '\n' not in msg and 'the model failed on frame' in msg and 'NaN or Inf' in msg, msg
    assert not dst.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith('.out')]


def test_a_network_whose_smallest_window_cannot_fit_is_refused_at_set_up(tiny_models, monkeypatch):
    monkeypatch.setattr(memory, 'available_memory', lambda: 1 << 20)
    with pytest.raises(memory.NoRoom) as e:
        Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    msg = str(e.value)
    assert msg.startswith(f'{tiny_models["srvgg_x4"]}: one 52x52 window, the smallest tile of this SRVGGNetCompact, '
                          'needs about') and 'more than the 1 MiB this process can still take: not run' in msg


def test_the_smallest_window_of_an_attention_network_is_costed_with_its_window(monkeypatch):
    """A SwinIR window of 32 with 64 heads (every value within its bounds) costs 6.2 GiB in its smallest tile:
    the attention maps, heads x window^2 per pixel, counted."""
    arch = {'type': 'SwinIR', 'upscale': 2, 'embed_dim': 128, 'depths': [2], 'num_heads': [64], 'window_size': 32}
    side = memory.smallest_window(10, 32)
    assert side == 32 + 2 * 32
    need = memory.window_bytes(arch, side, side)
    assert need > 3 * 64 * 32 ** 2 * 4 * side * side  # the maps alone
    monkeypatch.setattr(memory, 'available_memory', lambda: 4 << 30)
    with pytest.raises(memory.NoRoom, match='one 96x96 window, the smallest tile of this SwinIR'):
        memory.check_room(arch, 10, 32, 'swin.pdparams')
    monkeypatch.setattr(memory, 'available_memory', lambda: 64 << 30)
    assert memory.check_room(arch, 10, 32, 'swin.pdparams') == need


def test_an_input_whose_smallest_tiles_cannot_fit_is_refused(tiny_models, photo, monkeypatch):
    from realesrgan_paddle.inference import upscaler
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic', max_memory='64M')
    monkeypatch.setattr(upscaler, 'available_memory', lambda: 1 << 20)
    with pytest.raises(memory.NoRoom, match=r'a 64x48 input needs about .* even with the smallest tiles'):
        up.upscale(photo[:48, :64])
