"""Fixtures shared by the tools tests."""
import pytest


@pytest.fixture(scope='module')
def tiny_base(tmp_path_factory):
    """A tiny SRVGGNetCompact x4 weights file (the pipeline reads its architecture from it)."""
    import paddle

    import models
    from utils.checkpoint import save_checkpoint
    arch = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2,
            'upscale': 4, 'act_type': 'prelu'}
    paddle.seed(0)
    net = models.build_network(arch)
    path = tmp_path_factory.mktemp('base') / 'tiny_base.pdparams'
    save_checkpoint(path, params={k: v.numpy() for k, v in net.state_dict().items()}, arch=arch)
    return path
