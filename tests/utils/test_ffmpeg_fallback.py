"""media.ffmpeg without ffprobe (imageio-ffmpeg ships none): probe_video parses ``ffmpeg -i`` and gives the
same facts and the same one-line errors as with ffprobe, for every ffmpeg binary on this machine."""
import shutil
import subprocess

import pytest

from realesrgan_paddle.media import ffmpeg as F


def _binaries():
    out = []
    if shutil.which('ffmpeg'):
        out.append(shutil.which('ffmpeg'))
    try:
        import imageio_ffmpeg
        out.append(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:
        pass
    return out


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    exe = F.ffmpeg_exe()
    d = tmp_path_factory.mktemp('ff')

    def make(*args):
        subprocess.run([exe, '-v', 'error', '-y', *map(str, args)], check=True, timeout=120)
    make('-f', 'lavfi', '-i', 'testsrc=size=160x96:rate=25:duration=1', '-f', 'lavfi', '-i',
         'sine=frequency=440:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
         d / 'av.mp4')
    make('-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10:duration=2', '-c:v', 'mjpeg', d / 'silent.avi')
    make('-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', d / 'audio_only.mp4')
    (d / 'random.mp4').write_bytes(bytes(range(256)) * 200)
    (d / 'empty.mkv').write_bytes(b'')
    return d


def _probe(path, exe, monkeypatch):
    monkeypatch.setattr(F, 'ffprobe_exe', lambda: None)
    monkeypatch.setattr(F, 'ffmpeg_exe', lambda: exe)
    try:
        return F.probe_video(path)
    except F.VideoProbeError as e:
        return str(e)


@pytest.mark.parametrize('exe', _binaries())
def test_facts_without_ffprobe(files, exe, monkeypatch):
    av = _probe(files / 'av.mp4', exe, monkeypatch)
    assert (av['width'], av['height'], av['fps'], av['has_audio'], av['codec']) == (160, 96, 25.0, True, 'h264')
    assert av['video_duration'] is None  # the audio may run longer: unknown without ffprobe
    silent = _probe(files / 'silent.avi', exe, monkeypatch)
    assert (silent['width'], silent['height'], silent['has_audio']) == (96, 64, False)
    assert abs(silent['video_duration'] - 2.0) < 0.05  # the video is all there is


@pytest.mark.parametrize('exe', _binaries())
def test_errors_without_ffprobe_match_ffprobe(files, exe, monkeypatch):
    want = {'audio_only.mp4': 'has no video stream', 'random.mp4': 'not a readable video (',
            'empty.mkv': 'not a readable video ('}
    for name, words in want.items():
        msg = _probe(files / name, exe, monkeypatch)
        assert isinstance(msg, str) and msg.startswith(f'{files / name}: {words}'), msg
        assert '\n' not in msg
        if 'readable' in words:
            assert 'Invalid data found when processing input' in msg or 'End of file' in msg, msg
    if shutil.which('ffprobe'):
        monkeypatch.undo()
        for name, words in want.items():
            with pytest.raises(F.VideoProbeError, match='^' + str(files / name) + ': ' + words.replace('(', r'\(')):
                F.probe_video(files / name)


def test_stream_parsing_skips_cover_art():
    text = ('Input #0, mov,mp4, from \'x.m4a\':\n  Duration: 00:00:01.00\n'
            '  Stream #0:0[0x1](und): Audio: aac (LC), 44100 Hz, mono\n'
            '  Stream #0:1[0x0]: Video: mjpeg (Baseline), yuvj420p, 300x300, 90k tbn (attached pic)\n'
            'Output #0, null, to \'-\':\n  Stream #0:0: Video: wrapped_avframe\n')
    assert F.stream_lines(text) == [('Audio', 'Stream #0:0[0x1](und): Audio: aac (LC), 44100 Hz, mono'),
                                    ('Video', 'Stream #0:1[0x0]: Video: mjpeg (Baseline), yuvj420p, 300x300, '
                                              '90k tbn (attached pic)')]
    assert F.video_streams(text) == []
    assert F.error_reason('[in#0 @ 0x1] Error opening input: Invalid data found when processing input\n'
                          'Error opening input file x.\n') == 'Invalid data found when processing input'
