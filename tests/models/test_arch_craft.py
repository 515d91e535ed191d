"""CRAFT (models/archs/craft/): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45: padded to 48x48
as spandrel's size rule pads it, then by a mirrored window as the original does): its output at >= 90 dB; other
forms (x1, x3 and x4, no conv after the body, no qkv bias, other rectangles, heads and MLP ratio); a 7x5 crop,
reflected then repeated to 16x16; broken files named in one line. Export, tiles, ONNX and training:
tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import LEAST_DB, odd_crop
from tests.ref_compare import (assert_every_wrapper, assert_form_matches, network_vs_ref, paddle_state, spread_output,
                               unit_gain)
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'CRAFT', 'in_chans': 3, 'window_size': 16, 'embed_dim': 32, 'depths': [1, 2], 'num_heads': [2, 4],
        'split_size_0': 4, 'split_size_1': 8, 'mlp_ratio': 2.0, 'qkv_bias': True, 'upscale': 2,
        'resi_connection': '1conv'}


def _spandrel_craft(x, seed=0, **over):
    """spandrel's CRAFT, seeded weights under which the attention matters (linear layers at unit gain, the fusion
    temperatures 3), its input padded to a multiple of 16 and its output cropped back (spandrel's size rule, by
    hooks: the state dict keeps its names), its last conv rescaled so that the output on ``x`` spreads 0.1 around
    0.5."""
    torch, arch = need_torch(), need_spandrel().architectures.CRAFT
    torch.manual_seed(seed)
    net = arch.CRAFT(**{k: v for k, v in {**TINY, **over}.items() if k != 'type'}).eval()
    unit_gain(net, seed, fill={'temperature': 3.0})
    size = []

    def pad(module, args):  # spandrel's pad_tensor: reflection as far as the image allows, then the edge repeated
        h, w = args[0].shape[2:]
        size[:] = [h, w]
        rh, rw = min(-h % 16, h - 1), min(-w % 16, w - 1)
        y = torch.nn.functional.pad(args[0], (0, rw, 0, rh), mode='reflect')
        return (torch.nn.functional.pad(y, (0, -w % 16 - rw, 0, -h % 16 - rh), mode='replicate'),)
    net.register_forward_pre_hook(pad)
    net.register_forward_hook(lambda m, i, o: o[:, :, :size[0] * net.upscale, :size[1] * net.upscale])
    return spread_output(net, net.upsample[0], x)


@pytest.mark.slow(seconds=15)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)
    assert_every_wrapper(_spandrel_craft(x[None]), x, tmp_path, TINY)


@pytest.mark.parametrize('over', [
    {'upscale': 3, 'resi_connection': 'identity', 'qkv_bias': False},
    {'upscale': 4, 'embed_dim': 48, 'num_heads': [6, 2], 'split_size_0': 2, 'split_size_1': 16, 'mlp_ratio': 1.5},
    {'upscale': 1, 'depths': [2], 'num_heads': [2], 'split_size_0': 8}],
    ids=['x3_identity_nobias', 'x4_split_2x16_heads', 'x1_square'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_form_matches(_spandrel_craft(x[None], seed=1, **over), x, tmp_path, {**TINY, **over})


def test_a_crop_smaller_than_the_pad(photo, tmp_path, torch, spandrel):
    """The network on a 7x5 crop pads it to 16x16 as spandrel does (reflected by 6 and 4, then the edge repeated),
    then mirrors a whole window below and right of it, as the original does."""
    x = odd_crop(photo, 7, 5)
    got, want, db = network_vs_ref(_spandrel_craft(x[None], seed=3), x, tmp_path)
    assert got.shape == want.shape == (3, 14, 10)
    print('7x5', round(db, 1))
    assert db >= LEAST_DB


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    state = _state()
    del state['biases_v']
    with pytest.raises(ValueError, match='no biases_v'):
        detect_arch(state)
    state = _state()
    state['biases_v'] = state['biases_v'] * 2
    with pytest.raises(ValueError, match='biases_v is not the offset table of 8 x 4 rectangles'):
        detect_arch(state)
    state = _state()
    state['upsample.0.weight'] = state['upsample.0.weight'][:10]
    with pytest.raises(ValueError, match='upsample.0 conv has 10 outputs'):
        detect_arch(state)
    with pytest.raises(ValueError, match='biases_h of shape'):
        detect_arch({**_state(), 'biases_h': np.zeros((5,), 'float32')})


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='num_heads'):
        models.build_network({**TINY, 'num_heads': [3, 4]})
    with pytest.raises(ValueError, match='window_size'):
        models.build_network({**TINY, 'split_size_1': 32})
    with pytest.raises(ValueError, match='embed_dim'):
        models.build_network({**TINY, 'embed_dim': 10 ** 6})
    assert models.pad_multiple(TINY) == 16 and models.net_scale(TINY) == 2
    big = {**TINY, 'embed_dim': 64, 'depths': [2] * 4, 'num_heads': [6] * 4, 'split_size_1': 16, 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
