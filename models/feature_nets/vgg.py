"""VGG19 and VGG16 feature extractors for the perceptual loss.

Layers carry the conventional names (conv1_1 ... conv5_4 for VGG19, ... conv5_3 for VGG16, relu*, pool*).
Parameters are stored as ``<conv name>.weight/bias`` (the converter maps
torchvision's ``features.N`` indices onto these names).
"""
import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..channel_bias import conv2d
from ..specs import ArchSpec, shape_of

# (block, number of convs, channels) of VGG19 and VGG16
_VGG19_CFG = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
VGG_CFGS = {'vgg19': _VGG19_CFG, 'vgg16': ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))}
# ImageNet statistics (RGB, inputs in [0, 1])
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg_layer_names(kind='vgg19'):
    names = []
    for block, n, _ in VGG_CFGS[kind]:
        for i in range(1, n + 1):
            names += [f'conv{block}_{i}', f'relu{block}_{i}']
        names.append(f'pool{block}')
    return names


def vgg19_layer_names():
    return vgg_layer_names('vgg19')


def torchvision_index_map(kind='vgg19'):
    """``features.<idx>`` of torchvision's vgg19 (or vgg16) -> our conv names."""
    return {idx: name for idx, name in enumerate(vgg_layer_names(kind)) if name.startswith('conv')}


class VGG19FeatureExtractor(nn.Layer):
    """Returns a dict ``{layer_name: feature}`` for ``layer_name_list``.

    Args:
        layer_name_list: names such as ``conv5_4`` (before ReLU) or ``relu5_4`` (after).
        use_input_norm: normalise [0, 1] RGB input with ImageNet mean/std.
        range_norm: map [-1, 1] input to [0, 1] first.
        requires_grad: train the VGG weights (normally frozen).
    """
    KIND = 'vgg19'

    def __init__(self, layer_name_list=('conv5_4',), use_input_norm=True, range_norm=False,
                 requires_grad=False):
        super().__init__()
        names = vgg_layer_names(self.KIND)
        unknown = [n for n in layer_name_list if n not in names]
        if unknown:
            raise ValueError(f'unknown {self.KIND.upper()} layer(s) {unknown}; valid names are {names}')
        self.layer_name_list = list(layer_name_list)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        last = max(names.index(n) for n in self.layer_name_list)
        self.names = names[:last + 1]
        in_ch = 3
        channels = {f'conv{b}_{i}': c for b, n, c in VGG_CFGS[self.KIND] for i in range(1, n + 1)}
        for name in self.names:
            if name.startswith('conv'):
                setattr(self, name, nn.Conv2D(in_ch, channels[name], 3, 1, 1))
                in_ch = channels[name]
        self.register_buffer('mean', paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1]), persistable=False)
        self.register_buffer('std', paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1]), persistable=False)
        if not requires_grad:
            for p in self.parameters():
                p.stop_gradient = True

    def forward(self, x):
        return self.taps(x, self.layer_name_list)

    def taps(self, x, wanted):
        """``{name: feature}`` of the layers ``wanted`` (any of this network's names), computed up to the deepest;
        the convs add their bias in the fast shape (``models.channel_bias``)."""
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean.reshape([-1, 1, 1])) / self.std.reshape([-1, 1, 1])
        wanted = set(wanted)
        out = {}
        for name in self.names:
            if not wanted - out.keys():
                break
            if name.startswith('conv'):
                x = conv2d(getattr(self, name), x)
            elif name.startswith('relu'):
                x = F.relu(x)
            else:
                x = F.max_pool2d(x, 2, 2)
            if name in wanted:
                out[name] = x
        missing = wanted - out.keys()
        if missing:
            raise ValueError(f'{self.KIND.upper()} layers {sorted(missing)} are past this extractor\'s last, '
                             f'{self.names[-1]}')
        return out


class VGG16FeatureExtractor(VGG19FeatureExtractor):
    """The same for torchvision's VGG16 (conv1_1 ... conv5_3): the perceptual loss's network when VGG19 is absent
    (its weights come from the package index, ``models.zoo.zoo_perception``). Not a registered architecture."""
    KIND = 'vgg16'

    def __init__(self, layer_name_list=('conv5_3',), use_input_norm=True, range_norm=False, requires_grad=False):
        super().__init__(layer_name_list, use_input_norm, range_norm, requires_grad)


def rename_torchvision(state):
    """torchvision ``features.N`` -> our conv names (the classifier is dropped); None when not that layout.

    A ``features.*`` state that is not torchvision's VGG19 (vgg16, vgg19_bn) is
    returned unchanged, for ``detect_vgg19`` to report.
    """
    if not any(k.startswith('features.') for k in state):
        return None
    state = {k: v for k, v in state.items() if not k.startswith('classifier.')}
    index = torchvision_index_map()

    def name(k):
        m = re.match(r'^features\.(\d+)\.(weight|bias)$', k)
        return f'{index[int(m.group(1))]}.{m.group(2)}' if m and int(m.group(1)) in index else None
    if any(name(k) is None for k in state):
        return state
    return {name(k): v for k, v in state.items()}


def detect_vgg19(state):
    if 'conv1_1.weight' not in state:
        if any(k.startswith('features.') for k in state):
            idx = sorted({int(m.group(1)) for k in state for m in [re.match(r'^features\.(\d+)\.', k)] if m})
            raise ValueError(f'features.* keys at indices {idx[:20]} are not the torchvision VGG19 layout '
                             f'(conv indices {sorted(torchvision_index_map())})')
        return None
    expected = {}
    in_ch = 3
    for block, n, ch in _VGG19_CFG:
        for i in range(1, n + 1):
            expected[f'conv{block}_{i}'] = (ch, in_ch, 3, 3)
            in_ch = ch
    names = list(expected)
    present = [n for n in names if f'{n}.weight' in state]
    if present != names[:len(present)]:
        raise ValueError(f'VGG19 conv layers must be a prefix of {names}; found {present}')
    for n in present:
        if shape_of(state[f'{n}.weight']) != expected[n]:
            raise ValueError(f'{n}.weight has shape {shape_of(state[n + ".weight"])}, VGG19 has {expected[n]}')
    return {'type': 'VGG19FeatureExtractor', 'layer_name_list': [present[-1]],
            'use_input_norm': True, 'range_norm': False}


SPEC = ArchSpec('VGG19FeatureExtractor', VGG19FeatureExtractor, detect=detect_vgg19, rename=rename_torchvision,
                generator=False)
