"""``models.zoo.resolve_model_ref``: one rule for "a model name, weights file, export folder, ONNX file or
bicubic", and every caller that names models reads it the same way."""
import os
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.zoo import (
    MissingModelFile, ModelRefError, UnknownModel, parse_model_ref, resolve_model_ref)
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from tests.cli_checks import a_line
from tests.models.zoo_stand_ins import plant_zoo_file

TINY = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 1, 'upscale': 4,
        'act_type': 'prelu'}


def _state(seed=0):
    net = models.build_network(TINY)
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in net.state_dict().items()}


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path / 'mine.pdparams', params=_state())
    (tmp_path / 'mine.pth').write_bytes(b'x')
    (tmp_path / 'weights.bin').write_bytes(b'x')  # any other suffix: a weights file, judged when loaded
    (tmp_path / 'model.onnx').write_bytes(b'x')
    (tmp_path / 'export').mkdir()
    (tmp_path / 'export' / 'inference.pdmodel').write_bytes(b'x')
    (tmp_path / 'plain').mkdir()
    return tmp_path


TABLE = [  # (what a user writes, kind, zoo entry name or None)
    ('bicubic', 'bicubic', None), ('BiCubic', 'bicubic', None),
    ('x4plus', 'zoo', 'RealESRGAN_x4plus'), ('RealESRGAN_x4plus', 'zoo', 'RealESRGAN_x4plus'),
    ('realesrgan_x4plus_anime_6b', 'zoo', 'RealESRGAN_x4plus_anime_6B'),
    ('realesr-animevideov3', 'zoo', 'realesr-animevideov3'), (None, 'zoo', 'RealESRGAN_x4plus'),
    ('mine.pdparams', 'weights', None), ('mine.pth', 'weights', None), ('weights.bin', 'weights', None),
    ('model.onnx', 'onnx', None), ('export', 'export', None), ('./export', 'export', None),
]


@pytest.mark.parametrize('text,kind,name', TABLE)
def test_the_table(files, text, kind, name):
    ref = parse_model_ref(text)
    assert ref.kind == kind and (ref.entry.name if ref.entry else None) == name
    if kind in ('weights', 'onnx', 'export'):
        assert ref.path == Path(text) and ref.path.exists()
    else:
        assert ref.path is None
    assert parse_model_ref(Path(files / text)).kind == kind if kind in ('weights', 'onnx', 'export') else True


BAD = [  # (what a user writes, error class, words of its one line)
    ('nope', UnknownModel, "unknown model 'nope'; known models: RealESRGAN_x4plus"),
    ('x4plus-v9', UnknownModel, 'unknown model'),
    ('nope.pth', MissingModelFile, 'nope.pth: no such model file or folder'),
    ('dir/x4plus', MissingModelFile, 'no such model file or folder'),
    ('lpips-alex-v0.1', MissingModelFile, 'no such model file or folder'),  # a suffix reads as a path
    ('plain', ModelRefError, 'plain: a folder without inference.pdmodel'),
    ('', ModelRefError, 'the model reference is empty'),
]


@pytest.mark.parametrize('text,error,words', BAD)
def test_bad_refs_are_one_line(files, text, error, words):
    with pytest.raises(error) as info:
        parse_model_ref(text)
    msg = str(info.value)
    assert words in msg and '\n' not in msg and isinstance(info.value, ValueError)
    if error is MissingModelFile:
        assert isinstance(info.value, FileNotFoundError)
    if error is UnknownModel:
        assert isinstance(info.value, KeyError) and not msg.startswith("'")  # not KeyError's quoted text


def test_a_path_object_is_always_a_path(files):
    with pytest.raises(MissingModelFile):
        parse_model_ref(Path('x4plus'))  # no such file, whatever the zoo has


def test_an_existing_file_wins_over_a_zoo_name(files):
    (files / 'x4plus').write_bytes(b'x')
    assert parse_model_ref('x4plus').kind == 'weights'


def test_resolve_fetches_zoo_weights_and_keeps_files(files, caplog):
    conv, _ = plant_zoo_file('animevideov3', 1)
    ref = resolve_model_ref('animevideov3')
    assert (ref.kind, ref.path, ref.entry.name) == ('zoo', conv, 'realesr-animevideov3')
    assert resolve_model_ref('animevideov3', fetch=False).path is None
    assert resolve_model_ref('mine.pdparams').path == Path('mine.pdparams')
    with caplog.at_level('WARNING'):
        assert resolve_model_ref('mine.pdparams', denoise_strength=0.3).denoise_strength is None
    a_line(caplog.text, 'realesr-general-x4v3', 'mine.pdparams')
    plant_zoo_file(zoo.GENERAL, 2)
    plant_zoo_file(zoo.GENERAL_WDN, 3)
    ref = resolve_model_ref('general', denoise_strength=0.5)
    assert ref.denoise_strength == 0.5 and ref.path.parent.name == 'dni'
    with pytest.raises(ValueError, match=r'denoise_strength must be in \[0, 1\]'):
        resolve_model_ref('general', denoise_strength=2)


def test_every_caller_reads_the_same_rule(files):
    """tools/evaluate.py --models, finetune_domain --compare and the options' model paths accept and refuse
    the same references."""
    from realesrgan_paddle.evaluation.evaluate_cli import parse_models
    from realesrgan_paddle.pipeline.pipeline import DomainError, check_compare
    from realesrgan_paddle.training.schema import _found as _exists
    for text, kind, _ in TABLE:
        if text is None:
            continue
        assert parse_models([f'a={text}']) == {'a': text}
        if kind != 'bicubic':
            check_compare({'a': text})
            assert _exists('model', text)
    for text, _, _ in BAD:
        if not text:
            continue
        with pytest.raises(ValueError):
            parse_models([f'a={text}'])
        with pytest.raises(DomainError):
            check_compare({'a': text})
        assert not _exists('model', text)
    assert os.path.isdir('plain')
