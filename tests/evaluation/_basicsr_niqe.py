"""Test-only reference: BasicSR 1.4.2's own ``niqe.py`` loaded from its PyPI sdist, imports stubbed.

``.ci/run`` downloads the sdist into ``$NIQE_REF_CACHE`` (default ``~/.cache/realesrgan-paddle/test-ref``);
``load()`` returns None when it is absent, and the test skips.
"""
import importlib.util
import os
import sys
import tarfile
import types
from pathlib import Path

SDIST = 'basicsr-1.4.2.tar.gz'


def cache_dir():
    env = os.environ.get('NIQE_REF_CACHE')
    return Path(env) if env else Path.home() / '.cache' / 'realesrgan-paddle' / 'test-ref'


def _module(name, path=None, **attrs):
    if path is not None:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    else:
        mod = types.ModuleType(name)
        mod.__path__ = []
        sys.modules[name] = mod
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def load():
    """BasicSR's ``basicsr.metrics.niqe`` module, or None when the sdist is not in the cache."""
    tar = cache_dir() / SDIST
    if not tar.is_file():
        return None
    root = cache_dir() / 'basicsr-1.4.2'
    if not (root / 'basicsr' / 'metrics' / 'niqe.py').is_file():
        with tarfile.open(tar) as t:
            t.extractall(cache_dir(), filter='data')
    pkg = root / 'basicsr'
    saved = {k: v for k, v in sys.modules.items() if k == 'basicsr' or k.startswith('basicsr.')}
    try:
        _module('basicsr')
        color = _module('basicsr.utils.color_util', pkg / 'utils' / 'color_util.py')
        _module('basicsr.utils', bgr2ycbcr=color.bgr2ycbcr)
        _module('basicsr.utils.matlab_functions', pkg / 'utils' / 'matlab_functions.py')
        registry = types.SimpleNamespace(register=lambda *a, **k: (lambda f: f))
        _module('basicsr.utils.registry', METRIC_REGISTRY=registry)
        _module('basicsr.metrics')
        _module('basicsr.metrics.metric_util', pkg / 'metrics' / 'metric_util.py')
        return _module('basicsr.metrics.niqe', pkg / 'metrics' / 'niqe.py')
    finally:
        for k in [k for k in sys.modules if k == 'basicsr' or k.startswith('basicsr.')]:
            del sys.modules[k]
        sys.modules.update(saved)
