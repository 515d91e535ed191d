"""The web app outlives a model that cannot fit (issue 73): a window-128 SwinIR, an ONNX graph making x1000 and
one whose activations grow with the square of the pixels are refused in one line each, in bounded memory, and the
same session then upscales with a working model; a models folder 1200 levels deep is listed to 32 levels with
one warning line (a RecursionError stopped the app at start)."""
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.models.hostile_archs import TINY, save, tiny_state, with_window

ROOT = Path(__file__).resolve().parents[2]


def _deep(folder, levels):
    """``folder``/d/d/... ``levels`` deep, made through directory descriptors (os.makedirs recurses)."""
    fd = os.open(folder, os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir('d', dir_fd=fd)
            inner = os.open('d', os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def _remove_deep(folder, levels):
    """Remove what ``_deep`` made, bottom up (shutil.rmtree, and so pytest's clean-up, recurse)."""
    fds = [os.open(folder, os.O_DIRECTORY)]
    for _ in range(levels - 1):
        fds.append(os.open('d', os.O_DIRECTORY, dir_fd=fds[-1]))
    for fd in reversed(fds):
        os.rmdir('d', dir_fd=fd)
        os.close(fd)


def test_a_models_folder_1200_levels_deep_is_listed_with_one_warning(tiny_models, tmp_path, caplog):
    from realesrgan_paddle.webui.handlers import MAX_DEPTH, find_models, list_reports
    mdir = tmp_path / 'models'
    (mdir / 'a' / 'b').mkdir(parents=True)
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'a' / 'b' / 'mine.pdparams')
    _deep(mdir, 1200)
    try:
        with caplog.at_level(logging.WARNING):
            found = find_models(mdir)
            assert list_reports(mdir) == []
    finally:
        _remove_deep(mdir, 1200)
    assert 'a/b/mine.pdparams' in found
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f'{mdir}: folders more than {MAX_DEPTH} levels deep are not searched'] * 2, lines


def test_the_walk_keeps_what_rglob_found_and_follows_no_folder_link(tiny_models, tmp_path):
    from realesrgan_paddle.webui.handlers import find_models
    mdir, outside = tmp_path / 'models', tmp_path / 'outside'
    (mdir / 'x' / 'y').mkdir(parents=True)
    outside.mkdir()
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'x' / 'y' / 'deep.pdparams')
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'top.pdparams')
    shutil.copy(tiny_models['srvgg_x4'], outside / 'elsewhere.pdparams')
    (mdir / 'link').symlink_to(outside, target_is_directory=True)
    found = [k for k in find_models(mdir) if k.endswith('.pdparams')]
    assert found == ['top.pdparams', 'x/y/deep.pdparams'], found


_SESSION = '''import sys
import numpy as np
from realesrgan_paddle.media.image_io import imwrite
from realesrgan_paddle.webui.handlers import Session
out, models = sys.argv[1], sys.argv[2]
imwrite(out + '/small.png', np.full((24, 32, 3), 128, np.uint8))
imwrite(out + '/big.png', np.full((600, 800, 3), 128, np.uint8))
s = Session(out + '/outs', models)
for label, image in [('swin_window128.pdparams', 'small.png'), ('x1000.onnx', 'small.png'),
                     ('gram.onnx', 'big.png'), ('good.pdparams', 'small.png')]:
    outs, _, msg = s.upscale([out + '/' + image], label)
    print(label, len(outs), msg.replace(chr(10), ' | '))
'''


def test_the_app_outlives_models_that_cannot_fit(tmp_path, tiny_models):
    pytest.importorskip('onnx', reason='needs onnx: pip install -r requirements-onnx.txt')
    pytest.importorskip('onnxruntime', reason='needs onnxruntime: pip install -r requirements-onnx.txt')
    from tests.inference.hostile_onnx import gram_graph, resize_graph, save_with_sidecar
    mdir = tmp_path / 'models'
    mdir.mkdir()
    save(mdir / 'swin_window128.pdparams', with_window(tiny_state(TINY['SwinIR']), TINY['SwinIR'], 128))
    save_with_sidecar(resize_graph(1000), mdir / 'x1000.onnx')
    save_with_sidecar(gram_graph(), mdir / 'gram.onnx')
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'good.pdparams')
    peak = tmp_path / 'peak.json'
    res = subprocess.run([sys.executable, 'benchmarks/peak_rss.py', str(peak), '--', sys.executable, '-c', _SESSION,
                          str(tmp_path), str(mdir)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    lines = dict(line.split(' ', 1) for line in res.stdout.strip().splitlines())
    assert lines['swin_window128.pdparams'] == ('0 error: cannot load the model swin_window128.pdparams: '
                                                'swin_window128.pdparams: SwinIR window_size: must be between 1 and '
                                                '32, got 128'), lines
    assert lines['x1000.onnx'].startswith('0 error: cannot load the model x1000.onnx: ') \
        and 'not x4, as its sidecar says' in lines['x1000.onnx'], lines
    assert lines['gram.onnx'].startswith('0 0 of 1 file(s)') and 'the graph asks for more memory' in lines['gram.onnx']
    assert lines['good.pdparams'].startswith('1 1 of 1 file(s) upscaled with good.pdparams'), lines
    assert json.loads(peak.read_text())['peak_rss'] < 1 << 30
    assert np.asarray(list((tmp_path / 'outs').glob('small_out_*.png'))).size == 1
