"""Real-ESRGAN on PaddlePaddle, under one name of its own.

    pip install .          # or pip install -e . ; or, in a clone, nothing: see below
    from realesrgan_paddle import Upscaler
    Upscaler('realesrgan-x4plus').upscale(img)

Every room of the project is a sub-package: ``realesrgan_paddle.utils``, ``.models``, ``.data``,
``.inference``, ``.loss``, ``.training``, ``.evaluation``, ``.pipeline``, ``.webui``, ``.tools`` (docs/DESIGN.md,
"One package"). Installed, the package-dir mapping of ``setup.py`` puts the repository's top-level folders inside
this package, so no top-level ``utils``, ``models`` or ``data`` lands in site-packages. In a clone the same
folders sit beside this one: the package's search path is extended with the repository root, so
``realesrgan_paddle.utils`` is the clone's ``utils/`` with no install and no import hook.
"""
import importlib
import warnings
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# a clone: the rooms beside this folder, not inside it (installed: inside, and nothing to do)
if not (_HERE / 'inference').is_dir() and (_HERE.parent / 'inference' / 'upscaler.py').is_file():
    __path__.append(str(_HERE.parent))  # noqa: F821  (a package's __path__)

# Paddle warns at import that ccache is missing (it only matters for compiling custom C++ ops); the tools import
# it quietly (utils.runtime_env.import_paddle_quietly), and the API, whose Paddle loads later, drops that one line.
warnings.filterwarnings('ignore', message='No ccache found', category=UserWarning)

# name -> (sub-module, attribute), loaded at first use: importing this package loads nothing else
_LAZY = {
    'Upscaler': ('inference', 'Upscaler'),
    'UpscaleOptions': ('inference', 'UpscaleOptions'),
    'resolve_model': ('inference', 'resolve_model'),
    'FinetuneSettings': ('pipeline.context', 'Settings'),  # the one-command finetune (tools/finetune_domain.py)
    'finetune': ('pipeline.pipeline', 'run'),
    'finetune_main': ('tools.finetune_domain', 'main'),   # the same with its command-line arguments
    'train': ('training.trainer', 'train'),                # train.py on loaded options
    'load_options': ('training.option_file', 'load_options'),
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f'{__name__}.{module}'), attr)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
