"""LPIPS (Zhang et al. 2018, v0.1) and DISTS (Ding et al. 2020) in Paddle, for tools/evaluate.py. Lower is better.

* LPIPS: AlexNet or VGG16 features (torchvision layout), input scaled by LPIPS' fixed shift/scale;
  at five ReLU taps each feature is unit-normalised over channels, the squared difference goes
  through a learnt 1x1 linear layer (no bias), is averaged over space and summed over taps.
* DISTS: VGG16 with its max-pools replaced by L2 pooling (3x3 Hann window, stride 2); the input
  and five stages give 1475 channels; per channel a texture term (means) and a structure term
  (variances, covariance) weighted by the learnt alpha/beta, ``1 - sum``.

Weights load through the project's safe reader (no code from the files runs): torchvision's
``features.N.*`` keys for the backbone, the official LPIPS ``linK.model.1.weight`` and DISTS
``alpha``/``beta`` files. They are looked up (never downloaded unless asked) in
``<model cache>/iqa/`` and, for the backbones, torch's hub cache. Not imported by ``import models``.
"""
import os
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
from realesrgan_paddle.media.image_io import image_to_chw
from realesrgan_paddle.models import load_state_into, zoo
from realesrgan_paddle.utils.download import download
from realesrgan_paddle.utils.fileio import sha256_file

from .iqa_weights import get_iqa_entry

ALEX = (('C', 3, 64, 11, 4, 2), 'R', 'M', ('C', 64, 192, 5, 1, 2), 'R', 'M', ('C', 192, 384, 3, 1, 1), 'R',
        ('C', 384, 256, 3, 1, 1), 'R', ('C', 256, 256, 3, 1, 1), 'R', 'M')
ALEX_TAPS = (1, 4, 7, 9, 11)
VGG16 = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M')
VGG16_TAPS = (3, 8, 15, 22, 29)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class L2Pool(nn.Layer):
    """``sqrt(hann3x3 * x^2)`` with stride 2, per channel: DISTS' replacement for max pooling."""

    def __init__(self, channels):
        super().__init__()
        a = np.array([0.5, 1.0, 0.5])
        g = np.outer(a, a) / np.outer(a, a).sum()
        self.channels = channels
        self.register_buffer('filt', paddle.to_tensor(np.tile(g[None, None], (channels, 1, 1, 1)).astype('float32')),
                             persistable=False)

    def forward(self, x):
        return paddle.sqrt(F.conv2d(x * x, self.filt, stride=2, padding=1, groups=self.channels) + 1e-12)


def backbone(kind, l2pool=False):
    """torchvision's ``features`` Sequential of ``alexnet`` or ``vgg16`` (same indices, so the same keys)."""
    layers, ch = [], 3
    spec = ALEX if kind == 'alex' else [('C', None, v, 3, 1, 1) if v != 'M' else v for v in VGG16]
    for s in spec:
        if s == 'M':
            layers.append(L2Pool(ch) if l2pool else nn.MaxPool2D(3, 2) if kind == 'alex' else nn.MaxPool2D(2, 2))
        elif s == 'R':
            layers.append(nn.ReLU())
        else:
            _, _, out, k, st, p = s
            layers.append(nn.Conv2D(ch, out, k, st, p))
            ch = out
            if kind != 'alex':
                layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _taps(features, x, taps):
    out = []
    for i, layer in enumerate(features.children()):
        x = layer(x)
        if i in taps:
            out.append(x)
        if i >= taps[-1]:
            break
    return out


class _Lin(nn.Layer):
    def __init__(self, ch):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2D(ch, 1, 1, bias_attr=False))


def lpips_distance(feats_x, feats_y, lins):
    """LPIPS from two lists of tap features and the linear layers: (N,) distances."""
    total = 0
    for fx, fy, lin in zip(feats_x, feats_y, lins):
        nx = fx / (paddle.sqrt((fx * fx).sum(1, keepdim=True)) + 1e-10)
        ny = fy / (paddle.sqrt((fy * fy).sum(1, keepdim=True)) + 1e-10)
        total = total + lin.model[1]((nx - ny) ** 2).mean([2, 3])
    return total.reshape([-1])


class LPIPS(nn.Layer):
    """``LPIPS(net)(x, y)``: x, y RGB NCHW in [0, 1]; returns (N,) distances."""

    def __init__(self, net='alex'):
        super().__init__()
        if net not in ('alex', 'vgg'):
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.taps = ALEX_TAPS if net == 'alex' else VGG16_TAPS
        self.features = backbone(net)
        chans = (64, 192, 384, 256, 256) if net == 'alex' else (64, 128, 256, 512, 512)
        for i, c in enumerate(chans):
            setattr(self, f'lin{i}', _Lin(c))
        self.register_buffer('shift', paddle.to_tensor(LPIPS_SHIFT).reshape([1, 3, 1, 1]), persistable=False)
        self.register_buffer('scale', paddle.to_tensor(LPIPS_SCALE).reshape([1, 3, 1, 1]), persistable=False)

    def forward(self, x, y):
        fx = _taps(self.features, (2 * x - 1 - self.shift) / self.scale, self.taps)
        fy = _taps(self.features, (2 * y - 1 - self.shift) / self.scale, self.taps)
        return lpips_distance(fx, fy, [getattr(self, f'lin{i}') for i in range(5)])


def dists_distance(feats_x, feats_y, alpha, beta, chans):
    """DISTS from two lists of stage features and the (1, C, 1, 1) weights: (N,) distances."""
    w = alpha.sum() + beta.sum()
    alphas, betas = paddle.split(alpha / w, chans, axis=1), paddle.split(beta / w, chans, axis=1)
    d1 = d2 = 0
    c1 = c2 = 1e-6
    for fx, fy, a, b in zip(feats_x, feats_y, alphas, betas):
        mx, my = fx.mean([2, 3], keepdim=True), fy.mean([2, 3], keepdim=True)
        s1 = (2 * mx * my + c1) / (mx * mx + my * my + c1)
        vx, vy = ((fx - mx) ** 2).mean([2, 3], keepdim=True), ((fy - my) ** 2).mean([2, 3], keepdim=True)
        cov = (fx * fy).mean([2, 3], keepdim=True) - mx * my
        s2 = (2 * cov + c2) / (vx + vy + c2)
        d1 = d1 + (a * s1).sum(1, keepdim=True)
        d2 = d2 + (b * s2).sum(1, keepdim=True)
    return (1 - (d1 + d2)).reshape([-1])


class DISTS(nn.Layer):
    """``DISTS()(x, y)``: x, y RGB NCHW in [0, 1]; returns (N,) distances."""
    CHANS = (3, 64, 128, 256, 512, 512)

    def __init__(self):
        super().__init__()
        self.features = backbone('vgg', l2pool=True)
        self.alpha = self.create_parameter([1, sum(self.CHANS), 1, 1])
        self.beta = self.create_parameter([1, sum(self.CHANS), 1, 1])
        self.register_buffer('mean', paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1]), persistable=False)
        self.register_buffer('std', paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1]), persistable=False)

    def _feats(self, x):
        return [x] + _taps(self.features, (x - self.mean) / self.std, VGG16_TAPS)

    def forward(self, x, y):
        return dists_distance(self._feats(x), self._feats(y), self.alpha, self.beta, list(self.CHANS))


# ---------------------------------------------------------------- weights
def _backbone_state(path):
    state, _ = pick_params(load_state_file(path))
    return {k: v for k, v in state.items() if k.startswith('features.')}


def load_lpips(backbone_path, lin_path, net='alex'):
    """LPIPS with torchvision backbone weights and the official v0.1 linear layers (both read safely)."""
    model = LPIPS(net)
    lin, _ = pick_params(load_state_file(lin_path))
    state = {**_backbone_state(backbone_path), **{k: v for k, v in lin.items() if k.startswith('lin')}}
    load_state_into(model, state, where=f'{backbone_path} + {lin_path}')
    model.eval()
    return model


def load_dists(backbone_path, weights_path):
    """DISTS with torchvision VGG16 weights and the official alpha/beta file (both read safely)."""
    model = DISTS()
    ab = load_state_file(weights_path)
    state = {**_backbone_state(backbone_path), 'alpha': ab.get('alpha'), 'beta': ab.get('beta')}
    if state['alpha'] is None or state['beta'] is None:
        raise ValueError(f'{weights_path}: no alpha/beta arrays, not a DISTS weights file')
    load_state_into(model, state, where=f'{backbone_path} + {weights_path}')
    model.eval()
    return model


def weights_dirs():
    torch_home = Path(os.environ.get('TORCH_HOME', Path.home() / '.cache' / 'torch')).expanduser()
    return [zoo.cache_dir() / 'iqa', torch_home / 'hub' / 'checkpoints']


def local_file(entry):
    """Path of an IQA zoo entry's file on disk (sha256-checked when the entry has one), or None."""
    for name in dict.fromkeys([entry.extra.get('file', entry.filename), entry.filename]):
        for d in weights_dirs():
            p = d / name
            if p.is_file():
                if entry.sha256 and sha256_file(p) != entry.sha256:
                    raise ValueError(f'{p}: sha256 differs from the official {entry.name} file '
                                     '(damaged or another file)')
                return p
    return None


def fetch(name, progress=True):
    """Download one IQA weights file into ``<model cache>/iqa/`` (sha256-checked); returns its path."""
    entry = get_iqa_entry(name)
    dst = zoo.cache_dir() / 'iqa' / entry.extra.get('file', entry.filename)
    if not dst.is_file():
        download(entry.url, dst, sha256=entry.sha256, progress=progress)
    return dst


class Metric:
    """``Metric(name, net).score(out_bgr, gt_bgr) -> float`` on OpenCV images (uint8/uint16/float)."""

    def __init__(self, name, net):
        self.name, self.net = name, net

    @staticmethod
    def _tensor(img):
        return paddle.to_tensor(image_to_chw(img)[None])

    def score(self, out, gt):
        with paddle.no_grad():
            return float(self.net(self._tensor(out), self._tensor(gt)).numpy()[0])


METRIC_WEIGHTS = {'lpips': ('lpips-alex-v0.1', 'alexnet'), 'dists': ('dists', 'vgg16')}


def available(device='cpu'):
    """``({'lpips': Metric, 'dists': Metric}, notes)`` for the metrics whose weights are on disk.

    A metric without its files is left out with one note naming the missing files; never an error.
    """
    metrics, notes = {}, []
    for name, (head, base) in METRIC_WEIGHTS.items():
        entries = [get_iqa_entry(head), get_iqa_entry(base)]
        paths = [local_file(e) for e in entries]
        if None in paths:
            missing = [e.extra.get('file', e.filename) for e, p in zip(entries, paths) if p is None]
            notes.append(f'{name.upper()} skipped: no {" and no ".join(missing)} in {weights_dirs()[0]} '
                         f'(tools/evaluate.py --fetch-iqa downloads them)')
            continue
        if device != 'cpu':
            paddle.set_device(device)
        net = load_lpips(paths[1], paths[0]) if name == 'lpips' else load_dists(paths[1], paths[0])
        metrics[name] = Metric(name, net)
    return metrics, notes
