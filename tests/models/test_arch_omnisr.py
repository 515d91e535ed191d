"""OmniSR in Paddle against spandrel's PyTorch OmniSR: detection from the saved file alone, the raw forward on
a real photo crop whose sides are not multiples of the window (the network pads and crops), two scales."""
import numpy as np
import pytest

from tests.models.window_nets import calibrated, paddle_forward, photo_input, psnr, save_pth, spandrel_net
from tests.models.user_files import WRAPPERS

TINY = dict(num_feat=16, block_num=1, window_size=4, res_num=1)


@pytest.mark.parametrize('scale,size,extra', [(4, (23, 19), {}), (2, (21, 26), {'pe': False})])
def test_omnisr_matches_spandrel(photo, tmp_path, scale, size, extra, spandrel):
    from realesrgan_paddle import models
    ref = spandrel_net('OmniSR', up_scale=scale, **TINY, **extra)
    x = photo_input(photo, *size)
    want = calibrated(ref, ref.up[0], x)
    path = save_pth(ref, tmp_path / 'omnisr.pth', wrap='params_ema')
    net, arch = models.load_network(path)
    window = 8 if extra.get('pe') is False else TINY['window_size']  # without pe the window cannot be read
    assert arch == {'type': 'OmniSR', 'num_in_ch': 3, 'num_out_ch': 3, 'up_scale': scale, 'pe': True, 'bias': True,
                    **TINY, **extra, 'window_size': window}
    if window != TINY['window_size']:
        net = models.build_network({**arch, 'window_size': TINY['window_size']})
        models.load_state_into(net, models.read_checkpoint(path)[0])
        net.eval()
    got = paddle_forward(net, x)
    assert got.shape == (1, 3, size[0] * scale, size[1] * scale) == want.shape
    assert psnr(got, want) >= 50


def test_omnisr_without_bias_profiler_keys_dropped_bad_shapes_named(tmp_path, torch):
    from realesrgan_paddle import models
    ref = spandrel_net('OmniSR', up_scale=3, bias=False, **TINY)
    state = dict(ref.state_dict(), total_ops=torch.zeros(1), **{'input.total_params': torch.zeros(1)})
    torch.save(state, tmp_path / 'a.pth')
    weights, arch = models.read_checkpoint(tmp_path / 'a.pth')
    assert (arch['up_scale'], arch['window_size'], arch['bias']) == (3, 4, False)
    models.load_state_into(models.build_network(arch), weights)  # every key fits, none left over
    state['residual_layer.0.residual_layer.0.layer.2.fn.rel_pos_bias.weight'] = torch.zeros(50, 4)
    torch.save(state, tmp_path / 'b.pth')
    with pytest.raises(models.CheckpointError, match='rel_pos_bias has 50 rows'):
        models.read_checkpoint(tmp_path / 'b.pth')


def test_omnisr_any_size_and_window_multiple_sizes():
    """Exactly scale x input at sizes below, at and above the window multiple, batch 2."""
    from realesrgan_paddle import models
    net = models.build_network({'type': 'OmniSR', 'up_scale': 2, **TINY})
    net.eval()
    for h, w in [(16, 16), (17, 31), (24, 20)]:
        y = paddle_forward(net, np.random.default_rng(0).random((2, 3, h, w), dtype=np.float32))
        assert y.shape == (2, 3, 2 * h, 2 * w)


@pytest.mark.slow(seconds=13)  # the predictor's oneDNN graph passes: ~20 s
def test_omnisr_static_export_takes_any_size(tmp_path):
    from tests.models.window_nets import check_export
    check_export({'type': 'OmniSR', 'up_scale': 2, **TINY}, tmp_path)


def test_omnisr_tiles_and_trains(photo, photo_batch, tmp_path, spandrel):
    from tests.models.window_nets import check_tiling, train_one_step
    ref = spandrel_net('OmniSR', up_scale=2, **TINY)
    calibrated(ref, ref.up[0], photo_input(photo, 40, 44))
    check_tiling(save_pth(ref, tmp_path / 'omnisr.pth'), photo)
    train_one_step({'type': 'OmniSR', 'up_scale': 4, **TINY}, tmp_path, photo_batch)


def test_omnisr_converts_with_the_tool(photo, tmp_path, torch):
    """A DataParallel ``module.`` prefix under ``params``, as some releases carry."""
    from tests.models.window_nets import convert_with_tool
    ref = spandrel_net('OmniSR', up_scale=4, **TINY)
    torch.save({'params': {f'module.{k}': v for k, v in ref.state_dict().items()}}, tmp_path / 'omnisr_x4.pth')
    arch = convert_with_tool(tmp_path / 'omnisr_x4.pth', photo_input(photo, 17, 18))
    assert arch['type'] == 'OmniSR' and arch['up_scale'] == 4


@pytest.mark.slow(seconds=12)
@pytest.mark.parametrize('scale, kinds', [(2, WRAPPERS), (3, ('params_ema', 'bf16'))])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, scale, kinds, spandrel):
    """OmniSR x2 and x3 in every wrapper and dtype users' files come in (tests/models/user_files.py), through
    ``Upscaler`` at 37x45 (no multiple of its window): spandrel's output at >= 90 dB."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    ref = spandrel_net('OmniSR', up_scale=scale, **TINY)
    x = odd_crop(photo)
    calibrated(ref, ref.up[0], x[None])

    def arch_read(arch):
        assert (arch['type'], arch['up_scale'], arch['window_size']) == ('OmniSR', scale, TINY['window_size'])
    assert_user_files_match(ref, x, tmp_path, kinds=kinds, arch_check=arch_read)


def test_tiny_images_and_training_crops_below_its_smallest_input(tmp_path):
    """ESA's strided conv and 7x7 pool need 15 px after the pad to the window (``min_side``: 13 for window 4): the
    upscaler pads a 6x7 image and crops; a training crop that small is refused in one line naming gt_size (the one
    command with a tiny recipe once ended in Paddle's 'shape[2] is 0')."""
    import logging

    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    from tests.training.smoke import SMOKE
    arch = {'type': 'OmniSR', 'up_scale': 4, **TINY}
    assert models.min_side(arch) == 13 and models.min_side({**arch, 'window_size': 8}) == 9
    net = models.build_network(arch).eval()
    with paddle.no_grad():
        assert net(paddle.rand([1, 3, 13, 14])).shape == [1, 3, 52, 56]
        with pytest.raises(ValueError):
            net(paddle.rand([1, 3, 8, 8]))  # the tiny recipe's LR crop (gt_size 32 at x4)
    save_checkpoint(tmp_path / 'o.pdparams', params=net.state_dict(), arch=arch)
    out = Upscaler(str(tmp_path / 'o.pdparams'), backend='dynamic').upscale(np.zeros((6, 7, 3), np.uint8))
    assert out.shape == (24, 28, 3)
    flow = '{' + ', '.join(f'{k}: {v}' for k, v in arch.items()) + '}'
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'network_g={flow}', 'scale=4', 'gt_size=32'])
    with pytest.raises(ValueError, match=r'^gt_size 32: network_g \(OmniSR\) needs LR crops of at least 13 px, and '
                                         r'32 / scale 4 gives 8 \(set gt_size to at least 52\)$'):
        build_model(opt, logging.getLogger('test.omnisr'))
