"""Nothing outside tests/ depends on tests/: no import of it, no loading of its files by path (read with ast);
and no test file imports another test file (shared helpers live in conftest.py or helper modules)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# calls that import or run code from a path or module name
LOADERS = ('spec_from_file_location', 'import_module', 'run_path', 'run_module', '__import__', 'insert', 'append',
           'exec_module', 'SourceFileLoader')


def _mentions_tests(node, names=()):
    """A string constant naming the tests folder anywhere in ``node``, or a variable in ``names`` built from one."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            v = sub.value.replace('\\', '/')
            if v == 'tests' or v.startswith('tests/') or '/tests/' in v or v.startswith('tests.'):
                return True
        if isinstance(sub, ast.Name) and sub.id in names:
            return True
    return False


def test_dependencies(source):
    """``[(line, what)]`` of the ways ``source`` uses code from tests/."""
    tree = ast.parse(source)
    tainted = set()  # variables holding a path into tests/ (followed through later assignments)
    for _ in range(3):
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _mentions_tests(node.value, tainted):
                tainted |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f'import {a.name}') for a in node.names
                      if a.name.split('.')[0] in ('tests', 'conftest')]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split('.')[0] in ('tests', 'conftest'):
                found.append((node.lineno, f'from {node.module} import ...'))
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
            if name in LOADERS and _mentions_tests(node, tainted):
                found.append((node.lineno, f'{name}(... tests ...)'))
    return found


test_dependencies.__test__ = False  # a helper, not a test


def _product_files():
    for p in sorted(ROOT.rglob('*.py')):
        rel = p.relative_to(ROOT)
        if rel.parts[0] in ('tests', '.git') or rel.name == 'conftest.py' or any(s.startswith('.') for s in rel.parts):
            continue
        yield rel, p


def test_nothing_outside_tests_depends_on_tests():
    files = list(_product_files())
    assert any(rel.parts[0] == 'tools' for rel, _ in files) and any(rel.parts[0] == 'models' for rel, _ in files)
    bad = [f'{rel}:{line}: {what}' for rel, p in files for line, what in test_dependencies(p.read_text())]
    assert not bad, 'product code depends on tests/:\n' + '\n'.join(bad)


def test_the_scan_sees_each_kind_of_dependency():
    cases = {
        'import tests.reference.torch_archs': 'import tests.reference.torch_archs',
        'from tests.reference import torch_archs': 'from tests.reference import ...',
        "importlib.util.spec_from_file_location('r', ROOT / 'tests' / 'reference' / 'torch_archs.py')":
            'spec_from_file_location(... tests ...)',
        "sys.path.insert(0, str(ROOT / 'tests' / 'reference'))": 'insert(... tests ...)',
        "runpy.run_path('tests/reference/x.py')": 'run_path(... tests ...)',
    }
    for src, what in cases.items():
        assert test_dependencies(src) == [(1, what)], src
    by_variable = ("ref_path = ROOT / 'tests' / 'reference' / 'torch_archs.py'\n"
                   "spec = importlib.util.spec_from_file_location('torch_archs_ref', ref_path)")
    assert test_dependencies(by_variable) == [(2, 'spec_from_file_location(... tests ...)')]
    assert test_dependencies("from realesrgan_paddle.reference import torch_networks\nopen('tests.txt')\nlatest = 'contests'") == []


def test_imports_of_test_files(source):
    """``[(line, what)]`` of the test modules (``test_*``) that ``source`` imports, or loads by path (a loader or
    any function named ``*load*`` given a ``test_*.py`` path)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f'import {a.name}') for a in node.names
                      if a.name.split('.')[-1].startswith('test_')]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ''] + ([a.name for a in node.names] if not node.module or node.level else [])
            if any(m.split('.')[-1].startswith('test_') for m in mods if m):
                found.append((node.lineno, f'from {"." * node.level}{node.module or ""} import ...'))
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
            paths = [s.value for s in ast.walk(node) if isinstance(s, ast.Constant) and isinstance(s.value, str)]
            loader = name in LOADERS or 'load' in name.lower()
            if loader and any(Path(v).name.startswith('test_') and v.endswith('.py') for v in paths):
                found.append((node.lineno, f'{name}(... test_*.py ...)'))
    return found


test_imports_of_test_files.__test__ = False  # a helper, not a test


def test_no_test_file_imports_another():
    files = sorted((ROOT / 'tests').rglob('test_*.py'))
    assert len(files) > 100
    bad = [f'{p.relative_to(ROOT)}:{line}: {what}' for p in files
           for line, what in test_imports_of_test_files(p.read_text())]
    assert not bad, 'test files importing other test files (move the shared part to a helper module):\n' + \
        '\n'.join(bad)


def test_the_test_file_scan_sees_each_kind():
    cases = {'from .test_train_detail import SMOKE': 'from .test_train_detail import ...',
             'from tests.tools.test_finetune_domain import run': 'from tests.tools.test_finetune_domain import ...',
             'from . import test_video': 'from . import ...',
             'import tests.inference.test_video as v': 'import tests.inference.test_video',
             "_load('tests/utils/test_img_io_limits.py', 'x')": '_load(... test_*.py ...)',
             "spec_from_file_location('x', 'tests/utils/test_img_io_limits.py')":
                 'spec_from_file_location(... test_*.py ...)'}
    for src, what in cases.items():
        assert test_imports_of_test_files(src) == ([(1, what)] if what else []), src
    helpers = 'from tests.nets import srvgg\nfrom .conftest import TINY\nfrom . import smoke'
    assert test_imports_of_test_files(helpers) == []
