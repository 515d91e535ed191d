"""No path hacks: outside tests/, ``sys.path`` and ``sys.meta_path`` are changed in three files only (issue 72: 19
benchmarks edited ``sys.path`` themselves, 22 edits). ``tools/_bootstrap.py`` and ``benchmarks/_bootstrap.py`` put the
clone's root first when a tool or a benchmark runs as a script (docs/DESIGN.md, "One package"); ``utils/runtime_env.py``
puts one finder on ``sys.meta_path`` that makes paddle's first import, wherever it happens, the quiet one (it removes
itself at that import). Read with ast."""
import ast

from tests.product_tree import ROOT

ALLOWED = {'tools/_bootstrap.py': 'sys.path', 'benchmarks/_bootstrap.py': 'sys.path',
           'utils/runtime_env.py': 'sys.meta_path'}
PATHS = ('path', 'meta_path', 'path_hooks')


def _sys_list(node):
    """``'sys.path'`` when ``node`` is ``sys.path`` (or ``meta_path``, ``path_hooks``), else None."""
    if isinstance(node, ast.Attribute) and node.attr in PATHS and isinstance(node.value, ast.Name) \
            and node.value.id == 'sys':
        return f'sys.{node.attr}'
    return None


def path_edits(source):
    """``['line: sys.path.insert', ...]``: calls of a method of ``sys.path``/``sys.meta_path`` (insert, append,
    remove, ...), assignments to them or their items, and ``del`` of their items."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _sys_list(node.func.value):
            out.append((node.lineno, f'{_sys_list(node.func.value)}.{node.func.attr}'))
        targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete)) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for t in targets:
            t = t.value if isinstance(t, ast.Subscript) else t
            if _sys_list(t):
                out.append((node.lineno, f'{_sys_list(t)} ='))
    return [f'{line}: {what}' for line, what in sorted(out)]


def edited(edit):
    """``'sys.path'`` of ``'2: sys.path.insert'`` or ``'4: sys.path ='``."""
    name = edit.split(': ', 1)[1].split()[0]
    return name if name.count('.') == 1 else name.rsplit('.', 1)[0]


def edits(root=ROOT):
    """``{relative path: [edits]}`` over every .py file outside tests/ (the product and the benchmarks)."""
    out = {}
    for p in sorted(root.rglob('*.py')):
        rel = p.relative_to(root)
        if rel.parts[0] == 'tests' or any(s.startswith('.') for s in rel.parts):
            continue
        found = path_edits(p.read_text(encoding='utf-8'))
        if found:
            out[rel.as_posix()] = found
    return out


def test_path_edits_only_in_the_shims():
    found = edits()
    wrong = [f'{f}:{x}' for f, e in found.items() for x in e if ALLOWED.get(f) != edited(x)]
    assert wrong == [], "import the folder's _bootstrap (tools/, benchmarks/) instead of editing the path: " + '; '.join(
        wrong)
    assert set(found) == set(ALLOWED), found  # each shim still does its one edit


def test_the_count_sees_each_kind_of_edit():
    src = ('import sys\nsys.path.insert(0, "x")\nsys.path.append("y")\nsys.path[0] = "z"\nsys.meta_path.insert(0, f)\n'
           'del sys.path[0]\nsys.path = []\nsys.path += ["w"]\nprint(sys.path)\nx = sys.path[0]\nif "a" in sys.path:\n'
           '    pass\n')
    assert path_edits(src) == ['2: sys.path.insert', '3: sys.path.append', '4: sys.path =', '5: sys.meta_path.insert',
                               '6: sys.path =', '7: sys.path =', '8: sys.path =']
    assert [edited(e) for e in path_edits(src)] == ['sys.path'] * 3 + ['sys.meta_path'] + ['sys.path'] * 3
