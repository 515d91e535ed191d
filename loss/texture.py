"""Texture losses that need no pretrained weights: distributions of random features.

* ``sliced_wasserstein_loss`` (MS-SWD, He et al. ECCV 2024; neosr's default: 24 projections, patch 11,
  3 scales): the patches of the output and of the GT are projected on fresh random zero-mean filters, and
  the sorted responses (each projection's distribution over the image) are compared. It asks for the GT's
  patch statistics, not for their place: texture of the right kind, any phase.
* ``RandomVGGLoss`` (Liu et al., "Generic Perceptual Loss", CVPR 2021): the VGG19 perceptual loss on a
  VGG19 with fixed random (He-normal, seeded) weights; ``style_weight`` adds the L1 between the Gram
  matrices of those random features (texture statistics without place).

Inputs are NCHW tensors of one shape in [0, 1]; the target carries no gradient.
"""
from typing import Optional

import numpy as np
import paddle
import paddle.nn.functional as F

from realesrgan_paddle.models.feature_nets.vgg import VGG19FeatureExtractor

from .perceptual import CRITERIA, DEFAULT_LAYER_WEIGHTS, perceptual_loss
from .pixel import WeightedLoss, check_pair, reduce_loss
from .registry import register_loss


def _random_filters(num_proj, channels, patch, dtype):
    w = paddle.randn([num_proj, channels, patch, patch], dtype=dtype)
    w = w - w.mean(axis=[1, 2, 3], keepdim=True)  # zero mean: the structure of a patch, not its colour
    return w / paddle.sqrt((w * w).sum(axis=[1, 2, 3], keepdim=True) + 1e-12)


def sliced_wasserstein_loss(pred, target, num_proj=24, patch=11, scales=3, reduction='mean'):
    """Mean over scales of the L1 between the sorted projections of ``pred``'s and ``target``'s patches.

    Scale ``s`` works on the images average-pooled by ``2**s``; each scale draws ``num_proj`` fresh random
    zero-mean unit-norm ``patch`` x ``patch`` filters (``paddle.randn``: seed paddle for reproducibility).
    ``reduction='none'`` gives the per-image, per-projection distances ``[N, scales * num_proj]``.
    """
    check_pair(pred, target, 'sliced_wasserstein_loss', channels=None)
    if int(num_proj) < 1 or int(patch) < 1 or int(scales) < 1:
        raise ValueError(f'sliced_wasserstein_loss: num_proj, patch and scales must be >= 1, got '
                         f'{num_proj}, {patch}, {scales}')
    smallest = min(pred.shape[2:]) // 2 ** (int(scales) - 1)
    if smallest < int(patch):
        raise ValueError(f'sliced_wasserstein_loss: {list(pred.shape[2:])} is too small for {scales} scales of '
                         f'{patch} px patches')
    x, y = pred, target.detach()
    n = x.shape[0]
    dists = []
    for s in range(int(scales)):
        if s:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        w = _random_filters(int(num_proj), x.shape[1], int(patch), x.dtype)
        px = paddle.sort(F.conv2d(x, w).reshape([n, int(num_proj), -1]), axis=-1)
        py = paddle.sort(F.conv2d(y, w).reshape([n, int(num_proj), -1]), axis=-1)
        dists.append(paddle.abs(px - py).mean(axis=-1))
    return reduce_loss(paddle.concat(dists, axis=1), reduction)


@register_loss(log='swd')
class SlicedWassersteinLoss(WeightedLoss):
    """``loss_weight`` x :func:`sliced_wasserstein_loss`."""

    def __init__(self, loss_weight=1.0, num_proj=24, patch=11, scales=3, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if int(num_proj) < 1 or int(patch) < 1 or int(scales) < 1:
            raise ValueError(f'num_proj, patch and scales must be >= 1, got {num_proj}, {patch}, {scales}')
        self.num_proj, self.patch, self.scales = int(num_proj), int(patch), int(scales)

    def forward(self, pred, target):
        return self.loss_weight * sliced_wasserstein_loss(pred, target, self.num_proj, self.patch, self.scales,
                                                          self.reduction)


def random_vgg(layer_names, seed=0):
    """A frozen VGG19 feature extractor with He-normal random weights drawn from ``seed`` (biases 0)."""
    net = VGG19FeatureExtractor(list(layer_names), use_input_norm=True, requires_grad=False)
    rng = np.random.default_rng(int(seed))
    for k, v in net.state_dict().items():
        if k.endswith('.weight'):
            fan_in = int(np.prod(v.shape[1:]))
            v.set_value(rng.normal(0.0, np.sqrt(2.0 / fan_in), v.shape).astype(np.float32))
        elif k.endswith('.bias'):
            v.set_value(np.zeros(v.shape, np.float32))
    net.eval()
    return net


@register_loss(log='rvgg')
class RandomVGGLoss(WeightedLoss):
    """Perceptual (and Gram) loss on a fixed random-weight VGG19 (Generic Perceptual Loss).

    ``loss_weight`` x (``perceptual_weight`` x feature L1 + ``style_weight`` x Gram L1), layers and weights
    as the VGG19 perceptual loss's (``conv1_2`` 0.1, ``conv2_2`` 0.1, ``conv3_4``/``4_4``/``5_4`` 1).
    """
    OPTION_CHOICES = {'criterion': CRITERIA, 'reduction': ('mean',)}

    def __init__(self, loss_weight=1.0, layer_weights: Optional[dict] = None, perceptual_weight=1.0,
                 style_weight=0.0, seed=0, criterion='l1', reduction='mean'):
        super().__init__(loss_weight, reduction)
        if reduction != 'mean':
            raise ValueError(f'RandomVGGLoss: reduction must be mean, got {reduction!r}')
        if criterion not in CRITERIA:
            raise ValueError(f'criterion must be one of {CRITERIA}, got {criterion!r}')
        if float(perceptual_weight) < 0 or float(style_weight) < 0 or not (perceptual_weight or style_weight):
            raise ValueError('perceptual_weight and style_weight must be >= 0, and one of them > 0')
        self.layer_weights = dict(layer_weights or DEFAULT_LAYER_WEIGHTS)
        self.perceptual_weight, self.style_weight = float(perceptual_weight), float(style_weight)
        self.criterion = criterion
        self.vgg = random_vgg(self.layer_weights, seed)

    def forward(self, pred, target):
        check_pair(pred, target, 'RandomVGGLoss', channels=(3,))
        percep, style = perceptual_loss(self.vgg(pred), self.vgg(target.detach()), self.layer_weights,
                                        self.criterion, self.perceptual_weight, self.style_weight)
        total = sum(t for t in (percep, style) if t is not None)
        return self.loss_weight * total
