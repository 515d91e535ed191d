"""SAFMN (models/archs/safmn/safmn.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop: its output at >= 90 dB; at a size
that is no multiple of 8, the reflect pad the spec asks for, as spandrel's size requirement does; broken files
named in one line. Export, tiles, ONNX and training: tests/models/test_arch_user_paths.py
(tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.ref_span_plksr import unclip
from tests.models.user_files import LEAST_DB, api_outputs, assert_user_files_match, odd_crop, write_user_file
from tests.ref_compare import psnr
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'SAFMN', 'dim': 16, 'n_blocks': 2, 'ffn_scale': 2.0, 'upscaling_factor': 3}


def _spandrel_safmn(x, seed=0, **kwargs):
    """spandrel's SAFMN, seeded, its last conv rescaled so the output on ``x`` is image-like (not clipped)."""
    torch, arch = need_torch(), need_spandrel().architectures.SAFMN
    torch.manual_seed(seed)
    tnet = arch.SAFMN(**{k: v for k, v in {**TINY, **kwargs}.items() if k != 'type'}).eval()
    unclip(tnet, tnet.to_img[0], x, 0.5)
    return tnet


@pytest.mark.slow(seconds=5)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo, 40, 56)  # a real photo crop, H and W multiples of 8: the network sees it as it is
    ref = _spandrel_safmn(x[None])

    def arch_read(arch):
        assert arch == TINY, arch
    seen = assert_user_files_match(ref, x, tmp_path, arch_check=arch_read)
    assert min(seen.values()) >= LEAST_DB


def test_an_odd_size_is_reflect_padded_to_eight(photo, tmp_path, torch, spandrel):
    """37x45: the upscaler reflect-pads to 40x48 and crops, which is spandrel's network on the padded crop."""
    x = odd_crop(photo)
    ref = _spandrel_safmn(x[None], seed=1, upscaling_factor=2, ffn_scale=1.5, n_blocks=1)
    got, up = api_outputs(write_user_file(ref.state_dict(), 'params', tmp_path), x)
    assert up.arch == {**TINY, 'upscaling_factor': 2, 'ffn_scale': 1.5, 'n_blocks': 1}
    padded = torch.nn.functional.pad(torch.from_numpy(x[None]), (0, 3, 0, 3), mode='reflect')
    with torch.no_grad():
        want = ref(padded).numpy()[0, :, :37 * 2, :45 * 2]
    assert got.shape == want.shape and want.std() > 0.02
    assert psnr(got, want) >= LEAST_DB


def _state(**over):
    return {k: v.numpy() for k, v in models.build_network({**TINY, **over}).state_dict().items()}


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(ffn_scale=2.5, upscaling_factor=1)) == {**TINY, 'ffn_scale': 2.5, 'upscaling_factor': 1}
    state = _state()
    del state['feats.0.safm.mfr.3.weight']
    with pytest.raises(ValueError, match='feats.0.safm has 3 mfr convs, not 4'):
        detect_arch(state)
    state = _state()
    state['to_img.0.weight'] = state['to_img.0.weight'][:7]
    with pytest.raises(ValueError, match='SAFMN last conv has 7 outputs'):
        detect_arch(state)
    state = _state()
    del state['feats.1.safm.aggr.weight']
    with pytest.raises(ValueError, match='block feats.1 comes after the last whole block'):
        detect_arch(state)


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='dim.*multiple of 4'):
        models.build_network({**TINY, 'dim': 18})
    with pytest.raises(ValueError, match='n_blocks'):
        models.build_network({**TINY, 'n_blocks': 10 ** 6})
    assert models.pad_multiple(TINY) == 8 and models.net_scale(TINY) == 3
