"""The export stage's check of the exported graph against the network (pipeline.stages_model.check_export_matches):
its tolerance follows the output's range, so a network that maps the check's uniform noise far outside [0, 1] (a
SPAN finetune on the demo reached +-38 there, and differed by fp32 rounding alone) is exported, while a graph of
another network is refused in one line."""
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

    from realesrgan_paddle.inference.export import export_static
    from realesrgan_paddle.pipeline.context import DomainError
    from realesrgan_paddle.pipeline.stages_model import check_export_matches
    net, arch = _net(0, gain=3000.0)
    export_static(net, arch, tmp_path / 'big')
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    with paddle.no_grad():
        peak = float(np.abs(net(paddle.to_tensor(x)).numpy()).max())
    assert peak > 100, peak  # far outside [0, 1]: the range sets the tolerance
    assert check_export_matches(net, tmp_path / 'big') <= 1e-3 * peak
    other, _ = _net(1)
    export_static(other, arch, tmp_path / 'other')
    with pytest.raises(DomainError, match=r'^the exported graph does not match the network \(max abs diff'):
        check_export_matches(net, tmp_path / 'other')
