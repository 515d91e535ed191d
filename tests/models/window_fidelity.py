"""spandrel's SwinIR and HAT as references for the window-attention ports (tests/models/test_arch_swinir.py,
test_arch_hat.py): a seeded reference network whose output is image-like and not clipped, saved as a release
file, loaded through the project's real path, and both run on the same real photo crop."""
import numpy as np

from tests.skips import need_spandrel, need_torch

TARGET_STD = 0.1  # the tuned reference's output: around 0.5 with this spread within each channel


def _perturb(net, seed):
    """Weights under which attention matters: linear layers at unit gain (the release init, std 0.02, leaves
    the attention near uniform and its branch a small residual: a wrong mask or position index would pass),
    bias tables of a wide spread (peaked attention), norms away from 1 and 0."""
    torch = need_torch()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / module.weight.shape[1] ** 0.5)
        for name, p in net.named_parameters():
            if name.endswith('relative_position_bias_table'):
                p.copy_(torch.randn(p.shape, generator=gen) * 3)
            elif 'norm' in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.2)


def _last_conv(net):
    """``(name, conv)`` of the convolution that writes the image: ``upsample.0`` of a lightweight SwinIR."""
    return ('conv_last', net.conv_last) if hasattr(net, 'conv_last') else ('upsample.0', net.upsample[0])


def reference(kind, x, seed=0, img_size=32, **cfg):
    """spandrel's ``kind`` ('SwinIR' or 'HAT') built from ``cfg`` with seeded weights, its last convolution
    scaled and shifted so that its output on ``x`` (NCHW float32) varies around 0.5, unclipped."""
    torch, architectures = need_torch(), need_spandrel().architectures
    HAT, SwinIR = architectures.HAT.HAT, architectures.SwinIR.SwinIR
    torch.manual_seed(seed)
    net = {'SwinIR': SwinIR, 'HAT': HAT}[kind](img_size=img_size, **cfg).eval()
    _perturb(net, seed)
    with torch.no_grad():
        out = net(torch.from_numpy(x))
        name, conv = _last_conv(net)
        k = TARGET_STD / float(out.std(dim=(0, 2, 3)).mean())  # the spread within each channel
        groups = conv.weight.shape[0] // out.shape[1]  # pre-shuffle channels per image channel
        r, mean = net.img_range, net.mean.reshape(-1)
        shift = (k * (mean - out.mean(dim=(0, 2, 3))) + 0.5 - mean) * r
        conv.weight.mul_(k)
        conv.bias.mul_(k).add_(shift.repeat_interleave(groups))
    return net


def release_file(net, path, wrap=None, prefix='', renames=()):
    """``net``'s state dict saved as an official release would be (``.pth`` with torch.save, optionally
    under ``wrap`` such as 'params_ema', keys with ``prefix`` such as 'module.' and key prefixes changed by
    ``renames`` (old, new) pairs; or ``.safetensors``)."""
    torch = need_torch()

    def name(k):
        return next((new + k[len(old):] for old, new in renames if k.startswith(old)), k)
    state = {prefix + name(k): v.contiguous() for k, v in net.state_dict().items()}
    if str(path).endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file(state, str(path))
    else:
        torch.save({wrap: state} if wrap else state, str(path))
    return path


def photo_input(photo, h, w):
    """An ``h`` x ``w`` crop of a real photo as RGB NCHW float32 in [0, 1]."""
    y, x = (photo.shape[0] - h) // 2, (photo.shape[1] - w) // 2
    return np.ascontiguousarray(photo[y:y + h, x:x + w, ::-1].transpose(2, 0, 1)[None] / 255.0).astype(np.float32)


def fidelity(net, path, x):
    """``(psnr dB, reference output, our output, arch)``: spandrel's raw forward against ``models.load_network``
    of the saved ``path`` on ``x``, unclamped; the reference output must be image-like (varied, almost all of
    it inside [0, 1])."""
    import paddle
    torch = need_torch()

    from realesrgan_paddle import models
    ours, arch = models.load_network(path)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    with paddle.no_grad():
        out = ours(paddle.to_tensor(x)).numpy()
    assert out.shape == ref.shape
    assert ref.std() > 0.05 and np.mean((ref < 0) | (ref > 1)) < 0.02, (ref.mean(), ref.std())
    mse = float(np.mean((out.astype(np.float64) - ref) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-20)), ref, out, arch


def _worst_at_two_sizes(run, net, scale):
    """Largest difference between ``run(x)`` and the dynamic graph at two input sizes (odd, and another batch
    and shape); each output is exactly scale x input."""
    from realesrgan_paddle.inference.backends import DynamicBackend
    dyn, rng, worst = DynamicBackend(net), np.random.default_rng(1), 0.0
    for shape in [(1, 3, 23, 19), (2, 3, 16, 30)]:
        x = rng.random(shape, dtype=np.float32)
        y = run(x)
        assert y.shape == (shape[0], 3, shape[2] * scale, shape[3] * scale)
        worst = max(worst, float(np.abs(y - dyn.forward(x)).max()))
    return worst


def export_matches_dynamic(net, arch, folder):
    """The static export's predictor against the dynamic graph at two input sizes; the largest difference."""
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    pred = PredictorBackend(export_static(net, arch, folder))
    return _worst_at_two_sizes(pred.forward, net, models.net_scale(arch))


def onnx_matches_dynamic(net, arch, path):
    """The ONNX export (paddle2onnx, dynamic N/H/W) in onnxruntime against the dynamic graph at two input
    sizes; the largest difference (skips without the ONNX requirements)."""
    import pytest
    ort = pytest.importorskip('onnxruntime', reason='needs onnxruntime: pip install -r requirements-onnx.txt')
    pytest.importorskip('paddle2onnx', reason='needs paddle2onnx: pip install -r requirements-onnx.txt')
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    session = ort.InferenceSession(str(export_onnx(net, arch, path)))
    name = session.get_inputs()[0].name
    return _worst_at_two_sizes(lambda x: session.run(None, {name: x})[0], net, models.net_scale(arch))


def one_training_step(tmp_path, arch):
    """One optimiser step of the trainer (tiny_smoke.yml's L1 recipe) with ``network_g`` = ``arch`` on odd-sized
    LR crops; returns how far the weights moved (largest change)."""
    import logging

    import paddle

    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    from tests.training.smoke import SMOKE
    net_g = '{' + ', '.join(f'{k}: {list(v) if isinstance(v, (list, tuple)) else repr(v)}'
                           for k, v in arch.items()) + '}'
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', 'model_type=RealESRNetModel', 'network_d=null',
                               'train.gan_opt=null', f'network_g={net_g}', f'scale={arch["upscale"]}'])
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test.window'))
    before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    rng, s = np.random.default_rng(0), arch['upscale']
    lq = paddle.to_tensor(rng.random((2, 3, 13, 11), dtype=np.float32))
    gt = paddle.to_tensor(rng.random((2, 3, 13 * s, 11 * s), dtype=np.float32))
    assert model.optimize(lq, gt, gt, 1) is not None
    return max(float(np.abs(v.numpy() - before[k]).max()) for k, v in model.g.state_dict().items())


def tiled_against_whole(path, lr):
    """``(dB with overlapping tiles, dB stitched without overlap)``: ``Upscaler`` with 24 px tiles against the
    whole image (shape checked). Window attention sees the tile, not the image, so the tiles agree only closely
    (24 and 8 are multiples of the tests' window of 4 or 8: each tile keeps the image's window grid); without
    the overlap the seams show."""
    from realesrgan_paddle.evaluation.metrics import psnr
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(str(path), backend='dynamic', tile=0)
    full = up.upscale(lr)
    out = []
    for pad in (8, 0):
        up.tile, up.tile_pad = 24, pad
        tiled = up.upscale(lr)
        assert tiled.shape == full.shape and up.last_tile == 24
        out.append(psnr(tiled, full))
    return tuple(out)
