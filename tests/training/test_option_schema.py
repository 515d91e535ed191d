"""Option schemas derived from the constructors (training/schema.py): a keyword added to a
constructor is an option at once, unknown keys and wrong types are named with their key path,
and the up-front check and the trainer's build agree on every shipped and official options file."""
import logging
import math
from pathlib import Path
from typing import Optional

import paddle
import pytest
import yaml

from realesrgan_paddle import models
from realesrgan_paddle.data.datasets import PairedImageDataset
from realesrgan_paddle.loss.pixel import L1Loss
from realesrgan_paddle.models.specs import ArchSpec
from realesrgan_paddle.training import schema
from realesrgan_paddle.training.data_setup import build_val_loader
from realesrgan_paddle.training.option_file import TYPED, OptionsError, load_options
from realesrgan_paddle.training.schedulers import CosineAnnealingRestartLR, MultiStepWarmupLR

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / 'options' / 'tiny_smoke.yml'
DATA = ROOT / 'tests' / 'data' / 'images'
OFFICIAL = sorted((ROOT / 'tests' / 'training' / 'official_options').glob('*.yml'))
SHIPPED = sorted((ROOT / 'options').glob('*.yml'))


# ---- a throwaway constructor per kind, each a stock one plus one new keyword -------------------
class ToyNet(paddle.nn.Layer):
    def __init__(self, num_feat=4, bias_init=0.0):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, num_feat, 3, padding=1)
        self.bias_init = bias_init


class PowerL1Loss(L1Loss):
    def __init__(self, loss_weight=1.0, reduction='mean', power=1):
        super().__init__(loss_weight, reduction)
        self.power = power


class FirstNPairs(PairedImageDataset):
    def __init__(self, dataroot_gt, dataroot_lq, scale: int, limit: Optional[int] = None, **kw):
        super().__init__(dataroot_gt, dataroot_lq, scale, **kw)
        self.pairs = self.pairs[:limit]


class FlooredLR(MultiStepWarmupLR):
    def __init__(self, learning_rate, milestones: list[int] = (), gamma=0.5, floor=0.0, warmup_iter=-1,
                 last_epoch=-1):
        self.floor = floor
        super().__init__(learning_rate, milestones, gamma, warmup_iter, last_epoch)

    def rate(self, it):
        return max(super().rate(it), self.floor)


def ToySGD(parameters, learning_rate, grad_clip=None, lr=1e-4, nesterov=False):
    del lr
    return paddle.optimizer.Momentum(learning_rate, parameters=parameters, use_nesterov=nesterov,
                                     grad_clip=grad_clip)


@pytest.fixture
def toys():
    models.register(ArchSpec('ToyNet', ToyNet, generator=False))
    added = {'loss': ('PowerL1Loss', PowerL1Loss), 'dataset': ('FirstNPairs', FirstNPairs),
             'scheduler': ('FlooredLR', FlooredLR), 'optimizer': ('ToySGD', ToySGD)}
    for kind, (name, factory) in added.items():
        schema.register(kind, name, factory)
    yield
    models.unregister('ToyNet')
    for kind, (name, _) in added.items():
        schema.unregister(kind, name)


def _params():
    return paddle.nn.Linear(2, 2).parameters()


# kind, section with the new keyword, (attribute, value) it must set, trainer arguments
CASES = {
    'network': ({'type': 'ToyNet', 'bias_init': 0.5}, ('bias_init', 0.5), {}),
    'loss': ({'type': 'PowerL1Loss', 'power': 2}, ('power', 2), {}),
    'dataset': ({'type': 'FirstNPairs', 'dataroot_gt': str(DATA / 'val' / 'gt'),
                 'dataroot_lq': str(DATA / 'val' / 'lq'), 'limit': 1}, ('pairs', None), {'scale': 4}),
    'scheduler': ({'type': 'FlooredLR', 'milestones': [1], 'gamma': 0.1, 'floor': 3e-5}, ('floor', 3e-5),
                  {'learning_rate': 1e-4, 'warmup_iter': -1}),
    'optimizer': ({'type': 'ToySGD', 'lr': 1e-3, 'nesterov': True}, ('_use_nesterov', True),
                  {'parameters': None, 'learning_rate': 1e-3}),
}
WRONG_TYPE = {'network': ('bias_init', 'high', 'expected float'), 'loss': ('power', [2], 'expected int'),
              'dataset': ('limit', 'one', 'expected int'),
              'scheduler': ('milestones', [1, 'x'], 'expected a list of ints'),
              'optimizer': ('nesterov', 'yes', 'expected bool')}


@pytest.mark.parametrize('kind', list(CASES))
def test_a_new_constructor_keyword_is_an_option(kind, toys):
    cfg, (attr, value), given = CASES[kind]
    if kind == 'optimizer':
        given = {**given, 'parameters': _params()}
    assert schema.validate(kind, cfg, 'sec') is not None  # no problem raised
    built = schema.build(kind, cfg, 'sec', **given)
    if kind == 'dataset':
        assert len(built) == 1  # limit: 1 of the two pairs
    else:
        assert getattr(built, attr) == value


@pytest.mark.parametrize('kind', list(CASES))
def test_unknown_key_and_wrong_type_are_named_with_their_path_by_both(kind, toys):
    cfg, _, given = CASES[kind]
    key, bad, message = WRONG_TYPE[kind]
    bad_cfg = {**cfg, key: bad, 'colour': 1}
    problems = []
    schema.validate(kind, bad_cfg, 'train.sec', problems)
    assert any(p.startswith(f'train.sec.{key}: {message}') for p in problems), problems
    assert any(p.startswith(f'train.sec.colour: unknown key for {cfg["type"]}') for p in problems), problems
    with pytest.raises(schema.SchemaError) as e:  # the trainer's build refuses it with the same lines
        schema.build(kind, bad_cfg, 'train.sec', **given)
    assert e.value.problems == problems


def test_type_and_required_keys():
    problems = []
    schema.validate('loss', {'type': 'NoSuchLoss'}, 'train.pixel_opt', problems)
    schema.validate('dataset', {'type': 'PairedImageDataset'}, 'datasets.val', problems)
    schema.validate('network', {'num_feat': 4}, 'network_g', problems)
    assert problems[0].startswith("train.pixel_opt.type: unknown loss 'NoSuchLoss' "
                                  "(known: ChromaBandLoss, ConsistencyLoss, FFTAmplitudeLoss")
    # scale is filled by the trainer, so only the two folders are missing
    assert problems[1:] == ['datasets.val.dataroot_gt: missing required key for PairedImageDataset',
                            'datasets.val.dataroot_lq: missing required key for PairedImageDataset',
                            'network_g.type: missing required key']


def test_defaults_come_from_the_constructor():
    got = schema.validate('loss', {}, 'train.gan_opt', default_type='GANLoss')
    assert got == {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0,
                   'loss_weight': 1.0}
    got = schema.validate('optimizer', {'lr': '2e-4'}, 'train.optim_g', default_type='Adam')
    assert got == {'type': 'Adam', 'lr': 2e-4, 'betas': [0.9, 0.99], 'weight_decay': 0.0}
    with pytest.raises(schema.SchemaError, match=r"train.gan_opt.gan_type: 'nope' is not one of \['vanilla'"):
        schema.validate('loss', {'type': 'GANLoss', 'gan_type': 'nope'}, 'train.gan_opt')
    with pytest.raises(schema.SchemaError, match=r'train.optim_g.betas: expected 2 floats, got \[0.9\]'):
        schema.validate('optimizer', {'type': 'Adam', 'betas': [0.9]}, 'train.optim_g')


def test_registered_dataset_through_the_options_file_and_the_val_loader(toys, tmp_path):
    """The up-front check and the trainer's loader take the new keyword without any schema edit."""
    opt = load_options(SMOKE, ['datasets.val.type=FirstNPairs', 'datasets.val.limit=1',
                               f'path.experiments_root={tmp_path}'])
    assert opt['datasets']['val']['limit'] == 1
    assert len(build_val_loader(opt, logging.getLogger('test')).dataset) == 1
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, ['datasets.val.limit=1'])
    assert any(p.startswith('datasets.val.limit: unknown key for PairedImageDataset') for p in e.value.problems)


def _runnable_overrides(path):
    """Point a file's data at the committed test images and drop its weight files (a self-anchored recipe keeps
    its base: a zoo name, and the anchor's teacher)."""
    raw = yaml.safe_load(path.read_text())
    train = raw.get('train') or {}
    o = ['path.pretrain_network_d=~']
    teacher = train.get('anchor_opt') or any(e.get('target') == 'teacher' for e in train.get('losses') or [])
    if not teacher or train.get('teacher'):
        o.append('path.pretrain_network_g=~')
    for phase, ds in raw['datasets'].items():
        o.append(f'datasets.{phase}.meta_info=~')
        if 'Paired' in ds['type'] or phase == 'val':
            o += [f'datasets.{phase}.dataroot_gt={DATA}/val/gt', f'datasets.{phase}.dataroot_lq={DATA}/val/lq']
        else:
            o.append(f'datasets.{phase}.dataroot_gt={DATA}/train_hr')
    return o


@pytest.mark.parametrize('path', OFFICIAL + SHIPPED, ids=lambda p: f'{p.parent.name}/{p.name}')
def test_every_options_file_validates_and_builds(path, monkeypatch):
    """What the up-front check accepts, the trainer's build takes: every typed section is built
    (the perceptual loss without reading VGG19 weights, which are not in the repository)."""
    import realesrgan_paddle.loss.perceptual; from realesrgan_paddle import loss
    monkeypatch.setattr(loss.perceptual, 'load_vgg_weights', lambda extractor, path: None)
    opt = load_options(path, _runnable_overrides(path), [])
    built = 0
    for dotted, (kind, _) in TYPED.items():
        *parents, key = dotted.split('.')
        node = opt
        for part in parents:
            node = node[part]
        if not node.get(key):
            continue
        given = {'optimizer': {'parameters': _params(), 'learning_rate': 1e-4},
                 'scheduler': {'learning_rate': 1e-4, 'warmup_iter': opt['train']['warmup_iter']},
                 'dataset': {'scale': opt['scale'], 'phase': key}}.get(kind, {})
        assert schema.build(kind, node[key], dotted, **given) is not None
        built += 1
    from realesrgan_paddle.training.loss_terms import build_terms
    terms = build_terms(opt['train']['losses'])
    assert terms and all(t.loss is not None for t in terms)
    built += len(terms)
    assert built >= 6  # network_g, the train set, two optimisers, the scheduler, one loss at least


def test_cosine_restart_schedule_and_warmup():
    s = CosineAnnealingRestartLR(1.0, periods=[4, 2], restart_weights=[1.0, 0.5], eta_min=0.1)
    lrs = []
    for _ in range(8):
        lrs.append(s.get_lr())
        s.step()
    # iteration i: 0..4 in the first period, 5..6 in the second (half weight), then eta_min
    want = [0.1 + 0.45 * (1 + math.cos(math.pi * i / 4)) for i in range(5)]
    want += [0.1 + 0.5 * 0.45 * (1 + math.cos(math.pi * (i - 4) / 2)) for i in (5, 6)] + [0.1]
    assert lrs == pytest.approx(want)
    w = CosineAnnealingRestartLR(1.0, periods=[10], warmup_iter=4)
    assert w.get_lr() == pytest.approx(0.25)  # iteration 0 counts as 1 of 4
    with pytest.raises(ValueError, match='restart_weights'):
        CosineAnnealingRestartLR(1.0, periods=[4, 2])


def test_adamw_weight_decay_default_and_zero():
    p = _params()
    assert schema.build('optimizer', {'type': 'AdamW'}, 'o', parameters=p, learning_rate=1e-4)._weight_decay == 0.01
    assert schema.build('optimizer', {'type': 'AdamW', 'weight_decay': 0}, 'o', parameters=p,
                        learning_rate=1e-4)._weight_decay == 0.0


def test_ignored_keys_warn_once_each_with_their_path_in_any_file(capsys, tmp_path):
    overrides = ['num_gpu=2', 'dist_params.backend=nccl', 'logger.wandb.project=x', 'dist.backend=nccl',
                 'datasets.train.io_backend.type=disk', 'datasets.val.pin_memory=true',
                 'datasets.val.persistent_workers=true', 'datasets.train.prefetch_mode=cuda']
    warnings = []
    opt = load_options(SMOKE, overrides, warnings)
    keys = [w.split(':', 1)[0] for w in warnings]
    assert sorted(keys) == sorted(_ignored_path(o) for o in overrides)
    assert all('has no effect here' in w for w in warnings)
    assert 'num_gpu' not in opt and 'backend' not in opt['dist']
    load_options(SMOKE, overrides)  # no list given: printed, one line per key
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(overrides) and all(ln.startswith(f'warning: {SMOKE}: ') for ln in err)


def _ignored_path(override):
    key = override.split('=')[0]
    for ignored in ('dist_params', 'logger.wandb', 'datasets.train.io_backend'):
        if key.startswith(ignored + '.'):
            return ignored
    return key


def test_dataset_kernel_values_are_checked_up_front():
    """RealESRGANDataset samples its kernels from the keys its section sets: their values are
    checked with the file, not when the dataset is first built."""
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, ['datasets.train.sinc_prob=3', 'datasets.train.degradation.blur_sigma=[3, 1]'])
    assert len(e.value.problems) == 1 and e.value.problems[0].startswith('datasets.train: degradation option ')
