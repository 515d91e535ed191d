"""SwinIR in Paddle (models/archs/swinir/swinir.py) against spandrel's PyTorch SwinIR, and through the project's paths:
detection from the file alone, the static export at two input sizes, tiling, a training step, conversion."""
import numpy as np
import pytest

from tests.models.window_fidelity import (export_matches_dynamic, fidelity, one_training_step, onnx_matches_dynamic,
                                          photo_input, reference, release_file, tiled_against_whole)
from tests.skips import need_torch

# small configs with the structure of the released models (widths, depths and windows shrunk)
LIGHT_X4 = dict(upscale=4, embed_dim=12, depths=[2, 2], num_heads=[2, 2], window_size=8, mlp_ratio=2.0,
                upsampler='pixelshuffledirect')
MEDIUM_REAL_X2 = dict(upscale=2, embed_dim=12, depths=[2] * 6, num_heads=[2] * 6, window_size=8, mlp_ratio=2.0,
                      upsampler='nearest+conv')
LARGE_REAL_X4 = dict(upscale=4, embed_dim=16, depths=[1] * 9, num_heads=[2] * 9, window_size=4, mlp_ratio=2.0,
                     upsampler='nearest+conv', resi_connection='3conv')
UNSHUFFLED_X2 = dict(upscale=4, start_unshuffle=2, embed_dim=12, depths=[2], num_heads=[2], window_size=4,
                     mlp_ratio=2.0, upsampler='pixelshuffle')  # 1/2-resolution body, x4 tail: x2 overall
CLASSICAL_X3 = dict(upscale=3, embed_dim=12, depths=[2], num_heads=[3], window_size=4, mlp_ratio=2.0,
                    upsampler='pixelshuffle')
TINY = {'type': 'SwinIR', 'num_in_ch': 3, 'num_out_ch': 3, 'upscale': 2, 'embed_dim': 12, 'depths': [2],
        'num_heads': [2], 'window_size': 4, 'mlp_ratio': 2.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'num_feat': 64, 'img_range': 1.0, 'start_unshuffle': 1}


@pytest.mark.parametrize('cfg, size, suffix, expect', [
    (LIGHT_X4, (23, 19), '.pth', {'upsampler': 'pixelshuffledirect', 'upscale': 4}),
    (MEDIUM_REAL_X2, (37, 29), '.safetensors', {'upsampler': 'nearest+conv', 'upscale': 2, 'depths': [2] * 6}),
    (LARGE_REAL_X4, (21, 27), '.pth', {'resi_connection': '3conv', 'upscale': 4, 'depths': [1] * 9}),
    (CLASSICAL_X3, (23, 19), '.pth', {'upsampler': 'pixelshuffle', 'upscale': 3, 'num_feat': 64}),
    (UNSHUFFLED_X2, (24, 40), '.pth', {'upscale': 2, 'start_unshuffle': 2}),
], ids=['light_x4', 'medium_real_x2', 'large_real_x4', 'classical_x3', 'unshuffled_x2'])
def test_swinir_matches_spandrel_from_the_file_alone(photo, tmp_path, cfg, size, suffix, expect, spandrel):
    x = photo_input(photo, *size)
    net = reference('SwinIR', x, **cfg)
    # trainers that unshuffle the input save conv_first as a Sequential's second layer (spandrel reads that)
    renames = [('conv_first.', 'conv_first.1.')] if cfg.get('start_unshuffle', 1) > 1 else []
    path = release_file(net, tmp_path / f'swinir{suffix}', wrap='params_ema' if suffix == '.pth' else None,
                        renames=renames)
    db, ref, out, arch = fidelity(net, path, x)
    assert arch['type'] == 'SwinIR' and {k: arch[k] for k in expect} == expect
    assert arch['window_size'] == cfg['window_size'] and arch['embed_dim'] == cfg['embed_dim']
    scale = cfg['upscale'] // cfg.get('start_unshuffle', 1)
    assert out.shape[2:] == (size[0] * scale, size[1] * scale)
    assert db >= 50, db


def test_the_comparison_sees_a_wrong_mask_or_position_index(photo, tmp_path, monkeypatch, spandrel):
    """The fidelity check fails when the shifted-window mask or the relative-position index is wrong."""
    from realesrgan_paddle.models.archs.swinir import swinir, window_attention
    x = photo_input(photo, 23, 19)
    path = release_file(net := reference('SwinIR', x, **LIGHT_X4), tmp_path / 'light.pth')
    monkeypatch.setattr(window_attention, 'MASK_VALUE', 0.0)
    assert fidelity(net, path, x)[0] < 45
    monkeypatch.undo()
    monkeypatch.setattr(swinir, 'relative_position_index', lambda w: window_attention.relative_position_index(w).T)
    assert fidelity(net, path, x)[0] < 45


def test_detection_round_trip_a_broken_swinir_and_hat_keys():
    from realesrgan_paddle import models
    from realesrgan_paddle.models.detect import detect_arch
    from realesrgan_paddle.models.archs.swinir.swinir import detect_swinir
    state = {k: v.numpy() for k, v in models.build_network(TINY).state_dict().items()}
    assert detect_arch(state) == TINY
    with pytest.raises(ValueError, match=r'residual group 0 has blocks \[0, 1, 3\]'):
        detect_arch({**state, 'layers.0.residual_group.blocks.3.norm1.weight': state['norm.weight']})
    state['layers.0.residual_group.overlap_attn.relative_position_bias_table'] = np.zeros((1, 1), np.float32)
    assert detect_swinir(state) is None  # HAT's


@pytest.mark.slow
def test_export_predictor_tiling_and_convert(tmp_path, photo, spandrel):
    """The static and ONNX exports at two sizes; tiles against the whole image; tools/convert_torch.py on a release
    file with a ``module.`` prefix."""
    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    cfg = {k: v for k, v in TINY.items() if k not in ('type', 'num_in_ch', 'num_out_ch', 'num_feat')}
    x = photo_input(photo, 40, 56)
    net = reference('SwinIR', x, **cfg)
    src = release_file(net, tmp_path / 'tiny.pth', wrap='params', prefix='module.')
    from realesrgan_paddle.tools.convert_torch import main as convert
    assert convert(['--input', str(src), '--output', str(tmp_path / 'tiny.pdparams')]) == 0
    stored = load_state_file(tmp_path / 'tiny.pdparams')['arch']
    assert stored == TINY
    ours, arch = models.load_network(tmp_path / 'tiny.pdparams')
    assert export_matches_dynamic(ours, arch, tmp_path / 'export') < 1e-4
    assert onnx_matches_dynamic(ours, arch, tmp_path / 'tiny.onnx') < 1e-4
    lr = photo[:40, :56]
    overlapped, stitched = tiled_against_whole(tmp_path / 'tiny.pdparams', lr)
    assert overlapped > 45 and stitched < 40, (overlapped, stitched)


def test_a_training_step(tmp_path):
    """``network_g: {type: SwinIR, ...}`` trains: one optimiser step on odd-sized LR crops changes the weights."""
    assert one_training_step(tmp_path, TINY) > 0


@pytest.mark.slow(seconds=6)
@pytest.mark.parametrize('cfg', [CLASSICAL_X3, UNSHUFFLED_X2], ids=['classical_x3', 'unshuffled_x2'])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, cfg, spandrel):
    """SwinIR in every wrapper and dtype users' files come in (tests/models/user_files.py), through ``Upscaler``
    at 37x45: the upscaler reflects the image up to the window grid as spandrel does inside; spandrel's output at
    >= 90 dB. The unshuffled form is saved with trainers' ``conv_first.1`` name."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    x = odd_crop(photo)
    net = reference('SwinIR', x[None], **cfg)
    if cfg.get('start_unshuffle', 1) > 1:
        return _unshuffled_files(net, x, tmp_path)

    def arch_read(arch):
        assert (arch['type'], arch['upscale'], arch['window_size']) == ('SwinIR', cfg['upscale'], cfg['window_size'])
    assert_user_files_match(net, x, tmp_path, arch_check=arch_read)


def _unshuffled_files(net, x, tmp_path):
    """The unshuffled SwinIR's release file under its trainer's names (conv_first.1). spandrel pads the image to
    its window and does not crop the output of these back (its crop is ``upscale`` x the input, and ``upscale``
    counts the unshuffle too): its first 74x90 pixels are the output."""
    torch = need_torch()
    from tests.models.user_files import api_outputs
    path = release_file(net, tmp_path / 'unshuffled.pth', wrap='params_ema', renames=[('conv_first.', 'conv_first.1.')])
    got, up = api_outputs(path, x)
    with torch.no_grad():
        want = net(torch.from_numpy(x[None])).numpy()[0]
    assert want.shape == (3, 80, 96)
    want = want[:, :74, :90]
    assert up.scale == 2 and got.shape == want.shape
    assert 10 * np.log10(1 / np.mean((got - want) ** 2)) >= 90
