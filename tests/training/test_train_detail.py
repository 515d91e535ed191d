"""Detail-keeping training parts: the detail and LDL losses wired into both trainers, their option
entries, the ``detail_ratio`` validation metric (geometric mean, ``better: one``), and the shipped
CPU domain recipe."""
import logging
from pathlib import Path

import cv2
import numpy as np
import paddle
import pytest

from tests.training.smoke import SMOKE, _batch
from realesrgan_paddle.training.loss_terms import find
from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import OptionsError, load_options
from realesrgan_paddle.training.validation import BestTracker, detail_ratio, validate
from realesrgan_paddle.media.image_io import imread

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / 'options' / 'finetune_domain_compact_cpu.yml'
LOG = logging.getLogger('test.train.detail')
DETAIL = ['train.hf_opt.loss_weight=1.0', 'train.fft_opt.loss_weight=0.5', 'train.gradient_opt.loss_weight=0.5',
          'train.ldl_opt.loss_weight=1.0']


def _opt(tmp_path, *extra):
    return load_options(SMOKE, [f'path.experiments_root={tmp_path}', *extra])


@pytest.mark.parametrize('gan', [False, True])
def test_detail_losses_train_both_models(tmp_path, photo_batch, gan):
    extra = [] if gan else ['model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null']
    opt = _opt(tmp_path, *extra, *DETAIL)
    losses = opt['train']['losses']
    assert find(losses, 'l_g_hf')['window'] == 8 and find(losses, 'train.ldl_opt')['window'] == 7
    paddle.seed(0)
    model = build_model(opt, LOG)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    lq, gt, gt_usm = _batch(photo_batch)
    losses = model.optimize(lq, gt, gt_usm, 1)
    for k in ('l_g_pix', 'l_g_hf', 'l_g_fft', 'l_g_grad', 'l_g_ldl'):
        assert np.isfinite(losses[k]), k
    assert losses['l_g_hf'] > 0 and losses['l_g_fft'] > 0
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())


def test_hf_loss_alone_moves_the_generator(tmp_path, photo_batch):
    """The detail loss's gradient reaches the generator: with only the HF term (L1 weight 0) the weights change."""
    opt = _opt(tmp_path, 'model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null',
               'train.pixel_opt.loss_weight=0.0', 'train.hf_opt.loss_weight=1.0')
    paddle.seed(0)
    model = build_model(opt, LOG)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    losses = model.optimize(*_batch(photo_batch), 1)
    assert losses['l_g_pix'] == 0.0 and losses['l_g_hf'] > 0
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())


def test_detail_options_are_checked(tmp_path):
    with pytest.raises(OptionsError) as e:
        _opt(tmp_path, 'train.hf_opt.window=eight', 'train.hf_opt.type=L1Loss', 'train.ldl_opt.colour=1',
             'val.metrics.d.type=detail_ratios')
    text = str(e.value)
    for part in ('train.hf_opt.window: expected int', 'train.hf_opt.type', 'train.ldl_opt.colour: unknown key',
                 'val.metrics.d.type'):
        assert part in text


def test_detail_ratio_moves_the_right_way_on_real_photos(hr_photos):
    img = imread(hr_photos[0])[..., :3]
    assert detail_ratio(img, img) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(img, (0, 0), 1.5)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    assert detail_ratio(blurred, img) < 0.5
    assert detail_ratio(noisy, img) > 1.2
    with pytest.raises(ValueError, match='shapes differ'):
        detail_ratio(img[:-8], img)


def test_validate_reports_the_geometric_mean_of_detail_ratios(hr_photos):
    class Up(paddle.nn.Layer):
        def forward(self, x):
            return paddle.nn.functional.interpolate(x, scale_factor=4, mode='bicubic')
    batches, per = [], []
    for p in hr_photos[:3]:
        gt = imread(p)[:128, :128, :3]
        lq = cv2.resize(gt, (32, 32), interpolation=cv2.INTER_AREA)
        t = lambda a: paddle.to_tensor(a[..., ::-1].transpose(2, 0, 1)[None].astype('float32') / 255)  # noqa: E731
        batches.append({'lq': t(lq), 'gt': t(gt), 'lq_path': [str(p)]})
        sr = np.clip(cv2.resize(lq.astype('float32') / 255, (128, 128), interpolation=cv2.INTER_CUBIC), 0, 1)
        per.append((sr, gt))
    metrics = {'d': {'type': 'detail_ratio', 'crop_border': 4, 'test_y_channel': True},
               'p': {'type': 'psnr', 'crop_border': 4, 'test_y_channel': True}}
    res, n = validate(Up(), batches, {'metrics': metrics}, 0)
    assert n == 3
    vals = []
    for b in batches:
        out = Up()(b['lq']).numpy()[0].transpose(1, 2, 0)[..., ::-1]
        out = (np.clip(out, 0, 1) * 255).round().astype(np.uint8)
        gt = (b['gt'].numpy()[0].transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
        vals.append(detail_ratio(out, gt))
    assert res['d'] == pytest.approx(float(np.exp(np.mean(np.log(vals)))), rel=1e-9)
    assert res['d'] != pytest.approx(float(np.mean(vals)), rel=1e-3)


def test_best_tracker_one_means_closest_to_one():
    bt = BestTracker({'d': {'better': 'one'}, 'p': {'better': 'higher'}})
    assert bt.update({'d': 0.5, 'p': 20.0}, 1) == ['d', 'p']
    assert bt.update({'d': 2.5, 'p': 19.0}, 2) == []        # |log 2.5| > |log 0.5|
    assert bt.update({'d': 1.5, 'p': 21.0}, 3) == ['d', 'p']
    assert bt.best['d'] == {'val': 1.5, 'iter': 3}


def test_shipped_cpu_recipe_loads_with_its_detail_loss(tmp_path):
    opt = load_options(RECIPE, [f'datasets.train.dataroot_gt={tmp_path}', f'datasets.val.dataroot_gt={tmp_path}',
                                f'datasets.val.dataroot_lq={tmp_path}'])
    assert opt['model_type'] == 'RealESRNetModel'
    assert opt['network_g']['type'] == 'SRVGGNetCompact'
    assert opt['path']['pretrain_network_g'] == 'realesr-animevideov3'
    losses = opt['train']['losses']
    assert find(losses, 'l_g_lowpass')['weight'] > 0 and find(losses, 'l_g_pix')['weight'] == 0.0
    # texture: the finest band's strength follows x4plus's on the same input (phase-free), not the GT's
    energy, high = find(losses, 'l_g_anchor_energy'), find(losses, 'l_g_anchor_high')
    assert energy['target'] == high['target'] == 'teacher' and energy['weight'] > 0 and high['weight'] == 0.0
    assert opt['train']['teacher'] == 'realesrgan-x4plus'
    assert find(losses, 'l_g_hf') is None and find(losses, 'l_g_fft') is None
    grid = find(losses, 'l_g_grid')
    assert grid['type'] == 'SubpixelGridLoss' and grid['weight'] > 0
    assert find(losses, 'l_g_percep') is None and opt.get('network_d') is None
    assert opt['val']['metrics']['detail']['type'] == 'detail_ratio'


def test_texture_losses_alone_move_the_generator(tmp_path, photo_batch):
    """The weight-free texture terms (swd_opt, randvgg_opt) reach the generator with the pixel L1 off."""
    opt = _opt(tmp_path, 'model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null',
               'train.pixel_opt.loss_weight=0.0', 'train.swd_opt={type: SlicedWassersteinLoss, num_proj: 4}',
               'train.randvgg_opt={type: RandomVGGLoss, style_weight: 1.0, layer_weights: {conv2_2: 1.0}}')
    paddle.seed(0)
    model = build_model(opt, LOG)
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    losses = model.optimize(*_batch(photo_batch), 1)
    assert losses['l_g_swd'] > 0 and losses['l_g_rvgg'] > 0
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())
