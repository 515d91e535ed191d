"""Compact (SRVGGNetCompact) against spandrel's: x1 to x4 and x8, 1/3/4 channels, PReLU (detected), ReLU
(assumed when there are no PReLU weights) and LeakyReLU (the flag), from torch-saved files."""
import numpy as np
import pytest

from realesrgan_paddle import models
from tests.ref_compare import H, W, centred_output, photo_input, psnr, run_paddle
from tests.skips import need_spandrel, need_torch


def spandrel_compact(seed, **kwargs):
    torch, Compact = need_torch(), need_spandrel().architectures.Compact.Compact
    torch.manual_seed(seed)
    net = Compact(num_feat=8, num_conv=3, **kwargs).eval()
    with torch.no_grad():  # the default init fades layer by layer: louder, and a slope per PReLU channel
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(2.5)
            elif isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.0, 0.5)
    return net


# (spandrel's constructor arguments, the arch override the weights cannot show)
CASES = {
    'x2-prelu': (dict(num_in_ch=3, num_out_ch=3, upscale=2, act_type='prelu'), None),
    'x1-relu-grey': (dict(num_in_ch=1, num_out_ch=1, upscale=1, act_type='relu'), None),
    'x3-leakyrelu-rgba': (dict(num_in_ch=4, num_out_ch=4, upscale=3, act_type='leakyrelu'), 'leakyrelu'),
    'x4-prelu-grey': (dict(num_in_ch=1, num_out_ch=1, upscale=4, act_type='prelu'), None),
    'x8-prelu': (dict(num_in_ch=3, num_out_ch=3, upscale=8, act_type='prelu'), None),
}


@pytest.mark.parametrize('case', list(CASES))
def test_compact_files_match_spandrel(case, photo, tmp_path, torch):
    kwargs, act = CASES[case]
    ref = spandrel_compact(5, **kwargs)
    x = photo_input(photo, kwargs['num_in_ch']) * 0.5 + 0.25  # room for the skip: the body's part stays visible
    want = centred_output(ref, x)
    torch.save({'params': ref.state_dict()}, tmp_path / 'compact.pth')
    net, arch = models.load_network(tmp_path / 'compact.pth', arch={'act_type': act} if act else None)
    assert arch == {'type': 'SRVGGNetCompact', 'num_feat': 8, 'num_conv': 3, **kwargs}
    got = run_paddle(net, x)
    s = kwargs['upscale']
    assert got.shape == want.shape == (1, kwargs['num_out_ch'], H * s, W * s)
    assert psnr(got, want) >= 50, case


def test_relu_file_read_as_leakyrelu_differs(photo, tmp_path, torch):
    """The activation is not in the weights: the wrong one is visible in the output (the check above can fail)."""
    kwargs = dict(num_in_ch=3, num_out_ch=3, upscale=2, act_type='leakyrelu')
    ref = spandrel_compact(6, **kwargs)
    x = photo_input(photo, 3) * 0.5 + 0.25
    want = centred_output(ref, x)
    torch.save(ref.state_dict(), tmp_path / 'compact.pth')
    net, arch = models.load_network(tmp_path / 'compact.pth')
    assert arch['act_type'] == 'relu'
    assert psnr(run_paddle(net, x), want) < 47  # the fidelity checks need 50


def test_out_channels_follow_spandrels_order():
    from realesrgan_paddle.models.archs.compact.srvgg import detect_srvgg
    state = {'body.0.weight': np.zeros((8, 3, 3, 3), np.float32), 'body.1.weight': np.zeros(8, np.float32),
             'body.2.weight': np.zeros((16, 8, 3, 3), np.float32)}
    assert (detect_srvgg(state)['num_out_ch'], detect_srvgg(state)['upscale']) == (4, 2)  # 16 = 4 x 2^2
    state['body.2.weight'] = np.zeros((5, 8, 3, 3), np.float32)
    with pytest.raises(ValueError, match='5 outputs'):
        detect_srvgg(state)


def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, spandrel):
    """Every wrapper and dtype users' files come in (tests/models/user_files.py), through ``Upscaler`` at 37x45:
    spandrel's output at >= 90 dB."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    kwargs = dict(num_in_ch=3, num_out_ch=3, upscale=4, act_type='prelu')
    ref = spandrel_compact(5, **kwargs)
    x = odd_crop(photo) * 0.5 + 0.25
    centred_output(ref, x[None])

    def arch_read(arch):
        assert arch == {'type': 'SRVGGNetCompact', 'num_feat': 8, 'num_conv': 3, **kwargs}
    assert_user_files_match(ref, x, tmp_path, arch_check=arch_read)
