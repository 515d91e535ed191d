"""`import realesrgan_paddle.models`, `.inference` and `.utils.checkpoint` stay light (fresh interpreter each), and
load the project's rooms under the package name only (a top-level `utils` or `models` would be a second copy)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
P = 'realesrgan_paddle'
HEAVY_ROOMS = ('data', 'loss', 'training', 'evaluation', 'pipeline')
HEAVY = ('visualdl', 'ffmpeg', 'torch', P + '.inference.video')  # top-level packages, and one module
ROOMS = tuple(p.name for p in ROOT.iterdir() if (p / '__init__.py').is_file() and p.name not in (P, 'tests'))
CHECK = ('bad = [m for m in sys.modules if m.split(".")[0] in HEAVY + ROOMS or m in HEAVY '
         'or m.startswith(P + ".") and m.split(".")[1] in HEAVY_ROOMS]; print(",".join(sorted(bad)))')


@pytest.mark.parametrize('module', [P + '.models', P + '.inference', P + '.checkpoint_io.state_file'])
def test_import_is_light(module):
    code = (f'import sys; import {module}; P, HEAVY, HEAVY_ROOMS, ROOMS = {P!r}, {HEAVY!r}, {HEAVY_ROOMS!r}, '
            f'{ROOMS!r}; ' + CHECK)
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == '', f'{module} imported {res.stdout.strip()}'


@pytest.mark.parametrize('load, seen', [(f'import {P}.inference.video', f'{P}.inference.video'),
                                        ('__import__("utils")', 'utils')])  # a second, top-level copy
def test_the_check_sees_a_heavy_import(load, seen):
    code = (f'import sys; import {P}.inference; {load}; P, HEAVY, HEAVY_ROOMS, ROOMS = {P!r}, {HEAVY!r}, '
            f'{HEAVY_ROOMS!r}, {ROOMS!r}; ' + CHECK)
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seen in res.stdout.strip().split(','), res.stdout + res.stderr
