"""build_network / load_network: the registry's errors name the key, shapes are checked."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from tests.nets import rrdb

TINY = rrdb(scale=2)


def test_build_and_scale():
    net = models.build_network(TINY)
    assert models.net_scale(TINY) == 2
    assert net(paddle.rand([1, 3, 8, 6])).shape == [1, 3, 16, 12]
    assert models.net_scale({'type': 'SRVGGNetCompact', 'upscale': 3}) == 3


@pytest.mark.parametrize('arch, match', [
    ({'num_feat': 8}, 'type'),
    ({'type': 'NoSuchNet'}, 'unknown network'),
    ({**TINY, 'num_blocks': 2}, r"unknown key\(s\) \['num_blocks'\]"),
    ({**TINY, 'scale': 6}, 'scale 1, 2, 3, 4 or 8'),
    ({'type': 'SRVGGNetCompact', 'act_type': 'gelu'}, 'act_type'),
    ({'type': 'VGG19FeatureExtractor', 'layer_name_list': ['conv9_9']}, 'unknown VGG19 layer'),
])
def test_bad_arch_is_named(arch, match):
    with pytest.raises(ValueError, match=match):
        models.build_network(arch, where='network_g')


def test_load_network_round_trip_and_shape_error(tmp_path):
    paddle.seed(0)
    net = models.build_network(TINY)
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    path = tmp_path / 'tiny.pdparams'
    save_checkpoint(path, params=state, arch=TINY)
    loaded, arch = models.load_network(path)
    assert arch == TINY
    x = paddle.rand([1, 3, 8, 8])
    net.eval()
    np.testing.assert_array_equal(net(x).numpy(), loaded(x).numpy())
    # the same weights without their arch are detected from the shapes
    bare = tmp_path / 'bare.pdparams'
    paddle.save(net.state_dict(), str(bare))
    _, detected = models.load_network(bare)
    assert {k: detected[k] for k in TINY} == TINY
    # a wrong override fails naming the override and what the weights show
    with pytest.raises(ValueError, match=r'--scale 4 does not match the weights \(scale=2 found\)'):
        models.load_network(path, arch={'scale': 4})


def test_a_block_count_that_contradicts_the_file_is_named(tmp_path):
    """``--block 6`` on a 3-block file used to list unexpected keys; it names the block count now."""
    arch = dict(TINY, num_block=3, num_in_ch=3, num_out_ch=3)
    net = models.build_network(arch)
    path = tmp_path / 'b3.pdparams'
    save_checkpoint(path, params={k: v.numpy() for k, v in net.state_dict().items()})  # no arch: detected
    with pytest.raises(ValueError, match=r'--num_block 1 does not match the weights \(num_block=3 found\)'):
        models.load_network(path, arch={'num_block': 1})
    assert models.load_network(path, arch={'num_block': 3})[1]['num_block'] == 3
