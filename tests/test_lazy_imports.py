"""At most 150 imports inside functions in the product (issue 63: there were 733). An import inside a function is
for what must not load with its module: paddle and the modules that import it (the light paths: `import
realesrgan_paddle.inference`, a tool's --help and its one-line errors come before paddle loads), the video path,
and the optional extras (torch, onnx, onnxruntime, paddle2onnx, ray, gradio), matplotlib, scipy and visualdl
(docs/DESIGN.md, "Imports"). Everything else goes at the top, where readers and tools see it; the standard
library always does. Read with ast; the product is every .py file outside tests/ and benchmarks/."""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 150
OUTSIDE = ('tests', 'benchmarks')
# the standard library that may be missing (another platform): imported where it is used, under try
PLATFORM = {'fcntl', 'msvcrt', 'resource', 'termios', 'pwd', 'grp', 'winreg'}


def product_files(root=ROOT):
    return [p for p in sorted(root.rglob('*.py')) if p.relative_to(root).parts[0] not in OUTSIDE
            and not any(part.startswith('.') for part in p.relative_to(root).parts) and p.name != 'conftest.py']


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


def test_at_most_150_imports_inside_functions():
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
