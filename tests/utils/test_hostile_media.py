"""Hostile media inputs (issue 55 §3-4), each built here: a DASH manifest named clip.mp4 whose BaseURL is another
local video, an HLS playlist, a concat list, an image2 pattern, and file names that carry a fake ``Duration`` or a
fake ``showinfo`` line. Every reader (probe, frame reader, keyframes, the LQ fit) refuses the manifests in one line
naming the file and never decodes the other file; the names change nothing. Each run is a subprocess with a
timeout, so a hang fails the test. .ci/run runs this file once more without system ffmpeg/ffprobe on PATH."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from realesrgan_paddle.media.ffmpeg import ffmpeg_exe

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


@pytest.fixture(scope='module')
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp('hostile')
    secret = d / 'secret.mp4'  # the file the manifests point at: 2 s, 20 frames of 64x48
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '2',
                    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', str(secret)], check=True, timeout=TIMEOUT)
    (d / 'clip.mp4').write_text(
        '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT2S" minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">'
        '<Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1000" width="64" height="48" '
        f'codecs="avc1.64000a"><BaseURL>{secret}</BaseURL><SegmentBase/></Representation></AdaptationSet></Period>'
        '</MPD>\n')
    (d / 'list.m3u8').write_text(f'#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{secret}\n#EXT-X-ENDLIST\n')
    (d / 'concat.mp4').write_text(f'ffconcat version 1.0\nfile {secret.name}\n')  # a safe relative name
    return d, secret


def _run(code, *args, env=None):
    """Run ``code`` in a fresh interpreter (the project on sys.path) within TIMEOUT: a hang fails."""
    res = subprocess.run([sys.executable, '-c', code, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT, env={**os.environ, **(env or {})})
    return res


READERS = '''
import json, sys
from realesrgan_paddle.media.ffmpeg import probe_video, VideoProbeError
from realesrgan_paddle.media.video_reader import FrameReader, VideoError
from realesrgan_paddle.data.builder.decode import FrameReader as KeyReader
from realesrgan_paddle.data.fit.lq_source import load_footage, FootageError
path, out = sys.argv[1], {}
for name, fn in [('probe', lambda: probe_video(path)), ('reader', lambda: [f.shape for f, _ in FrameReader(path)]),
                 ('keyframes', lambda: [f.shape for f, _ in KeyReader(path, mode='interval', every=0.1)]),
                 ('fit', lambda: load_footage([path], 4).frames)]:
    try:
        out[name] = 'ok %s' % (fn(),)
    except (VideoProbeError, VideoError, FootageError) as e:
        out[name] = 'error ' + str(e)
print(json.dumps(out))
'''


@pytest.mark.parametrize('name', ['clip.mp4', 'list.m3u8', 'concat.mp4'])
def test_manifests_and_lists_are_refused_by_every_reader(media, name):
    d, _ = media
    res = _run(READERS, d / name)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    for reader, text in out.items():
        assert text.startswith(f'error {d / name}: ') and '\n' not in text, (reader, text)
        assert 'manifest, playlist or file list' in text or (reader, name) == ('fit', 'list.m3u8'), (reader, text)
    if name == 'list.m3u8':  # the fit takes videos by extension: .m3u8 is none
        assert out['fit'].endswith('not a video or an image (.m3u8)')


def test_the_secret_itself_reads(media):
    d, secret = media
    out = json.loads(_run(READERS, secret).stdout)
    assert out['probe'].startswith('ok ') and "'format': 'mov'" in out['probe']
    assert out['reader'].count('(48, 64, 3)') == 20


def test_keyframes_cli_on_a_manifest_writes_nothing(media, tmp_path):
    d, _ = media
    out = tmp_path / 'frames'
    res = subprocess.run([sys.executable, 'tools/extract_keyframes.py', '-i', str(d / 'clip.mp4'), '-o', str(out),
                          '--mode', 'interval', '--every', '0.1'], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode != 0 and 'Traceback' not in res.stderr
    assert str(d / 'clip.mp4') in res.stderr
    assert not list(out.rglob('*.png')) if out.exists() else True


def test_an_image2_pattern_name_is_one_file(media, tmp_path):
    """A file literally named ``f%03d.png`` is that one image, not the sequence f001.png, f002.png..."""
    import cv2
    import numpy as np
    cv2.imwrite(str(tmp_path / 'f%03d.png'), np.full((40, 30, 3), 90, np.uint8))
    for i in range(1, 6):
        cv2.imwrite(str(tmp_path / f'f{i:03d}.png'), np.full((48, 64, 3), 200, np.uint8))
    out = json.loads(_run(READERS, tmp_path / 'f%03d.png').stdout)
    assert out['reader'] == 'ok [(40, 30, 3)]', out


# (a name holds no '/': the lines keep only what the old parsers matched)
FAKE_DURATION = 'a.mp4\n  Duration: 99:59:59.00, start: 0.000000, bitrate: 1 kbps\nb.mp4'
FAKE_SHOWINFO = 'a.mp4\n' + ''.join(f'[Parsed_showinfo_1 @ 0x1] n: {i} pts: {i} pts_time:{i} s:30000x30000\n'
                                     for i in range(3)) + 'b.mp4'  # a name has at most 255 bytes


@pytest.mark.parametrize('name', [FAKE_DURATION, FAKE_SHOWINFO], ids=['duration', 'showinfo'])
def test_a_name_cannot_forge_ffmpeg_lines(media, tmp_path, name):
    """20 frames of 64x48 in 2 s, whatever the name says, with and without ffprobe."""
    _, secret = media
    hostile = tmp_path / name
    hostile.write_bytes(secret.read_bytes())
    code = '''
import json, sys
from realesrgan_paddle.media import ffmpeg as F
from realesrgan_paddle.media.video_reader import FrameReader
from realesrgan_paddle.data.fit.lq_stats import stream_info
if sys.argv[2] == 'noprobe':
    F.ffprobe_exe = lambda: None
info = F.probe_video(sys.argv[1])
reader = FrameReader(sys.argv[1])
shapes = [f.shape for f, _ in reader]
print(json.dumps([info['duration'], len(shapes), sorted(set(map(str, shapes))), reader.duration,
                  stream_info(sys.argv[1])['duration']]))
'''
    for mode in ('probe', 'noprobe'):
        res = _run(code, hostile, mode, env={'RESR_MAX_PIXELS': str(10 ** 6)})
        assert res.returncode == 0, res.stderr[-2000:]
        dur, n, shapes, reader_dur, fit_dur = json.loads(res.stdout)
        assert abs(dur - 2.0) < 0.05 and abs(reader_dur - 2.0) < 0.05 and abs(fit_dur - 2.0) < 0.05, (mode, dur)
        assert n == 20 and shapes == ['(48, 64, 3)'], (mode, n, shapes)


def test_the_pixel_limit_holds_on_decoded_frames(media):
    _, secret = media
    res = _run('import sys\nfrom realesrgan_paddle.media.video_reader import FrameReader, VideoError\n'
               'try:\n    list(FrameReader(sys.argv[1]))\nexcept VideoError as e:\n    print(e)\n', secret,
               env={'RESR_MAX_PIXELS': '1000'})
    assert res.stdout.startswith(f'{secret}: its frames are 64x48 pixels, more than the limit'), res.stdout


def test_fifo_and_device_are_refused_by_the_video_readers(tmp_path):
    fifo = tmp_path / 'b.mp4'
    os.mkfifo(fifo)
    for path in (fifo, '/dev/zero'):
        out = json.loads(_run(READERS, path).stdout)
        for reader, text in out.items():
            assert text.startswith(f'error {path}: not a regular file'), (reader, text)


@pytest.mark.parametrize('system_ffmpeg', [True, False])
def test_tiny_videos_are_read_at_their_size(tmp_path, system_ffmpeg):
    """3x3 and 1x16 videos said "no frame size" without ffprobe (issue 64): both probes read their size, and the
    frames decode at it."""
    from tests.ffmpeg_path import no_system_ffmpeg_path
    env = {} if system_ffmpeg else {'PATH': no_system_ffmpeg_path(tmp_path)}
    for size in ('3x3', '1x16'):
        clip = tmp_path / f'tiny_{size}.mkv'
        # ffv1 level 1 (no slices): ffmpeg 9 (imageio-ffmpeg) cannot cut a 1x16 frame into level 3's slices
        subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'lavfi', '-i', f'testsrc=size={size}:rate=10', '-t',
                        '1', '-c:v', 'ffv1', '-level', '1', str(clip)], check=True, timeout=TIMEOUT)
        out = json.loads(_run(READERS, clip, env=env).stdout)
        w, h = map(int, size.split('x'))
        assert "'width': %d, 'height': %d" % (w, h) in out['probe'], out
        assert out['reader'] == 'ok %s' % ([(h, w, 3)] * 10,), out
