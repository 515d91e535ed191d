"""A small spectral-norm PatchGAN discriminator for CPU finetunes, on one of three views of the image.

``view``:
* ``rgb``: the image itself (a classic 70-px-style PatchGAN, strided);
* ``wavelet``: the three one-level Haar high bands (LH, HL, HH) of each channel, at half resolution, as in
  WGSR (CVPR 2024): the discriminator sees texture only, so it cannot win on colour or structure;
* ``lq``: the image pixel-unshuffled by 4 (48 channels at the LQ resolution): every HR pixel is seen, with
  the cost of a discriminator at the input's size.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.utils import spectral_norm

from ..specs import ArchSpec, Bound

VIEWS = ('rgb', 'wavelet', 'lq')


def haar_high(x):
    """One-level orthonormal Haar high bands of NCHW ``x`` (H, W even): N x 3C x H/2 x W/2 (LH, HL, HH)."""
    a, b = x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]
    c, d = x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]
    lh = (a - b + c - d) / 2
    hl = (a + b - c - d) / 2
    hh = (a - b - c + d) / 2
    return paddle.concat([lh, hl, hh], axis=1)


class PatchDiscriminatorSN(nn.Layer):
    """Per-patch realness logits of ``view`` (see the module doc).

    ``spectral=False`` drops the spectral norm of the inner convolutions: a Lipschitz-bounded critic on the
    small high bands gives logits near 0 for hundreds of iterations (measured in docs/experiments/gan_cpu.md).
    """

    def __init__(self, num_in_ch=3, num_feat=64, num_layers=3, view='rgb', spectral=True):
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f'view must be one of {VIEWS}, got {view!r}')
        if int(num_layers) < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.view, self.num_in_ch = view, int(num_in_ch)
        cin = {'rgb': num_in_ch, 'wavelet': 3 * num_in_ch, 'lq': 16 * num_in_ch}[view]
        stride = 1 if view == 'lq' else 2
        layers, f = [nn.Conv2D(cin, num_feat, 3, 1, 1)], num_feat
        for i in range(int(num_layers)):
            g = min(num_feat * 2 ** (i + 1), num_feat * 4)
            conv = nn.Conv2D(f, g, 4 if stride == 2 else 3, stride, 1, bias_attr=False)
            layers.append(spectral_norm(conv) if spectral else conv)
            f = g
        self.body = nn.LayerList(layers)
        self.head = nn.Conv2D(f, 1, 3, 1, 1)

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_in_ch:
            raise ValueError(f'PatchDiscriminatorSN: expected N x {self.num_in_ch} x H x W, got {list(x.shape)}')
        m = {'rgb': 1, 'wavelet': 2, 'lq': 4}[self.view]
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f'PatchDiscriminatorSN: view {self.view!r} needs H and W divisible by {m}, got '
                             f'{list(x.shape[2:])}')

    def forward(self, x):
        self._check(x)
        if self.view == 'wavelet':
            x = haar_high(x) * 4.0  # the bands are small next to the image: bring them near unit scale
        elif self.view == 'lq':
            x = F.pixel_unshuffle(x, 4)
        for conv in self.body:
            x = F.leaky_relu(conv(x), 0.2)
        return self.head(x)


SPEC = ArchSpec('PatchDiscriminatorSN', PatchDiscriminatorSN, generator=False, lazy_build=False,
                bounds={'num_layers': Bound(1, 8)})
