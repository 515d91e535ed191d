"""Every network on every device: forward shape, finite output, and gradients reaching the first layer."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from tests.nets import rrdb, srvgg

TINY = {
    'RRDBNet': rrdb(),
    'RRDBNet_x2': rrdb(scale=2),
    'SRVGGNetCompact': srvgg(),
    'UNetDiscriminatorSN': {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8},
}


@pytest.mark.parametrize('name', list(TINY))
def test_forward_and_backward_on_the_device(device, name, photo_batch):
    arch = TINY[name]
    paddle.seed(0)
    net = models.build_network(arch)
    x = photo_batch(2, 32)
    assert device in str(x.place).lower()
    y = net(x)
    s = 1 if name == 'UNetDiscriminatorSN' else models.net_scale(arch)
    assert y.shape == [2, 1 if s == 1 else 3, 32 * s, 32 * s]
    assert np.isfinite(y.numpy()).all() and float(y.std()) > 0
    y.mean().backward()
    first = next(p for p in net.parameters() if not p.stop_gradient)
    assert first.grad is not None and float(first.grad.abs().sum()) > 0
