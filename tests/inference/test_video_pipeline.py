"""The overlapped video pipeline: bounded queues, and an error in any stage as one line, without a hang."""
import subprocess
import threading
import time

import numpy as np
import pytest

from tests.inference.video_clips import make_clip


@pytest.fixture
def clip(shared_data, tmp_path):
    return make_clip(shared_data, tmp_path / 'clip.mp4', '25', frames=8)


class _Slow:
    """The real upscaler, slowed down, recording how far the decoder ran ahead at each call."""

    def __init__(self, up, decoded, fail_at=None):
        self.up, self.scale, self.decoded, self.fail_at = up, up.scale, decoded, fail_at
        self.calls, self.ahead = 0, []

    def upscale(self, img, outscale=None):
        if self.calls == self.fail_at:
            raise RuntimeError('CUDA out of memory\nC++ Traceback (most recent call last): ...')
        self.calls += 1
        time.sleep(0.15)
        self.ahead.append(self.decoded[0] - self.calls)
        return self.up.upscale(img, outscale)


def _count_decoded(monkeypatch, after=None, action=None):
    """Patch the decoder so it counts the frames it yields (and does ``action(decoder)`` after ``after``)."""
    import realesrgan_paddle.inference.video.one_pass as video
    n = [0]
    frames = video.Decoder.frames

    def counting(self):
        for item in frames(self):
            n[0] += 1
            yield item
            if after is not None and n[0] == after:
                action(self)
    monkeypatch.setattr(video.Decoder, 'frames', counting)
    return n


def _no_leftovers(tmp_path):
    return not [p for p in tmp_path.iterdir() if p.name.startswith('.out')]


def test_decoding_runs_ahead_within_the_queue_bound(up, clip, tmp_path, monkeypatch):
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    from realesrgan_paddle.inference.video.options import VideoOptions
    decoded = _count_decoded(monkeypatch)
    slow = _Slow(up, decoded)
    res = upscale_video(slow, clip, tmp_path / 'out.mp4', progress=False, options=VideoOptions(queue_frames=2))
    assert res['frames'] == res['upscaled'] == slow.calls == 8
    assert max(slow.ahead) >= 1  # the decoder works while the model does
    assert max(slow.ahead) <= 2 + 1  # queue slots + the one frame the decoder holds while it waits
    assert res['model_seconds'] >= 8 * 0.15 and res['seconds'] >= res['model_seconds']


def _run_bounded(fn, seconds=120):
    """Run ``fn`` on a thread: its exception, or a failure if it hangs."""
    box = {}

    def target():
        try:
            fn()
        except BaseException as e:
            box['error'] = e
    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), 'the video pipeline hung'
    return box.get('error')


def test_model_error_is_one_line(up, clip, tmp_path, monkeypatch):
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video
    decoded = _count_decoded(monkeypatch)
    err = _run_bounded(lambda: upscale_video(_Slow(up, decoded, fail_at=3), clip, tmp_path / 'out.mp4',
                                             progress=False))
    assert isinstance(err, VideoError)
    assert 'clip.mp4' in str(err) and 'frame 3' in str(err) and 'memory' in str(err)
    assert '\n' not in str(err) and not (tmp_path / 'out.mp4').exists() and _no_leftovers(tmp_path)
    assert not [t for t in threading.enumerate() if t.name.startswith('video-')]


@pytest.mark.slow
def test_decoder_dying_mid_stream_is_one_line(up, shared_data, tmp_path, monkeypatch):
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    clip = tmp_path / 'clip.mp4'  # frames larger than a pipe's buffer: the decoder is still running at frame 3
    import subprocess
    src = shared_data / 'video' / 'bikes.mp4' if shared_data else None
    video_in = ['-i', str(src)] if src and src.is_file() else ['-f', 'lavfi', '-i', 'testsrc2=size=640x272:rate=25']
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', *video_in, '-frames:v', '40', '-vf', 'scale=640:272',
                    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', str(clip)], check=True, capture_output=True)
    _count_decoded(monkeypatch, after=3, action=lambda dec: dec.proc.kill())  # the ffmpeg process dies
    err = _run_bounded(lambda: upscale_video(up, clip, tmp_path / 'out.mp4', progress=False))
    assert isinstance(err, VideoError) and 'clip.mp4' in str(err) and '\n' not in str(err), err
    assert 'decode' in str(err) and not (tmp_path / 'out.mp4').exists() and _no_leftovers(tmp_path)


def test_decoder_thread_error_is_one_line(up, clip, tmp_path, monkeypatch):
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video

    def boom(dec):
        raise OSError('read error on the pipe\nmore detail')
    _count_decoded(monkeypatch, after=2, action=boom)
    err = _run_bounded(lambda: upscale_video(up, clip, tmp_path / 'out.mp4', progress=False))
    assert isinstance(err, VideoError) and str(err).endswith('read error on the pipe'), err
    assert not (tmp_path / 'out.mp4').exists() and _no_leftovers(tmp_path)


def test_encoder_dying_is_one_line(up, clip, tmp_path):
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video
    from realesrgan_paddle.inference.video.options import VideoOptions
    err = _run_bounded(lambda: upscale_video(up, clip, tmp_path / 'out.mp4', progress=False,
                                             options=VideoOptions(preset='no-such-preset')))
    assert isinstance(err, VideoError) and '\n' not in str(err), err
    assert 'encoder' in str(err) and not (tmp_path / 'out.mp4').exists() and _no_leftovers(tmp_path)


def test_small_frames_are_batched_with_the_same_pictures(tiny_models, export_cache, clip, tmp_path, monkeypatch):
    """On the predictor, small frames go through the model several at a time; each picture equals the
    one-by-one ``upscale`` (same kernels, so within one grey level), and the frame count is unchanged."""
    import realesrgan_paddle.inference.video.one_pass as video
    import realesrgan_paddle.inference.video.stages as stages
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models['srvgg_x4'], precision='fp32', cache_root=export_cache)
    frames, _ = _decode(clip)
    assert stages.batch_size(up, *frames[0].shape[:2], None) == stages.BATCH_MAX > 1
    assert stages.batch_size(up, *frames[0].shape[:2], 2.5) == 1  # a final resize: one by one
    batched = up.upscale_batch(frames[:3])
    for f, b in zip(frames[:3], batched):
        single = up.upscale(f)
        assert b.shape == single.shape and b.dtype == single.dtype
        assert np.abs(b.astype(int) - single).max() <= 1
    shapes = []
    forward = up.backend.forward
    monkeypatch.setattr(up.backend, 'forward', lambda x: shapes.append(x.shape[0]) or forward(x))
    res = video.upscale_video(up, clip, tmp_path / 'out.mp4', progress=False)
    assert res['frames'] == res['upscaled'] == 8 and shapes == [4, 4]


def _decode(path):
    import subprocess
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, probe_video
    info = probe_video(path)
    raw = subprocess.run([ffmpeg_exe(), '-v', 'error', '-i', str(path), '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-'],
                         check=True, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, info['height'], info['width'], 3)), info


def test_batched_vfr_keeps_the_same_timing(tiny_models, export_cache, shared_data, tmp_path, monkeypatch):
    """Gaps, drops and repeats of a variable-rate source come out the same with and without batching."""
    import realesrgan_paddle.inference.video.one_pass as video
    import realesrgan_paddle.inference.video.stages as stages
    from realesrgan_paddle.inference import Upscaler
    from tests.inference.video_clips import gray_frames, vfr_clip
    up = Upscaler(tiny_models['srvgg_x4'], precision='fp32', cache_root=export_cache)
    src = tmp_path / 'vfr.mp4'
    vfr_clip(shared_data, src)
    runs = {}
    for n in (stages.BATCH_MAX, 1):
        monkeypatch.setattr(stages, 'BATCH_MAX', n)
        res = video.upscale_video(up, src, tmp_path / f'out{n}.mp4', progress=False)
        runs[n] = (res['frames'], res['upscaled'], gray_frames(tmp_path / f'out{n}.mp4', 48, 32))
    (fa, ua, ga), (fb, ub, gb) = runs.values()
    assert (fa, ua) == (fb, ub) and len(ga) == len(gb) == fa
    assert np.abs(ga - gb).max() <= 3  # the same picture in every output slot (x264 noise aside)


def test_x264_preset_is_fast_on_the_cpu_and_as_asked_otherwise(up, clip, tmp_path):
    """On the CPU the encoder shares the cores with the model: veryfast with diamond motion search by default
    (x264 writes its settings into the stream: veryfast is subme=2, medium subme=7; both search with me=hex);
    an explicit preset wins, as x264 defines it; a GPU keeps medium."""
    from types import SimpleNamespace

    from realesrgan_paddle.inference.video.one_pass import pick_preset, pick_x264_params, upscale_video
    from realesrgan_paddle.inference.video.options import VideoOptions
    assert pick_preset(up) == 'veryfast' and pick_preset(up, 'slow') == 'slow'
    assert pick_x264_params(up) == 'me=dia' and pick_x264_params(up, 'veryfast') is None
    assert pick_preset(SimpleNamespace(device='gpu:0')) == 'medium'
    assert pick_x264_params(SimpleNamespace(device='gpu:0')) is None
    for preset, settings in ((None, (b'subme=2 ', b'me=dia ')), ('veryfast', (b'subme=2 ', b'me=hex ')),
                             ('medium', (b'subme=7 ', b'me=hex '))):
        out = tmp_path / f'{preset}.mp4'
        upscale_video(up, clip, out, progress=False, options=VideoOptions(preset=preset))
        data = out.read_bytes()
        assert all(s in data for s in settings), preset


class _Picture:
    """An upscaler whose every output is one fixed real picture: the colours the encoder must keep."""

    def __init__(self, picture, scale):
        self.picture, self.scale = picture, scale

    def upscale(self, img, outscale=None):
        return self.picture


@pytest.mark.parametrize('outscale', [None, 2.7])  # 2.7: 48x32 -> 130x86 at the model, odd sizes padded
def test_encoded_colours_follow_the_model_output(photo, clip, tmp_path, outscale):
    """The encoder gets I420 made by OpenCV (BT.601 limited range, as ffmpeg would for RGB input): the decoded
    video keeps the model's colours with no shift (ffmpeg's own RGB conversion shifted them by 1.4-1.6 grey
    levels in two channels: 39.5 dB against the model's frames on bikes.mp4, 42.9 dB now), and an odd-sized
    output is padded with black at the right and bottom, not stretched."""
    import cv2

    from realesrgan_paddle.inference.video.one_pass import upscale_video
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    w, h = (130, 86) if outscale else (192, 128)
    pic = np.ascontiguousarray(cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA))
    out = tmp_path / 'colours.mp4'
    res = upscale_video(_Picture(pic, 4), clip, out, outscale=outscale, progress=False, options=VideoOptions(crf=10))
    ew, eh = w + w % 2, h + h % 2
    assert (res['width'], res['height']) == (ew, eh)
    raw = subprocess.run([ffmpeg_exe(), '-v', 'error', '-i', str(out), '-frames:v', '1', '-f', 'rawvideo',
                          '-pix_fmt', 'yuv420p', 'pipe:'], capture_output=True, check=True).stdout
    # back to BGR with OpenCV's exact inverse, so that only the encoding side is measured
    got = cv2.cvtColor(np.frombuffer(raw, np.uint8).reshape(eh * 3 // 2, ew), cv2.COLOR_YUV2BGR_I420)
    got = got.astype(np.float64)
    diff = got[:h, :w] - pic
    assert np.abs(diff.mean(axis=(0, 1))).max() < 1.0  # no colour shift in any channel
    assert 10 * np.log10(255 ** 2 / np.mean(diff ** 2)) > 30  # chroma subsampling of a detailed photo: ~34 dB
    if (ew, eh) != (w, h):
        assert got[:, w:].max() < 24 and got[h:].max() < 24  # the padding is black
