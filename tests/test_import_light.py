"""`import models`, `import inference` and `import checkpoint_io.state_file` stay light (fresh interpreter each)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ('data', 'loss', 'training', 'evaluation', 'pipeline', 'visualdl', 'inference.video', 'ffmpeg', 'torch')


@pytest.mark.parametrize('module', ['models', 'inference', 'checkpoint_io.state_file'])
def test_import_is_light(module):
    code = (f'import sys; import {module}; '
            f'bad = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m in {HEAVY!r}]; '
            'print(",".join(sorted(bad)))')
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == '', f'{module} imported {res.stdout.strip()}'


def test_the_check_sees_a_heavy_import():
    code = 'import sys, inference.video; print("inference.video" in sys.modules)'
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == 'True'
