"""The one field type of the options (training/schema.py): each constraint rejects a bad value with one
line naming the key path and the problem, and through an options file the line also names the file."""
from pathlib import Path

import pytest

from realesrgan_paddle.training import schema
from realesrgan_paddle.training.schema import LOADER, Field, check_field, narrowed
from realesrgan_paddle.training.option_file import SCHEMA, OptionsError, load_options

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / 'options' / 'tiny_smoke.yml'


def _problems(field, value):
    problems = []
    out = check_field(field, value, 'sec.key', problems)
    assert all('\n' not in p for p in problems)
    return out, problems


@pytest.mark.parametrize('field, value, line', [
    (Field('int'), 'four', "sec.key: expected int, got str 'four'"),
    (Field('float'), float('inf'), 'sec.key: expected a finite number, got inf'),
    (Field('list', item='float', length=2), [1.0], 'sec.key: expected 2 floats, got [1.0]'),
    (Field('list', item='int'), [1, 'x'], "sec.key: expected a list of ints, got [1, 'x']"),
    (Field('str', choices=('a', 'b')), 'c', "sec.key: 'c' is not one of ['a', 'b']"),
    (Field('int', min=1), 0, 'sec.key: must be >= 1, got 0'),
    (Field('float', max=1.0), 2, 'sec.key: must be <= 1.0, got 2.0'),
    (Field('int', min=1, max=8), 9, 'sec.key: must be between 1 and 8, got 9'),
    (Field('str', exists='file'), '/no/such/file.png', 'sec.key: file not found: /no/such/file.png'),
    (Field('any', exists='dir'), ['.', '/no/such/dir'], 'sec.key: dir not found: /no/such/dir'),
    (Field('str', exists='model'), '/no/such/x.pth', 'sec.key: file (or model-zoo name) not found: /no/such/x.pth'),
])
def test_each_constraint_rejects_with_one_line(field, value, line):
    assert _problems(field, value)[1] == [line]


@pytest.mark.parametrize('field, value, want', [
    (Field('int', min=1, max=8), 8.0, 8), (Field('float', min=0), '1e-4', 1e-4),
    (Field('list', item='float', length=2), [1, 2], [1.0, 2.0]), (Field('str', exists='dir'), '.', '.'),
    (Field('str', exists='model'), 'RealESRGAN_x4plus', 'RealESRGAN_x4plus'), (Field('bool', min=1), True, True),
])
def test_good_values_pass_converted(field, value, want):
    out, problems = _problems(field, value)
    assert problems == [] and out == want and type(out) is type(want)


def test_a_zoo_named_file_gets_the_zoo_hint():
    _, problems = _problems(Field('str', exists='model'), 'weights/RealESRGAN_x4plus.pth')
    assert problems == ['sec.key: file (or model-zoo name) not found: weights/RealESRGAN_x4plus.pth; the model zoo '
                        'has it: write `key: RealESRGAN_x4plus` (fetched into the cache on first use)']


def test_narrowed_keeps_the_kind_and_intersects_choices():
    f = narrowed(Field('str', 'mean', choices=('mean', 'sum', 'none')), Field(choices=('mean', 'sum'), min=0))
    assert (f.kind, f.default, f.choices, f.min) == ('str', 'mean', ('mean', 'sum'), 0)
    assert narrowed(Field('int', 3), Field()).default == 3


def test_gt_size_has_one_home():
    assert SCHEMA['gt_size'] is LOADER['gt_size']
    # PairedImageDataset takes gt_size itself: the loader's limits narrow the constructor's option
    field = schema.options_of('dataset', 'PairedImageDataset')['gt_size']
    assert field.kind == 'int' and field.min == LOADER['gt_size'].min


@pytest.mark.parametrize('override, line', [
    ('scale=0', 'scale: must be between 1 and 8, got 0'),
    ('logger.keep_last=-1', 'logger.keep_last: must be >= 0, got -1'),
    ('device=tpu', "device: 'tpu' is not one of ['auto', 'cpu', 'gpu']"),
    ('path.resume_state=/no/such.pdstates', 'path.resume_state: file not found: /no/such.pdstates'),
    ('datasets.val.gt_size=-4', 'datasets.val.gt_size: must be >= 1, got -4'),
    ('datasets.train.dataroot_gt=/no/such/dir', 'datasets.train.dataroot_gt: dir not found: /no/such/dir'),
    ('train.losses.l_g_pix.reduction=none', "train.losses[0].reduction: 'none' is not one of ['mean', 'sum']"),
    ('train.scheduler.gamma=-0.5', 'train.scheduler.gamma: must be >= 0, got -0.5'),
    ('datasets.train.num_worker_per_gpu=65',
     'datasets.train.num_worker_per_gpu: must be between 0 and 64, got 65'),
])
def test_through_a_file_one_line_naming_the_file_and_the_key(override, line):
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [override], [])
    assert e.value.problems == [line]
    assert str(e.value) == f'{SMOKE}: {line}'
