"""tools/refit_skip.py: the official compact model written with the bilinear skip, computing what it computed;
bad input is refused in one line and nothing is overwritten."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
import refit_skip as tool  # noqa: E402


def _lq(hr_photos):
    path = next((p for p in hr_photos if p.name == 'camera.png'), hr_photos[-1])
    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = im.shape[:2]
    return cv2.resize(im, (w // 4, h // 4), interpolation=cv2.INTER_AREA)[:80, :80]


@pytest.mark.slow(seconds=13)
def test_writes_the_bilinear_base(tmp_path, hr_photos, capsys):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.models.loading import read_checkpoint
    from realesrgan_paddle.evaluation.metrics import psnr
    out = tmp_path / 'w' / 'bilinear.pdparams'
    assert tool.main(['--model', 'realesr-animevideov3', '-o', str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f'wrote {out}: realesr-animevideov3 with the bilinear skip') and '12 calibration' in line
    state, arch = read_checkpoint(out)
    assert arch['skip'] == 'bilinear' and arch['type'] == 'SRVGGNetCompact'
    lq = _lq(hr_photos)
    ours = Upscaler(str(out), device='cpu', backend='dynamic').upscale(lq)
    official = Upscaler('realesr-animevideov3', device='cpu', backend='dynamic').upscale(lq)
    assert ours.shape == (320, 320, 3) and psnr(ours, official) > 42
    back = tmp_path / 'back.pdparams'
    assert tool.main(['--model', str(out), '--skip', 'nearest', '-o', str(back)]) == 0
    assert read_checkpoint(back)[1].get('skip', 'nearest') == 'nearest'


def test_the_choices_are_the_networks_skips():
    """The tool keeps its own copy so that --help imports no paddle."""
    from realesrgan_paddle.models.archs.compact.srvgg import SKIPS
    assert tool.SKIPS == SKIPS


@pytest.mark.parametrize('case, message', [
    ('itself', 'refusing to write {a}: it is the input {a}'),
    ('already', '{a}: already has the bilinear skip'),
    ('rrdb', 'a RRDBNet, not an SRVGGNetCompact'),
    ('missing', '{d}/none.pth: no such model file'),
    ('garbage', '{d}/bad.pth: not a .pth'),
    ('suffix', '{d}/x.onnx: --output must be a .pdparams file'),
])
def test_refusals_are_one_line(tmp_path, capsys, case, message):
    from tests.nets import save_tiny, rrdb, srvgg
    a = save_tiny(tmp_path / 'a.pdparams', srvgg(skip='bilinear'))
    (tmp_path / 'bad.pth').write_bytes(b'not a checkpoint')
    before = a.read_bytes()
    model, out = {'itself': (a, a), 'already': (a, tmp_path / 'o.pdparams'),
                  'rrdb': (save_tiny(tmp_path / 'r.pdparams', rrdb()), tmp_path / 'o.pdparams'),
                  'missing': (tmp_path / 'none.pth', tmp_path / 'o.pdparams'),
                  'garbage': (tmp_path / 'bad.pth', tmp_path / 'o.pdparams'),
                  'suffix': (a, tmp_path / 'x.onnx')}[case]
    assert tool.main(['--model', str(model), '-o', str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(a=a, d=tmp_path) in err, err
    assert a.read_bytes() == before and not (tmp_path / 'o.pdparams').exists()


def test_a_fresh_process_prints_only_its_own_line(tmp_path):
    """Paddle's import printed a ccache UserWarning (two lines) before the tool's own line."""
    import subprocess
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'refit_skip.py'), '--model', str(tmp_path / 'no.pdparams'),
                        '-o', str(tmp_path / 'out.pdparams')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert 'ccache' not in r.stderr and str(tmp_path / 'no.pdparams') in r.stderr
