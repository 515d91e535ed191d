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
