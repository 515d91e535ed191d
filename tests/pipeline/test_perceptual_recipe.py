"""The perceptual recipe (pipeline/recipes.py PERCEPTUAL): with VGG16, LPIPS and EfficientNet-Lite0 cached, the
compact CPU recipe trains as a GAN with the perceptual and LPIPS losses and the projected discriminator (a few real
steps); without them, today's recipe and one line; the partner drops the discriminator; the fetch says how."""
import logging
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle.pipeline import recipes as R
from realesrgan_paddle.pipeline.context import Context, Settings
from realesrgan_paddle.pipeline.partner import partner_options
from realesrgan_paddle.pipeline.stages_model import _recipe
from realesrgan_paddle.pipeline.state import WorkState
from tests.nets import SRVGG, save_tiny
from tests.training.smoke import _batch

WEIGHTS_SKIP = ('the perceptual recipe needs its losses and weights: python tools/download_models.py --names vgg16 '
                'lpips efficientnet-lite0')
TEMPLATE = 'finetune_domain_compact_cpu.yml'


def _ctx(tmp_path, base, overrides=()):
    work = tmp_path / 'work'
    for d in ('split/train_hr', 'split/val_hr', 'degrade/val_lq'):
        (work / d).mkdir(parents=True, exist_ok=True)
    s = Settings(videos=[], work=work, base=str(base), iters=40, overrides=list(overrides))
    return Context(s, WorkState(work, ('split', 'degrade', 'finetune')))


def test_the_perceptual_recipe_trains_on_the_real_weights(tmp_path, photo_batch):
    assets = R.official_assets()
    if not R.perceptual_ready(assets):
        pytest.skip(WEIGHTS_SKIP)
    from realesrgan_paddle.training.steps import build_model
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG)
    small = ['network_d.proj_channels=8', 'network_d.num_feat=8', 'datasets.train.batch_size_per_gpu=2',
             'train.teacher_backend=dynamic', 'train.teacher=' + str(base)]
    opt, notes, template = _recipe(_ctx(tmp_path, base, small), tmp_path / 'part', 40)
    assert Path(template).name == TEMPLATE
    assert any(n.startswith('the perceptual recipe:') for n in notes)
    tr = opt['train']
    assert opt['model_type'] == 'RealESRGANModel' and opt['network_d']['type'] == 'ProjectedDiscriminator'
    assert R.loss_entry(tr, 'l_g_percep')['network'] == 'auto' and R.loss_entry(tr, 'l_g_lpips')['net'] == 'vgg'
    assert R.loss_entry(tr, 'l_g_gan')['weight'] == pytest.approx(0.1)
    assert R.loss_entry(tr, 'l_g_anchor')  # the template's own terms stay
    opt['path']['pretrain_network_g'] = str(base)
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test.perceptual_recipe'))
    lq, gt, gt_usm = _batch(photo_batch)
    grads = []
    for p in model.g.parameters():
        p.register_hook(lambda g: grads.append(float(paddle.abs(g).sum())))
    d_losses = [sum(model.optimize(lq, gt, gt_usm, it)[k] for k in ('l_d_real', 'l_d_fake')) for it in (1, 2, 3)]
    assert len(set(np.round(d_losses, 6))) > 1 and any(g > 0 for g in grads)
    last = model.optimize(lq, gt, gt_usm, 4)
    assert {'l_g_percep', 'l_g_lpips', 'l_g_gan'} <= set(last) and all(np.isfinite(v) for v in last.values())
    # the knob's partner: no discriminator, the perceptual terms kept
    p = partner_options(opt, template)
    assert p['model_type'] == 'RealESRNetModel' and not p.get('network_d')
    assert not R.loss_entry(p['train'], 'l_g_gan') and R.loss_entry(p['train'], 'l_g_lpips')


def test_without_the_weights_todays_recipe_and_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    missing = {'vgg19': None, 'netd': None, 'vgg16': None, 'lpips': '/x/lpips.pdparams', 'efficientnet-lite0': None,
               'perceptual_losses': True}
    over, note = R.perceptual_recipe(TEMPLATE, missing)
    assert over == [] and note == ('vgg16, efficientnet-lite0 not cached: today\'s recipe, without the perceptual '
                                   'terms (python tools/download_models.py --names vgg16 lpips efficientnet-lite0 '
                                   'turns them on)')
    assert R.perceptual_recipe(TEMPLATE, dict(missing, perceptual_losses=False)) == ([], None)
    ready = dict(missing, vgg16='a', lpips='b', **{'efficientnet-lite0': 'c'})
    assert R.perceptual_recipe(TEMPLATE, ready)[0] == list(R.PERCEPTUAL[TEMPLATE])
    assert R.perceptual_recipe('finetune_domain_x4plus_lowband_cpu.yml', ready) == ([], None)  # no entry
    # the template: compact CPU when ready, even with VGG19 and the netD cached (the official one is for the GPU)
    assert R.pick_template('compact', 'cpu', dict(ready, vgg19='v', netd='n'))[0].name == TEMPLATE
    assert R.pick_template('compact', 'cpu', dict(missing, vgg19='v', netd='n'))[0].name == \
        'finetune_domain_compact_gpu.yml'
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG)
    monkeypatch.setattr(R, 'official_assets', lambda: missing)
    monkeypatch.setattr('realesrgan_paddle.pipeline.stages_model.official_assets', lambda: missing)
    opt, notes, template = _recipe(_ctx(tmp_path, base), tmp_path / 'part', 40)
    assert Path(template).name == TEMPLATE and opt['model_type'] == 'RealESRNetModel' and not opt.get('network_d')
    assert sum('not cached: today\'s recipe' in n for n in notes) == 1


def test_fetch_says_how_and_skips_x4plus(monkeypatch):
    calls = []
    monkeypatch.setattr(R, 'recipe_weights', lambda fetch, progress: calls.append(fetch) or (
        {}, ['vgg16: no network', 'lpips: no network']))
    assert R.fetch_recipe_weights('realesrgan-x4plus', 'cpu') == [] and not calls
    assert R.fetch_recipe_weights('realesr-animevideov3', 'gpu') == [] and not calls
    (line,) = R.fetch_recipe_weights('realesr-animevideov3', 'cpu')
    assert calls == [True]
    assert line.startswith('could not fetch vgg16, lpips (vgg16: no network): the finetune runs without the '
                           'perceptual terms; python tools/download_models.py --names vgg16 lpips efficientnet-lite0')
    monkeypatch.setattr(R, 'recipe_weights', lambda fetch, progress: ({}, []))
    assert R.fetch_recipe_weights('realesr-animevideov3', 'cpu') == []
