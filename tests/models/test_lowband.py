"""LowBandRRDBNet (models/archs/rrdb/lowband.py): a frozen RRDBNet plus a zero-initialised low-band corrector. At step 0
it is the base exactly; strength 0 is the base; only the corrector gets gradients (and is what the trainer
optimises); checkpoints round-trip and are detected; the static export matches the dynamic graph; the
correction is low band; DNI with the base scales strength; a corrector of the wrong shape is one line."""
import logging

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.archs.rrdb.lowband import LowBandRRDBNet
from realesrgan_paddle.models.archs.rrdb.rrdbnet import RRDBNet
from tests.nets import rrdb, save_tiny
from tests.cli_checks import one_line

LOW = {**rrdb(), 'type': 'LowBandRRDBNet', 'corr_feat': 8, 'corr_conv': 3}


def _x(photo_batch):
    return paddle.nn.functional.avg_pool2d(photo_batch(2, 64), 4)  # 2 x 3 x 16 x 16


def _trained(seed=1, **changes):
    """A tiny LowBandRRDBNet whose corrector (last conv too) is random: a correction that is not zero."""
    paddle.seed(seed)
    net = models.build_network({**LOW, **changes})
    last = net.corrector.convs[-1]
    last.weight.set_value(paddle.randn(last.weight.shape) * 0.05)
    last.bias.set_value(paddle.randn(last.bias.shape) * 0.05)
    net.eval()
    return net


@pytest.mark.parametrize('up', [1, 2, 4])
def test_zero_init_and_strength_zero_are_the_base(photo_batch, up):
    x = _x(photo_batch)
    paddle.seed(0)
    net = models.build_network({**LOW, 'corr_up': up})
    net.eval()
    assert net.corrector.convs[-1].weight.shape[0] == 3 * up * up
    base = RRDBNet.forward(net, x)
    np.testing.assert_array_equal(net(x).numpy(), base.numpy())  # zero-initialised last conv
    trained = _trained(corr_up=up)
    assert float((trained(x) - RRDBNet.forward(trained, x)).abs().max()) > 1e-3
    trained.strength.set_value(paddle.zeros([1]))
    np.testing.assert_array_equal(trained(x).numpy(), RRDBNet.forward(trained, x).numpy())


def test_gradient_reaches_only_the_corrector(photo_batch):
    x = _x(photo_batch)
    net = _trained()
    net.train()
    (net(x) - 0.5).abs().mean().backward()
    corr = {id(p) for p in net.trainable_parameters()}
    assert corr and len(corr) == 2 * LOW['corr_conv']
    for name, p in net.named_parameters():
        if id(p) in corr:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
        else:
            assert p.stop_gradient and p.grad is None, name


def test_checkpoint_round_trip_and_detection(tmp_path, photo_batch):
    x = _x(photo_batch)
    net = _trained()
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    path = tmp_path / 'low.pdparams'
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    save_checkpoint(path, params=state)  # no arch stored: detected from the keys
    state, arch = models.read_checkpoint(path)
    assert arch == {**LOW, 'type': 'LowBandRRDBNet'} and 'strength' in state
    back, arch = models.load_network(path)
    assert isinstance(back, LowBandRRDBNet)
    np.testing.assert_allclose(back(x).numpy(), net(x).numpy(), atol=1e-6)
    plain, parch = models.load_network(save_tiny(tmp_path / 'plain.pdparams', rrdb()))
    assert parch['type'] == 'RRDBNet' and type(plain) is RRDBNet  # a plain RRDBNet is still one


def _load_error(path, state):
    """The message of loading ``state`` saved at ``path`` (it must fail with a ValueError)."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    save_checkpoint(path, params=state)
    with pytest.raises(ValueError) as e:
        models.load_network(path)
    return str(e.value)


def test_a_corrector_of_the_wrong_shape_is_one_line(tmp_path):
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    state = {k: v.numpy() for k, v in _trained().state_dict().items()}
    state['corrector.convs.0.weight'] = state['corrector.convs.0.weight'][:, :20]
    path = tmp_path / 'bad.pdparams'
    msg = _load_error(path, state)
    assert '\n' not in msg and '20' in msg and '51' in msg  # the channels the file has and those it needs
    del state['strength']
    state['corrector.convs.0.weight'] = _trained().state_dict()['corrector.convs.0.weight'].numpy()
    save_checkpoint(path, params=state)
    with pytest.raises(ValueError, match='strength missing'):
        models.read_checkpoint(path)


@pytest.mark.parametrize('up', [2, 4])
def test_a_wider_band_round_trips_and_is_detected_from_the_last_conv(tmp_path, photo_batch, up):
    """corr_up u: the last conv's 3 * u * u out channels tell u; the default (1) stays out of the arch."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    x = _x(photo_batch)
    net = _trained(corr_up=up)
    path = tmp_path / 'wide.pdparams'
    save_checkpoint(path, params={k: v.numpy() for k, v in net.state_dict().items()})  # no arch stored
    back, arch = models.load_network(path)
    assert arch == {**LOW, 'type': 'LowBandRRDBNet', 'corr_up': up} and back.corr_up == up
    np.testing.assert_allclose(back(x).numpy(), net(x).numpy(), atol=1e-6)
    c = back.correction(x, back.base(x))
    assert c.shape == [2, 3, 64, 64] and float(c.abs().max()) > 1e-3


def test_a_last_conv_of_the_wrong_shape_or_a_bad_corr_up_is_one_line(tmp_path):
    state = {k: v.numpy() for k, v in _trained().state_dict().items()}
    last = f'corrector.convs.{LOW["corr_conv"] - 1}'
    state[f'{last}.weight'] = np.zeros((6, LOW['corr_feat'], 3, 3), np.float32)
    state[f'{last}.bias'] = np.zeros(6, np.float32)
    msg = _load_error(tmp_path / 'bad.pdparams', state)
    one_line(msg, '6', '[3, 12, 48]', 'corr_up')  # the channels given and those each corr_up would take
    with pytest.raises(ValueError, match='corr_up must be a divisor of the scale 4'):
        models.build_network({**LOW, 'corr_up': 3})


@pytest.mark.parametrize('up', [1, 2])
def test_static_export_matches_the_dynamic_graph(tmp_path, up):
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    net = _trained(corr_up=up)
    d = export_static(net, {**LOW, 'corr_up': up}, tmp_path / 'infer')
    for shape in [(1, 3, 12, 20), (1, 3, 16, 8)]:  # one graph for any size (the shuffle by reshape)
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        ref = net(paddle.to_tensor(x)).numpy()
        for engine in ('onednn', 'openvino'):
            np.testing.assert_allclose(PredictorBackend(d, engine=engine).forward(x), ref, atol=1e-4)


def test_the_correction_is_low_band(photo_batch):
    """The correction's Laplacian energy is a small fraction of its energy; for white noise it is 20 x."""
    x = _x(photo_batch)
    net = _trained()
    with paddle.no_grad():
        c = net.correction(x, net.base(x))
    lap = paddle.to_tensor(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32).reshape(1, 1, 3, 3).repeat(3, 0))
    c = c - c.mean(axis=[2, 3], keepdim=True)
    hf = paddle.nn.functional.conv2d(c, lap, groups=3)[:, :, 4:-4, 4:-4]
    ratio = float((hf ** 2).mean() / (c[:, :, 5:-5, 5:-5] ** 2).mean())
    assert 0 < ratio < 0.1
    base = net.base(x) - net.base(x).mean(axis=[2, 3], keepdim=True)
    base_hf = paddle.nn.functional.conv2d(base, lap, groups=3)[:, :, 4:-4, 4:-4]
    assert ratio < 0.2 * float((base_hf ** 2).mean() / (base[:, :, 5:-5, 5:-5] ** 2).mean())


@pytest.mark.parametrize('up', [1, 2])
def test_dni_with_the_base_scales_strength(tmp_path, photo_batch, up):
    from realesrgan_paddle.models.dni import write_dni
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    x = _x(photo_batch)
    net = _trained(corr_up=up)
    trunk = {k: v.numpy() for k, v in net.state_dict().items() if not k.startswith('corrector.') and k != 'strength'}
    save_checkpoint(tmp_path / 'base.pdparams', params=trunk, arch=rrdb())
    save_checkpoint(tmp_path / 'ft.pdparams', params={k: v.numpy() for k, v in net.state_dict().items()},
                    arch={**LOW, 'corr_up': up})
    blend, arch = models.load_network(write_dni(tmp_path / 'ft.pdparams', tmp_path / 'base.pdparams', 0.3,
                                                tmp_path / 'b.pdparams'))
    assert arch['type'] == 'LowBandRRDBNet' and float(blend.strength.numpy()[0]) == pytest.approx(0.3)
    assert blend.corr_up == up
    with paddle.no_grad():
        want = net.base(x) + 0.3 * net.correction(x, net.base(x))
    np.testing.assert_allclose(blend(x).numpy(), want.numpy(), atol=1e-5)  # the trunk blended with itself


def test_trainer_optimises_the_corrector_alone(tmp_path, photo_batch):
    from realesrgan_paddle.training.steps import build_model
    from realesrgan_paddle.training.option_file import load_options
    from tests.training.smoke import SMOKE
    base = save_tiny(tmp_path / 'base.pdparams', rrdb(), ema=True)
    net_g = '{' + ', '.join(f'"{k}": {v!r}'.replace("'", '"') for k, v in LOW.items()) + '}'
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'path.pretrain_network_g={base}',
                               'path.strict_load_g=false', f'network_g={net_g}', 'model_type=RealESRNetModel',
                               'network_d=null', 'train.gan_opt=null', 'train.ema_decay=0.9',
                               'train.trunk_reuse=3'])
    model = build_model(opt, logging.getLogger('test.lowband'))
    assert model.trunk is not None  # the frozen trunk on Paddle Inference
    assert {id(p) for p in model.optim_g._parameter_list} == {id(p) for p in model.g.trainable_parameters()}
    gt = photo_batch(2, 64)
    lq = paddle.nn.functional.avg_pool2d(gt, 4)
    np.testing.assert_allclose(model.trunk(lq).numpy(), model.g.base(lq).numpy(), atol=1e-4)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    calls, trunk, steps = [], model.trunk, []
    model.trunk = lambda x: calls.append(1) or trunk(x)
    step = model._g_step
    model._g_step = lambda *a: steps.append(1) or step(*a)
    for it in (1, 2):
        model.optimize(lq, gt, gt, it)
    assert len(calls) == 2 and len(steps) == 6  # trunk_reuse: 3 corrector steps per pass of the trunk
    moved = {k for k, v in model.g.state_dict().items() if not np.array_equal(v.numpy(), before[k])}
    assert moved and all(k.startswith('corrector.') for k in moved)
    ema = model.ema.net_ema.state_dict()
    assert all(np.array_equal(ema[k].numpy(), before[k]) for k in before if not k.startswith('corrector.'))
