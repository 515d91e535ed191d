"""GRL (models/archs/grl/): spandrel's network in every wrapper and dtype users' files come in, the official files'
way (with the position tables and the training crop's masks beside the weights), read by detection from the weights
alone, through ``Upscaler`` on a real photo crop at an odd size (37x45: padded to 48x48 by reflection, as GRL pads
to its window and stripe sides): its output at >= 90 dB; other forms (each reconstruction, every anchor projection,
q/k/v by separable convs, the local branch, every closing conv, several stages); a file without tables (spandrel's
own state dicts: the released geometry); a 7x5 crop (padded by zeros, where reflection cannot reach); broken files
named in one line. Export, tiles, ONNX and training: tests/models/test_arch_user_paths.py
(tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import LEAST_DB, odd_crop
from tests.ref_compare import (assert_every_wrapper, assert_export_matches, assert_form_matches, network_vs_ref,
                               paddle_state, spread_output, unit_gain)
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'GRL', 'in_channels': 3, 'out_channels': 3, 'embed_dim': 32, 'upscale': 2,
        'upsampler': 'pixelshuffle', 'depths': [4], 'num_heads_window': [2], 'num_heads_stripe': [2],
        'window_size': 8, 'stripe_size': [8, 16], 'mlp_ratio': 2.0, 'qkv_bias': True, 'qkv_proj_type': 'linear',
        'anchor_proj_type': 'avgpool', 'anchor_one_stage': True, 'anchor_window_down_factor': 2,
        'local_connection': False, 'conv_type': '1conv'}
BUFFERS = ('table_w', 'table_sh', 'table_sv', 'index_w', 'index_sh_a2w', 'index_sh_w2a', 'index_sv_a2w',
           'index_sv_w2a', 'mask_w', 'mask_sh_a2w', 'mask_sh_w2a', 'mask_sv_a2w', 'mask_sv_w2a')


def _with_tables(net):
    """``net``'s state dict holds its position tables, indexes and masks, as the official files do; loading one
    drops them again, as spandrel's loader does (the network computes its own)."""
    def save(module, state, prefix, local):
        for name in BUFFERS:
            state[prefix + name] = getattr(module, name).detach().clone()

    def load(state, prefix, *args):
        for name in BUFFERS:
            state.pop(prefix + name, None)
    net._register_state_dict_hook(save)
    net._register_load_state_dict_pre_hook(load)
    return net


def _last_conv(net):
    return net.upsample.up[0] if net.upsampler == 'pixelshuffledirect' else net.conv_last


def _spandrel_grl(x, seed=0, tables=True, **over):
    """spandrel's GRL (stripes shifted, as its loader builds it), seeded weights under which the attention matters
    (linear layers at unit gain), its last conv rescaled so that the output on ``x`` spreads 0.1 around 0.5."""
    torch, arch = need_torch(), need_spandrel().architectures.GRL
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in {**TINY, **over}.items() if k != 'type'}
    net = arch.GRL(**kwargs, stripe_shift=True).eval()
    unit_gain(net, seed)
    net = spread_output(net, _last_conv(net), x)
    return _with_tables(net) if tables else net


@pytest.mark.slow(seconds=15)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)
    assert_every_wrapper(_spandrel_grl(x[None]), x, tmp_path, TINY)


FORMS = {
    'x3_separable_qkv_conv_anchor_local_3conv': {
        'upscale': 3, 'qkv_proj_type': 'separable_conv', 'qkv_bias': False, 'anchor_proj_type': 'conv2d',
        'anchor_window_down_factor': 4, 'local_connection': True, 'conv_type': '3conv', 'mlp_ratio': 1.5},
    'x4_nearest_two_stages_separable_anchors_1x1': {
        'upscale': 4, 'upsampler': 'nearest+conv', 'depths': [2, 3], 'num_heads_window': [4, 2],
        'num_heads_stripe': [1, 2], 'window_size': 4, 'stripe_size': [16, 8], 'anchor_proj_type': 'separable_conv',
        'anchor_one_stage': False, 'anchor_window_down_factor': 4, 'conv_type': '1conv1x1'},
    'x1_patchmerging_linear': {
        'upscale': 1, 'upsampler': '', 'anchor_proj_type': 'patchmerging', 'anchor_one_stage': False,
        'anchor_window_down_factor': 4,
        'conv_type': 'linear', 'stripe_size': [16, 16]},
}


@pytest.mark.parametrize('name', sorted(FORMS))
def test_forms_at_an_odd_size(name, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    over = FORMS[name]
    assert_form_matches(_spandrel_grl(x[None], seed=1, **over), x, tmp_path, {**TINY, **over})


def test_a_file_without_tables_is_the_released_geometry(photo, tmp_path, torch, spandrel):
    """spandrel keeps the tables out of its state dicts: such an SR file stands for windows 32, stripes 64 x 64
    and anchors 1/4 (spandrel's assumption); the 37x45 crop is padded to 64x64."""
    x = odd_crop(photo)
    over = {'embed_dim': 16, 'depths': [2], 'num_heads_window': [1], 'num_heads_stripe': [1], 'window_size': 32,
            'stripe_size': [64, 64], 'anchor_window_down_factor': 4, 'upsampler': 'pixelshuffledirect'}
    ref = _spandrel_grl(x[None], seed=2, tables=False, **over)
    assert_form_matches(ref, x, tmp_path, {**TINY, **over})


def test_a_crop_smaller_than_the_pad(photo, tmp_path, torch, spandrel):
    """A 7x5 crop: the pad (9 rows, 11 columns to 16x16) is not smaller than the image, so GRL pads by zeros."""
    x = odd_crop(photo, 7, 5)
    got, want, db = network_vs_ref(_spandrel_grl(x[None], seed=3), x, tmp_path)
    assert got.shape == want.shape == (3, 14, 10)
    print('7x5', round(db, 1))
    assert db >= LEAST_DB


@pytest.mark.slow(seconds=10)
def test_the_export_gives_the_networks_output(tmp_path):
    """The static export (Paddle Inference, oneDNN) against the dynamic graph: at 32x40 (reflected to 48x48, the
    stripe masks at work) and 7x5 (padded by zeros), separable q/k/v in (tests/models/tiny_archs.py's width)."""
    import paddle

    arch = {**TINY, 'embed_dim': 8, 'num_heads_window': [1], 'num_heads_stripe': [1], 'qkv_proj_type': 'separable_conv'}
    paddle.seed(0)
    net = models.build_network(arch).eval()
    assert_export_matches(net, arch, tmp_path / 'infer', [(1, 3, 32, 40), (1, 3, 7, 5)])


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch({f'model.{k}': v for k, v in _state().items()}) == TINY
    blind = {**{f'model_g.{k}': v for k, v in _state().items()}, 'model_d.conv0.weight': np.zeros((4, 3, 3, 3))}
    assert detect_arch(blind) == TINY  # the official blind-SR checkpoint: the generator's keys beside others
    state = _state()
    del state['table_sv']
    with pytest.raises(ValueError, match='no table_sv'):
        detect_arch(state)
    state = _state()
    state['table_sv'] = state['table_sv'] * 2
    with pytest.raises(ValueError, match='table_sv is not the table of window 8, stripes 8 x 16, anchors 1/2'):
        detect_arch(state)
    state = _state(upsampler='pixelshuffledirect')
    state['upsample.up.0.weight'] = state['upsample.up.0.weight'][:10]
    with pytest.raises(ValueError, match='upsample.up.0 conv has 10 outputs'):
        detect_arch(state)
    huge = {**_state(), 'table_sh': np.zeros((1, 255, 255, 2), 'float32'), 'index_sh_a2w': np.zeros((4, 4), 'int64')}
    with pytest.raises(ValueError, match='not a geometry GRL runs'):  # stripes 128 x 128: never built
        detect_arch(huge)
    with pytest.raises(ValueError, match='index_sh_a2w of shape'):
        detect_arch({**_state(), 'index_sh_a2w': np.zeros((5,), 'int64')})


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='embed_dim'):
        models.build_network({**TINY, 'num_heads_window': [3]})
    with pytest.raises(ValueError, match='stripe_size'):
        models.build_network({**TINY, 'stripe_size': [8, 12]})
    with pytest.raises(ValueError, match='embed_dim'):
        models.build_network({**TINY, 'embed_dim': 10 ** 6})
    with pytest.raises(ValueError, match='anchor_window_down_factor'):
        models.build_network({**TINY, 'anchor_proj_type': 'patchmerging', 'anchor_window_down_factor': 4,
                              'stripe_size': [8, 16]})
    with pytest.raises(ValueError, match='stripe_size'):  # 64 x 64 stripes need anchors of at least 1/2
        models.build_network({**TINY, 'stripe_size': [64, 64], 'anchor_window_down_factor': 1})
    assert models.pad_multiple(TINY) == 16 and models.net_scale(TINY) == 2
    big = {**TINY, 'embed_dim': 64, 'depths': [2] * 4, 'window_size': 16, 'stripe_size': [32, 64], 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
