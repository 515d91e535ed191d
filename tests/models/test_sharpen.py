"""The fixed unsharp mask after SRVGGNetCompact (models/archs/compact/sharpen.py): the function against a scipy
reference on a real photo, the Layer, the network's ``sharpen``/``sharpen_sigma`` keys (nothing in the state dict,
nothing added at amount 0), the static export on Paddle Inference (oneDNN and OpenVINO) and ONNX, tiling, and the
weights files ``write_sharpened`` writes (bounds refused in one line naming the file)."""
import math

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.archs.compact.sharpen import (UnsharpMask, gaussian_taps, supports_sharpening,
                                                            unsharp_mask, write_sharpened)
from realesrgan_paddle.models.loading import CheckpointError, read_checkpoint
from tests.graph_contents import legacy_contents
from tests.nets import rrdb, save_tiny, srvgg


@pytest.fixture(scope='module')
def crop():
    """A real photo (scikit-image's astronaut), 40x52 (odd-ish, not square), RGB float32 in [0, 1], CHW."""
    from skimage import data
    img = data.astronaut()[180:220, 190:242].astype(np.float32) / 255
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def _channels(crop, n):
    """``crop`` as ``n`` channels: grey (its mean), RGB, or RGB plus an alpha made of the red channel flipped."""
    if n == 1:
        return crop.mean(0, keepdims=True)
    return crop if n == 3 else np.concatenate([crop, crop[:1, ::-1]], 0)


def reference_usm(x, sigma, amount):
    """``x + amount * (x - G * x)`` per channel of ``x`` (C, H, W) with scipy's Gaussian (edges repeated, radius
    ``ceil(3 sigma)``), in float64."""
    from scipy.ndimage import gaussian_filter
    x = x.astype(np.float64)
    r = math.ceil(round(3 * sigma, 9))
    blur = np.stack([gaussian_filter(c, sigma, mode='nearest', truncate=3, radius=r) for c in x])
    return x + amount * (x - blur)


def _run(fn, x):
    with paddle.no_grad():
        return fn(paddle.to_tensor(x[None])).numpy()[0]


@pytest.mark.parametrize('sigma', [0.5, 0.7, 1.5, 2.2, 3.0])
def test_taps_are_a_normalised_gaussian_of_radius_ceil_3_sigma(sigma):
    taps = gaussian_taps(sigma)
    r = math.ceil(round(3 * sigma, 9))
    assert taps.shape == (2 * r + 1,) and taps.dtype == np.float32
    np.testing.assert_allclose(taps.sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(taps, taps[::-1])
    np.testing.assert_allclose(taps[r + 1] / taps[r], np.exp(-0.5 / sigma ** 2), rtol=1e-5)


@pytest.mark.parametrize('channels', [1, 3, 4])
@pytest.mark.parametrize('sigma, amount', [(1.5, 0.5), (0.7, 2.0), (3.0, 1.3)])
def test_function_matches_scipy(crop, channels, sigma, amount):
    x = _channels(crop, channels)
    got = _run(lambda t: unsharp_mask(t, sigma, amount), x)
    want = reference_usm(x, sigma, amount)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(want - x).max() > 0.05  # the mask changes the photo: the check above can fail


def test_amount_zero_is_the_identity(crop):
    x = paddle.to_tensor(crop[None])
    np.testing.assert_array_equal(unsharp_mask(x, 1.5, 0).numpy(), crop[None])
    np.testing.assert_array_equal(UnsharpMask(3, 1.5, 0.0)(x).numpy(), crop[None])


@pytest.mark.parametrize('channels, sigma, amount', [(3, 1.5, 0.5), (1, 2.5, 1.0), (4, 0.5, 2.0)])
def test_layer_equals_function(crop, channels, sigma, amount):
    x = _channels(crop, channels)
    layer = UnsharpMask(channels, sigma, amount)
    np.testing.assert_allclose(_run(layer, x), _run(lambda t: unsharp_mask(t, sigma, amount), x), atol=1e-7)
    assert layer.state_dict() == {} and 'kernel' in dict(layer.named_buffers())


@pytest.mark.parametrize('bad', [dict(sigma=0), dict(sigma=float('nan')), dict(amount=-0.1), dict(amount='1')])
def test_bad_sigma_or_amount_is_one_line(crop, bad):
    with pytest.raises(ValueError, match='^unsharp mask: ') as e:
        unsharp_mask(paddle.to_tensor(crop[None]), **{'sigma': 1.5, 'amount': 0.5, **bad})
    assert '\n' not in str(e.value)


def _pair(seed=0, **arch):
    """A plain tiny SRVGGNetCompact (seeded) and the same weights with the mask."""
    paddle.seed(seed)
    plain = models.build_network(srvgg(**{k: v for k, v in arch.items() if not k.startswith('sharpen')}))
    sharp = models.build_network(srvgg(**arch))
    sharp.set_state_dict(plain.state_dict())
    return plain.eval(), sharp.eval()


@pytest.mark.parametrize('arch', [dict(sharpen=0.8), dict(sharpen=2.0, sharpen_sigma=0.5, skip='bilinear'),
                                  dict(sharpen=0.5, sharpen_sigma=3.0, num_in_ch=1, num_out_ch=1, upscale=2)])
def test_network_applies_the_mask_to_its_output(crop, arch):
    plain, sharp = _pair(**arch)
    x = _channels(crop, arch.get('num_in_ch', 3)) * 0.5 + 0.25
    want = _run(lambda t: unsharp_mask(plain(t), arch.get('sharpen_sigma', 1.5), arch['sharpen']), x)
    got = _run(sharp, x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - _run(plain, x)).max() > 0.01


def test_the_state_dict_and_the_official_layout_are_unchanged(tmp_path):
    """Same keys with and without the mask, so an official checkpoint loads strictly into a sharpened network,
    and detection from the weights alone finds the plain network."""
    plain, sharp = _pair(sharpen=1.0)
    assert list(sharp.state_dict()) == list(plain.state_dict())
    assert sharp.usm is not None and plain.usm is None
    path = tmp_path / 'plain.pdparams'
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    save_checkpoint(path, params={k: v.numpy() for k, v in plain.state_dict().items()})  # no arch: detected
    net, arch = models.load_network(path, arch={'sharpen': 1.0})
    assert arch == {**srvgg(), 'sharpen': 1.0} and net.usm is not None
    assert read_checkpoint(path)[1] == srvgg()


def test_amount_zero_adds_nothing(crop, tmp_path):
    """``sharpen=0`` builds the plain network: no sublayer, the same output and the same exported graph."""
    from realesrgan_paddle.inference.export.paddle_export import export_static
    plain, zero = _pair(sharpen=0.0, sharpen_sigma=2.0)
    assert zero.usm is None
    np.testing.assert_array_equal(_run(zero, crop), _run(plain, crop))
    graphs = [legacy_contents(export_static(n, a, tmp_path / str(i)) / 'inference.pdmodel')
              for i, (n, a) in enumerate([(plain, srvgg()), (zero, srvgg(sharpen=0.0, sharpen_sigma=2.0))])]
    assert graphs[0] == graphs[1] and 'pad3d' not in graphs[0][0]


def test_the_networks_default_sigma_is_the_masks():
    """SRVGGNetCompact writes its default sigma out (its module loads the mask's only for a sharpened network)."""
    import inspect

    from realesrgan_paddle.models.archs.compact import sharpen as mask
    from realesrgan_paddle.models.archs.compact.srvgg import SRVGGNetCompact
    assert inspect.signature(SRVGGNetCompact).parameters['sharpen_sigma'].default == mask.SIGMA


@pytest.mark.slow(seconds=8)
def test_export_runs_the_mask_on_onednn_and_openvino(crop, tmp_path):
    """The export (``tools/export_model.py``'s, checked as every entry point opens it) holds the mask, its kernel
    a parameter, and runs it on Paddle Inference's oneDNN and OpenVINO engines as the dynamic graph does."""
    from paddle import inference as pi

    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static, open_export
    plain, net = _pair(sharpen=0.7)
    arch = srvgg(sharpen=0.7)
    folder = open_export(export_static(net, arch, tmp_path / 'export')).dir  # the graph check passes
    ops = legacy_contents(folder / 'inference.pdmodel')[0]
    assert {'pad3d', 'depthwise_conv2d'} <= ops
    x = crop[None] * 0.5 + 0.25
    want = DynamicBackend(net).forward(x)
    assert want.shape == (1, 3, 160, 208)
    assert np.abs(want - DynamicBackend(plain).forward(x)).max() > 0.01
    engines = ['onednn'] + (['openvino'] if hasattr(pi.Config, 'enable_openvino_engine') else [])
    for engine in engines:
        backend = PredictorBackend(folder, engine=engine)
        assert backend.engine == engine  # explicit: OpenVINO raises rather than fall back when it cannot convert
        np.testing.assert_allclose(backend.forward(x), want, atol=1e-4, err_msg=engine)


@pytest.mark.slow(seconds=6)
def test_onnx_export_runs_the_mask(crop, tmp_path):
    """The PIR trace ``tools/export_onnx.py`` hands to paddle2onnx passes the graph check and keeps the kernel."""
    pytest.importorskip('paddle2onnx', reason='needs paddle2onnx: pip install -r requirements-onnx.txt')
    ort = pytest.importorskip('onnxruntime', reason='needs onnxruntime: pip install -r requirements-onnx.txt')
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    _, net = _pair(sharpen=1.5, sharpen_sigma=1.0)
    session = ort.InferenceSession(str(export_onnx(net, srvgg(sharpen=1.5, sharpen_sigma=1.0), tmp_path / 'm.onnx')))
    x = crop[None] * 0.5 + 0.25
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, _run(net, x[0])[None], atol=1e-4)


def test_default_tiles_cover_the_masks_reach(crop):
    """The mask reaches ``ceil(3 sigma)`` HR px (5 at sigma 1.5: 2 LR px at x4); the tiles' default overlap
    (``tile_pad`` 10 LR px, cross-faded over 80 HR px) hides its edge: with the body zeroed (the network is the
    nearest skip and the mask, at the largest amount) tiles give the whole image's output within an 8-bit level
    (the edge's few pixels weigh under 7 % in the blend), without overlap they do not."""
    from realesrgan_paddle.inference.tiling import tiled_forward
    from realesrgan_paddle.inference.upscaler import UpscaleOptions
    _, net = _pair(sharpen=2.0)
    for p in net.parameters():
        p.set_value(paddle.zeros_like(p))

    def forward(x):
        return _run(net, x[0])[None]
    whole = forward(crop[None])[0]
    pad = UpscaleOptions().tile_pad
    assert pad >= 2
    tiled = tiled_forward(crop, forward, 4, tile=16, tile_pad=pad)
    assert np.abs(tiled - whole).max() * 255 < 1
    assert np.abs(tiled_forward(crop, forward, 4, tile=16, tile_pad=0) - whole).max() * 255 > 10


def test_write_sharpened_round_trip(crop, tmp_path):
    """The weights read as every tool reads them (``params_ema`` first), the arch amended; the network built from
    the file applies the mask; amount 0 writes the plain arch; detection from the weights is unchanged."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from realesrgan_paddle.models.detect import detect_arch
    plain, _ = _pair()
    other = {k: v.numpy() + 1 for k, v in plain.state_dict().items()}
    src = save_checkpoint(tmp_path / 'src.pdparams', params=other, arch=srvgg(),
                          params_ema={k: v.numpy() for k, v in plain.state_dict().items()})
    dst = write_sharpened(src, 0.6, tmp_path / 'out' / 'sharp.pdparams', sigma=2.0)
    assert dst == tmp_path / 'out' / 'sharp.pdparams'
    state, arch = read_checkpoint(dst)
    assert arch == {**srvgg(), 'sharpen': 0.6, 'sharpen_sigma': 2.0}
    assert detect_arch(state) == srvgg()
    net, _ = models.load_network(dst)
    x = crop * 0.5 + 0.25
    np.testing.assert_allclose(_run(net, x), _run(lambda t: unsharp_mask(plain(t), 2.0, 0.6), x), atol=1e-5)
    again = write_sharpened(dst, 0, tmp_path / 'zero.pdparams')
    assert read_checkpoint(again)[1] == srvgg()
    np.testing.assert_array_equal(_run(models.load_network(again)[0], x), _run(plain, x))


@pytest.mark.slow(seconds=6)
def test_the_upscaler_applies_the_stored_mask_on_both_backends(tmp_path):
    """``tools/infer.py``'s path (``Upscaler``) on a written file: the dynamic graph and the cached export (the
    predictor, on the network's CPU engine) give the same image, a sharper one than the plain file's."""
    from skimage import data

    from realesrgan_paddle.inference import Upscaler
    from tests.nets import save_image_like
    src = save_image_like(tmp_path / 'plain.pdparams', srvgg())
    dst = write_sharpened(src, 1.0, tmp_path / 'sharp.pdparams')
    img = np.ascontiguousarray(data.astronaut()[180:220, 190:242, ::-1])  # BGR, as the upscaler reads files
    out = {name: Upscaler(str(path), backend=backend, precision='fp32',  # bf16 CPUs would round differently
                          cache_root=str(tmp_path / 'cache')).upscale(img).astype(int)
           for name, path, backend in [('plain', src, 'dynamic'), ('dynamic', dst, 'dynamic'),
                                       ('predictor', dst, 'predictor')]}
    assert out['dynamic'].shape == (160, 208, 3)
    assert np.abs(out['predictor'] - out['dynamic']).max() <= 1
    assert np.abs(out['dynamic'] - out['plain']).max() > 10


def test_write_sharpened_refuses_other_networks_in_one_line(tmp_path):
    src = save_tiny(tmp_path / 'rrdb.pdparams', rrdb())
    assert not supports_sharpening(read_checkpoint(src)[1]) and supports_sharpening(srvgg())
    with pytest.raises(ValueError, match='RRDBNet network does not take the unsharp mask') as e:
        write_sharpened(src, 0.5, tmp_path / 'no.pdparams')
    assert str(e.value).startswith(f'{src}: ') and '\n' not in str(e.value)
    assert not (tmp_path / 'no.pdparams').exists()
    with pytest.raises(ValueError, match='sharpen: must be between 0 and 2'):
        write_sharpened(save_tiny(tmp_path / 'c.pdparams', srvgg()), 2.5, tmp_path / 'no.pdparams')


@pytest.mark.parametrize('key, value, words', [('sharpen', 2.5, 'must be between 0 and 2, got 2.5'),
                                               ('sharpen', -0.5, 'must be between 0 and 2'),
                                               ('sharpen_sigma', 0.2, 'must be between 0.5 and 3, got 0.2'),
                                               ('sharpen', 'strong', 'expected a number'),
                                               ('sharpen_sigma', float('inf'), 'finite')])
def test_stored_values_out_of_range_are_one_line_naming_the_file(tmp_path, key, value, words):
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    plain, _ = _pair()
    path = save_checkpoint(tmp_path / 'bad.pdparams', params={k: v.numpy() for k, v in plain.state_dict().items()},
                           arch={**srvgg(), 'sharpen': 0.5, key: value})
    for read in (read_checkpoint, models.load_network):
        with pytest.raises(CheckpointError) as e:
            read(path)
        msg = str(e.value)
        assert msg.startswith(f'{path}: ') and '\n' not in msg and key in msg and words in msg, msg
    with pytest.raises(ValueError, match=f'SRVGGNetCompact {key}: '):
        models.get_spec('SRVGGNetCompact').cls(**{'sharpen': 0.5, key: value})
