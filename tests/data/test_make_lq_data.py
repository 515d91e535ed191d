"""make_lq_data.py: reproducible bytes, really degraded, resumable, clear errors."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from realesrgan_paddle.data.degrade.resize import imresize_bicubic
from realesrgan_paddle.evaluation.metrics import psnr
from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('make_lq_data', ROOT / 'make_lq_data.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def hr_dir(hr_photos, tmp_path_factory):
    root = tmp_path_factory.mktemp('hr_in')
    (root / 'sub').mkdir()
    for i, p in enumerate(hr_photos[:3]):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        crop = img[(h - 160) // 2:(h - 160) // 2 + 160, (w - 200) // 2:(w - 200) // 2 + 200]
        cv2.imwrite(str(root / ('sub' if i == 2 else '.') / p.name), crop)
    return root


def test_same_seed_same_bytes_and_real_degradation(tool, hr_dir, tmp_path, capsys):
    outs = [tmp_path / 'a', tmp_path / 'b', tmp_path / 'c']
    for out, seed in zip(outs, (7, 7, 8)):
        assert tool.main(['--input', str(hr_dir), '--output', str(out), '--scale', '4', '--seed', str(seed)]) == 0
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob('*.png'))
    assert len(files) == 3 and any(f.parts[0] == 'sub' for f in files)
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes()
        assert (outs[0] / rel).read_bytes() != (outs[2] / rel).read_bytes()
        meta = json.loads((outs[0] / rel).with_suffix('.json').read_text())
        assert meta['mode'] == 'realesrgan' and meta['lq_size'] == [40, 50] and 'kernel1' in meta
        assert 30 <= meta['jpeg_quality1'] <= 95
        hr = cv2.imread(str(hr_dir / rel), cv2.IMREAD_COLOR)
        lq = cv2.imread(str(outs[0] / rel), cv2.IMREAD_COLOR)
        clean = imresize_bicubic(hr, size=(40, 50))
        assert psnr(lq, clean) < 33, rel  # measurably degraded vs a clean bicubic downscale


def test_bicubic_mode_resume_and_bad_file(tool, hr_dir, tmp_path, capsys):
    bad_in = tmp_path / 'in'
    bad_in.mkdir()
    for p in hr_dir.rglob('*.png'):
        (bad_in / p.name).write_bytes(p.read_bytes())
    (bad_in / 'corrupt.jpg').write_bytes(b'\xff\xd8 definitely not a jpeg')
    out = tmp_path / 'out'
    args = ['--input', str(bad_in), '--output', str(out), '--scale', '2', '--mode', 'bicubic']
    assert tool.main(args) == 1
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if 'corrupt.jpg' in x]
    assert len(lines) == 1 and lines[0].startswith('failed:')
    name = next(bad_in.glob('*.png')).name
    lq = cv2.imread(str(out / name), cv2.IMREAD_COLOR)
    hr = cv2.imread(str(bad_in / name), cv2.IMREAD_COLOR)
    assert (lq == imresize_bicubic(hr, size=(80, 100))).all()
    stamp = (out / name).stat().st_mtime_ns
    assert tool.main(args) == 1
    assert '3 already done' in capsys.readouterr().out
    assert (out / name).stat().st_mtime_ns == stamp
    assert not list(out.glob('*.tmp')) and not list(out.glob('.*'))


def test_a_folder_made_with_other_settings_is_refused_not_kept(tool, hr_dir, tmp_path, capsys):
    """A second run into the same folder with another mode, scale, seed or degradation file would report its
    images 'already done' and leave the first run's bytes: it is refused with one line naming a JSON, and
    nothing is rewritten; the same settings still resume."""
    out = tmp_path / 'lq'
    base = ['--input', str(hr_dir), '--output', str(out), '--scale', '4', '--seed', '3']
    assert tool.main(base) == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob('*')}
    opt = tmp_path / 'deg.yml'
    opt.write_text('degradation:\n  noise_range: [1, 2]\n')
    for extra, why in ((['--mode', 'bicubic'], 'another mode (realesrgan, not bicubic)'),
                       (['--seed', '4'], 'another seed (3, not 4)'),
                       (['--opt', str(opt)], 'another degradation options')):
        capsys.readouterr()
        assert tool.main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        one_line(err, why, '.json')
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*')} == stamps
    assert tool.main(base) == 0 and '3 already done' in capsys.readouterr().out
    # a JSON written before the settings were recorded is judged on its mode and seed
    meta = next(out.glob('*.json'))
    rec = json.loads(meta.read_text())
    del rec['settings']
    meta.write_text(json.dumps(rec))
    assert tool.main(base + ['--mode', 'bicubic']) == 2
    assert tool.main(base) == 0


def test_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / 'make_lq_data.py'), '--input', str(tmp_path / 'nope'),
                        '--output', str(tmp_path / 'o')], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    one_line(r.stderr, tmp_path / 'nope')
    assert not (tmp_path / 'o').exists()


def test_a_usage_error_does_not_load_paddle():
    code = (f'import runpy, sys; sys.argv = ["make_lq_data.py", "--bogus"]\n'
            f'try:\n    runpy.run_path({str(ROOT / "make_lq_data.py")!r}, run_name="__main__")\n'
            'except SystemExit as e:\n    print(e.code, "paddle" in sys.modules)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ['2', 'False'], out.stderr
    assert '--bogus' in out.stderr or 'required' in out.stderr
