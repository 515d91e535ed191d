"""A disk that fills while fit_degradation writes its plot, or while finetune_domain's keyframes stage writes frames:
one line, and what was finished stays. The full disk is simulated in-process: the project's atomic writer raises
ENOSPC (as it does on a full disk) from the write named (a tmpfs mount needs root)."""
import errno
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    """An HR clip (a slow pan over a photo, 256x192, 20 frames) and its x4 LQ stream."""
    from skimage import data as skdata
    from realesrgan_paddle.data.degrade.codec import codec_exe
    root = tmp_path_factory.mktemp('clips')
    img = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    frames = [np.ascontiguousarray(img[100 + 2 * k:292 + 2 * k, 100 + 3 * k:356 + 3 * k]) for k in range(20)]
    raw = root / 'hr.bgr'
    raw.write_bytes(b''.join(f.tobytes() for f in frames))
    common = [codec_exe(), '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', '256x192', '-r', '10',
              '-i', str(raw)]
    subprocess.run([*common, '-c:v', 'libx264', '-crf', '12', str(root / 'hr.mp4')], check=True)
    subprocess.run([*common, '-vf', 'scale=iw/4:ih/4:flags=area', '-c:v', 'libx264', '-crf', '30',
                    str(root / 'lq.mp4')], check=True)
    return root


def _full_after(n, real, suffix):
    """A stand-in for ``atomic_write_bytes`` that writes ``n`` files ending in ``suffix``, then finds the disk full."""
    done = []

    def write(path, data, *a, **k):
        if str(path).endswith(suffix):
            if len(done) >= n:
                raise OSError(errno.ENOSPC, 'No space left on device', str(path))
            done.append(path)
        return real(path, data, *a, **k)
    return write


def test_fit_plot_on_a_full_disk_is_one_line_and_keeps_the_fit(clips, tmp_path, monkeypatch, capsys):
    import realesrgan_paddle.utils.fileio; from realesrgan_paddle import utils
    from realesrgan_paddle.tools.fit_degradation import main
    monkeypatch.setattr(utils.fileio, 'atomic_write_bytes', _full_after(0, utils.fileio.atomic_write_bytes, '.png'))
    out = tmp_path / 'fit' / 'fitted.yml'
    with pytest.raises(SystemExit) as e:
        main(['--hr', str(clips / 'hr.mp4'), '--lq', str(clips / 'lq.mp4'), '--out', str(out), '--frames', '4'])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and 'Traceback' not in '\n'.join(err)
    assert err[-1] == (f'fit_degradation.py: error: {out}.png: cannot write (No space left on device); '
                       f'kept {out}, {out}.json'), err[-1]
    assert sorted(p.name for p in out.parent.iterdir()) == ['fitted.yml', 'fitted.yml.json']  # no partial plot


def test_keyframes_stage_on_a_full_disk_is_one_line_and_keeps_its_frames(clips, tmp_path, monkeypatch):
    import realesrgan_paddle.data.builder.extract as extract
    from realesrgan_paddle.pipeline.context import DomainError
    from realesrgan_paddle.pipeline.stages.data import run_keyframes
    monkeypatch.setattr(extract, 'atomic_write_bytes', _full_after(3, extract.atomic_write_bytes, '.png'))
    part = tmp_path / 'keyframes.partial'
    ctx = SimpleNamespace(s=SimpleNamespace(videos=[str(clips / 'hr.mp4')], every=0.2, min_size=16, quiet=True,
                                          work=str(tmp_path / 'work')),
                          say=lambda line: None, out=lambda name: tmp_path / name)
    with pytest.raises(DomainError) as e:
        run_keyframes(ctx, part)
    msg = str(e.value)
    assert '\n' not in msg and 'No space left on device' in msg and '3 frame(s)' in msg, msg
    assert len(list(part.rglob('*.png'))) == 3
