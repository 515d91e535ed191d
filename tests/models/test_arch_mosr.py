"""MoSR (models/archs/mosr/mosr.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45; every layer is
local, no pad): its output at >= 90 dB; the other upsamplers (geo-ensemble ``gps``, DySample ``dys``), x1, x3
and x4, other kernels and ratios; broken files named in one line. Export, tiles, ONNX and training:
tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import LEAST_DB, api_outputs, odd_crop, write_user_file
from tests.ref_compare import assert_every_wrapper, paddle_state, psnr, spread_output, torch_out
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'MoSR', 'in_ch': 3, 'out_ch': 3, 'upscale': 2, 'n_block': 2, 'dim': 16, 'upsampler': 'ps',
        'kernel_size': 7, 'expansion_ratio': 1.5, 'conv_ratio': 1.0}


def _last_conv(net):
    up = net.upsampler
    return up.end_conv if hasattr(up, 'end_conv') else up.in_to_k if hasattr(up, 'in_to_k') else up[0]


def _spandrel_mosr(x, seed=0, **over):
    """spandrel's MoSR, seeded (convs at unit gain, so the gated blocks matter), its last conv rescaled so that the
    output on ``x`` spreads 0.1 around 0.5 (the ``ps``/``gps`` shuffles and DySample's end conv are linear in it)."""
    torch, arch = need_torch(), need_spandrel().architectures.MoSR
    torch.manual_seed(seed)
    net = arch.MoSR(**{k: v for k, v in {**TINY, **over}.items() if k != 'type'}).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith('weight') and p.ndim == 4:
                p.copy_(torch.randn(p.shape, generator=gen) / (p.shape[1] * p.shape[2] * p.shape[3]) ** 0.5)
    return spread_output(net, _last_conv(net), x)


@pytest.mark.slow(seconds=10)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)  # a real photo crop, 37x45: MoSR runs on any size
    assert_every_wrapper(_spandrel_mosr(x[None]), x, tmp_path, TINY)


@pytest.mark.parametrize('over', [
    {'upsampler': 'gps', 'upscale': 3}, {'upsampler': 'dys', 'upscale': 4}, {'upsampler': 'dys', 'upscale': 2},
    {'upscale': 1, 'kernel_size': 5, 'expansion_ratio': 2.0, 'conv_ratio': 0.5, 'n_block': 3},
    {'upscale': 4, 'dim': 12, 'expansion_ratio': 8 / 3}],
    ids=['gps_x3', 'dys_x4', 'dys_x2', 'x1_k5_ratios', 'x4_dim12_ratio_8_3'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    ref = _spandrel_mosr(x[None], seed=1, **over)
    got, up = api_outputs(write_user_file(ref.state_dict(), 'params', tmp_path), x)
    want = torch_out(ref, x)
    expected = {**TINY, **over}
    for key in ('expansion_ratio', 'conv_ratio'):  # read back as a quotient of widths
        assert abs(up.arch[key] - expected[key]) < 0.02, up.arch
    assert {k: v for k, v in up.arch.items() if 'ratio' not in k} == \
        {k: v for k, v in expected.items() if 'ratio' not in k}, up.arch
    assert got.shape == want.shape == (3, 37 * up.scale, 45 * up.scale) and want.std() > 0.02
    db = psnr(got, want)
    print(over, round(db, 1))
    assert db >= LEAST_DB


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(upsampler='dys', upscale=3))['upsampler'] == 'dys'
    state = _state()
    del state['upsampler.0.weight'], state['upsampler.0.bias']
    with pytest.raises(ValueError, match='no upsampler'):
        detect_arch(state)
    state = _state()
    state['upsampler.0.weight'] = state['upsampler.0.weight'][:10]
    with pytest.raises(ValueError, match='ps upsampler has 10 outputs'):
        detect_arch(state)
    state = {k: v for k, v in _state().items() if not k.startswith('gblocks.2.')}
    with pytest.raises(ValueError, match='gblocks.2 is not where'):
        detect_arch(state)


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='kernel_size'):
        models.build_network({**TINY, 'kernel_size': 6})
    with pytest.raises(ValueError, match='conv_ratio'):
        models.build_network({**TINY, 'conv_ratio': 2.0})
    with pytest.raises(ValueError, match='dim'):
        models.build_network({**TINY, 'upsampler': 'dys', 'dim': 18})
    with pytest.raises(ValueError, match='n_block'):
        models.build_network({**TINY, 'n_block': 10 ** 6})
    assert models.pad_multiple(TINY) == 1 and models.net_scale(TINY) == 2
    big = {**TINY, 'dim': 64, 'n_block': 24, 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
    assert np.isfinite(models.net_facts({**big, 'upsampler': 'gps'}).bytes_per_pixel)
