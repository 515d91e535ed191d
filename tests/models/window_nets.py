"""Helpers for the window-attention fidelity tests (OmniSR, DAT): a seeded spandrel network whose output is
moved off the clipping range, saved as a .pth, loaded through the project's real path, and compared on a real
photo crop."""
import math

import numpy as np

from tests.skips import need_spandrel, need_torch


def photo_input(photo, h, w):
    """An ``h`` x ``w`` crop of the real photo as RGB NCHW float32 in [0, 1]."""
    crop = photo[:h, :w, ::-1].astype(np.float32) / 255
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None])


def calibrated(net, last_conv, x):
    """Scale the last conv's weight and shift its bias so that the output varies around 0.5 with a std of
    about 0.12: a wrong port cannot hide behind clipping at 0 and 1. Returns the torch output."""
    torch = need_torch()
    with torch.no_grad():
        for _ in range(2):  # twice: a constant added after the conv (DAT's RGB mean) is not scaled with it
            y = net(torch.from_numpy(x))
            a = 0.12 / float(y.std())
            last_conv.weight.mul_(a)
            last_conv.bias.mul_(a).add_(0.5 - a * float(y.mean()))
        y = net(torch.from_numpy(x)).numpy()
    assert 0.3 < y.mean() < 0.7 and ((y < 0) | (y > 1)).mean() < 0.01, (y.mean(), y.std())
    return y


def spandrel_net(arch_class, seed=0, **kwargs):
    """spandrel's ``arch_class`` (a name in spandrel.architectures) built with seeded random weights, in eval."""
    torch, architectures = need_torch(), need_spandrel().architectures
    torch.manual_seed(seed)
    return getattr(getattr(architectures, arch_class), arch_class)(**kwargs).eval()


def save_pth(net, path, wrap=None):
    """``torch.save`` of the state dict (under ``wrap``, e.g. 'params_ema', when given)."""
    torch = need_torch()
    state = net.state_dict()
    torch.save({wrap: state} if wrap else state, path)
    return path


def paddle_forward(net, x):
    import paddle
    with paddle.no_grad():
        return net(paddle.to_tensor(x)).numpy()


def psnr(a, b):
    """PSNR of two float arrays in [0, 1] (no clipping: the raw forwards are compared)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def check_export(arch, tmp_path, sizes=((1, 3, 23, 19), (2, 3, 16, 33))):
    """A tiny ``arch`` (random weights) exported to the legacy static graph runs in the Paddle Inference
    predictor at several input sizes (dynamic N, H and W) and matches the dynamic graph."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static, load_info, open_export
    paddle.seed(0)
    net = models.build_network(arch)
    net.eval()
    out = export_static(net, arch, tmp_path / 'infer')
    open_export(out, user_cache=tmp_path / 'user_cache')  # the graph check passes it (ops, attributes, arch)
    info = load_info(out)
    assert info['mod'] == 1 and info['scale'] == models.net_scale(arch)
    pred, dyn = PredictorBackend(out), DynamicBackend(net)
    rng = np.random.default_rng(1)
    for shape in sizes:
        x = rng.random(shape, dtype=np.float32)
        y = pred.forward(x)
        assert y.shape == (shape[0], 3, shape[2] * info['scale'], shape[3] * info['scale'])
        np.testing.assert_allclose(y, dyn.forward(x), atol=1e-4)


def check_tiling(weights, photo, size=(40, 44), tile=16, min_psnr=30):
    """``tools/infer.py``'s engine (``Upscaler``, dynamic graph) tiled and whole on a real photo crop: the same
    size, and close (window attention sees a little less context near the seams)."""
    from realesrgan_paddle.evaluation.metrics import psnr as psnr_u8
    from realesrgan_paddle.inference import Upscaler
    lr = photo[:size[0], :size[1]]
    up = Upscaler(str(weights), backend='dynamic', tile=0)
    full = up.upscale(lr)
    up.tile, up.tile_pad = tile, 6
    tiled = up.upscale(lr)
    assert up.last_tile == tile and tiled.shape == full.shape
    assert full.std() > 20  # an image, not a flat clipped one
    value = psnr_u8(tiled, full)
    assert value > min_psnr, value
    return value


def train_one_step(arch, tmp_path, photo_batch):
    """One generator + discriminator step of the tiny smoke recipe with ``network_g`` = ``arch``: the loss is
    finite and the generator's weights move."""
    import json
    import logging

    import paddle

    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    from tests.training.smoke import SMOKE, _batch
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'network_g={json.dumps(arch)}'])
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test.window_nets'))
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    losses = model.optimize(*_batch(photo_batch), 1)
    assert all(np.isfinite(v) for v in losses.values()), losses
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())


def convert_with_tool(src, x):
    """``tools/convert_torch.py --input src --output src.pdparams``; the converted file gives the same output
    on ``x`` as the source file loaded directly, with the architecture stored in it. Returns the arch."""
    import importlib.util

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    from tests.user_path import ROOT
    spec = importlib.util.spec_from_file_location('convert_torch_window_nets', ROOT / 'tools' / 'convert_torch.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    dst = src.with_suffix('.pdparams')
    assert tool.main(['--input', str(src), '--output', str(dst), '--quiet']) == 0
    _, stored = pick_params(load_state_file(dst), 'params_ema')
    net, arch = models.load_network(dst)
    assert stored == arch
    np.testing.assert_allclose(paddle_forward(net, x), paddle_forward(models.load_network(src)[0], x), atol=1e-6)
    return arch
