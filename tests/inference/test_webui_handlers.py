"""webui.handlers: the functions the web page calls (no gradio needed), on real photos and tiny models."""
import shutil

import cv2
import numpy as np
import pytest


@pytest.fixture()
def session(tiny_models, tmp_path):
    from webui.handlers import Session
    mdir = tmp_path / 'models'
    (mdir / 'mine').mkdir(parents=True)
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'mine' / 'srvgg.pdparams')
    shutil.copy(tiny_models['rrdb_x2'], mdir / 'rrdb2.pdparams')
    return Session(tmp_path / 'out', mdir)


def test_models_list_zoo_and_user_finetunes(session):
    from models import zoo
    assert list(session.models)[:len(zoo.list_models())] == zoo.list_models()
    assert 'mine/srvgg.pdparams' in session.models and 'rrdb2.pdparams' in session.models


def test_upscale_several_images_keeps_alpha_and_inputs(session, photo, tmp_path):
    a, b = tmp_path / 'a.png', tmp_path / 'b.jpg'
    bgra = np.dstack([photo[:40, :48], np.full((40, 48), 128, np.uint8)])
    cv2.imwrite(str(a), bgra)
    cv2.imwrite(str(b), photo[:32, :40])
    before = a.read_bytes()
    outs, pair, msg = session.upscale([a, b], 'mine/srvgg.pdparams')
    assert msg.startswith('2 of 2'), msg
    o = [cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in outs]
    assert o[0].shape == (160, 192, 4) and abs(o[0][..., 3].mean() - 128) < 8  # alpha runs through the tiny model
    assert o[1].shape == (128, 160, 3)
    assert pair == (str(a), outs[0]) and a.read_bytes() == before
    assert all(str(session.out_dir) in p for p in outs)
    outs2, _, _ = session.upscale([b], 'rrdb2.pdparams', outscale=3)
    assert cv2.imread(outs2[0]).shape == (96, 120, 3)


def test_bad_inputs_are_one_line_messages(session, tmp_path, monkeypatch):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'\x89PNG not really')
    outs, pair, msg = session.upscale([bad], 'mine/srvgg.pdparams')
    assert outs == [] and pair is None and 'error: bad.png' in msg and 'Traceback' not in msg
    assert session.upscale([], 'mine/srvgg.pdparams')[2] == 'error: no file uploaded'
    assert 'unknown model' in session.upscale([bad], 'nope')[2]
    big = tmp_path / 'big.png'
    cv2.imwrite(str(big), np.zeros((64, 64, 3), np.uint8))
    monkeypatch.setenv('RESR_MAX_PIXELS', '100')
    msg = session.upscale([big], 'mine/srvgg.pdparams')[2]
    assert 'error: big.png' in msg and len(msg.splitlines()) == 2


def test_loaded_models_are_bounded(session, tmp_path, photo):
    p = tmp_path / 'p.png'
    cv2.imwrite(str(p), photo[:16, :16])
    for label in ('mine/srvgg.pdparams', 'rrdb2.pdparams', 'mine/srvgg.pdparams'):
        session.upscale([p], label)
    session.upscale([p], 'rrdb2.pdparams', tile=32)
    assert len(session._loaded) == session.max_loaded


def test_compare_gives_metrics_per_model(session, photo, tmp_path):
    p = tmp_path / 'c.png'
    cv2.imwrite(str(p), photo[:48, :48])
    gallery, rows, msg = session.compare(p, ['mine/srvgg.pdparams', 'rrdb2.pdparams'])
    assert msg == '2 of 2 model(s) ran' and [g[1] for g in gallery] == ['mine/srvgg.pdparams', 'rrdb2.pdparams']
    assert all(np.isfinite(r[1]) and r[2] > 0 for r in rows)


def test_reports_listed(tmp_path):
    from webui.handlers import list_reports
    (tmp_path / 'run1').mkdir()
    (tmp_path / 'run1' / 'report.html').write_text('<html></html>')
    assert list_reports(tmp_path) == [str(tmp_path / 'run1' / 'report.html')]
    assert list_reports(tmp_path / 'none') == []


def test_compare_says_why_a_model_did_not_run(session, photo, tmp_path):
    p = tmp_path / 'c.png'
    cv2.imwrite(str(p), photo[:48, :48])
    _, rows, msg = session.compare(p, ['mine/srvgg.pdparams', 'missing.pdparams'])
    assert msg.startswith('1 of 2 model(s) ran; missing.pdparams: '), msg
    assert rows[1] == ['missing.pdparams', None, None]


def test_gradio_temp_folder_is_inside_the_output_folder(tmp_path, monkeypatch):
    """tools/webui.py keeps gradio's uploads under OUTPUT/.gradio, unless the user set GRADIO_TEMP_DIR."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        'webui_tool', Path(__file__).resolve().parents[2] / 'tools' / 'webui.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.delenv('GRADIO_TEMP_DIR', raising=False)
    assert tool.keep_uploads_in(tmp_path / 'out') == str((tmp_path / 'out' / '.gradio').resolve())
    monkeypatch.setenv('GRADIO_TEMP_DIR', str(tmp_path / 'mine'))
    assert tool.keep_uploads_in(tmp_path / 'out') == str(tmp_path / 'mine')
