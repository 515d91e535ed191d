"""Swift-SRGAN (models/archs/swiftsrgan/swiftsrgan.py): spandrel's network in every wrapper and dtype users' files
come in, read by detection from the weights alone, through ``Upscaler`` on a real photo crop at an odd size: its
output at >= 90 dB (batch norms with running statistics of their own, PReLU slopes drawn); x1, x4 and x8, no
residual block; broken files named in one line. Export, tiles, ONNX and training:
tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import LEAST_DB, api_outputs, odd_crop
from tests.ref_compare import assert_every_wrapper, assert_form_matches, paddle_state, psnr, torch_out
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'SwiftSRGAN', 'num_channels': 16, 'num_blocks': 2, 'upscale_factor': 2}


def _spandrel_swift(x, seed=0, **over):
    """spandrel's Swift-SRGAN, seeded, with drawn batch-norm statistics and PReLU slopes, its last conv rescaled so
    that the tanh sees a spread of 0.5 around 0 on ``x`` (neither flat nor saturated)."""
    torch = need_torch()
    arch = need_spandrel().architectures.SwiftSRGAN
    torch.manual_seed(seed)
    kw = {'in_channels': 3, **{k: v for k, v in {**TINY, **over}.items() if k != 'type'}}
    tnet = arch.SwiftSRGAN(**kw).eval()
    with torch.no_grad():
        for m in tnet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
                m.num_batches_tracked.fill_(1000)
            elif isinstance(m, torch.nn.PReLU):
                m.weight.copy_(0.1 + 0.2 * torch.rand_like(m.weight))
        seen = []
        hook = tnet.final_conv.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
        tnet(torch.from_numpy(x))
        hook.remove()
        y, pw = seen[-1], tnet.final_conv.pointwise
        a = 0.5 / max(float(y.std()), 1e-8)
        pw.weight.mul_(a)
        pw.bias.copy_(pw.bias * a - a * y.mean(dim=(0, 2, 3)))
    return tnet


@pytest.mark.slow(seconds=10)
def test_users_files_through_the_api(photo, tmp_path, spandrel):
    x = odd_crop(photo)  # a real photo crop, 37x45: Swift-SRGAN runs on any size
    assert_every_wrapper(_spandrel_swift(x[None]), x, tmp_path, TINY)


def test_the_releases_layout_through_the_api(photo, tmp_path, torch, spandrel):
    """The authors' release saves ``{'model': state_dict, 'optimizer': ...}`` (``.pth.tar``): read by its
    ``model`` entry, as spandrel unwraps it, beside an Adam state that holds tensors of its own."""
    x = odd_crop(photo)
    ref = _spandrel_swift(x[None], seed=2, upscale_factor=4)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-4)
    opt.zero_grad()
    ref(torch.from_numpy(x[None])).mean().backward()
    saved = {k: v.detach().clone() for k, v in ref.state_dict().items()}
    opt.step()
    ref.load_state_dict(saved)  # the file's model is the one before the step; the optimizer has moved on
    path = tmp_path / 'swift_srgan_4x.pth.tar'
    torch.save({'model': ref.state_dict(), 'optimizer': opt.state_dict()}, path)
    got, up = api_outputs(path, x)
    want = torch_out(ref, x)
    assert up.arch == {**TINY, 'upscale_factor': 4} and got.shape == want.shape == (3, 148, 180)
    db = psnr(got, want)
    print('release layout', round(db, 1))
    assert db >= LEAST_DB


@pytest.mark.parametrize('over', [{'upscale_factor': 1}, {'upscale_factor': 4}, {'upscale_factor': 8},
                                  {'num_blocks': 0}])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel):
    x = odd_crop(photo)
    assert_form_matches(_spandrel_swift(x[None], seed=1, **over), x, tmp_path, {**TINY, **over})


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    assert detect_arch(_state(upscale_factor=8, num_blocks=0)) == {**TINY, 'upscale_factor': 8, 'num_blocks': 0}
    state = _state()
    state['initial.cnn.depthwise.weight'] = state['initial.cnn.depthwise.weight'][:1]
    with pytest.raises(ValueError, match='Swift-SRGAN with 1 input channels'):
        detect_arch(state)
    state = _state()
    del state['residual.1.block1.cnn.depthwise.weight']
    with pytest.raises(ValueError, match=r'residual.1 is not a whole block \(1 whole before it\)'):
        detect_arch(state)
    state = _state()
    state['upsampler.0.conv.pointwise.weight'] = state['upsampler.0.conv.pointwise.weight'][:20]
    with pytest.raises(ValueError, match='upsampler.0 has 20 outputs, not 4 x 16'):
        detect_arch(state)


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='num_channels'):
        models.build_network({**TINY, 'num_channels': 10 ** 6})
    with pytest.raises(ValueError, match='upscale_factor.*one of'):
        models.build_network({**TINY, 'upscale_factor': 3})
    assert models.pad_multiple(TINY) == 1 and models.net_scale(TINY) == 2
