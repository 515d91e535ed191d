"""spandrel's SPAN and PLKSR networks as references: seeded weights whose output is not clipped, saved as the
files users have, and the comparison with our network loaded from that file (tests/models/test_arch_span.py,
test_arch_plksr.py)."""
import numpy as np

from tests.skips import need_torch


def unclip(tnet, conv, x, shift):
    """Rescale the torch ``conv`` so that its output on ``x`` has spread 0.1 around ``shift`` (seeded random
    weights otherwise saturate the network's output, and a wrong port would hide behind the clipping)."""
    torch = need_torch()
    seen = []
    hook = conv.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        tnet(torch.from_numpy(x))
        hook.remove()
        out = seen[-1]
        a = 0.1 / max(float(out.std()), 1e-8)
        conv.weight.mul_(a)
        conv.bias.copy_(conv.bias * a - a * float(out.mean()) + shift)


def save_torch(tnet, path):
    """``tnet``'s state dict as a ``.pth`` (torch.save) or ``.safetensors`` file, as users share them."""
    torch = need_torch()
    state = {k: v.detach().clone().contiguous() for k, v in tnet.state_dict().items()}
    if str(path).endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def photo_input(photo_batch, h=29, w=37):
    """A real photo crop of odd size (not a multiple of 8 or 16), NCHW float32 numpy, its levels mapped to
    [0.3, 0.7]: PLKSR adds its trunk (spread 0.1, ``unclip``) to the input, so a photo's black or white areas
    (scikit-image's astronaut in a clone without ../shared) would push the reference output past [0, 1], where
    the comparison refuses it."""
    crop = photo_batch(1, 64).numpy()[:, :, :h, :w]
    return np.ascontiguousarray(0.3 + 0.4 * crop, dtype=np.float32)


def compare_with_file(tnet, path, x):
    """Load ``path`` through the project's loading path (architecture detected from the file alone), run both
    networks' raw forward on ``x``; returns ``(psnr_db, arch, our_output)``."""
    import paddle
    torch = need_torch()

    from realesrgan_paddle import models
    net, arch = models.load_network(path)
    with torch.no_grad():
        ref = tnet.eval()(torch.from_numpy(x)).numpy()
    with paddle.no_grad():
        out = net(paddle.to_tensor(x)).numpy()
    assert out.shape == ref.shape
    assert np.mean((ref < 0) | (ref > 1)) < 0.01 and ref.std() > 0.02, 'the reference output is clipped or flat'
    return psnr01(out, ref), arch, out


def psnr01(a, b):
    """PSNR of two float arrays in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float('inf') if mse == 0 else 10 * np.log10(1.0 / mse)


def tiled_and_whole(weights, img, tile, pad):
    """``(tiled, whole)`` uint8 outputs of the dynamic-graph Upscaler on ``img`` (BGR uint8), tiled with
    ``tile`` and ``pad``, and in one piece."""
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(weights, backend='dynamic', tile=0)
    whole = up.upscale(img)
    up.tile, up.tile_pad = tile, pad
    tiled = up.upscale(img)
    assert up.last_tile == tile
    return tiled, whole


def trained_keys(tmp_path, arch, photo_batch):
    """The state-dict keys one trainer step (the smoke recipe, L1 only, ``network_g: arch``) changes."""
    import json
    import logging

    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    from tests.training.smoke import SMOKE, _batch
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'network_g={json.dumps(arch)}',
                               'model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null'])
    model = build_model(opt, logging.getLogger('test.arch'))
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    model.optimize(*_batch(photo_batch), 1)
    return {k for k, v in model.g.state_dict().items() if not np.array_equal(v.numpy(), before[k])}


def onnx_error(net, arch, path, opset):
    """The largest difference, relative to the output's peak, between the ONNX export of ``net`` (onnxruntime)
    and ``net`` at two input sizes; skips without paddle2onnx/onnxruntime."""
    import paddle
    import pytest
    for module in ('onnxruntime', 'paddle2onnx'):
        pytest.importorskip(module, reason=f'needs {module}: pip install -r requirements-onnx.txt')
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    ort = OnnxBackend(export_onnx(net, arch, path, opset=opset))
    worst = 0.0
    for shape in [(1, 3, 13, 21), (1, 3, 8, 16)]:
        x = np.random.default_rng(1).random(shape, dtype=np.float32)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        worst = max(worst, float(np.abs(ort.forward(x) - ref).max() / np.abs(ref).max()))
    return worst
