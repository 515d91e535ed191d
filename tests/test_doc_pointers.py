"""Pointers in prose lead somewhere: every ``something.py`` named in docs/*.md, README.md and the product's
docstrings is a file of the repository (by its path, or as the end of one: ``frame_loop.py`` in the inference
row), and every dotted name of a room (``inference.stabiliser.make_stabiliser``) is a module, or a name defined or
imported in one (read with ast). A rename that leaves an old name in a sentence fails here."""
import ast
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ('models', 'utils', 'checkpoint_io', 'media', 'inference', 'data', 'loss', 'training', 'evaluation',
         'pipeline', 'reference', 'tools', 'webui')
PY_PATH = re.compile(r'(?<![\w/.<-])((?:[\w.-]+/)*[\w-]+\.py)\b')
DOTTED = re.compile(r'(?<![\w./])(?:realesrgan_paddle\.)?((?:' + '|'.join(ROOMS) + r')(?:\.\w+)+)')
FILE_SUFFIXES = ('py', 'json', 'pdmodel', 'pdiparams', 'png', 'txt')  # inference.pdmodel is a file, not a module
# named on purpose though not in the repository, with the reason
ELSEWHERE = {
    'codemod/pkg.py': 'the import rewrite of issue 54, kept outside the repository (DESIGN.md says so)',
    'run_variants.py': 'scratch measurement scripts in /work/exp, named in docs/temporal.md as such',
    'measure.py': 'the same scratch scripts', 'diag2.py': 'the same', 'diag3.py': 'the same',
    'loss.noise_sigma': "training/steps.py: the attribute of a local variable named loss, not the room",
}


def product_files():
    return [p.relative_to(ROOT).as_posix() for p in sorted(ROOT.rglob('*.py'))
            if not any(s.startswith('.') for s in p.relative_to(ROOT).parts)]


def prose(files):
    """``(where, text)`` of docs/*.md, README.md and every docstring of the product's modules."""
    out = [(p.relative_to(ROOT).as_posix(), p.read_text(encoding='utf-8'))
           for p in sorted((ROOT / 'docs').glob('*.md')) + [ROOT / 'README.md']]
    for f in files:
        if f.startswith('tests/'):
            continue
        for node in ast.walk(ast.parse((ROOT / f).read_text(encoding='utf-8'))):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc:
                    out.append((f, doc))
    return out


def path_exists(path, files):
    return any(f == path or f.endswith('/' + path) for f in files)


@lru_cache(maxsize=None)
def defined_names(path):
    """Names a module defines or imports at any depth (functions, classes, assignments, imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split('.')[0] for a in node.names}
    return names


def dotted_resolves(dotted, root=ROOT):
    """``room.sub.module[.name]``: the packages and the module exist, and ``name`` is defined in the last one."""
    base, parts = root, dotted.split('.')
    for i, part in enumerate(parts):
        if (base / part / '__init__.py').is_file():
            base = base / part
        elif (base / f'{part}.py').is_file():
            rest = parts[i + 1:]
            return not rest or rest[0] in defined_names(base / f'{part}.py')
        else:
            return i > 0 and part in defined_names(base / '__init__.py')
    return True


def test_every_named_py_file_exists():
    files = product_files()
    missing = sorted({f'{where}: {m}' for where, text in prose(files) for m in PY_PATH.findall(text)
                      if m not in ELSEWHERE and not path_exists(m, files)})
    assert not missing, 'named but not in the repository: ' + '; '.join(missing)


def test_every_dotted_room_name_resolves():
    bad = sorted({f'{where}: {d}' for where, text in prose(product_files()) for d in DOTTED.findall(text)
                  if d.rsplit('.', 1)[-1] not in FILE_SUFFIXES and d not in ELSEWHERE and not dotted_resolves(d)})
    assert not bad, 'dotted names that lead nowhere: ' + '; '.join(bad)


def test_the_checks_catch_old_names():
    """What the renames of issue 63 left behind would fail: a gone module, a gone name, a gone file."""
    files = product_files()
    assert dotted_resolves('inference.stabiliser.make_stabiliser') and dotted_resolves('models.convert')
    assert dotted_resolves('models.load_network')  # a name the package's __init__ imports
    assert not dotted_resolves('inference.temporal.make_stabiliser')
    assert not dotted_resolves('inference.stabiliser.no_such_function')
    assert path_exists('inference/frame_loop.py', files) and path_exists('frame_loop.py', files)
    assert not path_exists('inference/options.py', files) and not path_exists('loss/temporal.py', files)
    assert PY_PATH.findall('see `tools/<tool>.py` and ``data/fit/footage_fit.py``') == ['data/fit/footage_fit.py']
