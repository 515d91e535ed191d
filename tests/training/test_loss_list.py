"""train.losses: a new loss is one file with one decorator, and a YAML uses it; the entries are checked one line per
problem with their key path; the official *_opt spelling gives the same terms as the list written out."""
import logging
from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml

from realesrgan_paddle.loss import LOSSES, unregister_loss
from realesrgan_paddle.training.loss_terms import build_terms
from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import OptionsError, load_options, validate_options
from tests.training.smoke import tiny_losses_yaml as _tiny_yaml, user_module

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / 'options' / 'tiny_smoke.yml'
LOG = logging.getLogger('test.loss_list')

NEW_LOSS = '''"""A loss that is not part of the project: the L1 of the horizontal differences."""
import paddle

from realesrgan_paddle.loss.pixel import WeightedLoss
from realesrgan_paddle.loss.registry import register_loss

CALLS = []


@register_loss(target='gt', log='dx')
class HorizontalDiffLoss(WeightedLoss):
    def forward(self, pred, target):
        CALLS.append(list(pred.shape))
        dp, dt = pred[..., 1:] - pred[..., :-1], target[..., 1:] - target[..., :-1]
        return self.loss_weight * paddle.abs(dp - dt).mean()
'''


@pytest.fixture
def new_loss(tmp_path):
    """The one new file, imported: its decorator is all that registers it."""
    yield user_module(tmp_path, 'my_loss', NEW_LOSS)
    unregister_loss('HorizontalDiffLoss')


def test_a_new_loss_is_one_file_and_a_yaml_trains_with_it(tmp_path, new_loss):
    assert LOSSES['HorizontalDiffLoss'] is new_loss.HorizontalDiffLoss
    yml = _tiny_yaml(tmp_path, [{'type': 'HorizontalDiffLoss', 'weight': 3.0},
                                {'type': 'L1Loss', 'weight': 0.5, 'target': 'gt'}])
    opt = load_options(yml)
    assert [(e['type'], e['weight'], e['target'], e['name']) for e in opt['train']['losses']] == [
        ('HorizontalDiffLoss', 3.0, 'gt', 'l_g_dx'), ('L1Loss', 0.5, 'gt', 'l_g_pix')]
    # one step: the term is the loss times its weight
    paddle.seed(0)
    model = build_model(opt, LOG)
    gt = paddle.to_tensor(np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32))
    lq = paddle.nn.functional.avg_pool2d(gt, 4)
    losses = model.optimize(lq, gt, gt, 1)
    out = model.output.detach()
    raw = new_loss.HorizontalDiffLoss()(out, gt)
    assert losses['l_g_dx'] == pytest.approx(3.0 * float(raw), rel=1e-5)
    assert losses['l_g_pix'] == pytest.approx(0.5 * float(paddle.abs(out - gt).mean()), rel=1e-5)
    # the whole trainer, 3 iterations on the tiny photos: the loss is called once per step
    from realesrgan_paddle.training.trainer import train
    del new_loss.CALLS[:]
    summary = train(load_options(yml))
    assert len(new_loss.CALLS) == 3 and summary['net_g_sha256']
    assert (tmp_path / 'exp' / 'newloss' / 'models' / 'net_g_3.pdparams').is_file()


def test_entries_are_checked_one_line_each_with_their_key_path(tmp_path):
    yml = _tiny_yaml(tmp_path, [
        {'type': 'L1Loss', 'weight': -1},
        {'type': 'NoSuchLoss'},
        {'type': 'L1Loss', 'loss_weight': 2.0, 'reduction': 'median'},
        {'type': 'L1Loss', 'target': 'gan'},
        {'type': 'GANLoss', 'target': 'gt'},
        'L1Loss',
        {'type': 'MSELoss', 'name': 'l_g_pix', 'target': 'nearby'},
        {'type': 'L1Loss', 'samples': 0}, {'type': 'L1Loss', 'samples': True}, {'type': 'L1Loss', 'samples': 2.5}])
    with pytest.raises(OptionsError) as e:
        load_options(yml)
    got = e.value.problems
    for start in ('train.losses[0].weight: expected a finite number >= 0',
                  "train.losses[1].type: unknown loss 'NoSuchLoss'",
                  'train.losses[2].loss_weight: not a key of a train.losses entry; use weight',
                  'train.losses[2].reduction:',
                  'train.losses[3].target: L1Loss cannot judge',
                  'train.losses[4].target: GANLoss is the discriminator',
                  'train.losses[5]: expected a mapping',
                  "train.losses[6].name: 'l_g_pix' names another entry",
                  'train.losses[6].target: must be one of gt, gt_usm, teacher, lq, lq_pair, gan',
                  'train.losses[7].samples: expected a whole number of images from 1 to',
                  'train.losses[8].samples: expected a whole number', 'train.losses[9].samples: expected a whole'):
        assert sum(p.startswith(start) for p in got) == 1, (start, got)
    assert all('\n' not in p for p in got)
    with pytest.raises(OptionsError) as e:
        load_options(_tiny_yaml(tmp_path, {'type': 'L1Loss'}))
    assert len(e.value.problems) == 1 and e.value.problems[0].startswith('train.losses: expected list')


def _entries(opt):
    return [{k: v for k, v in e.items() if k != 'from'} for e in opt['train']['losses']]


def _with(path, losses, tmp_path, slots=None):
    """The options of ``path`` with its ``train.losses`` replaced by ``losses`` (and the ``slots`` sections)."""
    raw = yaml.safe_load(Path(path).read_text())
    raw['train']['losses'] = losses
    raw['train'].update(slots or {})
    return raw


RUNNABLE = ['datasets.train.dataroot_gt={d}', 'datasets.val.dataroot_gt={d}', 'datasets.val.dataroot_lq={d}']
# the list form of the shipped recipes' losses, written out by hand
COMPACT_CPU = [
    {'type': 'L1Loss', 'weight': 0.0, 'target': 'gt_usm', 'name': 'l_g_pix'},
    {'type': 'LowPassL1Loss', 'weight': 1.0, 'sigma': 1.0, 'name': 'l_g_lowpass'},
    {'type': 'SubpixelGridLoss', 'weight': 20.0, 'period': 4, 'window': 8, 'name': 'l_g_grid'},
    {'type': 'LowPassL1Loss', 'weight': 1.0, 'sigma': 1.5, 'target': 'gt', 'name': 'l_g_anchor_low'},
    {'type': 'HighBandL1Loss', 'weight': 0.0, 'sigma': 1.5, 'name': 'l_g_anchor_high'},
    {'type': 'HFEnergyLoss', 'weight': 20.0, 'window': 8, 'target': 'teacher', 'name': 'l_g_anchor_energy'},
    {'type': 'ChromaBandLoss', 'weight': 20.0, 'sigma': 1.5, 'name': 'l_g_anchor_chroma'}]
X4PLUS_GPU = [
    {'type': 'L1Loss', 'weight': 1.0, 'target': 'gt_usm', 'name': 'l_g_pix'},
    {'type': 'PerceptualLoss', 'target': 'gt_usm', 'layer_weights': {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1,
                                                                     'conv4_4': 1, 'conv5_4': 1},
     'perceptual_weight': 1.0, 'style_weight': 0, 'range_norm': False, 'criterion': 'l1', 'vgg_type': 'vgg19',
     'use_input_norm': True},
    {'type': 'GANLoss', 'weight': 0.1, 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0}]


def test_the_list_form_file_is_the_old_anchor_recipe(tmp_path):
    """options/finetune_domain_x4plus_anchor_cpu.yml moved to train.losses: the same terms as its former
    pixel_opt + anchor_opt."""
    from realesrgan_paddle.training.option_file import apply_overrides
    path = ROOT / 'options' / 'finetune_domain_x4plus_anchor_cpu.yml'
    over = [o.format(d=tmp_path) for o in RUNNABLE]
    new = load_options(path, over)
    raw = yaml.safe_load(path.read_text())
    del raw['train']['losses']
    raw['train'].update(pixel_opt={'type': 'L1Loss', 'loss_weight': 0.0, 'reduction': 'mean'},
                        anchor_opt={'type': 'SelfAnchorLoss', 'loss_weight': 1.0, 'sigma': 1.5, 'high_weight': 1.0})
    old = validate_options(apply_overrides(raw, over))
    assert _entries(old) == _entries(new) and len(new['train']['losses']) == 3


# the *_opt sections these templates had before they were written as train.losses
OLD_SLOTS = {
    'finetune_domain_compact_cpu.yml': {
        'pixel_opt': {'type': 'L1Loss', 'loss_weight': 0.0, 'reduction': 'mean'},
        'lowpass_opt': {'type': 'LowPassL1Loss', 'loss_weight': 1.0, 'sigma': 1.0, 'reduction': 'mean'},
        'grid_opt': {'type': 'SubpixelGridLoss', 'loss_weight': 20.0, 'period': 4, 'window': 8, 'reduction': 'mean'},
        'anchor_opt': {'type': 'SelfAnchorLoss', 'loss_weight': 1.0, 'sigma': 1.5, 'high_weight': 0.0,
                       'energy_weight': 20.0, 'window': 8, 'chroma_weight': 20.0}},
    'finetune_domain_x4plus_gpu.yml': {
        'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'},
        'perceptual_opt': {'type': 'PerceptualLoss', 'layer_weights': {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1,
                                                                       'conv4_4': 1, 'conv5_4': 1},
                           'vgg_type': 'vgg19', 'use_input_norm': True, 'range_norm': False,
                           'perceptual_weight': 1.0, 'style_weight': 0, 'criterion': 'l1'},
        'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0,
                    'loss_weight': 0.1}}}


@pytest.mark.parametrize('name, listed', [('finetune_domain_compact_cpu.yml', COMPACT_CPU),
                                          ('finetune_domain_x4plus_gpu.yml', X4PLUS_GPU)])
def test_the_official_spelling_gives_the_list_written_out(tmp_path, name, listed, monkeypatch):
    """Same types, weights, targets and options, in the same order, from the template's list, from the *_opt
    sections it had before and from the list written out by hand (the anchor expanded)."""
    import realesrgan_paddle.loss.perceptual; from realesrgan_paddle import loss
    from realesrgan_paddle.training.option_file import apply_overrides
    monkeypatch.setattr(loss.perceptual, 'load_vgg_weights', lambda extractor, path: None)  # no VGG19 in the repo
    over = [o.format(d=tmp_path) for o in RUNNABLE]
    shipped = load_options(ROOT / 'options' / name, over)
    old = validate_options(apply_overrides(_with(ROOT / 'options' / name, [], tmp_path, OLD_SLOTS[name]), over))
    new = validate_options(apply_overrides(_with(ROOT / 'options' / name, listed, tmp_path), over))
    assert _entries(old) == _entries(new) == _entries(shipped)
    assert all(e['from'].startswith('train.') and e['from'].endswith('_opt') for e in old['train']['losses'])
    terms = build_terms(old['train']['losses'])
    assert [(t.name, t.weight, t.target) for t in terms] == [(e['name'], e['weight'], e['target']) for e in _entries(new)]


def test_overrides_address_entries_by_name(tmp_path):
    """-o train.losses.<name>.key=value sets a key of the entry named so; <name>={...} adds one, <name>=~ drops it."""
    yml = _tiny_yaml(tmp_path, [{'type': 'L1Loss', 'weight': 1.0}, {'type': 'LowPassL1Loss', 'sigma': 2.0}])
    opt = load_options(yml, ['train.losses.l_g_pix.weight=0.25', 'train.losses.l_g_lowpass.sigma=1.5',
                             'train.losses.l_g_fft={type: FFTAmplitudeLoss, weight: 5.0}',
                             'train.losses.l_g_lowpass=~'])
    assert [(e['name'], e['type'], e['weight']) for e in opt['train']['losses']] == [
        ('l_g_pix', 'L1Loss', 0.25), ('l_g_fft', 'FFTAmplitudeLoss', 5.0)]
    with pytest.raises(OptionsError, match=r'train.losses\[2\].type: missing required key'):
        load_options(yml, ['train.losses.l_g_typo.weight=2'])  # a new entry without a type
