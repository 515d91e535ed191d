"""torch is optional: no module of the product's rooms (nor tools/, webui/, the entry scripts) imports it, at the
top or inside a function (read with ast). Only ``reference/``, the PyTorch references, does, and ``benchmarks/``
(side-by-side measurements); ``tools/convert_torch.py --verify`` reaches torch through ``reference``."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAY_IMPORT_TORCH = ('reference', 'benchmarks', 'tests')


def torch_imports(source):
    """Line numbers of the ``import torch...`` / ``from torch... import`` statements of ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            lines += [node.lineno for a in node.names if a.name.split('.')[0] == 'torch']
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').split('.')[0] == 'torch':
            lines.append(node.lineno)
    return lines


def test_no_room_imports_torch():
    found, seen = [], 0
    for p in sorted(ROOT.rglob('*.py')):
        rel = p.relative_to(ROOT)
        if rel.parts[0] in MAY_IMPORT_TORCH or rel.name == 'conftest.py' or any(s.startswith('.') for s in rel.parts):
            continue
        seen += 1
        found += [f'{rel.as_posix()}:{n}' for n in torch_imports(p.read_text(encoding='utf-8'))]
    assert seen > 100 and not found, f'torch imported outside reference/: {found}'


def test_the_check_finds_torch_imports():
    """Both spellings, inside a function too; a name merely containing torch is not an import."""
    src = 'import os\nimport torch.nn as nn\ndef f():\n    from torch import load\n    import torchvision\n'
    assert torch_imports(src) == [2, 4]
    assert torch_imports((ROOT / 'reference' / 'torch_networks.py').read_text(encoding='utf-8'))
