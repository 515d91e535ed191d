"""RCAN (models/archs/rcan/rcan.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size: its output at >= 90 dB;
the x2 and x1 unshuffle forms at an odd size, the reflect pad the spec asks for, as spandrel's own pad does;
x3 and x8 tails, no mean shift, a mean shift of range 1; broken files named in one line. Export, tiles, ONNX and
training: tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import odd_crop
from tests.ref_compare import assert_every_wrapper, assert_form_matches, paddle_state, spread_output
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'RCAN', 'scale': 2, 'n_resgroups': 2, 'n_resblocks': 2, 'n_feats': 16, 'kernel_size': 3,
        'reduction': 4, 'norm': True, 'rgb_range': 255.0}


def _spandrel_rcan(x, seed=0, **over):
    """spandrel's RCAN, seeded, its last conv rescaled so that the output on ``x`` spreads 0.1 around 0.5."""
    torch, arch = need_torch(), need_spandrel().architectures.RCAN
    torch.manual_seed(seed)
    kw = {k: v for k, v in {**TINY, **over}.items() if k != 'type'}
    tnet = arch.RCAN(**kw).eval()
    tnet.register_forward_pre_hook(lambda m, args: (args[0].clone(),))  # its forward scales its input in place
    return spread_output(tnet, tnet.tail[1], x)


@pytest.mark.slow(seconds=10)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)  # a real photo crop, 37x45: RCAN runs on any size
    assert_every_wrapper(_spandrel_rcan(x[None]), x, tmp_path, TINY)


@pytest.mark.parametrize('over', [
    {'scale': 3}, {'scale': 8, 'n_resgroups': 1, 'n_resblocks': 1}, {'norm': False}, {'rgb_range': 1.0},
    {'scale': 4, 'kernel_size': 5, 'reduction': 8, 'n_resblocks': 3},
    {'scale': 2, 'unshuffle_mod': True}, {'scale': 1, 'unshuffle_mod': True}])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    """37x45 through the API against spandrel's network on the same crop; the unshuffle forms reflect-pad to 2 or 4
    and crop, as spandrel's network does itself."""
    x = odd_crop(photo)
    expected = {**TINY, **over}
    if not expected['norm']:
        expected['rgb_range'] = 255.0
    assert_form_matches(_spandrel_rcan(x[None], seed=1, **over), x, tmp_path, expected)


def test_an_imagenet_mean_shift_at_range_1(photo, tmp_path, torch, spandrel):
    """Some RCANs shift by ImageNet's mean and std at range 1 (weight 1 / std, bias -mean / std): read as range 1
    from the weights, against spandrel's network with those shifts at range 1."""
    x = odd_crop(photo)
    ref = _spandrel_rcan(x[None], seed=3, rgb_range=1.0)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    with torch.no_grad():
        for m, sign in ((ref.sub_mean, -1), (ref.add_mean, 1)):
            m.weight.copy_(torch.diag(1 / std).view(3, 3, 1, 1) if sign < 0 else torch.diag(std).view(3, 3, 1, 1))
            m.bias.copy_(-mean / std if sign < 0 else mean)
    assert_form_matches(ref, x, tmp_path, {**TINY, 'rgb_range': 1.0}, kind='params_ema')


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(scale=1, unshuffle_mod=True)) == {**TINY, 'scale': 1, 'unshuffle_mod': True}
    assert detect_arch(_state(scale=1)) == {**TINY, 'scale': 1}  # no unshuffle, no upsampling
    state = _state()
    del state['body.1.body.2.weight']
    with pytest.raises(ValueError, match='group body.1 has no closing conv'):
        detect_arch(state)
    state = _state()
    del state['body.2.weight']
    with pytest.raises(ValueError, match='no body.2 conv after the last residual group'):
        detect_arch(state)
    state = _state()
    state['tail.1.weight'] = state['tail.1.weight'][:1]
    with pytest.raises(ValueError, match=r'tail.1\) has 1 outputs'):
        detect_arch(state)
    state = _state()
    state['tail.0.0.weight'] = state['tail.0.0.weight'][:40]
    with pytest.raises(ValueError, match='tail.0.0 maps 16 to 40 channels'):
        detect_arch(state)
    state = _state()
    del state['add_mean.weight']
    with pytest.raises(ValueError, match='only one of the mean shifts'):
        detect_arch(state)


def test_the_colour_range_note_only_without_a_mean_shift(tmp_path):
    """The converter notes rgb_range as not visible only for a file without the mean shift it is read from; with
    one, --img_range must agree with it (one line)."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from realesrgan_paddle.models.convert import convert_checkpoint
    for norm, noted in ((True, False), (False, True)):
        src = tmp_path / f'norm_{norm}.pdparams'
        save_checkpoint(src, params=_state(norm=norm))
        lines = []
        convert_checkpoint(src, tmp_path / f'out_{norm}.pdparams', log=lines.append)
        assert any('rgb_range is not visible' in ln for ln in lines) == noted, lines
    with pytest.raises(ValueError, match=r'--img_range 1.0 does not match the weights \(rgb_range=255.0 found\)'):
        convert_checkpoint(tmp_path / 'norm_True.pdparams', tmp_path / 'x.pdparams', overrides={'img_range': 1.0})


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='n_resgroups'):
        models.build_network({**TINY, 'n_resgroups': 10 ** 6})
    with pytest.raises(ValueError, match='reduction'):
        models.build_network({**TINY, 'reduction': 32})
    with pytest.raises(ValueError, match='scale.*one of'):
        models.build_network({**TINY, 'scale': 5})
    with pytest.raises(ValueError, match='unshuffle_mod.*x1 and x2'):
        models.build_network({**TINY, 'scale': 4, 'unshuffle_mod': True})
    assert models.pad_multiple(TINY) == 1 and models.net_scale(TINY) == 2
    assert models.pad_multiple({**TINY, 'scale': 1, 'unshuffle_mod': True}) == 4
    big = {**TINY, 'n_feats': 64, 'scale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
