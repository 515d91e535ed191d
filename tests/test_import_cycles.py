"""No import cycles among the project's own modules, and no import from a room up to a room above it
(read with ast; imports inside functions count too)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = 'realesrgan_paddle.'
PACKAGES = ('models', 'utils', 'checkpoint_io', 'store', 'media', 'inference', 'data', 'loss', 'training',
            'evaluation', 'pipeline', 'reference')
# The rooms from the bottom up (docs/DESIGN.md); a room imports only rooms on a lower floor. ``data.fit`` (measuring
# real footage, fitting a degradation to it) is a room of its own above ``evaluation``, whose metrics it uses.
FLOOR = {'utils': 0, 'checkpoint_io': 1, 'store': 1, 'media': 1, 'models': 2, 'data': 3, 'loss': 3, 'inference': 3,
         'reference': 3, 'evaluation': 4, 'data.fit': 5, 'training': 6, 'pipeline': 7}  # codemod-pkg: keep
SUB_ROOMS = ('data.fit',)  # codemod-pkg: keep


def room(module):
    """The room of a module: its top-level package, or a sub-room of ``SUB_ROOMS``."""
    for sub in SUB_ROOMS:
        if module == sub or module.startswith(sub + '.'):
            return sub
    return module.split('.')[0]


def module_name(rel):
    parts = list(rel.with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def project_modules(root=ROOT, packages=PACKAGES):
    """``{module name: path}`` of every .py file in ``packages``."""
    mods = {}
    for pkg in packages:
        for p in sorted((root / pkg).rglob('*.py')):
            mods[module_name(p.relative_to(root))] = p
    return mods


def own(target):
    """``realesrgan_paddle.models.zoo`` -> ``models.zoo``: the rooms are imported under the package name."""
    return target[len(PREFIX):] if target.startswith(PREFIX) else target


def imports_of(name, path, mods):
    """The project modules that ``name`` (at ``path``) imports anywhere in its body."""
    is_pkg = path.name == '__init__.py'
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [own(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split('.') if is_pkg else name.split('.')[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = own(node.module)
                if mod == PREFIX[:-1]:  # from realesrgan_paddle import models
                    targets = [a.name for a in node.names]
                    out |= {t for t in targets if t in mods and t != name}
                    continue
            # `from pkg import sub` imports the submodule; `from mod import name` the module
            targets = [f'{mod}.{a.name}' if f'{mod}.{a.name}' in mods else mod for a in node.names]
        out |= {t for t in targets if t in mods and t != name}
    return out


def find_cycle(graph):
    """One cycle as a list of modules ``[a, b, ..., a]``, or None."""
    state = {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m, stack)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n, [])
            if found:
                return found
    return None


def test_no_import_cycles():
    mods = project_modules()
    assert 'inference.upscaler' in mods and 'data.builder.decode' in mods  # file paths  codemod-pkg: keep
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    cycle = find_cycle(graph)
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_the_check_finds_a_cycle(tmp_path):
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / '__init__.py').write_text('')
    (tmp_path / 'models' / 'a.py').write_text('from .b import x\n')
    (tmp_path / 'models' / 'b.py').write_text('def f():\n    from realesrgan_paddle.models import a\n')
    mods = project_modules(tmp_path, ('models',))
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    assert find_cycle(graph) == ['models.a', 'models.b', 'models.a']


def upward_imports(graph):
    """``['a.x -> b.y', ...]``: imports into another room on the same floor or a higher one."""
    return sorted(f'{a} -> {b}' for a, targets in graph.items() for b in targets
                  if room(a) != room(b) and FLOOR[room(b)] >= FLOOR[room(a)])


def test_rooms_import_only_downwards():
    mods = project_modules()
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    assert upward_imports(graph) == []


def test_the_check_finds_an_upward_import(tmp_path):
    for pkg, body in (('utils', 'def f():\n    from realesrgan_paddle.inference import tiling\n'), ('inference', '')):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / '__init__.py').write_text('')
        (tmp_path / pkg / 'tiling.py').write_text(body)
    mods = project_modules(tmp_path, ('utils', 'inference'))
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    assert upward_imports(graph) == ['utils.tiling -> inference.tiling']


def test_a_sub_room_stands_on_its_own_floor(tmp_path):
    for pkg, body in (('data/fit', 'from data.degrade import ops\n'), ('data/degrade', 'from data.fit import ops\n')):  # codemod-pkg: keep
        (tmp_path / pkg).mkdir(parents=True)
        (tmp_path / pkg / '__init__.py').write_text('')
        (tmp_path / pkg / 'ops.py').write_text(body)
    (tmp_path / 'data' / '__init__.py').write_text('')
    mods = project_modules(tmp_path, ('data',))
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    assert upward_imports(graph) == ['data.degrade.ops -> data.fit.ops']
