"""utils.progress: step bars that say what they do, and log lines that never land inside a bar."""
import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tqdm import tqdm

from realesrgan_paddle.utils.progress import Steps, TqdmHandler


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _segments(text):
    return [seg for line in text.split('\n') for seg in line.split('\r')]


def test_steps_to_a_file_are_whole_lines():
    out = io.StringIO()
    with Steps('model.pdparams: one-time export', 2, stream=out) as bar:
        bar.step('loading the weights')
        bar.step('tracing and saving the static graph')
    lines = out.getvalue().splitlines()
    assert lines[:2] == ['model.pdparams: one-time export: 1/2 step, loading the weights',
                         'model.pdparams: one-time export: 2/2 step, tracing and saving the static graph']
    assert lines[2].startswith('model.pdparams: one-time export: done in ') and len(lines) == 3
    assert '\r' not in out.getvalue()


def test_many_steps_to_a_file_stay_about_ten_lines():
    out = io.StringIO()
    with Steps('tiles', 95, stream=out, unit='tile') as bar:
        for _ in range(95):
            bar.step('onednn')
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and lines[-2] == 'tiles: 95/95 tile, onednn'


def test_steps_on_a_terminal_draw_a_bar_that_ends_done():
    out = _Tty()
    with Steps('import', 1, stream=out) as bar:
        bar.step('reading x.bin')
    segs = _segments(out.getvalue())
    assert any('import: 0/1 step' in s and 'reading x.bin' in s for s in segs)
    assert any('import: 1/1 step' in s and 'done' in s for s in segs)


def test_disabled_steps_print_nothing():
    out = _Tty()
    with Steps('x', 3, enabled=False, stream=out) as bar:
        bar.step('a')
    assert out.getvalue() == ''


def _log_during_bar(handler_cls):
    out = io.StringIO()
    log = logging.getLogger(f'test_progress_{handler_cls.__name__}')
    log.handlers[:] = []
    h = handler_cls(out)
    h.setFormatter(logging.Formatter('%(levelname)s: %(message)s'))
    log.addHandler(h)
    log.propagate = False
    bar = tqdm(total=3, desc='files', file=out, mininterval=0)
    bar.update(1)
    log.warning('something happened')
    bar.update(1)
    bar.close()
    return out.getvalue()


def test_log_lines_get_a_line_of_their_own():
    assert 'WARNING: something happened' in _segments(_log_during_bar(TqdmHandler))
    # the plain handler glues the message onto the bar (what the handler is for)
    assert 'WARNING: something happened' not in _segments(_log_during_bar(logging.StreamHandler))


class _Writes(io.StringIO):
    """Records each ``write`` call (unbuffered stderr turns each into its own system call)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def write(self, s):
        self.calls.append(s)
        return super().write(s)


def test_a_log_line_is_one_write_with_its_newline():
    out = _Writes()
    log = logging.getLogger('test_progress_one_write')
    log.handlers[:] = [TqdmHandler(out)]
    log.propagate = False
    log.warning('first')
    assert out.calls == ['first\n']
    bar = tqdm(total=2, file=out, mininterval=0)
    out.calls.clear()
    log.warning('second')
    bar.close()
    assert 'second\n' in out.calls and 'second' not in out.calls


def test_fail_writes_each_line_whole(monkeypatch):
    from realesrgan_paddle.utils.cli_parser import Failed, fail
    out = _Writes()
    monkeypatch.setattr(sys, 'stderr', out)
    with pytest.raises(Failed):
        fail('tool', ['a: bad', 'b: bad'])
    assert out.calls == ['tool: error: a: bad\n', 'tool: error: b: bad\n']


_CHILD = '''
import sys
sys.path.insert(0, {root!r})
from realesrgan_paddle.utils.logger import get_logger
log = get_logger('child{n}')
for i in range(3000):
    log.warning('process {n} line %d ' + 'x' * 60, i)
'''


def test_two_processes_logging_to_one_pipe_never_glue_lines():
    """A data worker and the trainer share stderr: every line arrives whole (with tqdm.write the text and
    its newline were two writes, and lines were glued, as a CI run showed)."""
    root = str(Path(__file__).resolve().parents[2])
    r, w = os.pipe()
    procs = [subprocess.Popen([sys.executable, '-c', _CHILD.format(root=root, n=n)], stderr=w) for n in (1, 2)]
    os.close(w)
    with os.fdopen(r, encoding='utf-8') as f:
        text = f.read()
    assert all(p.wait(timeout=60) == 0 for p in procs)
    lines = text.splitlines()
    assert len(lines) == 6000
    pattern = re.compile(r'^\d\d:\d\d:\d\d WARNING child(\d): process \1 line \d+ x{60}$')
    glued = [ln for ln in lines if not pattern.match(ln)]
    assert not glued, glued[:3]


FRAME_LINE = re.compile(r'^(\S+): frame (\d+)/(\d+) \((\d+) %\), [\d.]+ frame/s, '
                        r'ETA (\d+ s|\d+ min \d\d s|\d+ h \d\d min)(, .*)?$')


def test_a_log_counter_writes_a_line_a_tenth_with_the_eta():
    from realesrgan_paddle.utils.progress import LogCounter, bars_active
    out = io.StringIO()
    c = LogCounter(95, 'clip.mp4', 'frame', stream=out, every_s=3600)
    assert bars_active()  # per-frame work inside it stays quiet in a log
    for _ in range(95):
        c.update(1)
    c.set_postfix_str('model 3.10 fps')
    c.close()
    c.close()  # once
    lines = out.getvalue().splitlines()
    assert not bars_active() and '\r' not in out.getvalue()
    assert lines[0] == 'clip.mp4: frame 1/95 (1 %), started'  # no rate from one frame and the set-up before it
    done = [int(FRAME_LINE.match(ln).group(2)) for ln in lines[1:-1]]
    assert done == [10, 20, 30, 40, 50, 60, 70, 80, 90], lines
    assert re.fullmatch(r'clip\.mp4: 95 frames in \d+ s \([\d.]+ frame/s\)', lines[-1]), lines[-1]


def test_a_log_counter_also_writes_after_a_silence(monkeypatch):
    """Slow frames (x4plus at 25 s a frame): a line whenever ``every_s`` passed, whatever the count."""
    from realesrgan_paddle.utils import progress
    clock = iter(range(0, 10000, 20))  # each call 20 s later
    monkeypatch.setattr(progress.time, 'perf_counter', lambda: float(next(clock)))
    out = io.StringIO()
    c = progress.LogCounter(1000, 'slow.mp4', 'frame', stream=out, every_s=30)
    for _ in range(4):
        c.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('slow.mp4: frame 1/1000 (0 %), started'), lines
    assert FRAME_LINE.match(lines[1]).group(2) == '3', lines  # 40 s > 30 s after the first line
    assert lines[1].endswith('ETA 5 h 32 min'), lines  # 997 frames at 2 frames in the 40 s since the first


def test_a_resumed_counter_rates_only_the_frames_this_run_made(monkeypatch):
    """A video resumed with 50 of its 75 frames reused: a minute of set-up (the model's load, the segment's
    pre-roll through the model) before its first frame, then a frame a second. The first rate is 1 frame/s, and
    its ETA the frames left at that rate (it said 0.01 frame/s and an ETA of hours, counting the set-up)."""
    from realesrgan_paddle.utils import progress
    times = iter([0.0] + [60.0 + i for i in range(100)])  # created at 0, the first frame at 60 s, then 1 a second
    monkeypatch.setattr(progress.time, 'perf_counter', lambda: next(times))
    out = io.StringIO()
    c = progress.LogCounter(75, 'clip.mp4', 'frame', stream=out, every_s=3600, initial=50)
    for _ in range(25):
        c.update(1)
    c.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == 'clip.mp4: frame 51/75 (68 %), started (50 done before)', lines
    first = FRAME_LINE.match(lines[1])
    assert first and first.group(2) == '56' and ', 1.00 frame/s, ETA 19 s' in lines[1], lines  # 19 left


def test_a_video_to_a_log_file_shows_frame_progress(tiny_models, photo, tmp_path):
    """tools/infer.py on a real photo panned into a 30-frame clip, stderr to a file (no terminal): frame lines
    with the ETA, a last line with the time, and no per-frame 'model ... done' lines between them."""
    import cv2
    import numpy as np

    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    frames = [photo[i:i + 48, 2 * i:2 * i + 64] for i in range(30)]
    clip = tmp_path / 'pan.mp4'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', '64x48', '-r', '10',
                    '-i', '-', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', str(clip)],
                   input=np.stack(frames).tobytes(), check=True, timeout=120)
    log = tmp_path / 'stderr.log'
    root = Path(__file__).resolve().parents[2]
    with open(log, 'w') as err:
        res = subprocess.run([sys.executable, 'tools/infer.py', '-i', str(clip), '-o', str(tmp_path / 'out.mp4'), '-m',
                              str(tiny_models['srvgg_x4'])], cwd=root, stdout=subprocess.PIPE, stderr=err, text=True,
                             timeout=300)
    text = log.read_text()
    assert res.returncode == 0, text[-2000:]
    lines = [ln for ln in text.splitlines() if ln.startswith('pan.mp4: ')]
    assert lines[0].startswith('pan.mp4: frame 1/30 (3 %), started'), lines
    found = [FRAME_LINE.match(ln) for ln in lines[1:-1]]
    assert all(found) and len(found) >= 4, lines
    assert [int(m.group(3)) for m in found] == [30] * len(found) and int(found[-1].group(2)) >= 27
    assert re.match(r'pan\.mp4: 30 frames in \d+ s', lines[-1]), lines
    assert 'model (whole image, one tile)' not in text and '\r' not in text, text[-2000:]
    assert cv2.VideoCapture(str(tmp_path / 'out.mp4')).get(cv2.CAP_PROP_FRAME_WIDTH) == 256


def test_a_log_counter_dropped_unclosed_does_not_silence_later_progress():
    """A video run that stops before it closes its counter (an error while it is set up) must not leave per-image
    progress off for the rest of a long-lived process (the web UI): the counter goes with its last reference."""
    import gc

    from realesrgan_paddle.utils.progress import bars_active, counter
    gc.collect()
    assert not bars_active()
    bar = counter(10, 'clip.mp4', stream=io.StringIO())
    bar.update(1)
    assert bars_active()
    del bar
    gc.collect()
    assert not bars_active()
    closed = counter(10, 'clip.mp4', stream=io.StringIO())
    closed.close()
    assert not bars_active()


def test_evaluate_to_a_log_file_shows_the_export_and_image_progress(tiny_models, photo, tmp_path):
    """tools/evaluate.py with stderr to a file: it said nothing for the minutes a big model's export and a
    hundred pairs take. Now the one-time export says so, and the images are counted with the ETA."""
    import cv2
    gt, lq = tmp_path / 'gt', tmp_path / 'lq'
    gt.mkdir()
    lq.mkdir()
    for i in range(12):
        hr = photo[2 * i:2 * i + 64, 3 * i:3 * i + 64]
        cv2.imwrite(str(gt / f'{i:02d}.png'), hr)
        cv2.imwrite(str(lq / f'{i:02d}.png'), cv2.resize(hr, (16, 16), interpolation=cv2.INTER_AREA))
    log = tmp_path / 'stderr.log'
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, REALESRGAN_PADDLE_HOME=str(tmp_path / 'cache'))  # a fresh cache: the export runs
    with open(log, 'w') as err:
        res = subprocess.run([sys.executable, 'tools/evaluate.py', '--gt', str(gt), '--lq', str(lq), '--crop-border',
                              '0', '--no-iqa', '--models', 'bicubic=bicubic', f'tiny={tiny_models["srvgg_x4"]}'],
                             cwd=root, env=env, stdout=subprocess.PIPE, stderr=err, text=True, timeout=300)
    text = log.read_text()
    assert res.returncode == 0, text[-2000:]
    assert re.search(r'^INFO: exporting .* \(once per weights file\)', text, re.M), text[-2000:]
    lines = [ln for ln in text.splitlines() if ln.startswith('evaluate: ')]
    assert lines[0] == 'evaluate: img 1/12 (8 %), started', lines
    found = [re.match(r'evaluate: img (\d+)/12 \(\d+ %\), [\d.]+ img/s(, ETA \d+ s)?$', ln) for ln in lines[1:-1]]
    assert all(found) and len(found) >= 4, lines
    assert re.match(r'evaluate: 12 imgs in \d+ s', lines[-1]), lines
    assert '\r' not in text, text[-2000:]


def tqdm_bars_that_draw_in_a_log(source):
    """Line numbers of the ``tqdm(...)`` calls of ``source`` that would draw a bar (carriage returns) into a log
    file: every bar outside utils/progress.py must pass ``disable=... or None`` (tqdm's own 'off when the stream
    is not a terminal') or use ``utils.progress.counter``/``counted`` (a bar on a terminal, whole lines in a log)."""
    import ast
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ('tqdm', 'tqdm.tqdm'):
            disable = next((k.value for k in node.keywords if k.arg == 'disable'), None)
            if disable is None or 'None' not in ast.unparse(disable):
                found.append(node.lineno)
    return found


def test_no_bar_draws_into_a_log_file():
    root = Path(__file__).resolve().parents[2]
    rooms = [p for p in sorted(root.rglob('*.py')) if p.relative_to(root).parts[0] not in ('tests', 'benchmarks')
             and not any(s.startswith('.') for s in p.relative_to(root).parts) and p.name != 'progress.py']
    found = [f'{p.relative_to(root)}:{n}' for p in rooms for n in tqdm_bars_that_draw_in_a_log(p.read_text())]
    assert len(rooms) > 200 and not found, found
    assert tqdm_bars_that_draw_in_a_log("for f in tqdm(files, desc='photos', disable=ctx.s.quiet):\n    pass\n"
                                        "bar = tqdm(total=3)\nok = tqdm(x, disable=q or None)\n") == [1, 3]
