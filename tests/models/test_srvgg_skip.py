"""SRVGGNetCompact's skip: nearest (the official networks) or bilinear, carried by the checkpoint's arch."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.loading import read_checkpoint
from tests.nets import save_tiny, srvgg


def _zero_body(net):
    for p in net.parameters():
        p.set_value(paddle.zeros_like(p))
    return net


@pytest.mark.parametrize('skip', ['nearest', 'bilinear'])
def test_zero_body_gives_the_skip(skip):
    x = paddle.to_tensor(np.random.default_rng(0).random((1, 3, 6, 5), dtype=np.float32))
    net = _zero_body(models.build_network(srvgg(skip=skip)))
    want = F.interpolate(x, scale_factor=4, mode=skip, **({'align_corners': False} if skip == 'bilinear' else {}))
    np.testing.assert_allclose(net(x).numpy(), want.numpy(), atol=1e-6)
    assert net(x).shape == [1, 3, 24, 20]


def test_bilinear_skip_has_no_4px_steps():
    """A step image: the nearest skip repeats each input pixel in a 4x4 cell, the bilinear one ramps."""
    x = paddle.to_tensor(np.tile(np.arange(8, dtype=np.float32) / 8, (1, 3, 8, 1)))
    near, bil = (_zero_body(models.build_network(srvgg(skip=s)))(x).numpy()[0, 0, 4] for s in ('nearest', 'bilinear'))
    assert np.count_nonzero(np.diff(near[4:-4])) == 5  # 24 pixels, 6 cells: only the 5 cell edges step
    assert np.count_nonzero(np.diff(bil[4:-4])) == len(bil[4:-4]) - 1  # every pixel steps


def test_bad_skip_is_one_line():
    with pytest.raises(ValueError, match=r"skip must be one of \('nearest', 'bilinear'\), got 'bicubic'"):
        models.build_network(srvgg(skip='bicubic'))


def test_the_checkpoint_carries_the_skip(tmp_path):
    """The weights cannot show the skip: the stored arch decides, and the default stays the official nearest."""
    from realesrgan_paddle.inference import Upscaler
    img = (np.random.default_rng(1).random((12, 10, 3)) * 255).astype(np.uint8)
    out = {}
    for skip in ('nearest', 'bilinear'):
        path = save_tiny(tmp_path / f'{skip}.pdparams', srvgg(skip=skip))
        assert read_checkpoint(path)[1].get('skip', 'nearest') == skip
        out[skip] = Upscaler(str(path), device='cpu', backend='dynamic').upscale(img)
    assert out['nearest'].shape == out['bilinear'].shape == (48, 40, 3)
    assert np.abs(out['nearest'].astype(int) - out['bilinear']).max() > 10


def test_dni_of_a_bilinear_finetune_and_its_nearest_base(tmp_path):
    """The knob between a bilinear-skip finetune and the official base: the blend is the finetune's network with
    the interpolated weights; weight 0 is the base's own file, other architectures still refuse."""
    from realesrgan_paddle.models import dni
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    base = save_tiny(tmp_path / 'base.pdparams', srvgg(), seed=0)
    ft = save_tiny(tmp_path / 'ft.pdparams', srvgg(skip='bilinear'), seed=1)
    out = dni.write_dni(ft, base, 0.25, tmp_path / 'blend.pdparams')
    state, arch = pick_params(load_state_file(out))
    assert arch['skip'] == 'bilinear'
    sb, sf = read_checkpoint(base)[0], read_checkpoint(ft)[0]
    for k in sf:
        np.testing.assert_allclose(state[k], 0.25 * sf[k] + 0.75 * sb[k], rtol=1e-6, atol=1e-7)
    wide = save_tiny(tmp_path / 'wide.pdparams', srvgg(num_feat=16, skip='bilinear'))
    with pytest.raises(ValueError, match='one architecture'):
        dni.write_dni(ft, wide, 0.5, tmp_path / 'no.pdparams')
