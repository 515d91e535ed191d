"""tools/fit_degradation.py: a fit from videos it makes itself, without system ffmpeg, and one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOL = [sys.executable, str(ROOT / 'tools' / 'fit_degradation.py')]


def _nosys_path(tmp):
    """PATH with every ffmpeg/ffprobe hidden (as .ci/run builds it): imageio-ffmpeg's binary only."""
    parts = []
    for i, d in enumerate(os.environ.get('PATH', '').split(os.pathsep)):
        if not os.path.isdir(d):
            continue
        if any(os.path.exists(os.path.join(d, x)) for x in ('ffmpeg', 'ffprobe')):
            link = tmp / f'nosys{i}'
            link.mkdir()
            for f in os.listdir(d):
                if f not in ('ffmpeg', 'ffprobe'):
                    os.symlink(os.path.join(d, f), link / f)
            d = str(link)
        parts.append(d)
    return os.pathsep.join(parts)


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    """An HR clip (a slow pan over a photo, 320x256) and its LQ (80x64, over the fit's floor of 48 px): area x4,
    x264 CRF 30, as a stream."""
    from skimage import data as skdata
    from realesrgan_paddle.data.degrade.codec import codec_exe
    root = tmp_path_factory.mktemp('clips')
    img = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    frames = [np.ascontiguousarray(img[100 + 2 * k:356 + 2 * k, 100 + 3 * k:420 + 3 * k]) for k in range(20)]
    raw = root / 'hr.bgr'
    raw.write_bytes(b''.join(f.tobytes() for f in frames))
    (root / 'hr').mkdir()
    (root / 'lq').mkdir()
    common = [codec_exe(), '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', '320x256', '-r', '10',
              '-i', str(raw)]
    subprocess.run([*common, '-c:v', 'libx264', '-crf', '12', str(root / 'hr' / 'cam.mp4')], check=True)
    subprocess.run([*common, '-vf', 'scale=iw/4:ih/4:flags=area', '-c:v', 'libx264', '-crf', '30',
                    str(root / 'lq' / 'cam.mp4')], check=True)
    return root


def _run(args, env=None):
    return subprocess.run([*TOOL, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_fit_from_videos_without_system_ffmpeg(clips, tmp_path):
    """Also: the LQ video is named with newlines and ``key: value`` lines, which were written raw into fitted.yml's
    comment: the file was no longer YAML (the degrade stage stopped), or the name set keys (issue 64, D23, D24)."""
    env = dict(os.environ, PATH=_nosys_path(tmp_path))
    lq = tmp_path / 'lq' / 'cam\nscale: 99\ndegradation: {}\n\u2028x: 1 #.mp4'
    lq.parent.mkdir()
    lq.write_bytes((clips / 'lq' / 'cam.mp4').read_bytes())
    out = tmp_path / 'fit' / 'fitted.yml'
    res = _run(['--hr', str(clips / 'hr'), '--lq', str(lq), '--out', str(out), '--frames', '3', '--crop', '128', '-q'],
               env)
    assert res.returncode == 0, res.stderr
    assert 'h264' in res.stdout and 'scale 4' in res.stdout
    text = out.read_text()
    header = [ln for ln in text.splitlines() if ln.startswith('#')]
    assert len(header) == 2 and json.dumps(str(lq)) in header[0], header
    opt = yaml.safe_load(text)
    assert opt == yaml.safe_load(text.split('\n', 2)[2]) and 'x' not in opt
    assert opt['scale'] == 4 and opt['degradation']['codec_prob'] == 1.0
    lo, hi = opt['degradation']['codec_crf_range']
    assert 0 <= lo <= hi <= 51  # the intra-frame CRF that looks like the stream's I/P frames
    from realesrgan_paddle.data.fit.degradation_fit import loss
    rep = json.loads(out.with_suffix('.yml.json').read_text())
    st = rep['stats']
    assert loss(st['real'], st['fitted']) < loss(st['real'], st['generic'])
    assert rep['measured']['streams'][str(lq)]['bpp'] > 0
    assert out.with_suffix('.yml.png').stat().st_size > 1000
    from realesrgan_paddle.data.degrade.second_order import resolve_options
    resolve_options(opt['degradation'])


def _one_line_error(res, *words):
    assert res.returncode == 2, (res.returncode, res.stderr)  # bad input (docs/cli.md, "Errors")
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_inputs_one_line(clips, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    hr, lq = str(clips / 'hr'), str(clips / 'lq')
    out = str(tmp_path / 'o.yml')
    _one_line_error(_run(['--hr', hr, '--lq', str(empty), '--out', out]), str(empty), 'no videos or images')
    _one_line_error(_run(['--hr', lq, '--lq', hr, '--out', out]), 'larger than the HR')
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'\x00' * 2000)
    _one_line_error(_run(['--hr', hr, '--lq', str(broken), '--out', out]), str(broken))
    _one_line_error(_run(['--hr', hr, '--lq', lq, '--out', out, '--scale', '8']), 'unsupported scale 8')
    small = tmp_path / 'odd'
    small.mkdir()
    cv2.imwrite(str(small / 'a.png'), np.zeros((100, 50, 3), np.uint8))
    _one_line_error(_run(['--hr', hr, '--lq', str(small), '--out', out]), 'not the same picture shape')
    cv2.imwrite(str(small / 'a.png'), np.zeros((72, 90, 3), np.uint8))  # x3.56 both ways
    _one_line_error(_run(['--hr', hr, '--lq', str(small), '--out', out]), 'not a whole scale')


def test_never_over_the_footage_and_unwritable_paths_are_one_line(clips, tmp_path):
    """--out the LQ video itself wrote the options fragment over it."""
    hr, lq = clips / 'hr' / 'cam.mp4', clips / 'lq' / 'cam.mp4'
    before = lq.read_bytes()
    _one_line_error(_run(['--hr', str(hr), '--lq', str(lq), '--out', str(lq)]),
                    f'refusing to write {lq}: it is the input')
    assert lq.read_bytes() == before
    (tmp_path / 'a_file').write_text('x')
    _one_line_error(_run(['--hr', str(hr), '--lq', str(lq), '--out', str(tmp_path / 'a_file' / 'o.yml')]),
                    f'cannot write {tmp_path / "a_file"}: a part of the path is a file, not a folder')
