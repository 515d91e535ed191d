"""Video holds still by default (issue 62 §6): tools/infer.py without --temporal stabilises a real clip (lower
static-area flicker than --temporal off), a hard cut in it starts afresh (no ghost of the shot before), and a
fade to black is followed (no lag behind the fading input); the API, segments and the web UI share the default."""
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation.flicker import flicker_ratios
from realesrgan_paddle.inference.video.stabiliser import DEFAULT_MODE, Stabiliser, temporal_mode
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe

ROOT = Path(__file__).resolve().parents[2]
H, W = 96, 128  # the HD frames; the clip is 4x smaller
STILL, AFTER = 8, 4  # frames of the first still shot, then of the second after a hard cut


def _shots(hr_photos):
    """Two real photos at H x W (centre crops of the first two colour photos of at least that size)."""
    shots = []
    for p in hr_photos:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < 2 * H:
            continue
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        y, x = (img.shape[0] - H) // 2, (img.shape[1] - W) // 2
        shots.append(np.ascontiguousarray(img[y:y + H, x:x + W]))
        if len(shots) == 2:
            return shots
    pytest.skip('fewer than two colour photos')


def _encode(frames, dst):
    """LR frames -> a lossless H.264 stream (x264 at a lossy CRF skips a still picture's noise: its frames come out
    identical)."""
    h, w = frames[0].shape[:2]
    raw = b''.join(f.tobytes() for f in frames)
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', f'{w}x{h}',
                    '-r', '25', '-i', '-', '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p', str(dst)],
                   input=raw, check=True, capture_output=True)
    return dst


def _decode(path):
    raw = subprocess.run([ffmpeg_exe(), '-v', 'error', '-i', str(path), '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-'],
                         check=True, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3))


def _still_then_cut(hr_photos):
    """HD frames: a still shot, then a hard cut to another photo; and the LR clip a noisy camera films of them
    (4x smaller, area, new sensor noise of 3 grey levels in every frame)."""
    a, b = _shots(hr_photos)
    hd = [a] * STILL + [b] * AFTER
    rng = np.random.default_rng(0)
    lq = [cv2.resize(f, (W // 4, H // 4), interpolation=cv2.INTER_AREA) for f in hd]
    return hd, [np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8) for f in lq]


def _infer(src, dst, model, *extra):
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / 'infer.py'), '-i', str(src), '-o', str(dst), '-m',
                          str(model), '--crf', '10', *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stderr, _decode(dst)


@pytest.fixture(scope='module')
def clip(hr_photos, tmp_path_factory):
    """(the HD frames, the LR clip's path)."""
    hd, lq = _still_then_cut(hr_photos)
    return hd, _encode(lq, tmp_path_factory.mktemp('clip') / 'clip.mp4')


def _holds_still(hd, default, plain):
    """The default's still-area flicker against the HD shot (still everywhere) is well under plain's."""
    assert len(default) == len(plain) == STILL + AFTER
    f_default = flicker_ratios(hd[:STILL], default[:STILL], warp=False)
    f_plain = flicker_ratios(hd[:STILL], plain[:STILL], warp=False)
    assert f_default['static_fraction'] == 1.0
    assert f_default['static'] < 0.7 * f_plain['static'], (f_default['static'], f_plain['static'])
    # the first frame after the cut is the model's own: nothing of the first shot carried over
    assert cv2.PSNR(default[STILL], plain[STILL]) > 38
    assert cv2.PSNR(default[STILL], default[STILL - 1]) < 20


@pytest.mark.slow(seconds=15)  # two tools/infer.py runs
def test_video_holds_still_by_default(tiny_models, clip, tmp_path):
    hd, src = clip
    model = tiny_models['srvgg_x4']
    log, default = _infer(src, tmp_path / 'default.mp4', model)
    _, plain = _infer(src, tmp_path / 'plain.mp4', model, '--temporal', 'off')
    assert 'temporal' in log  # the run says the stabiliser's seconds beside the model's
    _holds_still(hd, default, plain)


def test_web_ui_holds_still_by_default(tiny_models, clip, tmp_path):
    from realesrgan_paddle.webui.handlers import Session
    hd, src = clip
    (tmp_path / 'models').mkdir()
    shutil.copy(tiny_models['srvgg_x4'], tmp_path / 'models' / 'tiny.pdparams')
    session = Session(tmp_path / 'out', tmp_path / 'models')
    runs = [session.upscale([src], 'tiny.pdparams', **kw) for kw in ({}, {'temporal': 'off'})]
    assert all(outs and msg.startswith('1 of 1') for outs, _, msg in runs), [r[2] for r in runs]
    _holds_still(hd, *(_decode(outs[0]) for outs, _, _ in runs))


def _bicubic(lq):
    return cv2.resize(lq, (lq.shape[1] * 4, lq.shape[0] * 4), interpolation=cv2.INTER_CUBIC)


def test_a_fade_is_followed_not_lagged(photo):
    """A real photo fading from full to a quarter brightness over 24 frames, with a stream's noise: each frame
    changes by under the confidence's thresholds, so a blend that ignored the fade would lag behind it (the
    stabiliser before issue 62 §6: 1.1-2.1 grey levels brighter than the input's own upscale in every frame).
    The stabilised frames track it: their mean brightness within half a level of the model's own frame."""
    rng = np.random.default_rng(1)
    lq0 = cv2.resize(photo, (photo.shape[1] // 4, photo.shape[0] // 4), interpolation=cv2.INTER_AREA).astype(float)
    stab = Stabiliser()
    for k in range(24):
        lq = np.clip(lq0 * (1 - 0.75 * k / 23) + rng.normal(0, 1, lq0.shape), 0, 255).astype(np.uint8)
        out = _bicubic(lq)
        res = stab(lq, out)
        assert abs(res.astype(float).mean() - out.astype(float).mean()) < 0.5, k
    assert stab.fades == 23 and stab.cuts == 0


def test_a_fast_pan_is_followed_and_a_cut_is_not(photo):
    """A window panning 6 px a frame over a real photo changes the mean by more than the cut threshold (set
    under the pan's smallest change here, whatever the photo): 'flow' follows it (no fresh start), 'static',
    which has no motion, starts afresh at every frame; a hard cut to another picture still starts afresh."""
    from realesrgan_paddle.inference.video.stabiliser import _gray255
    pan = [np.ascontiguousarray(photo[24:72, 6 * i:6 * i + 64]) for i in range(11)]
    cut = 0.8 * min(float(np.mean(np.abs(_gray255(a) - _gray255(b)))) for a, b in zip(pan, pan[1:]))
    runs = {mode: Stabiliser(mode=mode, cut=cut) for mode in ('flow', 'static')}
    for mode, stab in runs.items():
        for lq in pan:
            stab(lq, _bicubic(lq))
    assert runs['flow'].cuts == 0 and runs['static'].cuts == len(pan) - 1
    other = np.ascontiguousarray(cv2.flip(photo, -1)[24:72, 32:96])  # another picture: the photo upside down
    stab = Stabiliser(cut=cut)
    outs = [stab(lq, _bicubic(lq)) for lq in pan[:3] + [other, other]]
    assert stab.cuts == 1 and np.array_equal(outs[3], _bicubic(other))  # the first frame after it: the model's own


def test_every_entry_defaults_to_the_stabiliser():
    """The CLI, the API (one pass and segments) and the web UI share one default, and 'off' turns it off."""
    import inspect

    from realesrgan_paddle.inference.upscale_cli import build_parser
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    from realesrgan_paddle.webui.handlers import Session
    parse = build_parser('infer.py', '', '').parse_args
    assert parse(['-i', 'a.mp4']).temporal == DEFAULT_MODE == 'flow'
    assert parse(['-i', 'a.mp4', '--temporal']).temporal == 'flow'
    assert temporal_mode(parse(['-i', 'a.mp4', '--temporal', 'off']).temporal) is None
    assert VideoOptions().temporal == DEFAULT_MODE  # the API's (Upscaler.upscale_video makes one from its keywords)
    for fn in (upscale_video, upscale_video_segmented):
        assert inspect.signature(fn).parameters['options'].default.temporal == DEFAULT_MODE, fn
    assert inspect.signature(Session.upscale).parameters['temporal'].default == DEFAULT_MODE
    assert [temporal_mode(v) for v in ('off', False, None, True, 'static')] == [None, None, None, 'flow', 'static']
