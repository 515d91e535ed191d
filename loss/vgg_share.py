"""One frozen VGG16 for the losses that look through it, and one pass per tensor and step.

The perceptual loss on VGG16 (``loss/perceptual.py``: conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 before ReLU) and
LPIPS on VGG16 (``loss/lpips_loss.py``: relu1_2 ... relu5_3, the ReLU of the same five convs) use the same
torchvision VGG16 weights (the zoo's ``vgg16``) and the same input scaling: LPIPS' ``(2 x - 1 - shift) / scale``
with shift (-0.030, -0.088, -0.188) and scale (0.458, 0.448, 0.450) is ImageNet's ``(x - mean) / std``, since
``(1 + shift) / 2`` is the mean (0.485, 0.456, 0.406) and ``scale / 2`` the std (0.229, 0.224, 0.225)
(``lpips_scaling_is_imagenet``, checked when LPIPS takes its features from here). So one VGG16 forward of the
output (with its gradient) and one of the target (under ``no_grad``) serve both terms.

``shared_vgg16`` (``loss/perceptual.py``) gives one ``SharedVGG16`` per weights file; ``features`` keeps the
features of the last few tensors it was given (``FeatureMemo``), keyed by the tensor objects themselves.
"""
import paddle
import paddle.nn as nn

from realesrgan_paddle.models.feature_nets.iqa_nets import IMAGENET_MEAN, IMAGENET_STD, LPIPS_SCALE, LPIPS_SHIFT
from realesrgan_paddle.models.feature_nets.vgg import VGG16FeatureExtractor

VGG16_TAPS = ('conv1_2', 'conv2_2', 'conv3_3', 'conv4_3', 'conv5_3')  # LPIPS-VGG's taps are their ReLU


def lpips_scaling_is_imagenet():
    """True when LPIPS' input scaling is ImageNet's normalisation (to the constants' printed digits)."""
    return all(abs((1 + s) / 2 - m) < 1e-12 and abs(c / 2 - d) < 1e-12
               for s, c, m, d in zip(LPIPS_SHIFT, LPIPS_SCALE, IMAGENET_MEAN, IMAGENET_STD))


class FeatureMemo:
    """The features of the last ``size`` tensors, each entry keyed by the tensor object itself (a reference is kept,
    so another tensor can never take its place), its in-place version (``x.add_(...)`` bumps it) and whether it was
    computed with a gradient. An entry whose tensor has been through a backward pass is dropped (a hook on it), so
    its freed graph is never handed out again. ``computed`` counts the misses."""

    def __init__(self, size=3):
        self.size, self.entries, self.computed = size, [], 0

    def get(self, x, grad, layers):
        for t, version, g, feats in self.entries:
            if t is x and version == x._inplace_version() and g == grad and all(k in feats for k in layers):
                return feats
        return None

    def put(self, x, grad, feats):
        self.computed += 1
        self.entries = [(x, x._inplace_version(), grad, feats)] + [e for e in self.entries if e[0] is not x]
        del self.entries[self.size:]
        if grad and not x.stop_gradient:  # its graph is freed by this backward: never served again (the hook
            key = id(x)                     # holds the id, not x: the entry holding x is what ties the id to it)
            x.register_hook(lambda g: self.drop(key))
        return feats

    def drop(self, key):
        self.entries = [e for e in self.entries if id(e[0]) != key]

    def clear(self):
        self.entries = []


class SharedVGG16(nn.Layer):
    """A frozen torchvision VGG16 (conv1_1 ... conv5_3, ImageNet normalisation of RGB in [0, 1] inside) whose
    ``features(x, layers, target)`` are computed once per tensor: the union of the layers its users asked for
    (``need``), with the gradient for an output, under ``no_grad`` for a target."""

    def __init__(self):
        super().__init__()
        self.vgg = VGG16FeatureExtractor(['pool5'], use_input_norm=True, range_norm=False, requires_grad=False)
        self.vgg.eval()
        self.wanted = set()
        self.memo = FeatureMemo()

    def need(self, layers):
        """Add ``layers`` to what every pass computes (each user says so once, when it is built)."""
        unknown = [n for n in layers if n not in self.vgg.names]
        if unknown:
            raise ValueError(f'unknown VGG16 layer(s) {unknown}; valid names are {self.vgg.names}')
        self.wanted.update(layers)
        return self

    def features(self, x, layers, target=False):
        """``{layer: feature}`` of ``x`` for ``layers`` (a dict holding at least those); ``target``: under
        ``no_grad``, nothing to differentiate."""
        grad = not target and paddle.is_grad_enabled()
        hit = self.memo.get(x, grad, layers)
        if hit is not None:
            return hit
        self.need(layers)
        if target:
            with paddle.no_grad():
                return self.memo.put(x, grad, self.vgg.taps(x, self.wanted))
        return self.memo.put(x, grad, self.vgg.taps(x, self.wanted))
