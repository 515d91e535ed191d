"""RGT (models/archs/rgt/rgt.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45; the windows pad
inside): its output at >= 90 dB; other forms (x3 and x4, 3conv, no qkv bias, other heads and c_ratio,
square windows); RG-SA's third shrink on a map of 1024 px a side, in the dynamic graph and the static export;
broken files named in one line. Export, tiles, ONNX and training: tests/models/test_arch_user_paths.py
(tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import odd_crop
from tests.ref_compare import (assert_every_wrapper, assert_export_matches, assert_form_matches, paddle_state,
                               spread_output, unit_gain)
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'RGT', 'in_chans': 3, 'upscale': 2, 'embed_dim': 32, 'depth': [2, 2], 'num_heads': [2, 2],
        'mlp_ratio': 2.0, 'qkv_bias': True, 'resi_connection': '1conv', 'split_size': [4, 8], 'c_ratio': 0.5}


def _spandrel_rgt(x, seed=0, **over):
    """spandrel's RGT (trained at 32 px: its shifted blocks carry their masks), seeded weights under which the
    attention matters (linear layers at unit gain, gamma of 0.5), its last conv rescaled so that the output on
    ``x`` spreads 0.1 around 0.5."""
    torch, arch = need_torch(), need_spandrel().architectures.RGT
    torch.manual_seed(seed)
    cfg = {k: v for k, v in {**TINY, **over}.items() if k != 'type'}
    net = arch.RGT(img_size=32, **cfg).eval()
    unit_gain(net, seed, fill={'gamma': 0.5})
    return spread_output(net, net.conv_last, x)


@pytest.mark.slow(seconds=15)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)
    ref = _spandrel_rgt(x[None])
    assert 'layers.1.blocks.0.attn.attn_mask_0' in ref.state_dict()  # users' files carry it; dropped on reading
    assert_every_wrapper(ref, x, tmp_path, TINY)


@pytest.mark.parametrize('over', [
    {'upscale': 3, 'resi_connection': '3conv', 'qkv_bias': False, 'depth': [3], 'num_heads': [2]},
    {'upscale': 4, 'embed_dim': 48, 'num_heads': [4], 'depth': [2], 'c_ratio': 0.25, 'split_size': [4, 4],
     'mlp_ratio': 1.5}], ids=['x3_3conv_nobias', 'x4_c_ratio_square_windows'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_form_matches(_spandrel_rgt(x[None], seed=1, **over), x, tmp_path, {**TINY, **over})


@pytest.mark.slow(seconds=20)
def test_a_third_shrink_at_1024_px(photo, tmp_path, torch, spandrel):
    """A map of 1024 px a side takes RG-SA's third shrink (the reference's rule): the network, whose graph holds
    every shrink count and keeps the one the size picks, follows it; a 1024 x 64 strip of the photo, resized."""
    import cv2
    strip = cv2.resize(photo, (64, 1024), interpolation=cv2.INTER_AREA)[..., ::-1]
    x = np.ascontiguousarray(strip.transpose(2, 0, 1).astype(np.float32) / 255)
    cfg = {'depth': [2], 'num_heads': [2], 'upscale': 1}
    ref = _spandrel_rgt(x[None], seed=2, **cfg)
    assert_form_matches(ref, x, tmp_path, {**TINY, **cfg})


@pytest.mark.slow(seconds=10)
def test_the_export_follows_the_shrink_rule(tmp_path):
    """The static export holds every shrink count and keeps the one the run-time size picks: at 1024x64 (three
    shrinks) and 40x52 (two) the predictor gives the dynamic graph's output."""
    import paddle

    arch = {**TINY, 'upscale': 1, 'depth': [2], 'num_heads': [2]}
    paddle.seed(0)
    net = models.build_network(arch)
    net.eval()
    assert_export_matches(net, arch, tmp_path / 'infer', [(1, 3, 1024, 64), (1, 3, 40, 52)])


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(depth=[1], num_heads=[2]))['num_heads'] == [2]  # no RG-SA block: heads from L-SA
    state = _state()
    state['layers.3.blocks.0.gamma'] = state['layers.0.blocks.0.gamma']
    with pytest.raises(ValueError, match='residual groups are not numbered'):
        detect_arch(state)
    state = _state()
    state['upsample.0.weight'] = state['upsample.0.weight'][:, :40]
    with pytest.raises(ValueError, match='not the pixel-shuffle upsampler'):
        detect_arch(state)
    state = _state()
    state['layers.0.blocks.0.attn.attns.0.rpe_biases'] = np.zeros((5, 2), 'float32')
    with pytest.raises(ValueError, match='RGT rpe_biases of shape'):
        detect_arch(state)


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='num_heads'):
        models.build_network({**TINY, 'num_heads': [3, 3]})  # RG-SA's 16 channels in 3 heads
    with pytest.raises(ValueError, match='embed_dim'):
        models.build_network({**TINY, 'embed_dim': 16, 'num_heads': [2, 2]})
    assert models.min_side(TINY) == 16 and models.net_scale(TINY) == 2
    big = {**TINY, 'embed_dim': 180, 'depth': [6] * 8, 'num_heads': [6] * 8, 'split_size': [8, 32], 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
