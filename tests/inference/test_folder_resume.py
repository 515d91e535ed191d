"""A folder run of tools/infer.py as a user meets it: Ctrl-C (a real SIGINT to the process) finishes the image in
hand and stops with a summary; the same command then skips the finished outputs (untouched) and does the rest,
which equal a clean run's; other options redo them. ``-o name.png`` with a folder of several images is refused."""
import json
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from realesrgan_paddle.inference.done_log import DONE_NAME
from tests.user_path import ROOT
from tests.cli_checks import a_line, one_line

N = 12  # images in the folder: enough for a Ctrl-C in the middle of one with several not started


@pytest.fixture
def folder(tmp_path, photo):
    src = tmp_path / 'in'
    src.mkdir()
    big = cv2.resize(photo, (photo.shape[1] * 3, photo.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
    for i in range(N):  # 288x384 crops of a real photo, each different
        cv2.imwrite(str(src / f'{i:02d}.png'), np.roll(big, 7 * i, axis=1))
    return src


def _infer(src, out, model, *extra, wait=True):
    cmd = [sys.executable, 'tools/infer.py', '-i', str(src), '-o', str(out), '-m', str(model), '-q', *extra]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.glob('*_out.png')}


@pytest.mark.slow(seconds=22)
def test_ctrl_c_saves_the_image_in_hand_and_a_rerun_skips_the_finished(folder, tmp_path, tiny_models):
    model, out = tiny_models['srvgg_x4'], tmp_path / 'out'
    proc = _infer(folder, out, model, '--tile', '48', wait=False)  # small tiles: each image takes a while
    # Ctrl-C in the middle of an image: the time of one image is the gap between the first two outputs, and the
    # signal comes half that gap after the second (right after an output, the next image may not have started)
    deadline, times = time.time() + 300, []
    while time.time() < deadline and proc.poll() is None and len(times) < 2:
        n = len(list(out.glob('*_out.png')))
        times += [time.perf_counter()] * (n - len(times))
        time.sleep(0.02)
    assert proc.poll() is None and len(times) == 2, proc.communicate()[1][-2000:]
    time.sleep(max(0.05, (times[1] - times[0]) / 2))
    seen = len(list(out.glob('*_out.png')))
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err[-2000:]
    assert 'Traceback' not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith('interrupted: '), err[-1500:]  # one closing line, no traceback
    first = _mtimes(out)
    assert seen < len(first) < N  # the image in hand when Ctrl-C came was finished and written
    a_line([last], f'{N - len(first)} of {N} files not started')  # nothing started was lost
    assert {p.name for p in out.iterdir()} == set(first) | {DONE_NAME}  # no temp file left
    assert len((out / DONE_NAME).read_text().splitlines()) == len(first)

    res = _infer(folder, out, model, '--tile', '48')
    assert res.returncode == 0, res.stderr[-2000:]
    a_line(res.stderr.strip().splitlines()[-1:], f'{N - len(first)} done', f'{len(first)} skipped')
    assert all(_mtimes(out)[name] == t for name, t in first.items())  # the finished ones untouched
    clean = tmp_path / 'clean'
    assert _infer(folder, clean, model, '--tile', '48').returncode == 0
    for p in sorted(clean.glob('*_out.png')):
        assert np.array_equal(cv2.imread(str(p)), cv2.imread(str(out / p.name))), p.name

    redo = _infer(folder, out, model, '--tile', '64')  # another option: every output is made again
    assert redo.returncode == 0 and f'{N} done, 0 failed' in redo.stderr, redo.stderr[-1500:]
    assert all(_mtimes(out)[name] != t for name, t in first.items())


def test_a_changed_or_replaced_output_is_redone(folder, tmp_path, tiny_models):
    model, out = tiny_models['srvgg_x4'], tmp_path / 'out'
    for p in sorted(folder.glob('*.png'))[3:]:
        p.unlink()
    assert _infer(folder, out, model).returncode == 0
    cv2.imwrite(str(out / '00_out.png'), np.zeros((8, 8, 3), np.uint8))  # the user replaced one output
    (folder / '01.png').touch()  # and edited one input
    entries = [json.loads(ln) for ln in (out / DONE_NAME).read_text().splitlines()]
    assert [e['out'] for e in entries] == ['00_out.png', '01_out.png', '02_out.png']
    res = _infer(folder, out, model)
    assert res.returncode == 0 and '2 done, 1 skipped' in res.stderr, res.stderr[-1500:]
    assert cv2.imread(str(out / '00_out.png')).shape[:2] == (4 * 288, 4 * 384)


def test_an_image_file_name_for_a_folder_of_images_is_refused(folder, tmp_path, tiny_models):
    res = _infer(folder, tmp_path / 'single.png', tiny_models['srvgg_x4'])
    assert res.returncode == 2 and not (tmp_path / 'single.png').exists()
    one_line(res.stderr, tmp_path / 'single.png', str(N))  # the output named, and how many inputs need a folder
    one = tmp_path / 'one'
    one.mkdir()
    (folder / '05.png').rename(one / '05.png')
    res = _infer(one, tmp_path / 'single.png', tiny_models['srvgg_x4'])  # a folder of one image: that file
    assert res.returncode == 0 and cv2.imread(str(tmp_path / 'single.png')).shape[:2] == (4 * 288, 4 * 384)
