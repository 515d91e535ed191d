"""Atomic writes, metrics, runtime env and ffmpeg probing (both probe paths)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.media import ffmpeg as uff
from realesrgan_paddle.utils.fileio import atomic_write, atomic_write_bytes, link_or_copy, same_file
from realesrgan_paddle.evaluation.metrics import psnr, ssim
from tests.skips import FFMPEG_SKIP, FFPROBE_SKIP

ROOT = Path(__file__).resolve().parents[2]


def test_atomic_write_replaces_in_one_step(tmp_path):
    target = tmp_path / 'out.bin'
    atomic_write_bytes(target, b'old')
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b'half-written')
            raise RuntimeError('killed mid-write')
    assert target.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['out.bin']  # no temp file left behind
    atomic_write_bytes(target, b'new')
    assert target.read_bytes() == b'new'


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    import realesrgan_paddle.utils.fileio as fio
    atomic_write_bytes(tmp_path / 'img.png', b'x')
    assert (tmp_path / 'img.png').stat().st_mode & 0o777 == 0o666 & ~fio._UMASK
    assert 0o666 & ~fio._UMASK != 0o600  # i.e. not mkstemp's private mode (umask 022 -> 0644)


def test_same_file_sees_links(tmp_path):
    a = tmp_path / 'a.png'
    a.write_bytes(b'x')
    os.symlink(a, tmp_path / 'b.png')
    assert same_file(a, tmp_path / 'b.png')
    assert not same_file(a, tmp_path / 'c.png')


def test_link_or_copy_links_and_falls_back_to_a_copy(tmp_path, monkeypatch):
    src = tmp_path / 'a.png'
    src.write_bytes(b'frame')
    link_or_copy(src, tmp_path / 'linked.png')
    assert os.path.samefile(src, tmp_path / 'linked.png')

    def refuse(a, b):
        raise OSError('cross-device link')
    monkeypatch.setattr(os, 'link', refuse)
    link_or_copy(src, tmp_path / 'copied.png')
    assert (tmp_path / 'copied.png').read_bytes() == b'frame' and not os.path.samefile(src, tmp_path / 'copied.png')


def test_link_or_copy_again_after_a_stop(tmp_path):
    """A stage re-run after a stop finds its links: the same file is kept, another file is replaced, no temps
    are left (an interrupted evaluate stage used to stop here with shutil.SameFileError)."""
    src, other = tmp_path / 'a.png', tmp_path / 'b.png'
    src.write_bytes(b'frame')
    other.write_bytes(b'older')
    out = tmp_path / 'out'
    out.mkdir()
    link_or_copy(src, out / 'a.png')
    link_or_copy(src, out / 'a.png')
    assert os.path.samefile(src, out / 'a.png')
    link_or_copy(other, out / 'a.png')
    assert (out / 'a.png').read_bytes() == b'older' and src.read_bytes() == b'frame'
    assert sorted(p.name for p in out.iterdir()) == ['a.png']


def test_psnr_ssim_on_a_real_photo(hr_photos):
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:128, :128]
    assert psnr(img, img) == float('inf')
    assert ssim(img, img) == pytest.approx(1.0)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    # sigma 10 Gaussian noise, clipped: PSNR close to 20*log10(255/10) = 28.1 dB
    assert 27.5 < psnr(img, noisy) < 29.5
    assert 0.3 < ssim(img, noisy) < 0.95
    blurred = cv2.GaussianBlur(img, (7, 7), 2)
    assert psnr(img, blurred, crop_border=4, test_y=True) > psnr(img, blurred)  # Y ignores chroma detail
    assert psnr(img.astype(np.float32) / 255, noisy.astype(np.float32) / 255) == pytest.approx(psnr(img, noisy), abs=0.05)
    with pytest.raises(ValueError, match='shapes differ'):
        psnr(img, img[:64])


def test_runtime_env_sets_mkl_and_hides_paddle_notices():
    code = ('import sys; sys.path.insert(0, "."); from realesrgan_paddle.utils import runtime_env; '
            'runtime_env.setup(threads=2); import os; print(os.environ["MKL_DEBUG_CPU_TYPE"], os.environ["OMP_NUM_THREADS"])')
    env = {k: v for k, v in os.environ.items() if k not in ('MKL_DEBUG_CPU_TYPE', 'OMP_NUM_THREADS')}
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ['5', '2']
    assert 'OMP_NUM_THREADS' not in res.stderr


@pytest.mark.parametrize('user_omp, paddle_first, expected', [
    (None, False, 'ncpu'),  # nobody set it: paddle's '1' is not a request for one thread
    (None, True, 'ncpu'),
    ('1', False, '1'),  # the user asked for one thread before paddle loaded
    ('3', True, '3'),
])
def test_math_threads_ignores_paddles_own_omp_setting(user_omp, paddle_first, expected):
    """Without OMP_NUM_THREADS the Python API (Upscaler) used to run single-threaded: paddle writes '1'
    at import and the predictor read it back as the thread count."""
    first, second = 'import paddle', 'from realesrgan_paddle.utils import runtime_env'
    code = ('import sys, os; sys.path.insert(0, "."); ' + '; '.join((first, second) if paddle_first else (second, first))
            + '; print(os.environ["OMP_NUM_THREADS"], runtime_env.math_threads(), runtime_env.cpu_count())')
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS',)}
    if user_omp is not None:
        env['OMP_NUM_THREADS'] = user_omp
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    omp, got, ncpu = res.stdout.split()
    if user_omp is None:
        assert omp == '1'  # what paddle does, the reason for the rule
    assert got == (ncpu if expected == 'ncpu' else expected)


def _make_clip(path, audio):
    ff = uff.ffmpeg_exe()
    cmd = [ff, '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=30000/1001:duration=1']
    if audio:
        cmd += ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', '-shortest']
    subprocess.run(cmd + ['-pix_fmt', 'yuv420p', str(path)], check=True)


@pytest.mark.parametrize('use_ffprobe', [True, False])
def test_probe_video_both_paths(tmp_path, monkeypatch, use_ffprobe):
    try:
        uff.ffmpeg_exe()
    except uff.FFmpegNotFound:
        pytest.skip(FFMPEG_SKIP)
    if use_ffprobe and not uff.ffprobe_exe():
        pytest.skip(FFPROBE_SKIP)
    if not use_ffprobe:
        monkeypatch.setattr(uff, 'ffprobe_exe', lambda: None)  # the imageio-ffmpeg situation
    clip = tmp_path / 'clip.mp4'
    _make_clip(clip, audio=True)
    info = uff.probe_video(clip)
    assert (info['width'], info['height']) == (96, 64)
    assert info['fps'] == pytest.approx(29.97, abs=0.01)
    assert info['has_audio'] is True
    assert info['duration'] == pytest.approx(1.0, abs=0.2)
    silent = tmp_path / 'silent.mp4'
    _make_clip(silent, audio=False)
    assert uff.probe_video(silent)['has_audio'] is False
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(os.urandom(2048))
    with pytest.raises(uff.VideoProbeError, match='junk.mp4'):
        uff.probe_video(junk)
    audio_only = tmp_path / 'audio.m4a'
    subprocess.run([uff.ffmpeg_exe(), '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=duration=0.5', str(audio_only)],
                   check=True)
    with pytest.raises(uff.VideoProbeError, match='no video stream'):
        uff.probe_video(audio_only)


def test_sigterm_after_paddle_is_quiet():
    """``timeout``'s SIGTERM after paddle loaded printed Paddle's C++ 'FatalError ... SIGTERM' wall; the
    tools' setup gives SIGTERM back to Python: exit 143, nothing on stderr."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    code = ('import time\nfrom realesrgan_paddle.utils import runtime_env\nruntime_env.setup(reexec=False)\nimport paddle\n'
            'paddle.ones([2])\nprint("ready", flush=True)\ntime.sleep(120)\n')
    proc = subprocess.Popen([sys.executable, '-c', code], cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'ready'
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and 'FatalError' not in err and 'Traceback' not in err, (proc.returncode, err)
