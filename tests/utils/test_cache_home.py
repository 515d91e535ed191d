"""``$REALESRGAN_PADDLE_HOME`` (or ``~/.cache/realesrgan-paddle``) that is a file, a dangling link: one line naming
the path and the fix (issue 73; a bare ``[Errno 20] Not a directory`` / ``[Errno 17] File exists`` before, and a
traceback from ``download_models --list``)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.utils.fileio import CacheRootError, cache_root
from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('kind', ['file', 'dangling link'])
def test_a_cache_that_is_not_a_folder_is_one_line(tmp_path, monkeypatch, kind):
    home = tmp_path / 'home'
    if kind == 'file':
        home.write_text('my notes')
    else:
        home.symlink_to(tmp_path / 'gone')
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(home))
    with pytest.raises(CacheRootError) as e:
        cache_root()
    assert isinstance(e.value, OSError) and str(e.value).startswith(f'{home}: the model cache')
    assert 'REALESRGAN_PADDLE_HOME' in str(e.value) and '\n' not in str(e.value)
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'not_made_yet'))
    assert cache_root() == tmp_path / 'not_made_yet'  # a missing folder is made when the first file is written


@pytest.mark.parametrize('tool', ['infer', 'download_models'])
def test_the_tools_say_it_in_one_line(tmp_path, tiny_models, tool):
    home = tmp_path / 'home'
    home.write_text('my notes')
    img = tmp_path / 'in.png'
    cv2.imwrite(str(img), np.full((8, 8, 3), 90, np.uint8))
    args = {'infer': ['-i', str(img), '-o', str(tmp_path / 'out'), '-m', str(tiny_models['srvgg_x4'])],
            'download_models': ['--list']}[tool]
    res = subprocess.run([sys.executable, f'tools/{tool}.py', *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, REALESRGAN_PADDLE_HOME=str(home)))
    assert res.returncode == 2, res.stderr[-2000:]
    line = one_line([ln for ln in res.stderr.splitlines() if 'INFO' not in ln], str(home), 'a file, not a folder')
    assert 'Errno' not in line and home.read_text() == 'my notes'
