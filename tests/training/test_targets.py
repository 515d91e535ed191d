"""A new loss with a new target and a new data source is one file: its source, its target and its loss registered
there, and the options check, the trainer's data and the step's inputs follow from the registry entries without an
edit of training/. No loss is checked by its class name in training/, pipeline/ or tools/."""
import logging
import re
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import LOSSES, unregister_loss
from realesrgan_paddle.training import loss_terms as T
from realesrgan_paddle.training.option_file import OptionsError, load_options
from realesrgan_paddle.training.steps import build_model
from tests.training.smoke import tiny_losses_yaml as _tiny_yaml, user_module

ROOT = Path(__file__).resolve().parents[2]
LOG = logging.getLogger('test.targets')

NEW_TARGET = '''"""Flip equivariance on real LQ frames: the output on a flipped batch against the flipped output."""
import paddle
from realesrgan_paddle.data.datasets.real_lq_crops import RealLQCrops
from realesrgan_paddle.loss.pixel import WeightedLoss
from realesrgan_paddle.loss.registry import register_loss
from realesrgan_paddle.training.schema import Field
from realesrgan_paddle.training.loss_terms import register_source, register_target

CALLS = []
register_source('real_flip', {'dataroot_lq': Field('str', required=True, exists='dir'), 'crop': Field('int', 16)},
                lambda cfg, opt, rank, logger: RealLQCrops(cfg['dataroot_lq'], cfg['crop'], 2, seed=[0, rank]),
                'real LQ frames the flip term runs on')


def fetch(refs, what, term):
    def make():
        lq = refs.model.sources['real_flip'].batch()
        return refs.model.net_g(lq).flip(axis=[3]), refs.model.net_g(lq.flip(axis=[3]))
    return refs.once('flip', make)[('flipped_output', 'output_of_flipped').index(what)]


register_target('lq_flip', fetch, dataset='real_flip', inputs=('flipped_output', 'output_of_flipped'))


@register_loss(target='lq_flip', inputs=('flipped_output', 'output_of_flipped'), log='flip', dataset='real_flip')
class FlipLoss(WeightedLoss):
    def forward(self, a, b):
        CALLS.append(list(a.shape))
        return self.loss_weight * paddle.abs(a - b).mean()
'''


@pytest.fixture
def flip(tmp_path):
    """The one new file: a source, a target and a loss, imported."""
    yield user_module(tmp_path, 'flip_loss', NEW_TARGET)
    unregister_loss('FlipLoss')
    T.unregister('lq_flip', 'real_flip')


def test_the_checks_and_the_trainer_follow_the_registry(tmp_path, flip):
    frames = str(ROOT / 'tests/data/images/train_hr')
    entries = [{'type': 'FlipLoss', 'weight': 2.0}, {'type': 'L1Loss', 'weight': 0.5}]
    with pytest.raises(OptionsError) as e:  # the loss's dataset is missing
        load_options(_tiny_yaml(tmp_path, entries))
    assert e.value.problems == ['train.losses[0]: a FlipLoss needs datasets.real_flip (real LQ frames the flip term '
                                'runs on)']
    with pytest.raises(OptionsError) as e:  # the dataset without a loss that needs it; an L1 cannot take the target
        load_options(_tiny_yaml(tmp_path, [{'type': 'L1Loss', 'target': 'lq_flip'}]),
                     [f'datasets.real_flip.dataroot_lq={frames}', 'datasets.real_flip.crops=3'])
    got = e.value.problems
    assert 'datasets.real_flip: no loss reads it (one of FlipLoss)' in got
    assert 'train.losses[0].target: L1Loss does not take the inputs of target lq_flip (only FlipLoss does)' in got
    assert any(p.startswith('datasets.real_flip.crops: unknown key') for p in got), got
    opt = load_options(_tiny_yaml(tmp_path, entries), [f'datasets.real_flip.dataroot_lq={frames}'])
    assert [(x['name'], x['target']) for x in opt['train']['losses']] == [('l_g_flip', 'lq_flip'), ('l_g_pix', 'gt')]
    paddle.seed(0)
    model = build_model(opt, LOG)
    assert model.sources['real_flip'].crop == 16
    gt = paddle.to_tensor(np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32))
    losses = model.optimize(paddle.nn.functional.avg_pool2d(gt, 4), gt, gt, 1)
    assert flip.CALLS == [[2, 3, 64, 64]]  # 16-pixel LQ crops, x4
    assert 0 < float(losses['l_g_flip']) < 2.0 and float(losses['l_g_pix']) > 0


def test_no_loss_is_checked_by_its_class_name():
    """A registered loss's name as one side of ==, != or in: what a loss needs is data on its registry entry."""
    names = '|'.join(sorted(LOSSES, key=len, reverse=True))
    q = '[\'"]'
    pat = re.compile(rf'(==|!=|\bin)\s*\(?\s*{q}({names}){q}|{q}({names}){q}\s*(==|!=|\bin\b|not in)')
    hits = [f'{f.relative_to(ROOT)}:{i + 1}: {line.strip()}' for room in ('training', 'pipeline', 'tools')
            for f in sorted((ROOT / room).rglob('*.py')) for i, line in enumerate(f.read_text().splitlines())
            if pat.search(line)]
    assert not hits, hits
    assert pat.search("if e.get('type') == 'PerceptualLoss':") and pat.search("'TemporalLoss' in value")
