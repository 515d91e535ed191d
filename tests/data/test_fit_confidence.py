"""The degradation fit on a stream too small to measure (44x36 frames, as a user's 176x144 clip and its stream):
it says so in one line and falls back to the generic degradation instead of reporting a CRF it cannot see."""
import subprocess
import sys

import cv2
import yaml

from realesrgan_paddle.data.fit import lq_stats
from tests.user_path import ROOT
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe


def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', *map(str, args)],
                   check=True, timeout=120)


def _clips(photo, folder, hr_size, crf):
    """A 3 s pan across a real photo at ``hr_size`` (x264 CRF 16) and its x4 smaller stream at ``crf``."""
    w, h = hr_size
    hr, lq = folder / f'hr_{w}.mp4', folder / f'lq_{w}.mp4'
    _ffmpeg('-loop', 1, '-t', 3, '-i', photo, '-vf', f"scale={3 * w}:{3 * h},crop={w}:{h}:x='t*{w // 3}':y='t*{h // 3}'"
            ',fps=10,format=yuv420p', '-c:v', 'libx264', '-crf', 16, hr)
    _ffmpeg('-i', hr, '-vf', f'scale={w // 4}:{h // 4}:flags=area', '-c:v', 'libx264', '-crf', crf,
            '-pix_fmt', 'yuv420p', lq)
    return hr, lq


def test_measurable_by_frame_size(hr_photos):
    img = cv2.imread(str(hr_photos[0]))
    small = [cv2.resize(img, (44, 36), interpolation=cv2.INTER_AREA)] * 4
    ok, why = lq_stats.measurable(small)
    assert not ok and why.startswith('the LQ frames are 44x36, under 48 px on a side (80 8x8 blocks in 4 frames)')
    assert lq_stats.measurable([cv2.resize(img, (176, 144))] * 4) == (True, '')
    assert lq_stats.measurable([]) == (False, 'no LQ frames')


def test_a_44x36_stream_falls_back_to_the_generic_degradation(hr_photos, tmp_path):
    hr, lq = _clips(hr_photos[0], tmp_path, (176, 144), 28)
    out = tmp_path / 'fitted.yml'
    res = subprocess.run([sys.executable, 'tools/fit_degradation.py', '--hr', str(hr), '--lq', str(lq), '-o',
                          str(out), '-q'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    line = [ln for ln in res.stderr.splitlines() + res.stdout.splitlines() if 'not fitted' in ln]
    assert line == ['not fitted: the LQ frames are 44x36, under 48 px on a side (160 8x8 blocks in 8 frames): too '
                    'small to measure their blur, noise and compression; training uses the generic degradation '
                    'instead'], res.stderr[-2000:]
    frag = yaml.safe_load(out.read_text())
    assert frag['degradation'] == {} and 'l1_gt_usm' not in frag  # the recipe's own degradation and sharpening
    import json
    report = json.loads((tmp_path / 'fitted.yml.json').read_text())
    assert report['fit']['confidence']['level'] == 'low' and report['options'] == {}


def test_a_measurable_stream_is_fitted_with_its_confidence(hr_photos, tmp_path):
    from realesrgan_paddle.data.fit import degradation_fit as D
    img = cv2.imread(str(hr_photos[0]))
    frames = [img[20 * i:20 * i + 288, 30 * i:30 * i + 352] for i in range(6)]
    lq = [cv2.resize(f, (88, 72), interpolation=cv2.INTER_AREA) for f in frames]
    conf = D.fit_confidence(lq, lq_stats.shrink(frames, (88, 72)))
    assert conf['level'] == 'ok' and conf['why'] == '' and conf['split_half'] >= 0


def test_jpeg_files_set_the_qualities_the_fit_tries():
    """JPEG files' quantisation tables show the last step's quality: the fit tries their span with a margin (a
    camera's tables match an IJG quality roughly), not the whole 15-95 grid."""
    from realesrgan_paddle.data.fit.footage_fit import jpeg_levels
    assert jpeg_levels([70, 70]) == (65, 70, 75)
    assert jpeg_levels([68, 92, 80]) == (63, 68, 75, 85, 92, 97)
    assert jpeg_levels([98]) == (93, 98, 100) and jpeg_levels([]) is None
