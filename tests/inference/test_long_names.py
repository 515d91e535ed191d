"""Names a file system cannot hold (issue 73): an output path with a part over 255 bytes (given, or made from a
long input name and the suffix) is one line and exit 2 before the model loads; a traceback with ``[Errno 36] File
name too long`` before. (Outputs of 240-252 bytes, legal names, are written: test_segments_parts.py.)"""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('case', ['given', 'made'])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, case):
    src = tmp_path / (('r' * 250 if case == 'made' else 'in') + '.png')
    cv2.imwrite(str(src), np.full((8, 8, 3), 90, np.uint8))
    out = tmp_path / ('q' * 300 + '.png') if case == 'given' else tmp_path / 'out'
    res = subprocess.run([sys.executable, 'tools/infer.py', '-i', str(src), '-o', str(out), '-m', 'no-such-model'],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    line = one_line(res.stderr, 'cannot write', 'bytes, more than the 255 a file name may have')
    assert 'Errno' not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]
