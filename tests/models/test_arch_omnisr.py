"""OmniSR in Paddle against spandrel's PyTorch OmniSR: detection from the saved file alone, the raw forward on
a real photo crop whose sides are not multiples of the window (the network pads and crops), two scales."""
import numpy as np
import pytest

from tests.models.window_nets import calibrated, paddle_forward, photo_input, psnr, save_pth, spandrel_net

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
