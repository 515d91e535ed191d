"""Paddle networks loaded from converted torch checkpoints equal the PyTorch reference.

Every case builds a small random torch model, saves it with torch.save (zip and
legacy formats), converts it with tools/convert_torch.py and compares outputs
on random inputs (max abs diff <= 1e-4).
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from tests.skips import need_reference, need_torch

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


convert = _load('convert_torch_parity', ROOT / 'tools' / 'convert_torch.py')


@pytest.fixture(scope='session')
def ta(torch):
    """The PyTorch reference networks (``realesrgan_paddle.reference.torch_networks``)."""
    return need_reference()


def _save_both(tmp_path, obj, stem):
    """torch.save in the zip format and the legacy (pre-1.6) format."""
    torch = need_torch()
    zip_path, legacy_path = tmp_path / f'{stem}_zip.pth', tmp_path / f'{stem}_legacy.pth'
    torch.save(obj, zip_path)
    torch.save(obj, legacy_path, _use_new_zipfile_serialization=False)
    return zip_path, legacy_path


def _convert(src, *flags):
    dst = src.with_suffix('.pdparams')
    rc = convert.main(['--input', str(src), '--output', str(dst), *flags])
    assert rc == 0
    return dst


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _max_diff(torch_out, paddle_out):
    return float(np.abs(torch_out.detach().numpy() - paddle_out.numpy()).max())


GENERATOR_CASES = [
    ('RRDBNet', dict(scale=4, num_feat=8, num_block=1, num_grow_ch=4), ()),
    ('RRDBNet', dict(scale=2, num_feat=8, num_block=2, num_grow_ch=4), ()),
    ('RRDBNet', dict(scale=1, num_feat=8, num_block=1, num_grow_ch=4), ()),
] + [
    ('SRVGGNetCompact', dict(num_feat=8, num_conv=2, upscale=up, act_type=act),
     ('--act_type', act) if act == 'leakyrelu' else ())
    for act in ('prelu', 'relu', 'leakyrelu') for up in (2, 3, 4)
]


@pytest.mark.parametrize('net_type,kwargs,flags', GENERATOR_CASES,
                         ids=[f'{t}-{"-".join(f"{v}" for v in k.values())}' for t, k, _ in GENERATOR_CASES])
def test_generator_parity(tmp_path, net_type, kwargs, flags, torch, ta):
    torch.manual_seed(1)
    tnet = getattr(ta, net_type)(**kwargs).eval()
    if net_type == 'SRVGGNetCompact' and kwargs['act_type'] == 'prelu':
        with torch.no_grad():  # distinct slopes per channel so a wrong mapping shows
            for m in tnet.body:
                if isinstance(m, torch.nn.PReLU):
                    m.weight.uniform_(-0.5, 0.5)
    x = _rand((2, 3, 16, 16))
    with torch.no_grad():
        ref = tnet(torch.from_numpy(x))
    outs = []
    for src in _save_both(tmp_path, {'params_ema': tnet.state_dict()}, net_type):
        net, arch = models.load_network(_convert(src, *flags))
        assert arch['type'] == net_type
        assert all(arch[k] == v for k, v in kwargs.items()), arch
        with paddle.no_grad():
            out = net(paddle.to_tensor(x))
        assert tuple(out.shape) == tuple(ref.shape)
        assert _max_diff(ref, out) <= TOL
        outs.append(out.numpy())
    np.testing.assert_array_equal(outs[0], outs[1])  # zip and legacy give the same weights


def _old_esrgan_names(state, layout):
    """Rename an RRDBNet x4 state dict to the 2018 ESRGAN layouts."""
    nb = len({k.split('.')[1] for k in state if k.startswith('body.')})
    out = {}
    for k, v in state.items():
        head, _, rest = k.partition('.')
        if layout == 'model':
            if head == 'body':
                n, rdb, conv, kind = rest.split('.')
                new = f'model.1.sub.{n}.{rdb.upper()}.{conv}.0.{kind}'
            else:
                new = {'conv_first': 'model.0', 'conv_body': f'model.1.sub.{nb}', 'conv_up1': 'model.3',
                       'conv_up2': 'model.6', 'conv_hr': 'model.8', 'conv_last': 'model.10'}[head] + f'.{rest}'
        else:
            if head == 'body':
                n, rdb, conv, kind = rest.split('.')
                new = f'RRDB_trunk.{n}.{rdb.upper()}.{conv}.{kind}'
            else:
                new = {'conv_first': 'conv_first', 'conv_body': 'trunk_conv', 'conv_up1': 'upconv1',
                       'conv_up2': 'upconv2', 'conv_hr': 'HRconv', 'conv_last': 'conv_last'}[head] + f'.{rest}'
        out[new] = v
    return out


@pytest.mark.parametrize('layout', ['model', 'RRDB_trunk'])
def test_old_esrgan_layouts(tmp_path, layout, torch, ta):
    torch.manual_seed(2)
    tnet = ta.RRDBNet(scale=4, num_feat=8, num_block=2, num_grow_ch=4).eval()
    old = _old_esrgan_names(tnet.state_dict(), layout)
    assert not any(k.startswith(('body.', 'conv_body', 'conv_up', 'conv_hr')) for k in old)
    src = tmp_path / 'RRDB_ESRGAN_x4.pth'
    torch.save(old, src, _use_new_zipfile_serialization=False)  # the 2018 files are legacy pickles
    net, arch = models.load_network(_convert(src, '--block', '2'))
    assert arch['num_block'] == 2 and arch['scale'] == 4
    for k, v in tnet.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[k].numpy(), v.numpy())
    x = _rand((1, 3, 12, 12))
    with torch.no_grad():
        ref = tnet(torch.from_numpy(x))
    assert _max_diff(ref, net(paddle.to_tensor(x))) <= TOL


def _torch_disc(skip):
    torch, ta = need_torch(), need_reference()
    torch.manual_seed(3)
    tnet = ta.UNetDiscriminatorSN(num_feat=4, skip_connection=skip)
    tnet.train()
    with torch.no_grad():  # a few power iterations, as after some training
        for _ in range(3):
            tnet(torch.rand(1, 3, 16, 16))
    return tnet


@pytest.mark.parametrize('skip', [True, False])
def test_discriminator_eval_parity(tmp_path, skip, torch):
    tnet = _torch_disc(skip).eval()
    flags = () if skip else ('--skip_connection', 'false')
    x = _rand((2, 3, 32, 32), seed=4)
    with torch.no_grad():
        ref = tnet(torch.from_numpy(x))
    for src in _save_both(tmp_path, {'params': tnet.state_dict()}, 'netD'):
        net, arch = models.load_network(_convert(src, *flags), param_key='params')
        assert arch['skip_connection'] is skip
        out = net(paddle.to_tensor(x))
        assert _max_diff(ref, out) <= TOL * max(1.0, float(ref.abs().max()))


def test_discriminator_training_continues_same_uv(tmp_path, torch):
    """One train-mode step on both sides: outputs, u/v buffers and updated weights stay equal."""
    tnet = _torch_disc(True)
    src = tmp_path / 'netD.pth'
    torch.save({'params': tnet.state_dict()}, src)
    pnet, _ = models.load_network(_convert(src), param_key='params')
    pnet.train()
    topt = torch.optim.SGD(tnet.parameters(), lr=0.05)
    popt = paddle.optimizer.SGD(learning_rate=0.05, parameters=pnet.parameters())
    x = _rand((2, 3, 16, 16), seed=5)
    for step in range(2):
        tout = tnet(torch.from_numpy(x))
        pout = pnet(paddle.to_tensor(x))
        scale = max(1.0, float(tout.detach().abs().max()))
        assert _max_diff(tout, pout) <= TOL * scale, f'step {step}'
        for i in range(1, 9):  # the power iteration advanced u and v identically
            for buf in ('weight_u', 'weight_v'):
                t = getattr(getattr(tnet, f'conv{i}'), buf).numpy()
                p = getattr(getattr(pnet, f'conv{i}'), buf).numpy()
                np.testing.assert_allclose(p, t, atol=1e-5, err_msg=f'conv{i}.{buf} step {step}')
        tloss, ploss = (tout ** 2).mean(), (pout ** 2).mean()
        topt.zero_grad()
        tloss.backward()
        topt.step()
        popt.clear_grad()
        ploss.backward()
        popt.step()
    tw = tnet.conv3.weight_orig.detach().numpy()
    np.testing.assert_allclose(pnet.conv3.weight_orig.numpy(), tw, atol=1e-5)


VGG_LAYERS = ['conv1_1', 'relu1_2', 'conv2_2', 'relu3_1', 'conv3_4', 'relu4_4', 'conv5_4', 'relu5_4']


@pytest.fixture(scope='module')
def vgg_pair(tmp_path_factory, torch, ta):
    torch.manual_seed(6)
    tvgg = ta.vgg19_features(with_classifier=True).eval()
    src = tmp_path_factory.mktemp('vgg') / 'vgg19-random.pth'
    torch.save(tvgg.state_dict(), src)  # torchvision layout: features.N + classifier
    return tvgg, _convert(src)


@pytest.mark.parametrize('use_input_norm,range_norm', [(True, False), (False, True)])
def test_vgg19_features_parity(vgg_pair, use_input_norm, range_norm, torch, ta):
    tvgg, dst = vgg_pair
    net, arch = models.load_network(dst, arch={'layer_name_list': VGG_LAYERS, 'use_input_norm': use_input_norm,
                                               'range_norm': range_norm})
    assert arch['type'] == 'VGG19FeatureExtractor'
    x = np.random.default_rng(7).random((1, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        ref = ta.vgg19_outputs(tvgg, torch.from_numpy(x), VGG_LAYERS, use_input_norm, range_norm)
    out = net(paddle.to_tensor(x))
    assert sorted(out) == sorted(VGG_LAYERS)
    for name in VGG_LAYERS:
        assert _max_diff(ref[name], out[name]) <= TOL * max(1.0, float(ref[name].abs().max())), name
    assert float(out['relu4_4'].min()) >= 0 and float(out['conv3_4'].min()) < 0  # after / before ReLU


def test_module_prefix_and_detected_arch_without_file_arch(tmp_path, torch, ta):
    """A DataParallel ('module.') bare state dict loads straight through models.load_network."""
    torch.manual_seed(8)
    tnet = ta.SRVGGNetCompact(num_feat=8, num_conv=3, upscale=4, act_type='prelu').eval()
    src = tmp_path / 'dp.pth'
    torch.save({f'module.{k}': v for k, v in tnet.state_dict().items()}, src)
    net, arch = models.load_network(src)
    assert arch == {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 3,
                    'upscale': 4, 'act_type': 'prelu'}
    x = _rand((1, 3, 8, 8))
    with torch.no_grad():
        ref = tnet(torch.from_numpy(x))
    assert _max_diff(ref, net(paddle.to_tensor(x))) <= TOL


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
