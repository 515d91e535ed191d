"""DITN (models/archs/ditn/ditn.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45, reflect-padded to
40x48 as spandrel pads it): its output at >= 90 dB; other forms (x1, x3 and x4, biases, FFN factors, two units,
no SAL); a 5x7 crop through the network, padded inside; broken files named in one line. Export, tiles, ONNX and
training: tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import odd_crop
from tests.ref_compare import (assert_every_wrapper, assert_export_matches, assert_form_matches, paddle_state,
                               spread_output)

TINY = {'type': 'DITN', 'dim': 12, 'ITL_blocks': 2, 'SAL_blocks': 2, 'UFONE_blocks': 1, 'ffn_expansion_factor': 2.0,
        'bias': False, 'upscale': 2}


def _spandrel_ditn(x, torch, spandrel, seed=0, **over):
    """spandrel's DITN, seeded, with drawn SDA scales (zero at initialisation, which would leave every SAL's
    attention out) and temperatures, its last conv rescaled so that the output on ``x`` spreads 0.1 around 0.5."""
    torch.manual_seed(seed)
    cfg = {k: v for k, v in {**TINY, **over}.items() if k != 'type'}
    net = spandrel.architectures.DITN.DITN(inp_channels=3, **cfg).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith('SDA.scale'):
                p.copy_(torch.randn_like(p))
            elif name.endswith('temperature'):
                p.fill_(4.0)
    return spread_output(net, net.upsample[0], x)


@pytest.mark.slow(seconds=10)
def test_users_files_through_the_api(photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_every_wrapper(_spandrel_ditn(x[None], torch, spandrel), x, tmp_path, TINY)


@pytest.mark.parametrize('over', [
    {'upscale': 3, 'bias': True, 'ffn_expansion_factor': 1.5, 'UFONE_blocks': 2},
    {'upscale': 4, 'dim': 16, 'ITL_blocks': 1, 'SAL_blocks': 0, 'ffn_expansion_factor': 2.66},
    {'upscale': 1, 'ITL_blocks': 3, 'SAL_blocks': 1}], ids=['x3_bias_two_units', 'x4_no_sal', 'x1'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    expected = {**TINY, **over}
    if 'ffn_expansion_factor' in over:  # read back as hidden / dim
        expected['ffn_expansion_factor'] = int(expected['dim'] * over['ffn_expansion_factor']) / expected['dim']
    assert_form_matches(_spandrel_ditn(x[None], torch, spandrel, seed=1, **over), x, tmp_path, expected)


def test_a_crop_smaller_than_a_patch(photo, tmp_path, torch, spandrel):
    """A 5x7 crop: reflect-padded to 8x8 (by Upscaler, as by spandrel's network itself)."""
    x = odd_crop(photo, 5, 7)
    assert_form_matches(_spandrel_ditn(x[None], torch, spandrel, seed=2), x, tmp_path, TINY)


@pytest.mark.slow(seconds=10)
def test_the_export_gives_the_networks_output(tmp_path):
    """The static export (Paddle Inference, oneDNN) against the dynamic graph with every layer at work (SDA scales
    drawn: at their initial zero a SAL's attention adds nothing): once 3.4 apart, when the ISA's linear map ran on
    transposed tokens (the reshape_transpose_matmul fusion), 4e-6 with it as a 1x1 conv; at 32x40 and 37x45."""
    import paddle

    paddle.seed(0)
    net = models.build_network(TINY)
    for name, p in net.named_parameters():
        if name.endswith('SDA.scale'):
            p.set_value(paddle.randn(p.shape))
    net.eval()
    assert_export_matches(net, TINY, tmp_path / 'infer', [(1, 3, 32, 40), (1, 3, 37, 45)])


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    import numpy as np
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(bias=True, UFONE_blocks=2, SAL_blocks=0)) == {**TINY, 'bias': True, 'UFONE_blocks': 2,
                                                                             'SAL_blocks': 0}
    state = _state()
    del state['UFONE.0.ITLs.1.attn.temperature']
    with pytest.raises(ValueError, match=r'UFONE.0.ITLs.1 is not a whole unit \(1 whole before it\)'):
        detect_arch(state)
    state = _state()
    state['upsample.0.weight'] = state['upsample.0.weight'][:10]
    with pytest.raises(ValueError, match='upsample.0 maps 12 to 10 channels'):
        detect_arch(state)
    state = _state()
    state['sft.weight'] = np.zeros((12, 1, 3, 3), 'float32')
    with pytest.raises(ValueError, match='DITN with 1 input channels'):
        detect_arch(state)


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='dim'):
        models.build_network({**TINY, 'dim': 10 ** 6})
    with pytest.raises(ValueError, match='ffn_expansion_factor'):
        models.build_network({**TINY, 'ffn_expansion_factor': 0.01})
    assert models.pad_multiple(TINY) == 8 and models.net_scale(TINY) == 2
    big = {**TINY, 'dim': 60, 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
