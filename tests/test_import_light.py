"""`import realesrgan_paddle.models`, `.inference` and `.utils.checkpoint` stay light (fresh interpreter each), and
load the project's rooms under the package name only (a top-level `utils` or `models` would be a second copy); the
image tools' `--help` loads no video module: the stabiliser loads with a video only (issue 80)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
P = 'realesrgan_paddle'
HEAVY_ROOMS = ('data', 'loss', 'training', 'evaluation', 'pipeline')
HEAVY = ('visualdl', 'ffmpeg', 'torch', P + '.inference.video', P + '.inference.distributed')  # packages, 2 rooms
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


# a tool run as ``python tools/x.py --help`` would run it; prints the video modules it loaded
HELP = ('''import os, runpy, sys
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
VIDEO = ("video", "distributed")  # the rooms inference/video/ and inference/distributed/, and all below them
print("@@" + ",".join(sorted(m for m in sys.modules if m.startswith("realesrgan_paddle.inference.")
                             and m.split(".")[2] in VIDEO)))
''')


@pytest.mark.parametrize('tool', ['infer', 'predict'])
def test_help_loads_no_video_module(tool):
    res = subprocess.run([sys.executable, '-c', HELP, f'tools/{tool}.py', '--help'], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    marks = [ln for ln in res.stdout.splitlines() if ln.startswith('@@')]
    assert marks and '--temporal' in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    assert marks[-1] == '@@', f'tools/{tool}.py --help loaded {marks[-1][2:]}'
