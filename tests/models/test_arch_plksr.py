"""PLKSR and RealPLKSR (models/archs/plksr/plksr.py, models/archs/plksr/dysample.py): spandrel's files load by detection
and match its networks on odd-sized real photo crops; export with dynamic H and W; a training step."""

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch
from tests.models.ref_span_plksr import (compare_with_file, onnx_error, photo_input, save_torch, tiled_and_whole,
                                         trained_keys, unclip)
from tests.models.user_files import WRAPPERS
from tests.skips import need_spandrel, need_torch

REAL = {'type': 'RealPLKSR', 'dim': 16, 'n_blocks': 2, 'upscaling_factor': 2, 'kernel_size': 7,
        'split_ratio': 0.25, 'use_ea': True, 'dysample': True, 'layer_norm': False, 'norm_groups': 4}


def _spandrel(x, name, seed=0, **kwargs):
    """spandrel's ``name`` network, seeded, its output unclipped (DySample's offsets made large enough to move
    the samples off the pixel grid and past the border)."""
    torch, arch = need_torch(), need_spandrel().architectures.PLKSR
    torch.manual_seed(seed)
    tnet = getattr(arch, name)(**kwargs).eval()
    unclip(tnet, tnet.feats[-1], x, 0.0)  # the trunk adds to the repeated input: the output stays image-like
    if hasattr(getattr(tnet, 'to_img', None), 'offset'):
        with torch.no_grad():
            tnet.to_img.offset.weight.mul_(30)
            tnet.to_img.scope.weight.normal_(0, 0.5)
        unclip(tnet, tnet.to_img.end_conv, x, 0.5)
    return tnet


CASES = [
    ('RealPLKSR', {'upscaling_factor': 4}, '.pth', {'dysample': False}),
    ('RealPLKSR', {'upscaling_factor': 2, 'dysample': True}, '.safetensors', {'dysample': True}),
    ('RealPLKSR', {'upscaling_factor': 3, 'dysample': True, 'layer_norm': True}, '.pth', {'layer_norm': True}),
    ('PLKSR', {'upscaling_factor': 4, 'ccm_type': 'ICCM'}, '.pth', {'ccm_type': 'ICCM'}),
    ('PLKSR', {'upscaling_factor': 2, 'lk_type': 'RectSparsePLK', 'use_ea': False, 'kernel_size': 9}, '.pth',
     {'lk_type': 'RectSparsePLK', 'use_ea': False}),
]


@pytest.mark.parametrize('name, kwargs, suffix, expect', CASES, ids=lambda v: str(v))
def test_spandrel_file_matches(tmp_path, photo_batch, name, kwargs, suffix, expect, spandrel):
    x = photo_input(photo_batch)
    full = {'dim': 16, 'n_blocks': 2, 'kernel_size': 7, **kwargs}
    tnet = _spandrel(x, name, **full)
    db, arch, out = compare_with_file(tnet, save_torch(tnet, tmp_path / f'plksr{suffix}'), x)
    s = full['upscaling_factor']
    assert arch['type'] == name and arch['upscaling_factor'] == s and arch['dim'] == 16 and arch['n_blocks'] == 2
    assert arch['kernel_size'] == full['kernel_size'] and {k: arch[k] for k in expect} == expect
    assert out.shape[2:] == (29 * s, 37 * s)
    assert db >= 50, db


def test_broken_weights_are_named():
    state = {k: v.numpy() for k, v in models.build_network(REAL).state_dict().items()}
    del state['feats.2.channel_mixer.0.weight']
    with pytest.raises(ValueError, match='RealPLKSR-like keys, but block feats.2 has no channel_mixer'):
        detect_arch(state)
    state = {k: v.numpy() for k, v in models.build_network(REAL).state_dict().items()}
    state['feats.4.weight'] = state['feats.4.weight'][:7]
    with pytest.raises(ValueError, match='last conv has 7 outputs'):
        detect_arch(state)


@pytest.mark.slow
@pytest.mark.parametrize('arch', [REAL, {'type': 'PLKSR', 'dim': 8, 'n_blocks': 1, 'upscaling_factor': 3,
                                         'kernel_size': 5}], ids=['RealPLKSR-dysample', 'PLKSR'])
def test_export_runs_in_the_predictor_at_two_sizes(tmp_path, arch):
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    paddle.seed(2)
    net = models.build_network(arch)
    if arch.get('dysample'):  # offsets that move the samples
        net.to_img.scope.weight.set_value(np.full(net.to_img.scope.weight.shape, 0.3, np.float32))
    net.eval()
    pred = PredictorBackend(export_static(net, arch, tmp_path / 'infer'), engine='onednn')
    for shape in [(1, 3, 13, 21), (2, 3, 24, 8)]:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        np.testing.assert_allclose(pred.forward(x), ref, atol=1e-4)


@pytest.mark.slow
def test_onnx_export_matches_and_dysample_asks_for_opset_16(tmp_path):
    """paddle2onnx converts Paddle's group_norm wrongly (models.archs.plksr.plksr.GroupNorm avoids it) and aborts the
    process on grid_sample below opset 16 (export_onnx refuses first)."""
    paddle.seed(4)
    net = models.build_network(REAL)
    net.eval()
    with pytest.raises(ValueError, match='RealPLKSR needs ONNX opset 16 or more'):
        onnx_error(net, REAL, tmp_path / 'a.onnx', 13)
    assert onnx_error(net, REAL, tmp_path / 'b.onnx', 16) < 1e-5


def test_converted_file_and_tiles(tmp_path, photo_batch, photo, torch):
    """tools/convert_torch.py reads a wrapped (params_ema, module.) RealPLKSR file; the converted weights match
    spandrel, and the Upscaler's tiles (padded past the receptive field) give the whole image's output."""
    from realesrgan_paddle.evaluation.metrics import psnr
    from realesrgan_paddle.tools.convert_torch import main
    x = photo_input(photo_batch)
    tnet = _spandrel(x, 'RealPLKSR', dim=8, n_blocks=1, kernel_size=5, upscaling_factor=2, dysample=True)
    torch.save({'params_ema': {f'module.{k}': v for k, v in tnet.state_dict().items()}}, tmp_path / 'w.pth')
    assert main(['--input', str(tmp_path / 'w.pth'), '--output', str(tmp_path / 'w.pdparams')]) in (0, None)
    db, arch, _ = compare_with_file(tnet, tmp_path / 'w.pdparams', x)
    assert db >= 50 and arch == {**REAL, 'dim': 8, 'n_blocks': 1, 'kernel_size': 5}
    tiled, whole = tiled_and_whole(tmp_path / 'w.pdparams', photo[:45, :61], 24, 12)
    assert whole.shape[:2] == (90, 122) and psnr(tiled, whole) > 50


def test_trainer_takes_a_step_on_realplksr(tmp_path, photo_batch):
    moved = trained_keys(tmp_path, {**REAL, 'upscaling_factor': 4, 'dim': 8, 'n_blocks': 1}, photo_batch)
    assert {'feats.1.lk.conv.weight', 'to_img.offset.weight', 'to_img.end_conv.weight'} <= moved


@pytest.mark.slow(seconds=5)
@pytest.mark.parametrize('name, kwargs, kinds', [('RealPLKSR', {'upscaling_factor': 3, 'dysample': True}, WRAPPERS),
                                                ('PLKSR', {'upscaling_factor': 2, 'ccm_type': 'DCCM'}, ('state_dict', 'fp16'))])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, name, kwargs, kinds, spandrel):
    """RealPLKSR (DySample x3) and PLKSR in every wrapper and dtype users' files come in
    (tests/models/user_files.py), through ``Upscaler`` at 37x45: spandrel's output at >= 90 dB."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    x = np.ascontiguousarray(0.3 + 0.4 * odd_crop(photo), dtype=np.float32)
    ref = _spandrel(x[None], name, dim=16, n_blocks=2, kernel_size=7, **kwargs)

    def arch_read(arch):
        assert arch['type'] == name and arch['upscaling_factor'] == kwargs['upscaling_factor']
    assert_user_files_match(ref, x, tmp_path, kinds=kinds, arch_check=arch_read)
