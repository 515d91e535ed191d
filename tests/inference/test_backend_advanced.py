"""PredictorBackend's measurement knobs live in one AdvancedOptions object; the defaults are what the tools run."""
import numpy as np
import pytest


@pytest.fixture(scope='module')
def rrdb_export(tiny_models, tmp_path_factory):
    import models
    from inference.export import export_static
    net, arch = models.load_network(tiny_models['rrdb_x2'])
    return export_static(net, arch, tmp_path_factory.mktemp('adv') / 'infer')


def test_advanced_options_reach_the_predictor(rrdb_export):
    from inference.backends import AdvancedOptions, PredictorBackend
    d = rrdb_export
    x = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    ref = PredictorBackend(d, engine='onednn', advanced=AdvancedOptions(opt_cache=False))
    assert not (d / '_onednn_opt').exists()  # opt_cache off: nothing kept beside the export
    default = PredictorBackend(d, engine='onednn')
    assert (d / '_onednn_opt').is_dir() and default.engine == 'onednn'
    no_ir = PredictorBackend(d, advanced=AdvancedOptions(ir_optim=False))
    assert no_ir.engine == 'onednn'  # OpenVINO needs the IR passes: 'auto' falls back
    y = ref.forward(x)
    np.testing.assert_array_equal(default.forward(x), y)
    np.testing.assert_allclose(no_ir.forward(x), y, atol=1e-5)


def test_default_threads_come_from_math_threads(rrdb_export, monkeypatch):
    """The predictor's default thread count is runtime_env.math_threads(), not a raw OMP_NUM_THREADS read:
    paddle writes '1' there at import (tests/utils/test_utils_core.py has the rule itself)."""
    from inference.backends import PredictorBackend
    from utils import runtime_env
    monkeypatch.setattr(runtime_env, 'math_threads', lambda: 3)
    assert PredictorBackend(rrdb_export, engine='onednn').threads == 3
    assert PredictorBackend(rrdb_export, engine='onednn', threads=1).threads == 1


def test_int8_is_an_advanced_option_only(rrdb_export):
    from inference.backends import AdvancedOptions, PredictorBackend
    with pytest.raises(ValueError, match='precision must be one of'):
        PredictorBackend(rrdb_export, precision='int8')
    with pytest.raises(ValueError, match='int8 graphs run on the CPU from fp32 inputs, not cpu bf16'):
        PredictorBackend(rrdb_export, precision='bf16', advanced=AdvancedOptions(int8=True))
