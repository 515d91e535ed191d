"""Trainer parts on tiny networks: EMA, state files, optimiser-state mapping, LR schedule,
NaN/inf guard, net_d_init_iters, checkpoint pruning and newest-complete-state lookup."""
import logging
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle.models import build_network
from realesrgan_paddle.training.checkpoints import CheckpointManager, load_optimizer_state, optimizer_state
from realesrgan_paddle.training.ema import EMA, ema_update
from realesrgan_paddle.training.guarded_step import NonFiniteLossError
from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import load_options
from realesrgan_paddle.training.schedulers import MultiStepWarmupLR
from realesrgan_paddle.training.state_io import load_state, save_state
from tests.nets import srvgg

ROOT = Path(__file__).resolve().parents[2]
TINY_G = srvgg()
LOG = logging.getLogger('test.train')


def _opt(tmp_path, *extra):
    return load_options(ROOT / 'options' / 'tiny_smoke.yml', [f'path.experiments_root={tmp_path}', *extra])


def _batch(seed=0, b=2, s=16):
    rng = np.random.default_rng(seed)
    lq = paddle.to_tensor(rng.random((b, 3, s, s)).astype('float32'))
    gt = paddle.to_tensor(rng.random((b, 3, s * 4, s * 4)).astype('float32'))
    return lq, gt, gt


def test_ema_update_formula():
    paddle.seed(0)
    net, ema_net = build_network(TINY_G), build_network(TINY_G)
    ema = EMA(net, ema_net, 0.9)
    before = {k: v.numpy().copy() for k, v in ema.net_ema.state_dict().items()}
    for p in net.parameters():
        p.set_value(p + 1.0)
    ema.update(net)
    for k, v in ema.net_ema.state_dict().items():
        np.testing.assert_allclose(v.numpy(), 0.9 * before[k] + 0.1 * (before[k] + 1.0), rtol=1e-5, atol=1e-6)
    ema_update(ema.net_ema, net, 0.0)
    for k, v in ema.net_ema.state_dict().items():
        np.testing.assert_allclose(v.numpy(), net.state_dict()[k].numpy())
    with pytest.raises(ValueError, match='ema_decay'):
        EMA(net, ema_net, 1.5)


def test_state_file_roundtrip_and_no_pickle(tmp_path):
    rs = np.random.RandomState(3)
    st = {'a': np.arange(5, dtype='int64'), 'nested': {'x': [1, 2.5, 'txt', None], 't': (1, 2)},
          'rng': rs.get_state(), 'flag': True}
    p = tmp_path / '7.pdstates'
    save_state(p, st)
    back = load_state(p)
    np.testing.assert_array_equal(back['a'], st['a'])
    assert back['nested'] == {'x': [1, 2.5, 'txt', None], 't': (1, 2)} and back['flag'] is True
    np.testing.assert_array_equal(back['rng'][1], st['rng'][1])
    (tmp_path / 'bad.pdstates').write_bytes(b'not a zip')
    with pytest.raises(ValueError, match='bad.pdstates: not a readable training state'):
        load_state(tmp_path / 'bad.pdstates')


def test_optimizer_state_survives_different_parameter_names():
    paddle.seed(1)
    net = build_network(TINY_G)
    opt = paddle.optimizer.Adam(parameters=net.parameters(), learning_rate=1e-3, beta1=0.9, beta2=0.99)
    lq, gt, _ = _batch()
    (net(lq) - gt).abs().mean().backward()
    opt.step()
    saved = optimizer_state(opt, net)
    assert any(k.startswith('body.0.weight::moment1') for k in saved)
    build_network(TINY_G)  # shifts Paddle's global parameter counter
    net2 = build_network(TINY_G)
    assert [p.name for p in net2.parameters()] != [p.name for p in net.parameters()]
    opt2 = paddle.optimizer.Adam(parameters=net2.parameters(), learning_rate=1e-3, beta1=0.9, beta2=0.99)
    load_optimizer_state(opt2, saved, net2)
    again = optimizer_state(opt2, net2)
    assert set(again) == set(saved)
    for k, v in saved.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(again[k], v)


def test_multistep_lr_with_warmup():
    s = MultiStepWarmupLR(1e-4, [3, 5], 0.5)
    lrs = []
    for _ in range(6):
        s.step()
        lrs.append(s.get_lr())
    assert lrs == pytest.approx([1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5])
    w = MultiStepWarmupLR(1e-4, [], 0.5, warmup_iter=4)
    w.step()
    assert w.get_lr() == pytest.approx(2.5e-5)
    with pytest.raises(ValueError, match='increasing'):
        MultiStepWarmupLR(1e-4, [5, 3])


def test_nan_guard_skips_then_aborts(tmp_path):
    opt = _opt(tmp_path, 'model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null',
               'train.nan_max_consecutive=3')
    paddle.seed(0)
    model = build_model(opt, LOG)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    lq, gt, gt_usm = _batch()
    bad = lq.clone()
    bad[0, 0, 0, 0] = float('nan')
    assert model.optimize(bad, gt, gt_usm, 1) is None
    assert model.optimize(bad, gt, gt_usm, 2) is None
    for k, v in model.g.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert model.optimize(lq, gt, gt_usm, 3) is not None  # a good step resets the count
    assert model.nan_run == 0
    for i in range(2):
        assert model.optimize(bad, gt, gt_usm, 4 + i) is None
    with pytest.raises(NonFiniteLossError, match='3 non-finite losses in a row'):
        model.optimize(bad, gt, gt_usm, 6)


def test_gan_model_warms_up_discriminator_first(tmp_path):
    opt = _opt(tmp_path, 'train.net_d_init_iters=2')
    paddle.seed(0)
    model = build_model(opt, LOG)
    g0 = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    d0 = {k: v.numpy().copy() for k, v in model.d.state_dict().items()}
    losses = model.optimize(*_batch(), current_iter=1)
    assert 'l_g_gan' not in losses and 'l_d_real' in losses
    assert all(np.array_equal(v.numpy(), g0[k]) for k, v in model.g.state_dict().items())
    assert not all(np.array_equal(v.numpy(), d0[k]) for k, v in model.d.state_dict().items())
    losses = model.optimize(*_batch(1), current_iter=3)
    assert {'l_g_pix', 'l_g_gan', 'l_d_real', 'l_d_fake'} <= set(losses)
    assert not all(np.array_equal(v.numpy(), g0[k]) for k, v in model.g.state_dict().items())


def test_checkpoint_manager_keeps_last_k_and_skips_incomplete(tmp_path):
    mgr = CheckpointManager(tmp_path / 'exp', keep_last=2)
    params = {'w': np.ones(3, 'float32')}
    for it in (2, 4, 6):
        mgr.save(it, {'g': {'params': params, 'arch': TINY_G}}, {'epoch': 0})
    assert mgr.saved_iters() == [4, 6]
    assert sorted(p.name for p in mgr.models_dir.iterdir()) == ['net_g_4.pdparams', 'net_g_6.pdparams']
    # a damaged newest state, and a newest state whose net file is gone: both are skipped
    mgr.state_path(8).write_bytes(b'PK\x03\x04 truncated')
    save_state(mgr.state_path(10), {'iter': 10, 'nets': ['g']})
    (mgr.states_dir / '.12.pdstates.abc.tmp').write_bytes(b'half written')
    it, st = mgr.latest()
    assert it == 6 and st['iter'] == 6


def test_degradation_section_reaches_kernel_sampling_and_pipeline(tmp_path):
    from realesrgan_paddle.training.data_setup import build_feeder, build_train_loader
    opt = _opt(tmp_path, 'degradation={blur_sigma: [0.2, 0.3], sinc_prob: 0, noise_range: [2, 3]}')
    _, _, ds = build_train_loader(opt, 0, 1, LOG)
    assert ds.deg_opt['blur_sigma'] == [0.2, 0.3] and ds.deg_opt['sinc_prob'] == 0
    feeder = build_feeder(opt, LOG)
    assert feeder.degrade.opt['noise_range'] == [2, 3]
    item = ds[0]
    lq, gt, gt_usm = feeder({k: paddle.to_tensor(np.stack([item[k]] * 2)) for k in
                             ('gt', 'kernel1', 'kernel2', 'sinc_kernel')}, seed=0)
    assert tuple(gt.shape) == (2, 3, 64, 64) and tuple(lq.shape) == (2, 3, 16, 16)
    assert float((gt_usm - gt).abs().max()) > 0  # USM-sharpened GT for the L1/perceptual losses


def test_pretrained_pth_is_converted_on_the_fly(tmp_path, torch):
    paddle.seed(3)
    src = build_network(TINY_G)
    state = {k: torch.from_numpy(v.numpy().copy()) for k, v in src.state_dict().items()}
    pth = tmp_path / 'tiny_g.pth'
    torch.save({'params_ema': state}, str(pth))
    opt = _opt(tmp_path, f'path.pretrain_network_g={pth}')
    model = build_model(opt, LOG)
    for k, v in model.g.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), src.state_dict()[k].numpy())
    for k, v in model.ema.net_ema.state_dict().items():  # EMA starts from the pretrained weights
        np.testing.assert_array_equal(v.numpy(), src.state_dict()[k].numpy())


def test_enlarged_dataset_draws_new_crops_for_each_repeat(tmp_path):
    from realesrgan_paddle.training.data_setup import build_train_loader
    opt = _opt(tmp_path, 'datasets.train.dataset_enlarge_ratio=3', 'datasets.train.crop_pad_size=48')
    _, _, ds = build_train_loader(opt, 0, 1, LOG)
    n = len(ds) // 3
    a, b, again = ds[0], ds[n], ds[0]  # the same image, first and second repeat
    assert a['gt_path'] == b['gt_path']
    assert not np.array_equal(a['kernel1'], b['kernel1'])
    np.testing.assert_array_equal(a['gt'], again['gt'])  # still reproducible
    ds.set_epoch(1)
    assert not np.array_equal(ds[0]['kernel1'], a['kernel1'])


def test_checkpoint_manager_lists_the_net_files_it_names(tmp_path):
    """The pipeline's checkpoint list: net_<which>_<iter> files in iteration order, not the best copy or temps."""
    mgr = CheckpointManager(tmp_path / 'exp', keep_last=0)
    assert mgr.net_files('g') == {}  # no models folder yet
    params = {'w': np.ones(3, 'float32')}
    for it in (10, 2, 4):
        mgr.save(it, {'g': {'params': params, 'arch': TINY_G}, 'd': {'params': params}}, {'epoch': 0})
    for name in ('net_g_best.pdparams', '.net_g_12.pdparams.123-abcdefgh.tmp', 'net_g_12.pdparams.bak'):
        (mgr.models_dir / name).write_bytes(b'x')
    assert mgr.net_files('g') == {it: mgr.net_path('g', it) for it in (2, 4, 10)}
    assert list(mgr.net_files('g')) == [2, 4, 10] and list(mgr.net_files('d')) == [2, 4, 10]
    assert mgr.net_path('g', 'best').name == 'net_g_best.pdparams'
