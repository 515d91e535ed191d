"""PyTorch reference networks, for ``tools/convert_torch.py --verify``, the tests and the benchmarks.

Optional: importing this module needs torch (an ImportError otherwise), and no
room of the product imports it (it sits in ``reference/``, outside them). Written from the architecture descriptions
with the official parameter names: RRDBNet (ESRGAN / Real-ESRGAN),
SRVGGNetCompact, UNetDiscriminatorSN (with ``torch.nn.utils.spectral_norm``)
and torchvision's VGG19 ``features`` layout. It shares no code with the Paddle
networks, so that comparing the two checks both.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

__all__ = ['RRDBNet', 'SRVGGNetCompact', 'UNetDiscriminatorSN', 'vgg19_features', 'VGG19_LAYER_NAMES',
           'vgg19_outputs', 'build_torch_network', 'load_reference', 'reference_outputs']


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        g = num_grow_ch
        for i in range(4):
            setattr(self, f'conv{i + 1}', nn.Conv2d(num_feat + i * g, g, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * g, num_feat, 3, 1, 1)

    def forward(self, x):
        feats = [x]
        for i in range(4):
            feats.append(F.leaky_relu(getattr(self, f'conv{i + 1}')(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat, num_grow_ch=32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32):
        super().__init__()
        self.scale = scale
        self.down = 4 // scale  # pixel unshuffle: the trunk always upsamples x4
        self.conv_first = nn.Conv2d(num_in_ch * self.down ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x):
        if self.down > 1:
            x = F.pixel_unshuffle(x, self.down)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode='nearest')), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode='nearest')), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


class SRVGGNetCompact(nn.Module):
    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type='prelu'):
        super().__init__()
        self.upscale = upscale

        def act():
            if act_type == 'prelu':
                return nn.PReLU(num_parameters=num_feat)
            return nn.ReLU() if act_type == 'relu' else nn.LeakyReLU(0.1)
        layers = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), act()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), act()]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.upscale) + F.interpolate(x, scale_factor=self.upscale, mode='nearest')


# conv0 ... conv9 of the U-Net discriminator: (in, out) channels in multiples of num_feat (conv0 reads num_in_ch,
# conv9 writes one map), kernel, stride; padding 1 everywhere, spectral norm and no bias on conv1 ... conv8
_UNET_D_CONVS = ((1, 1, 3, 1), (1, 2, 4, 2), (2, 4, 4, 2), (4, 8, 4, 2), (8, 4, 3, 1), (4, 2, 3, 1), (2, 1, 3, 1),
                 (1, 1, 3, 1), (1, 1, 3, 1), (1, 1, 3, 1))


class UNetDiscriminatorSN(nn.Module):
    def __init__(self, num_in_ch=3, num_feat=64, skip_connection=True):
        super().__init__()
        self.skip_connection = skip_connection
        last = len(_UNET_D_CONVS) - 1
        for i, (cin, cout, k, s) in enumerate(_UNET_D_CONVS):
            plain = i in (0, last)
            conv = nn.Conv2d(num_in_ch if i == 0 else cin * num_feat, 1 if i == last else cout * num_feat, k, s, 1,
                             bias=plain)
            setattr(self, f'conv{i}', conv if plain else spectral_norm(conv))

    def forward(self, x):
        convs = [getattr(self, f'conv{i}') for i in range(len(_UNET_D_CONVS))]
        feats = [x]
        for conv in convs[:4]:  # the encoder: full size, then three halvings
            feats.append(F.leaky_relu(conv(feats[-1]), 0.2))
        out = feats.pop()
        for conv in convs[4:7]:  # the decoder: doubled, convolved, plus the encoder's map of that size
            out = F.leaky_relu(conv(F.interpolate(out, scale_factor=2, mode='bilinear', align_corners=False)), 0.2)
            skip = feats.pop()
            if self.skip_connection:
                out = out + skip
        for conv in convs[7:9]:
            out = F.leaky_relu(conv(out), 0.2)
        return convs[9](out)


_VGG19_CONVS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
VGG19_LAYER_NAMES = [n for b, k, _ in _VGG19_CONVS
                     for n in [x for i in range(1, k + 1) for x in (f'conv{b}_{i}', f'relu{b}_{i}')] + [f'pool{b}']]


class _VGG19(nn.Module):
    """torchvision's vgg19 module tree: ``features`` (Sequential) plus ``classifier``."""

    def __init__(self, with_classifier=True):
        super().__init__()
        layers, cin = [], 3
        for name in VGG19_LAYER_NAMES:
            if name.startswith('conv'):
                cout = dict(((b, c) for b, _, c in _VGG19_CONVS))[int(name[4])]
                layers.append(nn.Conv2d(cin, cout, 3, 1, 1))
                cin = cout
            elif name.startswith('relu'):
                layers.append(nn.ReLU(inplace=False))
            else:
                layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        if with_classifier:
            self.classifier = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))  # dropped by converters


def vgg19_features(with_classifier=True):
    """A torchvision-layout VGG19 (``features.N``; a tiny stand-in ``classifier`` to be dropped)."""
    return _VGG19(with_classifier)


def vgg19_outputs(vgg, x, layer_names, use_input_norm=True, range_norm=False):
    """Features of ``vgg.features`` at the named layers (conv* = before ReLU, relu* = after)."""
    if range_norm:
        x = (x + 1) / 2
    if use_input_norm:
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        x = (x - mean) / std
    out = {}
    last = max(VGG19_LAYER_NAMES.index(n) for n in layer_names)
    for idx, layer in enumerate(vgg.features[:last + 1]):
        x = layer(x)
        if VGG19_LAYER_NAMES[idx] in layer_names:
            out[VGG19_LAYER_NAMES[idx]] = x
    return out


_NETWORKS = {'RRDBNet': RRDBNet, 'SRVGGNetCompact': SRVGGNetCompact, 'UNetDiscriminatorSN': UNetDiscriminatorSN}
VGG_TYPE = 'VGG19FeatureExtractor'


def build_torch_network(arch):
    """Torch twin of ``models.build_network(arch)`` (VGG19 returns the torchvision-layout module).

    LookupError when there is no reference for ``arch['type']``.
    """
    if arch['type'] == VGG_TYPE:
        return vgg19_features(with_classifier=False)
    if arch['type'] not in _NETWORKS:
        raise LookupError(f'no torch reference for {arch["type"]}')
    if arch['type'] == 'RRDBNet' and (set(arch) & {'plus', 'shuffle_factor'} or arch.get('scale', 4) not in (1, 2, 4)):
        raise LookupError('no torch reference for this RRDBNet variant (ESRGAN+, x8 or a non-default unshuffle)')
    return _NETWORKS[arch['type']](**{k: v for k, v in arch.items() if k != 'type'})


def load_reference(arch, state):
    """The reference network of ``arch`` with ``state`` (torch tensors, our key names) loaded, in eval mode."""
    net = build_torch_network(arch)
    if arch['type'] == VGG_TYPE:  # back to torchvision's features.N, and only the layers the weights hold
        index = {name: idx for idx, name in enumerate(VGG19_LAYER_NAMES)}
        state = {f'features.{index[k.split(".")[0]]}.{k.split(".")[1]}': v for k, v in state.items()}
        net.features = net.features[:max(int(k.split('.')[1]) for k in state) + 1]
    net.load_state_dict(state, strict=True)
    return net.eval()


def reference_outputs(net, arch, x):
    """``{name: ndarray}`` of ``net`` on the numpy batch ``x``: the named VGG19 layers, else ``{'out': output}``."""
    with torch.no_grad():
        t = torch.from_numpy(x)
        if arch['type'] == VGG_TYPE:
            return {k: v.numpy() for k, v in vgg19_outputs(net, t, arch['layer_name_list']).items()}
        return {'out': net(t).numpy()}
