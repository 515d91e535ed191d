"""The temporal stabiliser (inference/video/stabiliser.py): still flicker reduced, no trail behind a moving object, scene
cuts reset, the state carries over segments, and the video path (API and CLI, tiled) runs it."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.inference.video.stabiliser import Stabiliser, TemporalError, make_stabiliser, stabilise_frames
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, probe_video

from tests.ffmpeg_path import no_system_ffmpeg_path

ROOT = Path(__file__).resolve().parents[2]


def _lr(photo):
    """A real LR frame: the photo crop at half size (48x64)."""
    return cv2.resize(photo, (photo.shape[1] // 2, photo.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _boiling(lq_frames, seed=0, sigma=8.0):
    """What a texture-inventing x4 model does: the bicubic upscale plus a fixed texture plus a new texture in
    every frame."""
    rng = np.random.default_rng(seed)
    h, w = lq_frames[0].shape[:2]
    fixed = rng.normal(0, sigma, (4 * h, 4 * w, 3))
    outs = []
    for lq in lq_frames:
        up = cv2.resize(lq, (4 * w, 4 * h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
        outs.append(np.clip(up + fixed + rng.normal(0, sigma, up.shape), 0, 255).round().astype(np.uint8))
    return outs


def _flicker(frames):
    return float(np.mean([np.abs(b.astype(float) - a.astype(float)).mean() for a, b in zip(frames[:-1], frames[1:])]))


def _high_energy(img, lq):
    up = cv2.resize(lq, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_CUBIC).astype(float)
    return float(np.std(img.astype(float) - up))


@pytest.mark.parametrize('mode', ['flow', 'static'])
def test_still_input_flicker_is_reduced_and_texture_kept(photo, mode):
    lq = _lr(photo)
    outs = _boiling([lq] * 10)
    stab = stabilise_frames([lq] * 10, outs, mode=mode)
    assert _flicker(stab[3:]) < 0.5 * _flicker(outs[3:])
    assert _high_energy(stab[-1], lq) > 0.7 * _high_energy(outs[-1], lq)  # the texture is not averaged away
    assert stab[0].dtype == np.uint8 and stab[0].shape == outs[0].shape
    assert np.array_equal(stab[0], outs[0])  # the first frame has nothing to follow


def _moving(photo, n=5, step=5):
    """LR frames: the photo's blurred background and a sharp 16x16 crop of it moving right by ``step`` px."""
    lq = _lr(photo)
    bg = cv2.GaussianBlur(lq, (0, 0), 3)
    patch = np.clip(lq[8:24, 8:24].astype(int) + 60, 0, 255).astype(np.uint8)  # brighter than the background
    frames, boxes = [], []
    for t in range(n):
        f = bg.copy()
        x = 4 + step * t
        f[20:36, x:x + 16] = patch
        frames.append(f)
        boxes.append(x)
    return frames, boxes


@pytest.mark.parametrize('mode', ['flow', 'static'])
def test_moving_object_leaves_no_trail(photo, mode):
    frames, boxes = _moving(photo)
    outs = _boiling(frames, seed=1)
    stab = stabilise_frames(frames, outs, mode=mode)
    for t in range(1, len(frames)):
        changed = np.abs(frames[t].astype(float) - frames[t - 1].astype(float)).max(axis=2) > 20
        changed = cv2.erode(changed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        big = cv2.resize(changed.astype(np.uint8), (stab[t].shape[1], stab[t].shape[0]),
                         interpolation=cv2.INTER_NEAREST).astype(bool)
        diff = stab[t].astype(float) - outs[t].astype(float)
        if mode == 'static':  # where the input changed, the current output exactly
            assert np.abs(diff[big]).max() <= 1
        # uncovered background (the object was there a frame ago): no trace of the brighter object
        x0, x1 = 4 * boxes[t - 1], 4 * boxes[t]
        uncovered = diff[4 * 20 + 4:4 * 36 - 4, x0 + 2:x1 - 2]
        assert abs(uncovered.mean()) < 3, (t, uncovered.mean())


def test_scene_cut_resets(photo):
    a = _lr(photo)
    b = np.ascontiguousarray(255 - a[::-1])
    frames = [a] * 4 + [b] * 3
    outs = _boiling(frames, seed=2)
    st = Stabiliser()
    stab = [st(lq, o) for lq, o in zip(frames, outs)]
    assert st.cuts == 1
    assert np.array_equal(stab[4], outs[4])  # the cut frame: the model's own output
    assert not np.array_equal(stab[5], outs[5])  # and the new scene is stabilised again


def test_function_and_class_agree_and_state_resumes_a_segment(photo):
    lq = _lr(photo)
    frames = [np.clip(lq.astype(int) + d, 0, 255).astype(np.uint8) for d in (0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0)]
    outs = _boiling(frames, seed=3)
    whole = stabilise_frames(frames, outs)
    st = Stabiliser()
    assert all(np.array_equal(st(lq_, o), w) for lq_, o, w in zip(frames, outs, whole))
    # a second segment from frame 6, seeded with the exported state: identical to the continuous run
    first = Stabiliser()
    for lq_, o in zip(frames[:6], outs[:6]):
        first(lq_, o)
    second = Stabiliser()
    second.load_state(first.state())
    assert all(np.array_equal(second(lq_, o), w) for lq_, o, w in zip(frames[6:], outs[6:], whole[6:]))
    # re-running k overlap frames instead of loading the state: the closer the more frames (the start's weight
    # falls as strength ** k), the same from the clip's start
    def resumed(k):
        s = Stabiliser()
        res = [s(lq_, o) for lq_, o in zip(frames[6 - k:], outs[6 - k:])]
        return np.abs(res[k].astype(float) - whole[6].astype(float)).mean()
    assert resumed(6) == 0 and resumed(4) < resumed(2) < resumed(1)
    st.reset()
    assert np.array_equal(st(frames[0], outs[0]), outs[0]) and st.state()['prev_high'] is not None


def test_gray_alpha_16bit_and_float_keep_their_layout(photo):
    lq = _lr(photo)
    out = _boiling([lq, lq], seed=4)
    gray = [cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (lq, out[0], out[1])]
    assert Stabiliser()(gray[0], gray[1]).shape == gray[1].shape
    bgra = np.dstack([out[0], np.full(out[0].shape[:2], 200, np.uint8)])
    res = Stabiliser()(np.dstack([lq, lq[..., :1]]), bgra)
    assert res.shape == bgra.shape and np.array_equal(res[..., 3], bgra[..., 3])
    st = Stabiliser()
    st(lq.astype(np.uint16) * 257, out[0].astype(np.uint16) * 257)
    assert st(lq.astype(np.uint16) * 257, out[1].astype(np.uint16) * 257).dtype == np.uint16
    f = Stabiliser()(lq / np.float32(255), out[0] / np.float32(255))
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1


@pytest.mark.parametrize('call', [
    lambda: Stabiliser(mode='magic'),
    lambda: Stabiliser(strength=1.0),
    lambda: Stabiliser(cut=0),
    lambda: Stabiliser()(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)),
    lambda: Stabiliser()(np.zeros((8, 8, 3), np.uint8), np.zeros((32, 32), np.uint8)),
    lambda: Stabiliser()(np.zeros((8, 8, 5), np.uint8), np.zeros((32, 32, 3), np.uint8)),
    lambda: Stabiliser()(np.zeros((8, 8), object), np.zeros((32, 32), np.uint8)),
    lambda: stabilise_frames([np.zeros((8, 8), np.uint8)], []),
    lambda: Stabiliser().load_state({'prev_gray': np.zeros((2, 2))}),
    lambda: make_stabiliser('yes'),
])
def test_bad_input_is_one_line(call):
    with pytest.raises(TemporalError) as e:
        call()
    assert '\n' not in str(e.value) and str(e.value).startswith('temporal')


TINY_FLOW = """
import sys, numpy as np
from realesrgan_paddle.inference.video.stabiliser import Stabiliser
strip = np.load(sys.argv[1])
for h, w in ((10, 10), (1, 16), (3, 3), (24, 300), (12, 100)):
    a, b = strip[:h, 2:w + 2], strip[:h, :w]  # b at p shows a at p - 2 (the picture moved right): flow -2
    outs = [Stabiliser()(x, np.repeat(np.repeat(x, 4, 0), 4, 1)) for x in (a, b)]
    flow = Stabiliser()._flow(b.mean(axis=2), a.mean(axis=2))
    print(h, w, outs[-1].shape == (4 * h, 4 * w, 3), float(np.median(flow[..., 0])))
"""


def test_tiny_and_wide_frames_find_their_motion(photo, tmp_path):
    """A 10x10 video gave OpenCV's raw message (DIS refuses frames under 12 px: issue 64, T21), and DIS crashed the
    process on a 300x24 one: the search runs on frames padded to 32 px a side, in a process of its own here."""
    strip = cv2.resize(photo, (302, 24), interpolation=cv2.INTER_AREA)
    np.save(tmp_path / 'strip.npy', strip)
    res = subprocess.run([sys.executable, '-c', TINY_FLOW, str(tmp_path / 'strip.npy')], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and 'Traceback' not in res.stderr, res.stderr[-1500:]
    rows = [ln.split() for ln in res.stdout.split('\n') if ln.strip()]
    assert len(rows) == 5 and all(r[2] == 'True' for r in rows), rows
    assert all(abs(float(r[3]) + 2) < 0.5 for r in rows[3:]), rows  # the pan of the 300x24 and 100x12 strips


def _clip(shared_data, dst, frames=6):
    src = shared_data / 'video' / 'bikes.mp4' if shared_data else None
    video_in = ['-i', str(src)] if src and src.is_file() else ['-f', 'lavfi', '-i', 'testsrc2=size=160x68:rate=25']
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', *video_in, '-frames:v', str(frames), '-vf',
                    'scale=40:24:flags=area', '-c:v', 'libx264', '-crf', '28', '-pix_fmt', 'yuv420p', str(dst)],
                   check=True, capture_output=True)
    return dst


def test_upscale_video_api_runs_the_stabiliser(tiny_models, shared_data, tmp_path):
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    src = _clip(shared_data, tmp_path / 'clip.mp4')
    st = Stabiliser(mode='static')
    res = up.upscale_video(src, tmp_path / 'out.mp4', temporal=st, progress=False)
    assert res['frames'] == 6 and st.frames == res['upscaled'] and res['temporal_seconds'] > 0
    with pytest.raises(TemporalError):
        up.upscale_video(src, tmp_path / 'bad.mp4', temporal='sometimes', progress=False)
    assert not (tmp_path / 'bad.mp4').exists()


@pytest.mark.parametrize('system_ffmpeg', [True, False])
def test_cli_temporal_on_a_real_clip_with_tiling(tiny_models, shared_data, tmp_path, system_ffmpeg):
    env = dict(os.environ)
    if not system_ffmpeg:
        pytest.importorskip('imageio_ffmpeg')
        env['PATH'] = no_system_ffmpeg_path(tmp_path)
    src = _clip(shared_data, tmp_path / 'clip.mp4')
    dst = tmp_path / 'out.mp4'
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / 'infer.py'), '-i', str(src), '-o', str(dst), '-m',
                          str(tiny_models['srvgg_x4']), '-t', '16', '--temporal', '--crf', '10', '-q'],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'temporal' in res.stderr
    info = probe_video(dst)
    assert (info['width'], info['height']) == (160, 96)
    bad = subprocess.run([sys.executable, str(ROOT / 'tools' / 'infer.py'), '-i', str(src), '-o',
                          str(tmp_path / 'x.mp4'), '--temporal', 'sometimes'], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and 'invalid choice' in bad.stderr and 'Traceback' not in bad.stderr
    if not system_ffmpeg:
        assert shutil.which('ffmpeg', path=env['PATH']) is None
