"""Fixtures shared by the trainer tests."""
import pytest


@pytest.fixture
def base_weights(tmp_path):
    """A tiny SRVGGNetCompact with random weights, saved like a finetune's base; ``(path, network)``."""
    import paddle

    from realesrgan_paddle import models
    from tests.nets import srvgg
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    arch = srvgg()
    paddle.seed(3)
    net = models.build_network(arch)
    path = tmp_path / 'base.pdparams'
    save_checkpoint(path, params=net.state_dict(), arch=arch)
    return path, net
