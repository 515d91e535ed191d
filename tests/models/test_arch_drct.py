"""DRCT (models/archs/drct/drct.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45, reflect-padded
to 48x48 inside, as spandrel's size rule pads it): its output at >= 90 dB; other forms (x1, x3 and x4, no conv
after the body, no qkv bias, no patch norm, heads that differ per dense block, window 16, a network trained at its
window's size, unshifted, told by its index buffers and no mask); a 7x5 crop, reflected
then repeated to 16x16; broken files named in one line. Export,
tiles, ONNX and training: tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import LEAST_DB, odd_crop
from tests.ref_compare import (assert_every_wrapper, assert_form_matches, network_vs_ref, paddle_state, spread_output,
                               unit_gain)
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'DRCT', 'in_chans': 3, 'upscale': 2, 'embed_dim': 12, 'num_heads': [2, 2], 'window_size': 8,
        'mlp_ratio': 2.0, 'qkv_bias': True, 'patch_norm': True, 'resi_connection': '1conv', 'gc': 4, 'num_feat': 64,
        'shift': True}
SPANDREL_NAMES = {'in_chans', 'upscale', 'embed_dim', 'num_heads', 'window_size', 'mlp_ratio', 'qkv_bias',
                  'patch_norm', 'resi_connection', 'gc'}


def _spandrel_drct(x, seed=0, **over):
    """spandrel's DRCT (trained at 32 px, so its shifted blocks carry their masks; ``shift`` False: at the window's
    size, which leaves every block unshifted and no mask in the file), seeded weights under which the
    attention matters (linear layers at unit gain, wide bias tables), its input reflect-padded to a multiple of 16
    and its output cropped back (spandrel's size rule, by hooks: the state dict keeps its names), its last conv
    rescaled so that the output on ``x`` spreads 0.1 around 0.5."""
    torch, arch = need_torch(), need_spandrel().architectures.DRCT
    torch.manual_seed(seed)
    cfg = {**TINY, **over}
    net = arch.DRCT(img_size=32 if cfg['shift'] else cfg['window_size'], upsampler='pixelshuffle',
                    depths=[6] * len(cfg['num_heads']),
                    **{k: v for k, v in cfg.items() if k in SPANDREL_NAMES}).eval()
    unit_gain(net, seed)
    size = []

    def pad(module, args):  # reflection as far as the image allows, then the edge repeated
        h, w = args[0].shape[2:]
        size[:] = [h, w]
        rh, rw = min(-h % 16, h - 1), min(-w % 16, w - 1)
        x = torch.nn.functional.pad(args[0], (0, rw, 0, rh), mode='reflect')
        return (torch.nn.functional.pad(x, (0, -w % 16 - rw, 0, -h % 16 - rh), mode='replicate'),)
    net.register_forward_pre_hook(pad)
    net.register_forward_hook(lambda m, i, o: o[:, :, :size[0] * net.upscale, :size[1] * net.upscale])
    return spread_output(net, net.conv_last, x)


@pytest.mark.slow(seconds=15)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)  # a real photo crop, 37x45: padded to 48x48 inside
    ref = _spandrel_drct(x[None])
    assert 'layers.0.swin2.attn_mask' in ref.state_dict()  # the buffers users' files carry, dropped on reading
    assert_every_wrapper(ref, x, tmp_path, TINY)


@pytest.mark.parametrize('over', [
    {'upscale': 3, 'resi_connection': 'identity', 'qkv_bias': False},
    {'upscale': 4, 'embed_dim': 24, 'num_heads': [6], 'gc': 4, 'window_size': 16, 'mlp_ratio': 1.5},
    {'patch_norm': False, 'upscale': 1}, {'shift': False}],
    ids=['x3_identity_nobias', 'x4_heads_per_block_w16', 'x1_no_patch_norm', 'unshifted'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_form_matches(_spandrel_drct(x[None], seed=1, **over), x, tmp_path, {**TINY, **over})


def test_a_crop_smaller_than_the_pad(photo, tmp_path, torch, spandrel):
    """The network on a 7x5 crop pads it to 16x16 as spandrel does: reflected by 6 and 4, then the edge repeated.
    (Through ``Upscaler`` an image smaller than the pad is edge-padded first, as for SwinIR and HAT.)"""
    x = odd_crop(photo, 7, 5)
    got, want, db = network_vs_ref(_spandrel_drct(x[None], seed=3), x, tmp_path)
    assert got.shape == want.shape == (3, 14, 10)
    print('7x5', round(db, 1))
    assert db >= LEAST_DB


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    state = _state()
    del state['conv_last.weight']
    with pytest.raises(ValueError, match='without the pixel-shuffle reconstruction'):
        detect_arch(state)
    state = _state()
    state['layers.3.swin1.norm1.bias'] = state['layers.0.swin1.norm1.bias']
    with pytest.raises(ValueError, match='layers.3 comes after the last dense group'):
        detect_arch(state)
    state = _state()
    state['upsample.0.weight'] = state['upsample.0.weight'][:40]
    with pytest.raises(ValueError, match='upsample convs'):
        detect_arch(state)
    with pytest.raises(ValueError, match=r'swin1.attn.relative_position_bias_table has 50 rows'):
        detect_arch({**_state(), 'layers.0.swin1.attn.relative_position_bias_table': np.zeros((50, 2), 'float32')})


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='num_heads'):
        models.build_network({**TINY, 'num_heads': [5]})  # 12 channels in 5 heads
    with pytest.raises(ValueError, match='gc'):
        models.build_network({**TINY, 'gc': 10 ** 6})
    assert models.pad_multiple(TINY) == 16 and models.pad_multiple({**TINY, 'window_size': 12}) == 48
    assert models.net_scale(TINY) == 2
    big = {**TINY, 'embed_dim': 180, 'num_heads': [6] * 6, 'window_size': 16, 'gc': 32, 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
