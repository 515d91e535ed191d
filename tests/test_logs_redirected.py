"""Redirected to a file, the tools write clean lines: no tqdm bar fragments (carriage returns, cursor escapes)
glued to log lines. The bars are still drawn on a terminal (tqdm's disable=None: off when not a tty)."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _stderr_to_file(tmp_path, *args):
    log = tmp_path / 'log.txt'
    with open(log, 'w') as f:
        res = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                             timeout=300)
    return res.returncode, log.read_bytes().decode()  # read_text() would turn \r into \n


def test_tools_redirected_to_a_file_write_no_bars(tmp_path):
    src = tmp_path / 'hr'
    src.mkdir()
    img = cv2.imread(str(ROOT / 'assets' / 'example_lq.png'))
    for i in range(3):
        cv2.imwrite(str(src / f'{i}.png'), np.roll(img, 7 * i, axis=1))
    rc, text = _stderr_to_file(tmp_path, 'make_lq_data.py', '--input', src, '--output', tmp_path / 'lq',
                               '--scale', 4, '--mode', 'bicubic')
    assert rc == 0, text
    rc2, text2 = _stderr_to_file(tmp_path, 'tools/extract_subimages.py', '--input', src, '--output',
                                 tmp_path / 'sub', '--crop_size', 64)
    assert rc2 == 0, text2
    for out in (text, text2):
        assert '\r' not in out and '\x1b' not in out, repr(out[-500:])
        assert out.strip(), 'the tool said nothing'
    assert len(list((tmp_path / 'lq').glob('*.png'))) == 3 and list((tmp_path / 'sub').glob('*.png'))
