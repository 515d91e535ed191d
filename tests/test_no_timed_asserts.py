"""No test asserts on wall-clock time: a busy machine (a load of 8-15 on two cores) must not fail a test. What a
time bound stood for is asserted as behaviour instead (a refusal before the network, the predictor or the
decoder was built; nothing loaded; peak memory); speed belongs in benchmarks/. Subprocess timeouts and polling
deadlines stay as guards against a hang, outside assertions. Read with ast: an ``assert`` that calls a clock, or
compares a duration-named value (``seconds``, ``elapsed``, ``took``, ``secs``, ``wall``, ``t0``...) to be below a
number."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCKS = {'time', 'perf_counter', 'monotonic', 'process_time', 'perf_counter_ns', 'monotonic_ns', 'time_ns'}
DURATION = re.compile(r'(^|_)(t|t0|t1|dt|s|secs?|seconds?|took|elapsed|wall|duration|spent)$|seconds|elapsed|wall',
                      re.IGNORECASE)


def _is_clock(node):
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCKS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == 'time')


def _label(node):
    if isinstance(node, ast.BinOp):
        return _label(node.left)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    return node.attr if isinstance(node, ast.Attribute) else None


def _bound(node):
    """A number, a CONSTANT or arithmetic of them: what a time limit looks like."""
    if isinstance(node, ast.BinOp):
        return _bound(node.left) and _bound(node.right)
    return (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))) or \
        (isinstance(node, ast.Name) and node.id.isupper())


def timed_asserts(source):
    """Line numbers of the asserts of ``source`` that bound a wall-clock time."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        for sub in ast.walk(node.test):
            below = isinstance(sub, ast.Compare) and isinstance(sub.ops[0], (ast.Lt, ast.LtE)) and \
                _bound(sub.comparators[0]) and DURATION.search(_label(sub.left) or '')
            if _is_clock(sub) or below:
                found.append(node.lineno)
                break
    return found


def test_no_test_asserts_on_wall_clock_time():
    found, seen = [], 0
    for p in sorted((ROOT / 'tests').rglob('*.py')):
        seen += 1
        found += [f'{p.relative_to(ROOT).as_posix()}:{n}' for n in timed_asserts(p.read_text(encoding='utf-8'))]
    assert seen > 200 and not found, f'asserts on wall-clock time (assert behaviour instead): {found}'


def test_the_check_finds_each_form():
    src = ('t = time.perf_counter()\nassert time.perf_counter() - t < 10\nassert secs < 45, secs\n'
           "assert out['seconds'] < TIME_BOUND_S and out['mb'] < 600\nassert took <= 2 * LIMIT\n"
           "assert out['mb'] < 600 and res['frames'] == 30\nassert res['model_seconds'] >= 8 * 0.15\n"
           'assert wait_for(parts, "plan.json")\nassert elapsed < limit_from_a_run\n')
    assert timed_asserts(src) == [2, 3, 4, 5]
