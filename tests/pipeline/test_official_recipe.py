"""Issue 24, part 4: with VGG19 and the official discriminator on disk, the official recipe stays the default.
Small fake asset files in a model cache of the test's own ($REALESRGAN_PADDLE_HOME) decide it, through
``official_assets`` and the finetune stage's own recipe step."""
from pathlib import Path

import pytest

from realesrgan_paddle.pipeline.train import recipes as R
from realesrgan_paddle.pipeline.context import Context, Settings
from realesrgan_paddle.pipeline.stages.finetune import _recipe, settings_finetune
from realesrgan_paddle.pipeline.state import WorkState
from tests.nets import RRDB, SRVGG, save_tiny


def _fake_assets(cache, which=('vgg19', 'netd')):
    from realesrgan_paddle.loss.perceptual import default_vgg_path
    from realesrgan_paddle.models.zoo import cached_paths, get_entry
    files = {'vgg19': default_vgg_path(), 'netd': cached_paths(get_entry('RealESRGAN_x4plus_netD'))[0]}
    for k in which:
        assert str(files[k]).startswith(str(cache))  # the test's cache, never the user's
        files[k].parent.mkdir(parents=True, exist_ok=True)
        files[k].write_bytes(b'not read: only its presence counts')
    return files


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def _ctx(tmp_path, base):
    work = tmp_path / 'work'
    for d in ('split/train_hr', 'split/val_hr', 'degrade/val_lq'):
        (work / d).mkdir(parents=True, exist_ok=True)
    s = Settings(videos=[], work=work, base=str(base), iters=40)
    return Context(s, WorkState(work, ('split', 'degrade', 'finetune')))


def test_assets_on_disk_make_the_official_compact_recipe_the_default(cache, tmp_path):
    ctx = _ctx(tmp_path, save_tiny(tmp_path / 'base.pdparams', SRVGG))
    assert {k: R.official_assets()[k] for k in ('vgg19', 'netd')} == {'vgg19': None, 'netd': None}
    opt, notes, template = _recipe(ctx, tmp_path / 'part', 40)
    assert Path(template).name == 'finetune_domain_compact_cpu.yml'
    offline = settings_finetune(ctx)
    files = _fake_assets(cache)
    assets = R.official_assets()
    assert {k: assets[k] for k in ('vgg19', 'netd')} == {'vgg19': str(files['vgg19']), 'netd': str(files['netd'])}
    opt, notes, template = _recipe(ctx, tmp_path / 'part', 40)
    assert Path(template).name == 'finetune_domain_compact_gpu.yml' and opt['device'] == 'cpu'
    assert notes == ['VGG19 and the official discriminator are cached: the official recipe is used on the CPU too '
                     '(slow per iteration; --budget sizes the run)']
    tr = opt['train']
    assert R.loss_entry(tr, 'l_g_percep')['perceptual_weight'] == 1.0 and R.loss_entry(tr, 'l_g_pix')['weight'] == 1.0
    assert R.loss_entry(tr, 'l_g_gan')['weight'] == pytest.approx(0.1) and opt['network_d']['type'] == 'UNetDiscriminatorSN'
    assert opt['path']['pretrain_network_d'] == 'RealESRGAN_x4plus_netD' and tr['total_iter'] == 40
    # the assets are part of the finetune stage's settings: getting them redoes the finetune
    assert settings_finetune(ctx)['template'] == 'finetune_domain_compact_gpu.yml'
    assert settings_finetune(ctx)['assets'] != offline['assets']


@pytest.mark.parametrize('have', [('vgg19',), ('netd',)])
def test_one_asset_alone_keeps_the_offline_recipe_and_names_the_missing_one(cache, tmp_path, have):
    ctx = _ctx(tmp_path, save_tiny(tmp_path / 'base.pdparams', SRVGG))
    _fake_assets(cache, have)
    opt, notes, template = _recipe(ctx, tmp_path / 'part', 40)
    assert Path(template).name == 'finetune_domain_compact_cpu.yml'
    missing = 'RealESRGAN_x4plus_netD' if have == ('vgg19',) else 'VGG19'
    assert notes[0].startswith(f'{missing} not cached: the offline CPU recipe is used')


def test_x4plus_offline_gets_the_lowband_recipe_and_the_official_losses_when_the_assets_are_on_disk(cache, tmp_path):
    base = save_tiny(tmp_path / 'rrdb.pdparams', RRDB)
    ctx = _ctx(tmp_path, base)
    opt, notes, template = _recipe(ctx, tmp_path / 'p1', 40)
    assert Path(template).name == 'finetune_domain_x4plus_lowband_cpu.yml' and opt['model_type'] == 'RealESRNetModel'
    assert notes == ['VGG19 and RealESRGAN_x4plus_netD not cached: the offline x4plus recipe (the base frozen plus a '
                     'trained low-band corrector, then a sweep of its strength) is used instead of the official one '
                     '(python tools/download_models.py --names vgg19 RealESRGAN_x4plus_netD makes the official recipe '
                     'the default)']
    # the frozen trunk is the user's own base file, with the template's corrector; 2 checkpoints: 20 and 40
    assert opt['path']['pretrain_network_g'] == str(base) and opt['network_g']['type'] == 'LowBandRRDBNet'
    assert {k: v for k, v in opt['network_g'].items() if not k.startswith('corr_') and k != 'type'} == \
        {k: v for k, v in RRDB.items() if k != 'type'}
    assert opt['train']['trunk_reuse'] == 4 and 'anchor_opt' not in opt['train'] and 'network_d' not in opt
    assert opt['logger']['save_checkpoint_freq'] == 20 and opt['train']['total_iter'] == 40
    _fake_assets(cache, ('netd',))
    assert Path(_recipe(ctx, tmp_path / 'p3', 40)[2]).name == 'finetune_domain_x4plus_lowband_cpu.yml'
    _fake_assets(cache)
    opt, notes, template = _recipe(ctx, tmp_path / 'p2', 40)
    assert Path(template).name == 'finetune_domain_x4plus_cpu.yml' and notes == []
    assert R.loss_entry(opt['train'], 'l_g_percep')['perceptual_weight'] == 1.0
    assert opt['path']['pretrain_network_d'] == 'RealESRGAN_x4plus_netD'
