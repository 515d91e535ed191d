"""One step of the trainer with the perceptual recipe's three parts (pipeline/train/recipes.py ``PERCEPTUAL``: the perceptual
loss on VGG16, LPIPS on VGG16, the projected discriminator's GAN term at 0.1) on real photo crops (scikit-image's
astronaut): its loss values and the generator's gradients equal those of the same step computed the plain way, each
part on its own network (issue 79): a VGG16 extractor for the perceptual loss with the target under ``no_grad``,
LPIPS' own backbone and input scaling, the discriminator's backbone with a pad op before each strided conv (as
before its convs took the padding themselves). The shared VGG16 pass and the backbone's padding change no number
beyond float32 round-off."""
import logging

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.loss import perceptual
from realesrgan_paddle.loss.perceptual import VGG16_LAYER_WEIGHTS, perceptual_loss
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models.feature_nets.projected_discriminator import diff_augment
from realesrgan_paddle.models.feature_nets.vgg import VGG16FeatureExtractor
from realesrgan_paddle.training.option_file import load_options
from realesrgan_paddle.training.steps import build_model

from tests.nets import padded_efficientnet_taps
from tests.training.smoke import SMOKE

SEED = 11  # DiffAugment's draws: the same in both computations


@pytest.fixture
def crops():
    """``(lq, gt)``: two 64 px crops of scikit-image's astronaut (her face, the flag and suit), RGB NCHW in [0, 1],
    and their 4x area-averaged low-resolution copies."""
    from skimage import data
    img = data.astronaut().astype(np.float32) / 255
    gt = np.stack([img[60:124, 190:254], img[250:314, 20:84]]).transpose(0, 3, 1, 2)
    gt = paddle.to_tensor(np.ascontiguousarray(gt))
    return F.avg_pool2d(gt, 4), gt


def _model(tmp_path, perception, more=()):
    perception('vgg16', 'lpips', 'efficientnet-lite0')
    opt = load_options(SMOKE, [
        f'path.experiments_root={tmp_path}', 'train.net_d_init_iters=0', 'train.ema_decay=0',
        'network_d={type: ProjectedDiscriminator, num_in_ch: 3, proj_channels: 8, num_feat: 16}',
        'train.losses.l_g_gan.gan_type=vanilla', 'train.losses.l_g_gan.weight=0.1',
        'train.losses.l_g_percep={type: PerceptualLoss, weight: 1.0, network: vgg16}',
        'train.losses.l_g_lpips={type: LPIPSLoss, weight: 1.0, net: vgg}', *more])
    paddle.seed(0)
    return opt, build_model(opt, logging.getLogger('test.perceptual_step'))


def _copy(arch, net):
    twin = models.build_network(arch)
    twin.set_state_dict({k: paddle.to_tensor(v.numpy()) for k, v in net.state_dict().items()})
    return twin


def _plain_d(d, x):
    """The projected discriminator's forward (training: DiffAugment) with the pad-op backbone."""
    x = diff_augment(x, d.policy)
    feats = d.project(padded_efficientnet_taps(d.backbone, x))
    return paddle.concat([head(f).reshape([x.shape[0], -1]) for head, f in zip(d.heads, feats)], axis=1)


def _plain_step(opt, g, d, lq, gt):
    """``(losses, generator gradients)`` of the trainer's first step (``RealESRGANModel.optimize``) computed the
    plain way: each network its own, nothing shared or kept."""
    vgg = VGG16FeatureExtractor(list(VGG16_LAYER_WEIGHTS))
    perceptual.load_vgg_weights(vgg, None)
    lp = iqa_nets.load_lpips('vgg')
    paddle.seed(SEED)
    out = g(lq)
    with paddle.no_grad():
        gt_feats = vgg(gt)
    losses = {'l_g_pix': (out - gt).abs().mean(), 'l_g_percep': perceptual_loss(vgg(out), gt_feats,
                                                                                VGG16_LAYER_WEIGHTS)[0],
              'l_g_lpips': lp(out, gt).mean()}
    for p in d.heads.parameters():
        p.stop_gradient = True
    logits = _plain_d(d, out)
    losses['l_g_gan'] = 0.1 * F.binary_cross_entropy_with_logits(logits, paddle.ones_like(logits))
    paddle.add_n(list(losses.values())).backward()
    grads = [p.grad.numpy().copy() for p in g.parameters()]
    for p in d.heads.parameters():
        p.stop_gradient = False
    logits = _plain_d(d, paddle.concat([gt, out.detach()]))
    losses['l_d_real'] = F.binary_cross_entropy_with_logits(logits[:2], paddle.ones_like(logits[:2]))
    losses['l_d_fake'] = F.binary_cross_entropy_with_logits(logits[2:], paddle.zeros_like(logits[2:]))
    return {k: float(v) for k, v in losses.items()}, grads


def test_the_perceptual_step_equals_the_plain_computation(tmp_path, perception, crops):
    opt, model = _model(tmp_path, perception)
    lq, gt = crops
    g_ref, d_ref = _copy(opt['network_g'], model.g), _copy(opt['network_d'], model.d)  # before the step moves them
    g_ref.train()
    d_ref.train()
    grads = {}
    for i, p in enumerate(model.g.parameters()):
        p.register_hook(lambda g, i=i: grads.__setitem__(i, g.numpy().copy()))
    paddle.seed(SEED)
    losses = model.optimize(lq, gt, gt, 1)
    want, want_grads = _plain_step(opt, g_ref, d_ref, lq, gt)
    for k, v in want.items():
        assert losses[k] == pytest.approx(v, rel=2e-5, abs=1e-7), k
    assert min(losses['l_g_percep'], losses['l_g_lpips'], losses['l_g_gan']) > 1e-3
    got = np.concatenate([grads[i].ravel() for i in range(len(want_grads))])
    ref = np.concatenate([w.ravel() for w in want_grads])
    assert np.linalg.norm(ref) > 0 and np.linalg.norm(got - ref) <= 1e-4 * np.linalg.norm(ref)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4 * float(np.abs(ref).max()))


def _recorded(layer, name, log):
    """Wrap ``layer.<name>`` (a frozen network's feature pass) to log each call: its batch size, whether its input
    needs a gradient, and whether every feature it gives is free of one."""
    real = getattr(layer, name)

    def call(x, *a, **k):
        out = real(x, *a, **k)
        log.append((x.shape[0], not x.stop_gradient, all(f.stop_gradient for f in _features(out))))
        return out
    setattr(layer, name, call)


def _features(out):
    return out.values() if isinstance(out, dict) else out


def test_each_frozen_network_sees_each_batch_once(tmp_path, perception, crops):
    """The step's frozen networks, counted: VGG16 once on the output (with its gradient) and once on the GT
    (``no_grad``: its features carry none), for both terms; EfficientNet-Lite0 once in the G step (the fake, with
    its gradient) and once in the D step (the real batch beside the fake, no graph: nothing of it trains)."""
    opt, model = _model(tmp_path, perception)
    lq, gt = crops
    percep = next(t.loss for t in model.terms if t.name == 'l_g_percep')
    vgg, backbone = [], []
    _recorded(percep.shared.vgg, 'taps', vgg)
    _recorded(model.d.backbone, 'taps', backbone)
    paddle.seed(SEED)
    losses = model.optimize(lq, gt, gt, 1)
    assert {'l_g_percep', 'l_g_lpips', 'l_g_gan', 'l_d_real'} <= losses.keys()
    assert vgg == [(2, True, False), (2, False, True)]
    assert backbone == [(2, True, False), (4, False, True)]


def test_samples_puts_the_vgg16_terms_on_the_first_images(tmp_path, perception, crops):
    """``samples: 1`` on both VGG16 terms (the cost cut measured for the perceptual recipe): VGG16 runs once on the
    output's first image (with its gradient) and once on the GT's, the two terms share those passes, and their values
    are the plain computation on that image alone; the other terms still see the whole batch."""
    opt, model = _model(tmp_path, perception, ('train.losses.l_g_percep.samples=1',
                                               'train.losses.l_g_lpips.samples=1'))
    lq, gt = crops
    g_ref = _copy(opt['network_g'], model.g)
    g_ref.train()
    percep = next(t.loss for t in model.terms if t.name == 'l_g_percep')
    vgg = []
    _recorded(percep.shared.vgg, 'taps', vgg)
    paddle.seed(SEED)
    losses = model.optimize(lq, gt, gt, 1)
    assert vgg == [(1, True, False), (1, False, True)]
    ref = VGG16FeatureExtractor(list(VGG16_LAYER_WEIGHTS))
    perceptual.load_vgg_weights(ref, None)
    with paddle.no_grad():
        out = g_ref(lq)
        want = {'l_g_percep': float(perceptual_loss(ref(out[:1]), ref(gt[:1]), VGG16_LAYER_WEIGHTS)[0]),
                'l_g_lpips': float(iqa_nets.load_lpips('vgg')(out[:1], gt[:1]).mean()),
                'l_g_pix': float((out - gt).abs().mean())}
        whole = float(perceptual_loss(ref(out), ref(gt), VGG16_LAYER_WEIGHTS)[0])
    for k, v in want.items():
        assert losses[k] == pytest.approx(v, rel=2e-5, abs=1e-7), k
    assert abs(whole - want['l_g_percep']) > 1e-3 * whole  # the two crops differ: a whole-batch term would show
