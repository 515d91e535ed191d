"""Test-only reference: BasicSR 1.4.2's own ``niqe.py`` loaded from its PyPI sdist, imports stubbed.

``.ci/run`` fetches the sdist into ``$NIQE_REF_CACHE`` (default ``~/.cache/realesrgan-paddle/test-ref``) with
``python tests/evaluation/_basicsr_niqe.py``: the file itself from the index's simple page, its sha256 checked.
(``pip download`` cannot: it builds the sdist's metadata, and BasicSR's setup.py fetches its build requirements,
torch among them, so it failed in every CI run and the test skipped.) ``load()`` returns None when it is absent,
and the test skips; BasicSR's colour helpers import torch, so the test runs in CI's torch step.
"""
import hashlib
import importlib.util
import os
import re
import sys
import tarfile
import types
import urllib.request
from pathlib import Path

SDIST = 'basicsr-1.4.2.tar.gz'
SHA256 = 'b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87'  # PyPI's, as its simple page gives it


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


def fetch(index=None):
    """The sdist into ``cache_dir()`` from ``index`` (default: ``$PIP_INDEX_URL``, else PyPI's simple API): its link
    on the project's page, the bytes checked against ``SHA256``, written beside then renamed. Returns the path."""
    dst = cache_dir() / SDIST
    if dst.is_file() and hashlib.sha256(dst.read_bytes()).hexdigest() == SHA256:
        return dst
    base = (index or os.environ.get('PIP_INDEX_URL') or 'https://pypi.org/simple').rstrip('/')
    page = urllib.request.urlopen(f'{base}/basicsr/', timeout=60).read().decode()
    links = [h for h in re.findall(r'href="([^"]+)"', page) if h.split('#')[0].endswith('/' + SDIST)]
    if not links:
        raise SystemExit(f'{base}/basicsr/: no link to {SDIST}')
    data = urllib.request.urlopen(urllib.request.urljoin(f'{base}/basicsr/', links[0].split('#')[0]),
                                  timeout=120).read()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise SystemExit(f'{SDIST}: sha256 {hashlib.sha256(data).hexdigest()}, expected {SHA256}')
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + '.part')
    tmp.write_bytes(data)
    tmp.replace(dst)
    return dst


if __name__ == '__main__':
    try:
        print(fetch())
    except OSError as exc:  # the index not reached: one line, and CI says the test will skip
        raise SystemExit(f'{SDIST}: {exc}') from None
