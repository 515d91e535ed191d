"""Comparing a Paddle network with a PyTorch reference (spandrel's) on a real photo: the input, a reference
whose output is centred and unclipped, PSNR; and real weights on a photo: bicubic, an 8-bit upscale, sharpness."""
import cv2
import numpy as np

from tests.skips import need_torch

H, W = 29, 37  # neither a multiple of 2, 4 nor 8


def photo_input(photo, channels):
    """A real photo crop as a 1 x C x H x W float batch in [0, 1] (1: grey, 4: RGB + a green alpha)."""
    rgb = photo[:H, :W, ::-1].astype(np.float32) / 255
    x = {1: rgb.mean(2, keepdims=True), 3: rgb, 4: np.concatenate([rgb, rgb[..., 1:2]], 2)}[channels]
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def centred_output(net, x):
    """Scale and shift the last conv of a torch ``net`` so that its output on ``x`` spans [0.1, 0.9] unclipped
    (what passes around that conv, as an input skip, must span under 0.6); the output."""
    torch = need_torch()
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        out = net(torch.from_numpy(x)).numpy()
        w, b = last.weight.clone(), last.bias.clone()
        last.weight.zero_()
        last.bias.zero_()
        skip = net(torch.from_numpy(x)).numpy()  # the output without the last conv
        conv = out - skip
        room = 0.8 - float(skip.max() - skip.min())
        assert room >= 0.2, 'the skip spans too much of [0, 1] to centre the output'
        k = room / float(conv.max() - conv.min())
        last.weight.copy_(w * k)
        last.bias.copy_(b * k + (0.1 - float(skip.min()) - k * float(conv.min())))
        out = net(torch.from_numpy(x)).numpy()
    assert 0.09 < out.min() and out.max() < 0.91 and out.std() > 0.02
    return out


def psnr(a, b):
    return 10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-20))


def run_paddle(net, x):
    import paddle
    with paddle.no_grad():
        return net(paddle.to_tensor(x)).numpy()


def bicubic(img, size):
    from PIL import Image
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.BICUBIC))


def upscale(net, lr_bgr):
    import paddle
    x = paddle.to_tensor(np.ascontiguousarray(lr_bgr[:, :, ::-1].transpose(2, 0, 1))[None].astype('float32') / 255)
    with paddle.no_grad():
        y = net(x).numpy()[0].transpose(1, 2, 0)
    return np.ascontiguousarray(np.clip(np.round(y * 255), 0, 255).astype(np.uint8)[:, :, ::-1])


def lap_var(img):
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


# ------------------------------------------------- a spandrel network against the port, through the public API
def torch_out(ref, x):
    """The torch network ``ref`` on ``x`` (C, H, W): its (C', H', W') output as numpy."""
    torch = need_torch()
    with torch.no_grad():
        return ref(torch.from_numpy(x[None])).numpy()[0]


def unit_gain(net, seed, tables=3.0, fill=None):
    """Seeded weights under which attention matters: every ``Linear`` at unit gain, every relative-position bias
    table drawn with std ``tables``, each parameter whose name ends with a ``fill`` key set to its value."""
    torch = need_torch()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / module.weight.shape[1] ** 0.5)
        for name, p in net.named_parameters():
            if name.endswith('relative_position_bias_table'):
                p.copy_(torch.randn(p.shape, generator=gen) * tables)
            for end, value in (fill or {}).items():
                if name.endswith(end):
                    p.fill_(value)
    return net


def spread_output(net, conv, x, spread=0.1, centre=0.5):
    """Rescale the torch ``net``'s last conv ``conv`` so that the output on ``x`` (a batch) spreads ``spread``
    (what the conv brings) around ``centre``: seeded random weights otherwise give a flat or clipped image, behind
    which a wrong port would hide. What follows the conv must be affine in it (a mean added back, a division by
    the colour range, a pixel shuffle, a skip): its slope is measured by moving the conv's bias."""
    torch = need_torch()
    x, seen = torch.from_numpy(x), []
    hook = conv.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        y0 = net(x)
        hook.remove()
        conv.bias.add_(1.0)
        step = net(x) - y0
        conv.bias.sub_(1.0)
        slope = float(step.mean())
        assert abs(slope) > 1e-6 and float((step - slope).abs().max()) < 1e-3 * abs(slope), 'not affine after the conv'
        a = spread / (abs(slope) * max(float(seen[-1].std()), 1e-8))
        conv.weight.mul_(a)
        conv.bias.mul_(a)
        conv.bias.add_((centre - float(net(x).mean())) / slope)
    return net


def assert_form_matches(ref, x, folder, expected, kind='params', least=None, **options):
    """``ref``'s weights as a ``kind`` file through ``Upscaler`` on ``x`` (C, H, W): read as ``expected``, exactly
    scale x the input, at least ``least`` dB (user_files.LEAST_DB) against ``ref`` on the same crop (``options`` to
    ``Upscaler``). The dB."""
    from tests.models.user_files import LEAST_DB, api_outputs, write_user_file
    got, up = api_outputs(write_user_file(ref.state_dict(), kind, folder), x, **options)
    want = torch_out(ref, x)
    assert up.arch == expected, up.arch
    assert got.shape == want.shape == (want.shape[0], x.shape[1] * up.scale, x.shape[2] * up.scale)
    assert want.std() > 0.02, 'the reference output is flat'
    db = psnr(got, want)
    print({k: v for k, v in expected.items() if k != 'type'}, round(db, 1))
    assert db >= (LEAST_DB if least is None else least)
    return db


def assert_every_wrapper(ref, x, folder, expected, **options):
    """Every wrapper and dtype of users' files of ``ref`` (user_files.WRAPPERS) through ``Upscaler`` on ``x``
    (``options``: an ``arch`` override), each read as ``expected``, at least user_files.LEAST_DB each. kind -> dB."""
    from tests.models.user_files import LEAST_DB, assert_user_files_match

    def arch_read(arch):
        assert arch == expected, arch
    seen = assert_user_files_match(ref, x, folder, arch_check=arch_read, **options)
    print({k: round(v, 1) for k, v in seen.items()})
    assert min(seen.values()) >= LEAST_DB
    return seen


def paddle_state(arch):
    """The state dict of the port built from ``arch`` (seeded by paddle's default), as numpy arrays."""
    from realesrgan_paddle import models
    return {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}


def assert_export_matches(net, arch, folder, shapes, atol=1e-4):
    """``net``'s static export (``export_static`` into ``folder``, run by Paddle Inference) against its dynamic graph on
    seeded random inputs of ``shapes``: the largest difference under ``atol`` at each."""
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    pred, dyn = PredictorBackend(export_static(net, arch, folder)), DynamicBackend(net)
    rng = np.random.default_rng(0)
    for shape in shapes:
        x = rng.random(shape, dtype=np.float32)
        assert float(np.abs(pred.forward(x) - dyn.forward(x)).max()) < atol, shape


def network_vs_ref(ref, x, folder, arch=None):
    """``(got, want, dB)``: ``ref``'s weights as a user's ``params`` file read by ``models.load_network`` (``arch``:
    a user's override) and run as a network on ``x`` (C x H x W, no ``Upscaler``: no edge padding of small inputs),
    against ``ref``'s output on ``x``."""
    import paddle

    from realesrgan_paddle import models
    from tests.models.user_files import write_user_file
    net, _ = models.load_network(write_user_file(ref.state_dict(), 'params', folder), arch=arch)
    with paddle.no_grad():
        got = net(paddle.to_tensor(x[None])).numpy()[0]
    want = torch_out(ref, x)
    return got, want, psnr(got, want)
