"""Video streaming: frame count, (fractional) fps and audio survive; mkv without nb_frames; rotated and VFR sources."""
import subprocess

import numpy as np
import pytest

from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, ffprobe_exe, probe_video
from tests.inference.video_clips import SEGMENTS, ff, gray_frames, make_clip, real_or_lavfi, vfr_clip
from tests.skips import FFPROBE_SKIP


def _count_frames(path):
    probe = ffprobe_exe()
    if probe:
        res = subprocess.run([probe, '-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
                              'stream=nb_read_frames', '-of', 'csv=p=0', str(path)], capture_output=True, text=True)
        return int(res.stdout.strip().split(',')[0])
    res = subprocess.run([ffmpeg_exe(), '-i', str(path), '-map', '0:v:0', '-f', 'null', '-'],
                         capture_output=True, text=True)
    return int(res.stderr.rsplit('frame=', 1)[1].split()[0])


@pytest.mark.parametrize('fps,ext', [('30000/1001', '.mp4'), ('25', '.mkv')])
def test_video_keeps_frames_fps_audio(up, shared_data, tmp_path, fps, ext):
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    src = make_clip(shared_data, tmp_path / f'clip{ext}', fps)
    info_in = probe_video(src)
    n_in = _count_frames(src)
    assert n_in == 5 and info_in['has_audio']
    dst = tmp_path / f'out{ext}'
    res = upscale_video(up, src, dst, progress=False)
    info = probe_video(dst)
    assert (info['width'], info['height']) == (192, 128)
    assert res['frames'] == n_in == _count_frames(dst)
    assert abs(info['fps'] - eval(fps)) < 1e-6
    assert info['has_audio']
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.out')]  # no temporary left behind


def test_not_a_video_is_one_line(up, tmp_path):
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'\x00' * 1000)
    with pytest.raises(VideoError) as e:
        upscale_video(up, bad, tmp_path / 'o.mp4', progress=False)
    assert 'bad.mp4' in str(e.value) and '\n' not in str(e.value)
    assert not (tmp_path / 'o.mp4').exists()


def test_huge_frames_are_refused_before_a_frame_is_decoded(up, tmp_path, monkeypatch):
    """A 0.3 MB mkv of one 10240x10240 frame: refused from the probe, before the decoder starts (its first
    frame took 1.53 GB before the limit was seen)."""
    from realesrgan_paddle.inference.video import one_pass as video
    src = tmp_path / 'huge.mkv'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=black:s=10240x10240:r=25',
                    '-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', str(src)],
                   check=True, capture_output=True, timeout=300)
    assert src.stat().st_size < 2_000_000
    started = []
    monkeypatch.setattr(video, 'Decoder', lambda *a, **k: started.append(a))
    with pytest.raises(video.VideoError) as e:
        video.upscale_video(up, src, tmp_path / 'o.mkv', progress=False)
    msg = str(e.value)
    assert msg.startswith(f'{src}: its frames are 10240x10240 pixels, more than the limit of 100 MP') and '\n' not in msg
    assert not started  # refused before the decoder started
    assert sorted(p.name for p in tmp_path.iterdir()) == ['huge.mkv']  # no output, no temp file


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _phone_clip(shared_data, tmp_path):
    """3 frames of a real clip stored 64x48 and tagged to be shown turned by 90 degrees (display matrix)."""
    upright = tmp_path / 'stored.mp4'
    ff(*real_or_lavfi(shared_data, 'cup.mp4', 'testsrc2'), '-frames:v', 3, '-vf', 'scale=64:48,setsar=1',
        '-c:v', 'libx264', '-pix_fmt', 'yuv420p', upright)
    phone = tmp_path / 'phone.mp4'
    # ffmpeg >= 6.1: -display_rotation; ffmpeg 5.1 writes the legacy rotate tag as a display matrix
    for how in (['-display_rotation', 90, '-i', upright], ['-i', upright, '-metadata:s:v:0', 'rotate=90']):
        try:
            ff(*how, '-c', 'copy', phone)
        except subprocess.CalledProcessError:
            continue
        if probe_video(phone)['rotation'] in (90, 270):
            return phone
    pytest.skip('this ffmpeg cannot tag a rotation')


@pytest.mark.parametrize('tools', ['ffprobe', 'ffmpeg -i', 'imageio-ffmpeg'])
def test_rotated_video_is_upscaled_upright(up, shared_data, tmp_path, monkeypatch, tools):
    import realesrgan_paddle.inference.video.one_pass as video
    import realesrgan_paddle.media.ffmpeg as uff
    phone = _phone_clip(shared_data, tmp_path)
    shown = gray_frames(phone, 48, 64, autorotate=True)[0]  # what a player shows: 48 wide, 64 high
    assert _corr(shown, np.rot90(shown, 2)) < 0.5  # the content tells the orientations apart
    if tools == 'ffprobe' and not uff.ffprobe_exe():
        pytest.skip(FFPROBE_SKIP)
    if tools != 'ffprobe':
        monkeypatch.setattr(uff, 'ffprobe_exe', lambda: None)
    if tools == 'imageio-ffmpeg':  # ffmpeg 7+ static binary, no ffprobe
        exe = pytest.importorskip('imageio_ffmpeg').get_ffmpeg_exe()
        monkeypatch.setattr(uff, 'ffmpeg_exe', lambda: exe)
        monkeypatch.setattr(video, 'ffmpeg_exe', lambda: exe)
    assert probe_video(phone)['rotation'] in (90, 270)
    out = tmp_path / 'out.mp4'
    res = video.upscale_video(up, phone, out, progress=False)
    assert (res['width'], res['height'], res['frames']) == (192, 256, 3)
    info = probe_video(out)
    assert (info['width'], info['height'], info['rotation']) == (192, 256, 0)
    got = gray_frames(out, 48, 64)[0]
    assert _corr(got, shown) > 0.7 and _corr(got, shown) > _corr(got, np.rot90(shown, 2)) + 0.3


class _Counting:
    def __init__(self, up):
        self.up, self.scale, self.calls = up, up.scale, 0

    def upscale(self, img, outscale=None):
        self.calls += 1
        return self.up.upscale(img, outscale)


def test_vfr_video_keeps_timing(up, shared_data, tmp_path):
    """Scenes start in the output when they start in the source (so the audio stays in sync), no frame is
    upscaled twice, and the output lasts as long as the source."""
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    src = tmp_path / 'vfr.mp4'
    starts, total = vfr_clip(shared_data, src)
    stored = gray_frames(src, 48, 32)
    labels = np.repeat(np.arange(len(SEGMENTS)), [round(s * fps) for _, _, s, fps in SEGMENTS])
    assert len(stored) == len(labels) == 49
    info_in = probe_video(src)
    assert info_in['fps'] < 25 and info_in['has_audio']  # variable rate: 49 frames in 2.3 s
    counting = _Counting(up)
    res = upscale_video(counting, src, tmp_path / 'out.mp4', progress=False)
    info = probe_video(tmp_path / 'out.mp4')
    fps = info['fps']  # constant: frame i shows at i / fps
    assert info['has_audio']
    assert abs(res['frames'] / fps - total) <= 1 / 30 + 1e-6  # same length, to one frame
    if info.get('video_duration'):
        assert abs(info['video_duration'] - total) <= 1 / 30 + 1e-3
    got = gray_frames(tmp_path / 'out.mp4', 48, 32)
    assert len(got) == res['frames']
    scene = [labels[int(np.argmax([_corr(g, s) for s in stored]))] for g in got]
    assert scene == sorted(scene)
    for k in (1, 2):  # first output frame of each later scene vs where that scene starts in the source
        assert abs(scene.index(k) / fps - starts[k]) <= 1 / 30 + 1e-6, (k, scene.index(k) / fps, starts[k])
    assert res['fps'] == '30' and abs(fps - 30) < 1e-6  # the source's base rate
    assert counting.calls == res['upscaled'] <= len(stored) < res['frames']  # repeats are not upscaled again


def test_avi_with_skipped_frames_keeps_duration(up, shared_data, tmp_path):
    """tree.avi stores 15 fps but only a frame every ~0.4 s (the others are empty packets): ffprobe's average
    and base rates both say 15, so only the frame timestamps show it is variable."""
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    tree = shared_data / 'video' / 'tree.avi' if shared_data else None
    if not tree or not tree.is_file():
        pytest.skip('no tree.avi')
    src = tmp_path / 'tree.avi'
    ff('-i', tree, '-t', 4, '-c', 'copy', src)
    info_in = probe_video(src)
    assert abs(info_in['fps'] - 15) < 0.01 and abs(info_in['duration'] - 4) < 0.1
    counting = _Counting(up)
    res = upscale_video(counting, src, tmp_path / 'out.mp4', outscale=1, progress=False)
    info = probe_video(tmp_path / 'out.mp4')
    assert (info['width'], info['height']) == (320, 240) and abs(info['duration'] - info_in['duration']) <= 1 / 15
    assert abs(res['frames'] / 15 - info_in['duration']) <= 1 / 15 + 1e-3
    assert counting.calls == res['upscaled'] == len(gray_frames(src, 32, 24)) < 15  # the 9 real frames only


@pytest.mark.parametrize('use_ffprobe', [True, False])
def test_non_square_pixels_keep_their_aspect(up, shared_data, tmp_path, monkeypatch, use_ffprobe):
    """An anamorphic source (SAR 2:1, as on DVDs) is written with the same pixel aspect, so it displays the same."""
    import realesrgan_paddle.media.ffmpeg as uf
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    src = make_clip(shared_data, tmp_path / 'clip.mp4', '25', frames=3)
    wide = tmp_path / 'anamorphic.mp4'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-i', str(src), '-vf', 'setsar=2/1', '-c:v', 'libx264',
                    '-pix_fmt', 'yuv420p', '-c:a', 'copy', str(wide)], check=True, capture_output=True)
    assert probe_video(wide)['sar'] == (2, 1)
    if not use_ffprobe:
        monkeypatch.setattr(uf, 'ffprobe_exe', lambda: None)  # the `ffmpeg -i` parser
        assert uf.probe_video(wide)['sar'] == (2, 1)
    res = upscale_video(up, wide, tmp_path / 'out.mp4', progress=False)
    monkeypatch.undo()
    info = probe_video(tmp_path / 'out.mp4')
    assert (info['width'], info['height']) == (192, 128) and res['frames'] == 3
    assert info['sar'] == (2, 1)  # square pixels here would show the picture at half its width


def test_the_encoder_reads_the_audio_through_the_checked_file(up, shared_data, tmp_path):
    """The audio reaches the encoder the way the frames reach the decoder: the opened file by descriptor, only
    the fd/file protocol allowed and the probe's demuxer pinned, so a file swapped for a playlist or manifest
    after the probe cannot make ffmpeg open other files; the source's name is not on the command line."""
    from realesrgan_paddle.inference.video.one_pass import Job
    from realesrgan_paddle.inference.video.options import VideoOptions
    src = make_clip(shared_data, tmp_path / 'clip.mp4', '25')
    job = Job(up, src, tmp_path / 'out.mp4', None, VideoOptions())
    args, audio_in = job.encoder()
    try:
        assert str(src) not in ' '.join(args) and audio_in is not None
        i = args.index(audio_in.url)
        opts = args[args.index('pipe:') + 1:i]  # the audio input's options, after the frames' pipe
        assert opts[opts.index('-protocol_whitelist') + 1] in ('fd', 'file') and 'mov' in opts[opts.index('-f') + 1]
    finally:
        audio_in.close()
        job.cleanup()
