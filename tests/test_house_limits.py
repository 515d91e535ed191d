"""The house's limits, counted: no function of the product or the benchmarks (every .py outside tests/, tools/
and benchmarks/ included; issue 80) is over 80 lines, and README.md is at most 250 lines (read with ast; issue 63)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES, MAX_README_LINES = 80, 250


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
