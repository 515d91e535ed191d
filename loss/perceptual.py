"""Perceptual (VGG19 feature) loss, with an optional Gram-matrix style term.

The VGG19 weights are ImageNet weights converted to ``.pdparams`` (or a
torchvision ``.pth``, converted on the fly). A missing file is an error with the
fix: this loss never falls back to random VGG weights.
"""
from pathlib import Path
from typing import Optional

import numpy as np
import paddle
import paddle.nn as nn

from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from realesrgan_paddle.models.vgg import VGG19FeatureExtractor, torchvision_index_map
from realesrgan_paddle.models.zoo import cached_paths, get_entry

from .registry import Weights, register_loss


def default_vgg_path():
    """Where ``python tools/download_models.py --names vgg19`` puts the converted weights."""
    return cached_paths(get_entry('vgg19'))[0]

DEFAULT_LAYER_WEIGHTS = {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1.0, 'conv4_4': 1.0, 'conv5_4': 1.0}
CRITERIA = ('l1', 'l2', 'fro')


class VGGWeightsMissing(FileNotFoundError):
    pass


def vgg_missing_message(path):
    return (f'VGG19 weights for the perceptual loss not found: {path}. Get them with '
            f'`python tools/download_models.py --names vgg19`, or convert torchvision\'s file with '
            f'`python tools/convert_torch.py --input vgg19-dcbb9e9d.pth --output {path}`; '
            f'or switch the perceptual loss off (-o train.perceptual_opt.perceptual_weight=0)')


def _vgg_state_from_file(path):
    """Read a VGG19 state dict (ours, torchvision ``features.N`` or paddle.vision names)."""
    raw = load_state_file(path)
    if isinstance(raw, dict) and isinstance(raw.get('params'), dict):
        raw = raw['params']
    idx_map = torchvision_index_map()
    state = {}
    for k, v in raw.items():
        parts = k.split('.')
        if parts[0] == 'features' and len(parts) == 3 and parts[1].isdigit():
            name = idx_map.get(int(parts[1]))
            if name is not None:
                state[f'{name}.{parts[2]}'] = np.asarray(v)
        elif parts[0].startswith('conv'):
            state[k] = np.asarray(v)
    return state


def load_vgg_weights(extractor, path):
    """Fill ``extractor``'s convs from ``path``; raise VGGWeightsMissing with the fix when absent."""
    path = path or default_vgg_path()
    if not Path(path).is_file():
        raise VGGWeightsMissing(vgg_missing_message(path))
    state = _vgg_state_from_file(path)
    own = extractor.state_dict()
    missing = [k for k in own if k not in state and k not in ('mean', 'std')]
    if missing:
        raise ValueError(f'{path}: not a VGG19 state dict (missing {missing[:4]})')
    for k, v in own.items():
        if k in state:
            if tuple(state[k].shape) != tuple(v.shape):
                raise ValueError(f'{path}: {k} has shape {tuple(state[k].shape)}, VGG19 expects {tuple(v.shape)}')
            v.set_value(state[k].astype(np.float32))


def gram_matrix(x):
    n, c, h, w = x.shape
    f = x.reshape([n, c, h * w])
    return paddle.bmm(f, f.transpose([0, 2, 1])) / (c * h * w)


def _criterion(a, b, kind):
    if kind == 'l1':
        return paddle.abs(a - b).mean()
    if kind == 'l2':
        return ((a - b) ** 2).mean()
    return paddle.sqrt(((a - b) ** 2).sum())


def perceptual_loss(x_feats, gt_feats, layer_weights, criterion='l1', perceptual_weight=1.0, style_weight=0.0):
    """Weighted feature distance between two ``{layer: feature}`` dicts.

    Returns ``(percep, style)``; a term whose weight is 0 is None.
    """
    if criterion not in CRITERIA:
        raise ValueError(f'criterion must be one of {CRITERIA}, got {criterion!r}')
    percep = style = None
    if perceptual_weight > 0:
        percep = sum(_criterion(x_feats[k], gt_feats[k].detach(), criterion) * w for k, w in layer_weights.items())
        percep = percep * perceptual_weight
    if style_weight > 0:
        style = sum(_criterion(gram_matrix(x_feats[k]), gram_matrix(gt_feats[k].detach()), criterion) * w
                    for k, w in layer_weights.items())
        style = style * style_weight
    return percep, style


@register_loss(log='percep', weights=Weights('vgg_weights', 'vgg19', vgg_missing_message))
class PerceptualLoss(nn.Layer):
    """VGG19 perceptual loss; features are taken before ReLU (``convX_Y``) by default.

    Args:
        layer_weights: ``{layer_name: weight}``; default conv1_2 0.1, conv2_2 0.1, conv3_4/4_4/5_4 1.
        vgg_weights: path of the VGG19 weights (``.pdparams`` or torchvision ``.pth``); default: the
            model-zoo cache file written by ``tools/download_models.py --names vgg19``.
        use_input_norm: ImageNet mean/std normalisation of [0, 1] inputs.
        range_norm: map [-1, 1] inputs to [0, 1] first.
        perceptual_weight, style_weight: term weights (0 switches a term off).
        criterion: 'l1', 'l2' or 'fro'.
        vgg_type: only 'vgg19'.
    """
    OPTION_CHOICES = {'criterion': CRITERIA, 'vgg_type': ('vgg19',)}

    @staticmethod
    def inactive(cfg):
        """Both terms at 0: an entry computes nothing and is left out (no VGG19 is loaded)."""
        return not (float(cfg.get('perceptual_weight', 1.0)) > 0 or float(cfg.get('style_weight', 0.0)) > 0)

    def __init__(self, layer_weights: Optional[dict] = None, vgg_weights: Optional[str] = None,
                 use_input_norm=True, range_norm=False,
                 perceptual_weight=1.0, style_weight=0.0, criterion='l1', vgg_type='vgg19'):
        super().__init__()
        if vgg_type != 'vgg19':
            raise ValueError(f'vgg_type: only vgg19 is available, got {vgg_type!r}')
        if criterion not in CRITERIA:
            raise ValueError(f'criterion must be one of {CRITERIA}, got {criterion!r}')
        self.layer_weights = dict(layer_weights or DEFAULT_LAYER_WEIGHTS)
        self.perceptual_weight = float(perceptual_weight)
        self.style_weight = float(style_weight)
        self.criterion = criterion
        self.vgg = VGG19FeatureExtractor(list(self.layer_weights), use_input_norm=use_input_norm,
                                         range_norm=range_norm, requires_grad=False)
        load_vgg_weights(self.vgg, vgg_weights)
        self.vgg.eval()

    def forward(self, x, gt):
        x_feats = self.vgg(x)
        gt_feats = self.vgg(gt.detach())
        return perceptual_loss(x_feats, gt_feats, self.layer_weights, self.criterion,
                               self.perceptual_weight, self.style_weight)
