"""A fixed unsharp mask after a network: ``y = x + amount * (x - G_sigma * x)``, per channel, on the output.

``G_sigma`` is a normalised Gaussian of ``2 * ceil(3 * sigma) + 1`` taps applied along W then H (separable), its
borders replicated (the edge pixel repeated: ``scipy.ndimage.gaussian_filter(mode='nearest', truncate=3)``). It is
the mask the one-command finetune chooses for a compact export (``pipeline.choice.sharpen_knob``): SRVGGNetCompact takes
its amount and sigma as arch keys (``sharpen``, ``sharpen_sigma``), so the dynamic graph, ``tools/infer.py`` and
the static export apply it with no code of their own. Nothing is clamped here: the caller clamps.

``unsharp_mask`` builds its kernel at each call (the dynamic graph); ``UnsharpMask`` keeps it as a non-persistable
buffer: out of the state dict (official checkpoints keep loading strictly), a parameter of the traced graph (the
legacy ``inference.pdmodel`` and PIR both write it to ``inference.pdiparams``). The export holds a replicate pad
and two depthwise convolutions (plain convolutions for a single channel), which the graph check allows
(``models.export_ops.PAD``, ``DEPTHWISE_CONV``) and OpenVINO's Paddle front end converts.

``supports_sharpening(arch)`` and ``write_sharpened(src, amount, dst)`` give a weights file the mask.
"""
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint

from ...loading import read_checkpoint
from ...specs import get_spec

SIGMA = 1.5  # HR pixels: the default, and the finetune's
TRUNCATE = 3  # the kernel's radius, in sigmas (rounded up to whole taps)


def gaussian_radius(sigma):
    """Taps on each side of the centre: ``ceil(3 * sigma)`` (3 * 0.7 = 2.0999... counts as 3)."""
    return int(math.ceil(round(TRUNCATE * float(sigma), 9)))


def gaussian_taps(sigma):
    """The normalised 1-D Gaussian of ``sigma`` pixels, ``2 * ceil(3 * sigma) + 1`` taps (float32, sums to 1)."""
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f'unsharp mask: sigma must be a positive number, got {sigma!r}')
    r = gaussian_radius(sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return (k / k.sum()).astype(np.float32)


def depthwise_kernel(sigma, channels):
    """``gaussian_taps(sigma)`` as the (C, 1, 1, K) weight of a depthwise convolution along W."""
    taps = gaussian_taps(sigma)
    return np.ascontiguousarray(np.tile(taps[None, None, None], (int(channels), 1, 1, 1)))


def gaussian_blur(x, kernel):
    """``x`` (NCHW) blurred by the separable ``kernel`` (C, 1, 1, K) along W then H, its edges replicated; H and W
    are read at run time (an export takes any size)."""
    c, k = kernel.shape[0], kernel.shape[3]
    if x.shape[1] != c:
        raise ValueError(f'unsharp mask: a {c}-channel kernel for a {x.shape[1]}-channel input')
    if kernel.dtype != x.dtype:  # decided while tracing: no cast op in an fp32 export
        kernel = kernel.astype(x.dtype)
    r = k // 2
    y = F.pad(x, [r, r, r, r], mode='replicate')
    y = F.conv2d(y, kernel, groups=c)
    return F.conv2d(y, kernel.reshape([c, 1, k, 1]), groups=c)


def sharpened(x, kernel, amount):
    """``x + amount * (x - blur(x))`` with the blur ``kernel`` of ``depthwise_kernel``; ``amount`` 0: ``x``."""
    if not amount:
        return x
    return x + amount * (x - gaussian_blur(x, kernel))


def _check_amount(amount):
    if not (isinstance(amount, (int, float)) and math.isfinite(amount) and amount >= 0):
        raise ValueError(f'unsharp mask: amount must be a finite number >= 0, got {amount!r}')
    return float(amount)


def unsharp_mask(x, sigma=1.5, amount=0.5):
    """``x + amount * (x - G_sigma * x)`` for an NCHW tensor of any channel count (module docstring)."""
    amount = _check_amount(amount)
    if not amount:
        return x
    return sharpened(x, paddle.to_tensor(depthwise_kernel(sigma, x.shape[1]), dtype=x.dtype), amount)


class UnsharpMask(nn.Layer):
    """``unsharp_mask`` for ``channels``-channel inputs, its kernel a non-persistable buffer (not in the state
    dict; a parameter of an exported graph)."""

    def __init__(self, channels=3, sigma=SIGMA, amount=0.5):
        super().__init__()
        self.amount, self.sigma = _check_amount(amount), float(sigma)
        self.register_buffer('kernel', paddle.to_tensor(depthwise_kernel(sigma, channels)), persistable=False)

    def forward(self, x):
        return sharpened(x, self.kernel, self.amount)

    def extra_repr(self):
        return f'channels={self.kernel.shape[0]}, sigma={self.sigma:g}, amount={self.amount:g}'


# ---------------------------------------------------------------- weights files with the mask
SHARPENED_TYPES = ('SRVGGNetCompact',)  # the networks whose arch takes ``sharpen`` and ``sharpen_sigma``


def supports_sharpening(arch):
    """Whether the network of ``arch`` (a dict with ``type``) applies the mask from its arch keys."""
    return isinstance(arch, Mapping) and arch.get('type') in SHARPENED_TYPES


def write_sharpened(src, amount, dst, sigma=SIGMA):
    """Write the weights of the file ``src`` (``params_ema`` first, as every tool reads) to ``dst`` (atomically)
    with the arch amended to apply the mask at ``amount`` and ``sigma`` (amount 0: the keys left out); return
    ``Path(dst)``. ValueError (one line) for a network that does not take the mask or values out of its range."""
    state, arch = read_checkpoint(src)
    if not supports_sharpening(arch):
        raise ValueError(f'{src}: a {arch.get("type")} network does not take the unsharp mask; '
                         f'only {", ".join(SHARPENED_TYPES)} does')
    arch = {k: v for k, v in arch.items() if k not in ('sharpen', 'sharpen_sigma')}
    amount = _check_amount(amount)
    if amount:
        arch.update(sharpen=amount, sharpen_sigma=float(sigma))
    get_spec(arch).check_values(arch, str(dst))
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    meta = {'sharpen': {'source': str(src), 'amount': amount, 'sigma': float(sigma)}}
    save_checkpoint(dst, params=state, arch=arch, meta=meta)
    return dst
