"""PredictorBackend's ``configure`` hook: a caller (the speed benchmark) sets its own predictor options; the
defaults are what the tools run, and the product has no measurement-only knobs of its own."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def rrdb_export(tiny_models, tmp_path_factory):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    net, arch = models.load_network(tiny_models['rrdb_x2'])
    return export_static(net, arch, tmp_path_factory.mktemp('adv') / 'infer')


def test_configure_reaches_the_predictor(rrdb_export):
    from realesrgan_paddle.inference.backends import PredictorBackend
    d = rrdb_export
    x = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    seen = []
    ref = PredictorBackend(d, engine='onednn', configure=seen.append)
    assert len(seen) == 1 and hasattr(seen[0], 'switch_ir_optim')
    from realesrgan_paddle import store
    from realesrgan_paddle.inference.export.paddle_export import open_export
    export = open_export(d)
    kept = store.entry_dir('onednn', export.key, export.store_root)
    assert not kept.exists()  # a configured graph is not kept as the export's optimised graph
    default = PredictorBackend(d, engine='onednn')
    assert (kept / store.RECORD).is_file() and default.engine == 'onednn'
    no_ir = PredictorBackend(d, configure=lambda cfg: cfg.switch_ir_optim(False))
    assert no_ir.engine == 'onednn'  # 'auto' does not hand a configured predictor to OpenVINO
    with pytest.raises(ValueError, match='OpenVINO engine runs fp32 or bf16 without a configure function'):
        PredictorBackend(d, engine='openvino', configure=seen.append)
    y = ref.forward(x)
    np.testing.assert_array_equal(default.forward(x), y)
    np.testing.assert_allclose(no_ir.forward(x), y, atol=1e-5)


def test_default_threads_come_from_math_threads(rrdb_export, monkeypatch):
    """The predictor's default thread count is runtime_env.math_threads(), not a raw OMP_NUM_THREADS read:
    paddle writes '1' there at import (tests/utils/test_utils_core.py has the rule itself)."""
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.utils import runtime_env
    monkeypatch.setattr(runtime_env, 'math_threads', lambda: 3)
    assert PredictorBackend(rrdb_export, engine='onednn').threads == 3
    assert PredictorBackend(rrdb_export, engine='onednn', threads=1).threads == 1


def test_int8_is_the_benchmarks_own(rrdb_export):
    """The product refuses int8; the benchmark reaches oneDNN's int8 kernels through ``configure``."""
    import realesrgan_paddle.inference.backends as backends
    from realesrgan_paddle.inference.backends import PredictorBackend
    with pytest.raises(ValueError, match='precision must be one of'):
        PredictorBackend(rrdb_export, precision='int8')
    assert not hasattr(backends, 'AdvancedOptions')
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    try:
        import infer_speed
    finally:
        sys.path.remove(str(ROOT / 'benchmarks'))
    calls = []

    class Cfg:
        def __getattr__(self, name):
            return lambda *a: calls.append(name)
    infer_speed._int8_kernels(Cfg())
    infer_speed._no_ir_optim(Cfg())
    assert calls == ['enable_mkldnn_int8', 'switch_ir_optim']
    b = PredictorBackend(rrdb_export, engine='onednn', configure=infer_speed._no_ir_optim)
    assert b.engine == 'onednn' and b.precision == 'fp32'
