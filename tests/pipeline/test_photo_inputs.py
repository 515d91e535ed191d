"""tools/finetune_domain.py --hr/--lq with photo folders: a paired run (LQ photos named like the HR photos: the fit,
training pairs, held-out real pairs, one misaligned pair dropped with its line) and an unpaired run (LQ photos of
other names: the fit alone), each to its report, at tiny size. Photos: crops of scikit-image's bundled photos;
LQ made here (area x4, saved as JPEG q 70, as a camera writes them): the fit reads their quality from the files'
quantisation tables, so it fits JPEG alone."""
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'finetune_domain.py'
TINY = ['-o', 'gt_size=32', '-o', 'datasets.train.crop_pad_size=64', '-o', 'queue_size=4', '--min-size', '64',
        '--fit-frames', '3', '--iters', '3', '-q', '--force-export']  # a 3-iteration tiny model loses to bicubic
SHIFT = 12  # HR px: the misaligned pair's LQ photo is cut 3 LQ px off (above the check's 3 HR px)


def _sources():
    import cv2
    from skimage import data as skdata
    imgs = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.immunohistochemistry(),
            np.stack([skdata.camera()] * 3, axis=-1)]
    return [cv2.cvtColor(np.ascontiguousarray(i[..., :3]), cv2.COLOR_RGB2BGR) for i in imgs]


def _lq_bytes(hr, q=70):
    import cv2
    small = cv2.resize(hr, (hr.shape[1] // 4, hr.shape[0] // 4), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode('.jpg', small, [cv2.IMWRITE_JPEG_QUALITY, q])
    return buf.tobytes()


def _lq(hr, q=70):
    import cv2
    return cv2.imdecode(np.frombuffer(_lq_bytes(hr, q), np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """12 HR photos of 192x192 (two crops of each of six photos), their LQ photos of the same names (photo_05's
    cut SHIFT HR px off: misaligned), and LQ photos of other names (crops the HR set does not hold)."""
    import cv2
    root = tmp_path_factory.mktemp('photos')
    for sub in ('hr', 'lq', 'lq_other'):
        (root / sub).mkdir()
    k = 0
    for img in _sources():
        h, w = img.shape[:2]
        for y, x in ((0, 0), (h - 192 - SHIFT, w - 192 - SHIFT)):
            hr = img[y:y + 192, x:x + 192]
            name = f'photo_{k:02d}.png'
            cv2.imwrite(str(root / 'hr' / name), hr)
            src = img[y + SHIFT:y + SHIFT + 192, x + SHIFT:x + SHIFT + 192] if k == 5 else hr
            (root / 'lq' / f'photo_{k:02d}.jpg').write_bytes(_lq_bytes(src))
            mid = img[h // 2 - 96:h // 2 + 96, w // 2 - 96:w // 2 + 96]
            (root / 'lq_other' / f'other_{k:02d}.jpg').write_bytes(_lq_bytes(mid if k % 2 else hr[::-1]))
            k += 1
    return root


def _run(*args, timeout=900):
    args = [str(a) for a in args]  # the default x4plus comparison is tested once (test_compare_default.py)
    args += [] if '--compare' in args else ['--compare', 'none']
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _split(work):
    return json.loads((work / 'split' / 'split.json').read_text())


def test_alignment_estimate_finds_a_shift_and_a_scale(photos):
    import cv2

    from realesrgan_paddle.data.datasets.real_pair_crops import alignment_problem, estimate_alignment
    from realesrgan_paddle.media.image_io import imread
    hr = imread(photos / 'hr' / 'photo_00.png')
    ok = estimate_alignment(imread(photos / 'lq' / 'photo_00.jpg'), hr)
    assert alignment_problem(ok) is None and abs(ok['dx']) < 1 and abs(ok['dy']) < 1 and ok['scale'] == 1.0
    bad = estimate_alignment(imread(photos / 'lq' / 'photo_05.jpg'), imread(photos / 'hr' / 'photo_05.png'))
    assert bad['dx'] == pytest.approx(SHIFT, abs=2.5) and bad['dy'] == pytest.approx(SHIFT, abs=2.5)
    assert 'shifted' in alignment_problem(bad)
    big = cv2.resize(hr, None, fx=1.03, fy=1.03, interpolation=cv2.INTER_CUBIC)
    y, x = (big.shape[0] - 192) // 2, (big.shape[1] - 192) // 2
    zoomed = estimate_alignment(_lq(big[y:y + 192, x:x + 192], q=95), hr)
    assert zoomed['scale'] == pytest.approx(1.03, abs=0.01) and 'scaled' in alignment_problem(zoomed)
    assert 'not x4' in alignment_problem(estimate_alignment(hr[:40, :40], hr))


@pytest.mark.slow(seconds=50)  # and the refused rerun
def test_paired_photo_run(photos, tiny_base, tmp_path):
    work = tmp_path / 'work'
    res = _run('--hr', photos / 'hr', '--lq', photos / 'lq', '--work', work, '--base', tiny_base, '--holdout', 0.5,
               '--seed', 3, *TINY)
    assert res.returncode == 0, res.stderr[-3000:]
    err = res.stderr
    assert 'photos: 12 of 12 kept by the builder\'s filters' in err
    rows = _split(work)
    assert len(rows) == 12 and all(r['photo'] and r['cut'] is None for r in rows)
    held = sorted(r['file'] for r in rows if r['set'] == 'heldout')
    assert len(held) == 6 and held != [f'photo_{k:02d}.png' for k in range(6, 12)]  # not the last ones in order
    # the seed decides: another seed, another held-out set (the split alone)
    other = _run('--hr', photos / 'hr', '--work', tmp_path / 'w2', '--base', tiny_base, '--holdout', 0.5, '--seed', 4,
                 *TINY, '--stop-after', 'split')
    assert other.returncode == 0, other.stderr[-2000:]
    assert sorted(r['file'] for r in _split(tmp_path / 'w2') if r['set'] == 'heldout') != held
    # the misaligned pair is dropped, in one line naming it and why
    line = next(ln for ln in err.splitlines() if 'dropped as misaligned' in ln)
    assert 'photo_05.jpg (shifted' in line and line.count('.jpg') == 1
    side = 'heldout' if 'photo_05.png' in held else 'train'
    deg = work / 'degrade'
    real = sorted(p.name for p in (deg / 'real_lq').iterdir())
    assert real == sorted(set(held) - {'photo_05.png'})
    assert sorted(p.name for p in (deg / 'real_gt').iterdir()) == real
    train = sorted(p.name for p in (deg / 'train_pairs' / 'lq').iterdir())
    assert len(train) == 6 - (side == 'train') and not set(train) & set(held)
    # the fit never sees a held-out LQ photo, and reads the JPEG files themselves: their tables give the quality
    assert sorted(p.name for p in (deg / 'fit_lq').iterdir()) == [n.replace('.png', '.jpg') for n in train]
    fitted = yaml.safe_load((deg / 'fitted.yml').read_text())['degradation']
    assert fitted['jpeg_prob2'] == 1.0 and fitted['codec_prob'] == 0.0, fitted  # JPEG alone was tried
    lo, hi = fitted['jpeg_range2']  # around the quality the tables show (70): the grid's 45-65 missed it
    assert 65 <= lo <= 70 <= hi <= 75, fitted['jpeg_range2']
    opt = yaml.safe_load((work / 'finetune' / 'options.yml').read_text())
    rp = opt['datasets']['real_pairs']
    assert rp['weight'] == 0.5 and Path(rp['dataroot_lq']) == deg / 'train_pairs' / 'lq'
    log = next((work / 'finetune' / 'experiments').glob('*/train_*.log')).read_text()
    assert 'l_g_pix_pair' in log
    metrics = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    assert metrics['real']['paired'] and metrics['real']['frames'] == len(real)
    assert {'bicubic', 'base', 'finetuned'} <= set(metrics['real']['summary'])
    assert (work / 'report.md').is_file() and (work / 'export' / 'inference.pdmodel').is_file()
    # photos are not consecutive frames: no flicker is measured on them, and the report speaks of photos
    assert 'no LQ video among the photos: flicker not measured' in err and not metrics['selection'].get('flicker')
    md = (work / 'report.md').read_text()
    assert 'real low-resolution photos' in md and '--lq-videos clips' not in md and '% of the photos at random)' in md
    assert_refused_export_still_reports(photos, tiny_base, work)


def report_commands(md):
    """The commands of the report's stage table, as printed (one per stage)."""
    return [m.group(1) for m in re.finditer(r'^\| \w+ \| [^|]+ \| `(python [^`]+)` \|$', md, re.M)]


def assert_refused_export_still_reports(photos, tiny_base, work):
    """The same run without --force-export: the tiny model loses to bicubic, the export is refused (exit 1), and
    the report is written all the same (issue 74: nothing to read), saying why and what to try; each command of
    its stage table runs as printed (its arguments parse: ``--help`` after them exits 0)."""
    res = _run('--hr', photos / 'hr', '--lq', photos / 'lq', '--work', work, '--base', tiny_base, '--holdout', 0.5,
               '--seed', 3, *[a for a in TINY if a != '--force-export'])
    err = [ln for ln in res.stderr.splitlines() if ln.startswith('error:')]
    assert res.returncode == 1 and len(err) == 1 and 'export refused' in err[0], res.stderr[-3000:]
    assert err[0].endswith(f'the report says why and what to try: {work / "report.html"}'), err
    assert not (work / 'export').exists()  # nothing exported
    md = (work / 'report.md').read_text()
    assert '## Nothing exported' in md and 'loses to bicubic' in md and '--budget' in md and '--force-export' in md
    assert (work / 'report.html').is_file() and (work / 'report' / 'sheet.png').is_file()
    commands = report_commands(md)
    assert len(commands) == 7, md[-3000:]
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == 'python' and (ROOT / argv[1]).is_file(), command
        ran = subprocess.run([sys.executable, *argv[1:], '--help'], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        assert ran.returncode == 0, (command, ran.stderr[-1000:])


@pytest.mark.slow(seconds=20)
def test_unpaired_photo_run(photos, tiny_base, tmp_path):
    work = tmp_path / 'work'
    res = _run('--hr', photos / 'hr', '--lq', photos / 'lq_other', '--work', work, '--base', tiny_base,
               '--holdout', 0.3, *TINY, '--pair-ratio', 0.5, '--stop-after', 'finetune')
    # the evaluation without a reference is the same path as the unpaired video frames' (test_finetune_real_footage)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'dropped as misaligned' not in res.stderr and 'real pairs: ' not in res.stderr
    assert 'scored without a reference' in res.stderr
    deg = work / 'degrade'
    assert (deg / 'fitted.yml').is_file() and not (deg / 'train_pairs').exists()
    assert sorted(p.name for p in (deg / 'real_lq').iterdir()) and not (deg / 'real_gt').exists()
    opt = yaml.safe_load((work / 'finetune' / 'options.yml').read_text())
    assert not opt['datasets'].get('real_pairs')


def test_missing_lq_path_one_line(photos, tmp_path):
    res = _run('--hr', photos / 'hr', '--lq', tmp_path / 'nothing', '--work', tmp_path / 'w')
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and 'nothing' in lines[0] and 'no such' in lines[0]


@pytest.mark.parametrize('side', ['--hr', '--lq'])
def test_a_link_out_of_a_photo_folder_is_one_line(photos, tmp_path, side):
    """A symbolic link inside a named photo folder, to a file outside it, was read as one of its photos (issue 64,
    D03): one line naming the link and its target, before any work."""
    import shutil
    folder = tmp_path / 'named'
    shutil.copytree(photos / ('hr' if side == '--hr' else 'lq'), folder)
    secret = tmp_path / 'private' / 'secret.png'
    secret.parent.mkdir()
    shutil.copy(photos / 'hr' / 'photo_00.png', secret)
    (folder / 'photo_99.png').symlink_to(secret)
    ext = '.png' if side == '--hr' else '.jpg'
    (folder / f'photo_98{ext}').symlink_to(folder / f'photo_01{ext}')  # a link inside the folder is a photo as any
    args = ['--hr', folder, '--lq', photos / 'lq'] if side == '--hr' else ['--hr', photos / 'hr', '--lq', folder]
    res = _run(*args, '--work', tmp_path / 'w', '--stop-after', 'keyframes', *TINY)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith(f'error: {folder / "photo_99.png"}: a link to {secret}, outside the folder') and \
        'photo_98' not in lines[0]
    assert not (tmp_path / 'w' / 'keyframes').exists()


def test_a_bomb_header_among_the_lq_photos_is_one_line(photos, tmp_path):
    """A 40000x40000 PNG header among the --lq photos gave an ImageReadError traceback in the degrade stage's
    pairs (issue 64, D16): one line naming the file."""
    import shutil
    from tests.crafted_images import png_declaring
    lq = tmp_path / 'lq'
    shutil.copytree(photos / 'lq', lq)
    for name in ('photo_00.png', 'photo_01.png'):  # one of the two is held out, the other trains: both are read
        (lq / name).with_suffix('.jpg').unlink()
        (lq / name).write_bytes(png_declaring(40000, 40000))
    res = _run('--hr', photos / 'hr', '--lq', lq, '--work', tmp_path / 'w', '--stop-after', 'degrade', *TINY)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and 'Traceback' not in ln]
    assert res.returncode == 2 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    assert lines[-1].startswith(f'error: {lq}/photo_0') and 'declares 40000x40000 pixels' in lines[-1], lines[-3:]
