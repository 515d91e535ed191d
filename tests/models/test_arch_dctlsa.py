"""DCTLSA (models/archs/dctlsa/dctlsa.py): spandrel's network in every wrapper and dtype users' files come in, read by
detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45: each layer
reflect-pads to 48x48 inside and crops back, as spandrel's does; the caller pads nothing): its output at >= 90 dB
(batch norms with running statistics of their own); x1, x3 and x4; another head count by the override flag; broken
files named in one line. Export, tiles, ONNX and training: tests/models/test_arch_user_paths.py
(tests/models/tiny_archs.py)."""
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import odd_crop
from tests.ref_compare import assert_every_wrapper, assert_form_matches, paddle_state, spread_output, unit_gain

TINY = {'type': 'DCTLSA', 'nf': 10, 'num_head': 5, 'upscale': 2}


def _spandrel_dctlsa(x, torch, spandrel, seed=0, **over):
    """spandrel's DCTLSA, seeded, linear layers at unit gain, drawn batch-norm statistics, its last conv rescaled
    so that the output on ``x`` spreads 0.1 around 0.5."""
    torch.manual_seed(seed)
    cfg = {k: v for k, v in {**TINY, **over}.items() if k != 'type'}
    net = spandrel.architectures.DCTLSA.DCTLSA(in_nc=3, out_nc=3, num_modules=6, **cfg).eval()
    unit_gain(net, seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
                m.num_batches_tracked.fill_(1000)
    return spread_output(net, net.upsampler[0], x)


@pytest.mark.slow(seconds=20)
def test_users_files_through_the_api(photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_every_wrapper(_spandrel_dctlsa(x[None], torch, spandrel), x, tmp_path, TINY)


@pytest.mark.parametrize('over', [{'upscale': 3}, {'upscale': 4, 'nf': 15}, {'upscale': 1}],
                         ids=['x3', 'x4_nf15', 'x1'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_form_matches(_spandrel_dctlsa(x[None], torch, spandrel, seed=1, **over), x, tmp_path, {**TINY, **over})


def test_another_head_count_by_its_flag(photo, tmp_path, torch, spandrel):
    """The heads are not in the weights: a network of 2 heads reads as 5 (spandrel's and the release's), and
    ``num_head=2`` (``--num_head 2``) gives its output."""
    from tests.models.user_files import api_outputs, write_user_file
    from tests.ref_compare import psnr, torch_out
    x = odd_crop(photo)
    ref = _spandrel_dctlsa(x[None], torch, spandrel, seed=2, num_head=2)
    path = write_user_file(ref.state_dict(), 'params', tmp_path)
    want = torch_out(ref, x)
    got, up = api_outputs(path, x, arch={'num_head': 2})
    assert up.arch == {**TINY, 'num_head': 2}
    db = psnr(got, want)
    print('num_head 2', round(db, 1))
    assert db >= 90
    wrong, up = api_outputs(path, x)
    assert up.arch == TINY and psnr(wrong, want) < 60


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(nf=20, num_head=4, upscale=4)) == {**TINY, 'nf': 20, 'upscale': 4}
    state = _state()
    del state['B4.body.1.transformer_body.0.blocks.1.attn.qkv.weight']
    with pytest.raises(ValueError, match=r'no B4.body.1.transformer_body.0.blocks.1.attn.qkv.weight'):
        detect_arch(state)
    state = _state()
    state['c.0.weight'] = state['c.0.weight'][:, :50]
    with pytest.raises(ValueError, match=r'c.0 takes 50 channels, not 6 x 10'):
        detect_arch(state)
    state = _state()
    state['upsampler.0.weight'] = state['upsampler.0.weight'][:10]
    with pytest.raises(ValueError, match='upsampler.0 maps 10 to 10 channels'):
        detect_arch(state)


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='num_head.*divide nf'):
        models.build_network({**TINY, 'num_head': 3})
    with pytest.raises(ValueError, match='nf'):
        models.build_network({**TINY, 'nf': 10 ** 6})
    assert models.pad_multiple(TINY) == 16 and models.min_side(TINY) == 16 and models.pads_itself(TINY)
    big = {**TINY, 'nf': 55, 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
