"""The house's limits, counted: no function of the product or the benchmarks (every .py outside tests/, tools/
and benchmarks/ included; issue 80) is over 80 lines, README.md is at most 250 lines (read with ast; issue 63), and
no folder of the product holds more than 20 modules directly (issue 80: inference/ held 31, pipeline/ 25)."""
import ast
from collections import Counter
from pathlib import Path

from tests.product_tree import product_files

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES, MAX_README_LINES, MAX_FOLDER_MODULES = 80, 250, 20


def long_functions(source, limit=MAX_FUNCTION_LINES):
    """``[(name, first line, lines)]`` of the functions and methods of ``source`` longer than ``limit`` lines
    (decorators not counted; a nested function counts in its parent and on its own)."""
    return [(n.name, n.lineno, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > limit]


def test_no_function_over_80_lines():
    found, seen = [], 0
    for p in sorted(ROOT.rglob('*.py')):
        rel = p.relative_to(ROOT)
        if rel.parts[0] == 'tests' or any(s.startswith('.') for s in rel.parts):
            continue
        seen += 1
        found += [f'{rel.as_posix()}:{line} {name} ({n} lines)' for name, line, n in
                  long_functions(p.read_text(encoding='utf-8'))]
    assert seen > 100 and not found, 'split these: ' + '; '.join(found)


def test_readme_at_most_250_lines():
    n = len((ROOT / 'README.md').read_text(encoding='utf-8').splitlines())
    assert n <= MAX_README_LINES, f'README.md has {n} lines; the limit is {MAX_README_LINES}'


def test_the_count_sees_a_long_function():
    lines = [f'x{i} = {i}' for i in range(80)]
    assert long_functions('def f():\n' + ''.join(f'    {s}\n' for s in lines)) == [('f', 1, 81)]
    assert long_functions('class A:\n    def g(self):\n' + ''.join(f'        {s}\n' for s in lines)) == [('g', 2, 81)]
    assert long_functions('def f():\n' + ''.join(f'    {s}\n' for s in lines[1:])) == []  # 80 lines: allowed
    assert long_functions('def short():\n    return 1\n') == []


def crowded_folders(files, root=ROOT, limit=MAX_FOLDER_MODULES):
    """``{folder: modules}`` of the folders holding more than ``limit`` of ``files`` directly (``__init__.py``
    counted: it is a module of its folder)."""
    counts = Counter(p.parent.relative_to(root).as_posix() for p in files)
    return {folder: n for folder, n in counts.items() if n > limit}


def test_no_product_folder_holds_more_than_20_modules():
    files = product_files()
    folders = {p.parent for p in files}
    assert len(files) > 200 and len(folders) > 30  # the walk sees the product's package folders
    crowded = crowded_folders(files)
    assert not crowded, 'sort these into rooms by what things are: ' + '; '.join(
        f'{folder}/ holds {n} modules' for folder, n in sorted(crowded.items()))


def test_the_count_sees_a_crowded_folder(tmp_path):
    files = [tmp_path / 'room' / f'm{i}.py' for i in range(21)] + [tmp_path / 'room' / 'sub' / 'x.py']
    assert crowded_folders(files, tmp_path) == {'room': 21}
    assert crowded_folders(files[1:], tmp_path) == {}
