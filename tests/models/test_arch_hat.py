"""HAT in Paddle (models/archs/swinir/hat.py) against spandrel's PyTorch HAT, and through the project's paths: detection
from the file alone, the static export at two input sizes, tiling, a training step."""
import numpy as np
import pytest

from tests.models.user_files import WRAPPERS
from tests.models.window_fidelity import (export_matches_dynamic, fidelity, one_training_step, onnx_matches_dynamic,
                                          photo_input, reference, release_file, tiled_against_whole)

# HAT-S: compress_ratio 24, squeeze_factor 24 (embed 144, 6 groups of 6, window 16); HAT: 3 and 30 (embed 180);
# HAT-L: HAT's with 12 groups. Widths, depths and windows shrunk; the ratios kept where the width allows.
HAT_S_X4 = dict(upscale=4, embed_dim=24, depths=[2, 2], num_heads=[2, 2], window_size=8, compress_ratio=24,
                squeeze_factor=24, mlp_ratio=2.0, num_feat=16)
HAT_X2 = dict(upscale=2, embed_dim=30, depths=[2], num_heads=[3], window_size=4, compress_ratio=3,
              squeeze_factor=30, mlp_ratio=2.0, num_feat=16)
HAT_L_X3 = dict(upscale=3, embed_dim=12, depths=[1] * 12, num_heads=[2] * 12, window_size=4, compress_ratio=3,
                squeeze_factor=6, mlp_ratio=2.0, num_feat=16, resi_connection='identity', qkv_bias=False)
TINY = {'type': 'HAT', 'num_in_ch': 3, 'num_out_ch': 3, 'upscale': 2, 'embed_dim': 12, 'depths': [2],
        'num_heads': [2], 'window_size': 4, 'compress_ratio': 3, 'squeeze_factor': 6, 'overlap_ratio': 0.5,
        'mlp_ratio': 2.0, 'qkv_bias': True, 'resi_connection': '1conv', 'num_feat': 16}


@pytest.mark.parametrize('cfg, size, suffix', [
    (HAT_S_X4, (23, 19), '.pth'),
    (HAT_X2, (37, 29), '.safetensors'),
    (HAT_L_X3, (21, 27), '.pth'),
], ids=['hat_s_x4', 'hat_x2', 'hat_l_x3'])
def test_hat_matches_spandrel_from_the_file_alone(photo, tmp_path, cfg, size, suffix, spandrel):
    x = photo_input(photo, *size)
    net = reference('HAT', x, **cfg)
    path = release_file(net, tmp_path / f'hat{suffix}', wrap='params_ema' if suffix == '.pth' else None)
    db, ref, out, arch = fidelity(net, path, x)
    expect = {k: list(v) if isinstance(v, list) else v for k, v in cfg.items()}
    assert arch['type'] == 'HAT' and {k: arch[k] for k in expect} == expect
    assert arch['overlap_ratio'] == 0.5
    assert out.shape[2:] == (size[0] * cfg['upscale'], size[1] * cfg['upscale'])
    assert db >= 50, db


def test_the_comparison_sees_a_wrong_overlapping_window_index(photo, tmp_path, monkeypatch, spandrel):
    """The fidelity check fails when the overlapping cross-attention's position index is wrong (here: its
    queries in reverse order)."""
    import realesrgan_paddle.models.archs.swinir.hat as hat
    x = photo_input(photo, 23, 19)
    path = release_file(net := reference('HAT', x, **HAT_S_X4), tmp_path / 'hat_s.pth')
    original = hat.relative_position_index
    monkeypatch.setattr(hat, 'relative_position_index',
                        lambda window, extended=None: original(window, extended)[::-1] if extended else
                        original(window))
    assert fidelity(net, path, x)[0] < 45


def test_detection_round_trip_and_broken_hat():
    from realesrgan_paddle import models
    from realesrgan_paddle.models.detect import detect_arch
    state = {k: v.numpy() for k, v in models.build_network(TINY).state_dict().items()}
    assert detect_arch(state) == TINY
    bad = dict(state)
    bad['layers.0.residual_group.blocks.0.conv_block.cab.0.weight'] = np.zeros((5, 12, 3, 3), np.float32)
    with pytest.raises(ValueError, match='cab.0.weight has 5 channels, which do not divide embed_dim 12'):
        detect_arch(bad)
    bad = dict(state)
    bad['layers.0.residual_group.overlap_attn.relative_position_bias_table'] = np.zeros((50, 2), np.float32)
    with pytest.raises(ValueError, match='overlapping attention table has 50 rows'):
        detect_arch(bad)


@pytest.mark.slow(seconds=13)
def test_export_predictor_and_tiling(tmp_path, photo, spandrel):
    """The static and ONNX exports at two sizes; tiles against the whole image."""
    from realesrgan_paddle import models
    cfg = {k: v for k, v in TINY.items() if k not in ('type', 'num_in_ch', 'num_out_ch')}
    net = reference('HAT', photo_input(photo, 40, 56), **cfg)
    path = release_file(net, tmp_path / 'tiny.pth', wrap='params_ema')
    ours, arch = models.load_network(path)
    assert arch == TINY
    assert export_matches_dynamic(ours, arch, tmp_path / 'export') < 1e-4
    assert onnx_matches_dynamic(ours, arch, tmp_path / 'tiny.onnx') < 1e-4
    lr = photo[:40, :56]
    overlapped, stitched = tiled_against_whole(path, lr)
    assert overlapped > 45 and stitched < 40, (overlapped, stitched)


def test_a_training_step(tmp_path):
    """``network_g: {type: HAT, ...}`` trains: one optimiser step on odd-sized LR crops changes the weights."""
    assert one_training_step(tmp_path, TINY) > 0


@pytest.mark.slow(seconds=10)
@pytest.mark.parametrize('cfg, kinds', [(HAT_X2, WRAPPERS), (HAT_L_X3, ('module', 'bf16'))], ids=['hat_x2', 'hat_l_x3'])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, cfg, kinds, spandrel):
    """HAT and HAT-L in every wrapper and dtype users' files come in (tests/models/user_files.py), through
    ``Upscaler`` at 37x45: the upscaler reflects the image up to the window grid as spandrel does inside;
    spandrel's output at >= 90 dB."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    x = odd_crop(photo)
    net = reference('HAT', x[None], **cfg)

    def arch_read(arch):
        assert (arch['type'], arch['upscale'], arch['depths']) == ('HAT', cfg['upscale'], cfg['depths'])
    assert_user_files_match(net, x, tmp_path, kinds=kinds, arch_check=arch_read)
