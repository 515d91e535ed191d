"""tools/make_contact_sheet.py on any folder of photos, as docs/degradation.md runs it."""
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_contact_sheet.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_any_folder_of_photos_gives_one_row_each(hr_photos, tmp_path):
    src = tmp_path / 'hr'
    src.mkdir()
    for i, p in enumerate(hr_photos[:2]):  # names the default list does not know
        shutil.copy(p, src / f'frame_{i}{p.suffix}')
    (src / 'notes.txt').write_text('not an image')
    out = tmp_path / 'sheet.png'
    r = _run('--input', src, '--output', out, '--size', 64)
    assert r.returncode == 0, r.stderr
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] >= 2 * 64


def test_a_sheet_photo_among_others_does_not_hide_them(hr_photos, tmp_path):
    """One of the sheet's six names beside other photos gave a one-row sheet: the others fill it up to six."""
    src = tmp_path / 'hr'
    src.mkdir()
    shutil.copy(hr_photos[0], src / f'butterfly{hr_photos[0].suffix}')
    for i, p in enumerate(hr_photos[1:3]):
        shutil.copy(p, src / f'frame_{i}{p.suffix}')
    one, three = tmp_path / 'one.png', tmp_path / 'three.png'
    assert _run('--input', src, '--output', one, '--size', 64, '--names', 'butterfly').returncode == 0
    r = _run('--input', src, '--output', three, '--size', 64)
    assert r.returncode == 0, r.stderr
    h1, h3 = cv2.imread(str(one)).shape[0], cv2.imread(str(three)).shape[0]
    assert h3 >= 3 * 64 and h3 > 2 * h1 - 64, (h1, h3)


def test_missing_folder_and_unknown_names_are_one_line(tmp_path):
    r = _run('--input', tmp_path / 'nope', '--output', tmp_path / 's.png')
    assert r.returncode == 2 and one_line(r.stderr, tmp_path / 'nope') and not (tmp_path / 's.png').exists()
    r = _run('--input', tmp_path, '--output', tmp_path / 's.png', '--names', 'baboon')
    assert r.returncode == 2 and one_line(r.stderr, 'baboon') and not (tmp_path / 's.png').exists()


def test_input_and_output_are_required(tmp_path):
    """No default that reaches outside the repository (../shared) or writes into docs/."""
    before = (ROOT / 'docs' / 'degradation_contact_sheet.png').stat().st_mtime_ns \
        if (ROOT / 'docs' / 'degradation_contact_sheet.png').exists() else None
    for args in ((), ('--input', tmp_path), ('--output', tmp_path / 's.png')):
        r = _run(*args)
        assert r.returncode == 2 and 'required' in r.stderr, r.stderr
    after = (ROOT / 'docs' / 'degradation_contact_sheet.png').stat().st_mtime_ns \
        if (ROOT / 'docs' / 'degradation_contact_sheet.png').exists() else None
    assert before == after


def test_never_over_a_photo_it_reads_and_unwritable_paths_are_one_line(hr_photos, tmp_path):
    """It wrote the sheet over its first photo when --output was that photo."""
    src = tmp_path / 'hr'
    src.mkdir()
    shutil.copy(hr_photos[0], src / 'a.png')
    before = (src / 'a.png').read_bytes()
    r = _run('--input', src, '--output', src / 'a.png', '--size', 32)
    assert r.returncode == 2 and r.stderr.strip() == f'error: refusing to write {src / "a.png"}: it is the input ' \
                                                      f'{src / "a.png"}', r.stderr
    assert (src / 'a.png').read_bytes() == before
    (tmp_path / 'a_file').write_text('x')
    r = _run('--input', src, '--output', tmp_path / 'a_file' / 's.png', '--size', 32)
    assert r.returncode == 2 and r.stderr.strip() == \
        f'error: cannot write {tmp_path / "a_file"}: a part of the path is a file, not a folder', r.stderr
