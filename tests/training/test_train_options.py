"""Options: YAML + overrides, defaults, and every problem reported with its key path before training."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from realesrgan_paddle.training.option_file import OptionsError, apply_overrides, load_options, parse_override

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / 'options' / 'tiny_smoke.yml'
ALL_OPTIONS = sorted((ROOT / 'options').glob('*.yml'))


def _write(tmp_path, mutate):
    raw = yaml.safe_load(SMOKE.read_text())
    mutate(raw)
    p = tmp_path / 'o.yml'
    p.write_text(yaml.safe_dump(raw))
    return p


def test_smoke_options_load_with_overrides(tmp_path):
    opt = load_options(SMOKE, ['train.total_iter=8', f'path.experiments_root={tmp_path}',
                               'train.optim_g.lr=2e-4', 'train.scheduler.milestones=[3, 5]'])
    assert opt['train']['total_iter'] == 8
    assert opt['path']['experiments_root'] == str(tmp_path)
    assert opt['train']['optim_g']['lr'] == pytest.approx(2e-4)
    assert opt['train']['scheduler']['milestones'] == [3, 5]
    assert opt['train']['ema_decay'] == pytest.approx(0.999)
    assert opt['train']['optim_d']['betas'] == [0.9, 0.99]
    assert opt['l1_gt_usm'] is True and opt['gan_gt_usm'] is False


def test_parse_override_values():
    assert parse_override('a.b=8') == (['a', 'b'], 8)
    assert parse_override('a=1e-4') == (['a'], 1e-4)
    assert parse_override('a.c=true') == (['a', 'c'], True)
    assert parse_override('a=~') == (['a'], None)
    assert apply_overrides({'a': {'b': 1, 'c': 2}}, ['a.b=~']) == {'a': {'c': 2}}  # ~ unsets
    with pytest.raises(ValueError, match='key.sub=value'):
        parse_override('novalue')
    d = apply_overrides({}, ['x.y.z=3'])
    assert d == {'x': {'y': {'z': 3}}}


def test_every_problem_is_reported_with_its_key_path(tmp_path):
    def mutate(raw):
        raw['train']['total_iter'] = 'many'
        raw['train']['optim_g']['lrr'] = 1
        raw['datasets']['train']['dataroot_gt'] = str(tmp_path / 'missing_dir')
        raw['network_g']['num_feats'] = 8
        raw['path']['pretrain_network_g'] = str(tmp_path / 'nope.pdparams')
        raw['degradation'] = {'blur_sigmaa': [0.2, 3]}
        raw['bogus_top'] = 1
    with pytest.raises(OptionsError) as e:
        load_options(_write(tmp_path, mutate))
    probs = '\n'.join(e.value.problems)
    for needle in ('train.total_iter: expected int', 'train.optim_g.lrr: unknown key',
                   'datasets.train.dataroot_gt: dir not found', 'network_g.num_feats: unknown key',
                   'path.pretrain_network_g: file (or model-zoo name) not found',
                   'degradation.blur_sigmaa: unknown key',
                   'bogus_top: unknown key'):
        assert needle in probs, (needle, probs)


def test_gan_model_needs_discriminator(tmp_path):
    def mutate(raw):
        raw.pop('network_d')
    with pytest.raises(OptionsError, match='network_d: required'):
        load_options(_write(tmp_path, mutate))


def test_zoo_name_is_a_valid_pretrained_model(tmp_path):
    opt = load_options(SMOKE, ['path.pretrain_network_g=realesr-animevideov3'])
    assert opt['path']['pretrain_network_g'] == 'realesr-animevideov3'


@pytest.mark.parametrize('path', ALL_OPTIONS, ids=[p.name for p in ALL_OPTIONS])
def test_shipped_options_have_only_known_keys(path):
    """Shipped files may name data the user has not built yet, but no key may be unknown or mistyped."""
    try:
        load_options(path)
    except OptionsError as e:
        bad = [p for p in e.problems if 'not found' not in p]
        assert not bad, bad


def test_cli_reports_problems_before_training(tmp_path):
    out = tmp_path / 'exp'
    res = subprocess.run([sys.executable, str(ROOT / 'train.py'), '--yml_path', str(SMOKE),
                          '-o', 'train.total_iter=abc', '-o', 'train.nope=1', '-o', f'path.experiments_root={out}'],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2
    lines = [l for l in res.stderr.splitlines() if l.startswith('error:')]
    assert any('train.total_iter: expected int' in l for l in lines)
    assert any('train.nope: unknown key' in l for l in lines)
    assert 'Traceback' not in res.stderr
    assert not out.exists()


@pytest.mark.parametrize('override', ['train=5', 'datasets=[]', 'val.metrics=3', 'train.optim_g=2', 'datasets.val=3',
                                      'val.metrics.psnr=3', 'network_d.type=Foo', 'datasets.train.type=Foo',
                                      'degradation=3', 'degradation.blur_sigma=[5, 1]'])
def test_malformed_sections_are_problems_not_crashes(override):
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [override])
    assert e.value.problems and all(isinstance(p, str) for p in e.value.problems)
