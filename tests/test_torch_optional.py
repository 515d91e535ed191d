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


# ---------------------------------------------------------------- tests: one route to torch (tests/skips.py)
REFERENCE_LIBS = ('torch', 'torchvision', 'spandrel')
NEEDS = ('need_torch', 'need_spandrel', 'need_reference')


def reference_imports(source):
    """Line numbers of the statements of ``source`` that reach a test-only reference directly: an import of torch,
    torchvision, spandrel or ``realesrgan_paddle.reference``, or ``pytest.importorskip`` of one of them."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ''] + [f'{node.module}.{a.name}' for a in node.names]
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith('importorskip') and node.args:
            names = [str(getattr(node.args[0], 'value', ''))]
        if any(n.split('.')[0] in REFERENCE_LIBS or n.startswith('realesrgan_paddle.reference') for n in names):
            lines.append(node.lineno)
    return sorted(lines)


def _top_level(tree):
    """The statements run when the module is imported: its body, into if/try/with blocks, not into defs."""
    todo, out = list(tree.body), []
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out += node.decorator_list
            continue
        out.append(node)
        for field in ('body', 'orelse', 'finalbody', 'handlers'):
            todo += [n for n in getattr(node, field, []) if isinstance(n, ast.AST)]
    return out


def torch_at_import(files):
    """The test modules (relative paths) that reach torch when imported: a top-level ``need_*()`` call, or a
    top-level import of a tests module that does."""
    direct, imports = set(), {}
    for rel, source in files.items():
        top = _top_level(ast.parse(source))
        calls = [n for s in top for n in ast.walk(s) if isinstance(n, ast.Call)]
        if any(ast.unparse(c.func).split('.')[-1] in NEEDS for c in calls):
            direct.add(rel)
        imports[rel] = {f'{n.module.replace(".", "/")}.py' for s in top for n in ast.walk(s)
                        if isinstance(n, ast.ImportFrom) and (n.module or '').startswith('tests.')}
    reach, changed = set(direct), True
    while changed:
        grown = {rel for rel, deps in imports.items() if deps & reach}
        changed = not grown <= reach
        reach |= grown
    return reach


def test_tests_reach_torch_only_through_tests_skips():
    """Without torch, every reference test skips with one line, and CI's run with torch (-m torch) collects them
    all by their mark: so no test imports torch, spandrel or the reference but through tests/skips.py's
    fixtures and helpers, and no test module reaches them when it is collected (only helper modules imported
    inside a test may)."""
    files = {p.relative_to(ROOT).as_posix(): p.read_text(encoding='utf-8')
             for p in sorted((ROOT / 'tests').rglob('*.py'))}
    direct = [f'{rel}:{n}' for rel, src in files.items() if rel != 'tests/skips.py' and not
              rel.endswith('test_torch_optional.py') for n in reference_imports(src)]
    assert len(files) > 200 and not direct, f'import torch/spandrel/reference through tests/skips.py: {direct}'
    collected = sorted(rel for rel in torch_at_import(files)
                       if rel.rsplit('/', 1)[-1].startswith('test_') or rel.endswith('conftest.py'))
    assert not collected, f'test modules that reach torch when collected: {collected}'


def test_the_tests_check_finds_each_route():
    src = ('import spandrel\ndef f():\n    from spandrel.architectures import SPAN\n'
           "    t = pytest.importorskip('torch')\nfrom realesrgan_paddle.reference import torch_networks\n"
           'import torchvision')
    assert reference_imports(src) == [1, 3, 4, 5, 6]
    assert reference_imports('from tests.skips import need_torch\ntorch = None\n') == []
    files = {'tests/h.py': 'from tests.skips import need_torch\ntorch = need_torch()\n',
             'tests/test_a.py': 'from tests.h import x\n',
             'tests/test_b.py': 'def test_b():\n    from tests.h import x\n',
             'tests/test_c.py': 'import pytest\nfrom tests.skips import need_torch\nif True:\n    T = need_torch()\n'}
    assert torch_at_import(files) == {'tests/h.py', 'tests/test_a.py', 'tests/test_c.py'}


def _called(node, local, imported):
    """The functions ``node`` calls, as ``(module, name)``: this module's (``local``) and imported ones."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            name = getattr(n.func, 'id', None) or getattr(n.func, 'attr', None)
            out |= {('NEED', name)} if name in NEEDS else {imported[name]} if name in imported else \
                {local[name]} if name in local else set()
    return out


def unmarked_tests(files):
    """``module::test`` of the tests that reach a ``need_*()`` through the helpers they call (in any tests module)
    without asking for the torch or spandrel fixture: they would skip without torch and never run with it."""
    funcs, calls = {}, {}
    for rel, source in files.items():
        mod, tree = rel[:-3].replace('/', '.'), ast.parse(source)
        imported = {a.asname or a.name: (n.module, a.name) for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom) and (n.module or '').startswith('tests.') for a in n.names}
        local = {n.name: (mod, n.name) for n in tree.body if isinstance(n, ast.FunctionDef)}
        for n in tree.body:
            if isinstance(n, ast.FunctionDef):
                funcs[(mod, n.name)] = n
                calls[(mod, n.name)] = _called(n, local, imported)
    reach, grown = set(), True
    while grown:
        new = {k for k, c in calls.items() if k not in reach and (c & reach or any(m == 'NEED' for m, _ in c))}
        grown, reach = bool(new), reach | new
    return sorted(f'{m}::{name}' for (m, name), node in funcs.items() if name.startswith('test_') and
                  (m, name) in reach and not {a.arg for a in node.args.args} & {'torch', 'spandrel'})


def test_every_test_that_reaches_torch_asks_for_its_fixture():
    files = {p.relative_to(ROOT).as_posix(): p.read_text(encoding='utf-8')
             for p in sorted((ROOT / 'tests').rglob('*.py'))}
    assert unmarked_tests(files) == []
    helper = 'from tests.skips import need_spandrel\ndef net():\n    return need_spandrel().x\n'
    tests = ('from tests.h import net\ndef test_a(tmp_path):\n    net()\ndef test_b(spandrel):\n    net()\n'
             'def test_c():\n    pass\n')
    assert unmarked_tests({'tests/h.py': helper, 'tests/test_x.py': tests}) == ['tests.test_x::test_a']
