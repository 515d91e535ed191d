"""Tiles of the window-attention networks (SwinIR, HAT) start on the window grid: ``pad_multiple`` is the window, so
any ``--tile`` / ``--tile_pad`` cuts tiles whose windows are the whole image's. Off the grid (pad multiple 1) the
same tiles scored 22 dB (SwinIR) and 21 dB (HAT) against the whole image, everywhere, not only at the seams."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint

ARCHS = {
    'SwinIR': ({'type': 'SwinIR', 'upscale': 2, 'embed_dim': 12, 'depths': [2], 'num_heads': [2], 'window_size': 4,
                'upsampler': 'pixelshuffledirect'}, 35),
    'HAT': ({'type': 'HAT', 'upscale': 2, 'embed_dim': 12, 'depths': [2], 'num_heads': [2], 'window_size': 4,
             'compress_ratio': 3, 'squeeze_factor': 4}, 28),
}


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_tiles_off_the_size_grid_match_the_whole_image(name, tmp_path, photo_crops):
    from realesrgan_paddle.inference import Upscaler
    arch, floor = ARCHS[name]
    assert models.pad_multiple(arch) == arch['window_size']
    paddle.seed(0)
    net = models.build_network(arch)
    save_checkpoint(tmp_path / 'w.pdparams', params={k: v.numpy() for k, v in net.state_dict().items()}, arch=arch)
    img = photo_crops(1, 61)[0][:57]  # 57x61: neither a multiple of the window nor of the tile
    whole = Upscaler(tmp_path / 'w.pdparams', backend='dynamic', tile=0, progress=False).upscale(img)
    tiled = Upscaler(tmp_path / 'w.pdparams', backend='dynamic', tile=21, tile_pad=5, progress=False).upscale(img)
    assert whole.shape == tiled.shape == (114, 122, 3)
    mse = np.mean((whole.astype(np.float64) - tiled) ** 2)
    assert 10 * np.log10(255 ** 2 / max(mse, 1e-12)) > floor
