"""Video streaming: frame count, (fractional) fps and the audio stream survive; mkv without nb_frames."""
import subprocess

import pytest

from utils.ffmpeg import ffmpeg_exe, ffprobe_exe, probe_video


def _make_clip(shared_data, dst, fps, frames=5):
    """A few frames of a real clip (scaled down) plus a sine audio track."""
    exe = ffmpeg_exe()
    src = shared_data / 'video' / 'bikes.mp4' if shared_data else None
    video_in = ['-i', str(src)] if src and src.is_file() else ['-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=25']
    cmd = [exe, '-v', 'error', '-y', *video_in, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
           '-map', '0:v:0', '-map', '1:a:0', '-frames:v', str(frames), '-vf', 'scale=48:32', '-r', fps,
           '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-t', str(frames / eval(fps) + 0.5), str(dst)]
    subprocess.run(cmd, check=True, capture_output=True)
    return dst


def _count_frames(path):
    probe = ffprobe_exe()
    if probe:
        res = subprocess.run([probe, '-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
                              'stream=nb_read_frames', '-of', 'csv=p=0', str(path)], capture_output=True, text=True)
        return int(res.stdout.strip().split(',')[0])
    res = subprocess.run([ffmpeg_exe(), '-i', str(path), '-map', '0:v:0', '-f', 'null', '-'],
                         capture_output=True, text=True)
    return int(res.stderr.rsplit('frame=', 1)[1].split()[0])


@pytest.fixture(scope='module')
def up(tiny_models):
    from inference import Upscaler
    return Upscaler(tiny_models['srvgg_x4'], backend='dynamic')


@pytest.mark.parametrize('fps,ext', [('30000/1001', '.mp4'), ('25', '.mkv')])
def test_video_keeps_frames_fps_audio(up, shared_data, tmp_path, fps, ext):
    from inference.video import upscale_video
    src = _make_clip(shared_data, tmp_path / f'clip{ext}', fps)
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
    from inference.video import VideoError, upscale_video
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'\x00' * 1000)
    with pytest.raises(VideoError) as e:
        upscale_video(up, bad, tmp_path / 'o.mp4', progress=False)
    assert 'bad.mp4' in str(e.value) and '\n' not in str(e.value)
    assert not (tmp_path / 'o.mp4').exists()
