"""At most 120 imports inside functions in the product (issue 63: there were 733; issue 72: 140, then 119). An
import inside a function is for what must not load with its module, and only for a module of the reason table of
docs/DESIGN.md, "Imports": paddle and the modules that import it (the light paths: `import
realesrgan_paddle.inference`, a tool's --help and its one-line errors come before paddle loads), the video path,
the optional extras (torch, onnx, onnxruntime, paddle2onnx, ray, gradio), what may be missing (Pillow,
imageio-ffmpeg), matplotlib, scipy and visualdl. Everything else goes at the top, where readers and tools see it;
the standard library always does. Read with ast; the product is every .py file outside tests/ and benchmarks/."""
import ast
import re
import sys

from tests.product_tree import ROOT, product_files

LIMIT = 120
PACKAGE = 'realesrgan_paddle'
# the standard library that may be missing (another platform): imported where it is used, under try
PLATFORM = {'fcntl', 'msvcrt', 'resource', 'termios', 'pwd', 'grp', 'winreg'}


def function_imports(tree):
    """The import statements inside a function body (nested functions and methods included)."""
    found = []

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and inside:
                found.append(child)
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    visit(tree, False)
    return found


def count(root=ROOT):
    """``{relative path: number of imports inside functions}`` over the product."""
    return {str(p.relative_to(root)): len(function_imports(ast.parse(p.read_text(), str(p))))
            for p in product_files(root)}


def stdlib_inside(root=ROOT):
    """``['path:line module', ...]``: standard-library imports inside functions (they load nothing heavy)."""
    out = []
    for p in product_files(root):
        for node in function_imports(ast.parse(p.read_text(), str(p))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                '' if node.level else node.module]
            for name in names:
                top = name.split('.')[0]
                if top in sys.stdlib_module_names and top not in PLATFORM:
                    out.append(f'{p.relative_to(root)}:{node.lineno} {name}')
    return out


def test_at_most_120_imports_inside_functions():
    per_file = count()
    total = sum(per_file.values())
    worst = sorted(per_file.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    print(f'{total} imports inside functions; the most:', ', '.join(f'{f} {n}' for f, n in worst))
    assert total <= LIMIT, (f'{total} imports inside functions (at most {LIMIT}): move the ones that load nothing '
                            'heavy to the top; the most: ' + ', '.join(f'{f} {n}' for f, n in worst))


def test_the_standard_library_is_imported_at_the_top():
    assert stdlib_inside() == []


def test_the_count_sees_imports_in_functions_and_methods_only(tmp_path):
    (tmp_path / 'pkg').mkdir()
    (tmp_path / 'pkg' / 'mod.py').write_text(
        'import os\ntry:\n    import json\nexcept ImportError:\n    json = None\n\n\n'
        'def f():\n    import re\n    from pathlib import Path\n\n    def g():\n        import fcntl\n'
        '    return g\n\n\nclass C:\n    import math\n\n    def m(self):\n        from . import other\n')
    (tmp_path / 'tests').mkdir()
    (tmp_path / 'tests' / 'test_x.py').write_text('def test():\n    import os\n')
    assert count(tmp_path) == {'pkg/mod.py': 4}
    assert stdlib_inside(tmp_path) == ['pkg/mod.py:9 re', 'pkg/mod.py:10 pathlib']


def _is_module(dotted, root):
    """Whether ``realesrgan_paddle.<dotted>`` is a module or package of the repository at ``root``."""
    path = root.joinpath(*dotted.split('.'))
    return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def imported_modules(node, module, root=ROOT):
    """The absolute names of the modules an import statement of ``module`` (dotted, under the package) loads:
    ``from realesrgan_paddle import models`` is ``realesrgan_paddle.models``, ``from .video import x`` in
    ``realesrgan_paddle.inference.upscaler`` is ``realesrgan_paddle.inference.video.one_pass``."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ''
    if node.level:
        package = module.split('.')[:len(module.split('.')) - node.level]
        base = '.'.join(package + ([node.module] if node.module else []))
    out = []
    for a in node.names:
        full = f'{base}.{a.name}'
        inside = full.split('.', 1)[1] if full.startswith(PACKAGE + '.') else None
        out.append(full if inside and _is_module(inside, root) else base)
    return out


def reason_table(text):
    """``{module: kind}`` from the table of the "Imports" section of docs/DESIGN.md (the names in backquotes of
    each row's second cell)."""
    section = text.split('\n## Imports\n', 1)[1].split('\n## ', 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 3 and cells[0] not in ('kind', '---'):
            table.update({name: cells[0] for name in re.findall(r'`([\w.]+)`', cells[1])})
    return table


def lazy_imports(root=ROOT):
    """``[(where, module)]``: every module loaded by an import inside a function of the product."""
    out = []
    for p in product_files(root):
        rel = p.relative_to(root)
        parts = list(rel.with_suffix('').parts)
        if parts[-1] == '__init__':
            parts = parts[:-1] + ['__init__']  # a package's relative imports resolve from the package itself
        module = '.'.join([PACKAGE] + parts)
        for node in function_imports(ast.parse(p.read_text(), str(p))):
            out += [(f'{rel.as_posix()}:{node.lineno}', m) for m in imported_modules(node, module, root)]
    return out


def kind_of(module, table):
    return next((table[name] for name in table if module == name or module.startswith(name + '.')), None)


def test_every_import_inside_a_function_has_its_reason_in_the_design_doc():
    table = reason_table((ROOT / 'docs' / 'DESIGN.md').read_text(encoding='utf-8'))
    found = lazy_imports()
    assert len(table) > 20 and len(found) > 50, (len(table), len(found))
    unlisted = [f'{where} {module}' for where, module in found if kind_of(module, table) is None]
    assert unlisted == [], ('move these to the top of their module, or add the module to a row of the reason table '
                            '(docs/DESIGN.md, "Imports") if it really must wait: ' + '; '.join(unlisted))
    used = {name for name in table for _, module in found if module == name or module.startswith(name + '.')}
    assert sorted(set(table) - used) == [], 'the reason table names modules no function imports'


def test_the_reasons_check_sees_an_unlisted_import(tmp_path):
    (tmp_path / 'media').mkdir()
    (tmp_path / 'media' / '__init__.py').write_text('')
    (tmp_path / 'media' / 'kinds.py').write_text('')
    (tmp_path / 'media' / 'mod.py').write_text(
        'def f():\n    import yaml\n    from . import kinds\n    from .kinds import IMAGE_EXTS\n'
        '    from realesrgan_paddle import media\n    import paddle.nn\n')
    found = lazy_imports(tmp_path)
    assert [m for _, m in found] == ['yaml', 'realesrgan_paddle.media.kinds', 'realesrgan_paddle.media.kinds',
                                     'realesrgan_paddle.media', 'paddle.nn']
    table = reason_table('# Design\n\n## Imports\n\n| kind | modules | why |\n|---|---|---|\n'
                         '| heavy | `paddle`, `x.y` | z |\n\n## Next\n| a | `yaml` | b |\n')
    assert table == {'paddle': 'heavy', 'x.y': 'heavy'}
    assert [kind_of(m, table) for _, m in found] == [None, None, None, None, 'heavy']
