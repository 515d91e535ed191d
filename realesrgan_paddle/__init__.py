"""The Python API, importable from any folder, under one name of its own.

    import sys; sys.path.append('/path/to/this/repository')    # or PYTHONPATH, or pip install -e
    from realesrgan_paddle import Upscaler

The repository's packages (``utils``, ``models``, ``data``, ``inference``, ``loss``, ``training``) load here
as ``realesrgan_paddle.utils`` and so on: their own absolute imports (``from media.image_io import ...``,
eager or inside functions) are rewritten to that prefix when each module is compiled. A project of yours with
its own ``utils``, ``models`` or ``data`` keeps them, and this package never sees them.
"""
import ast
import importlib.abc
import importlib.util
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = __name__
OWN = frozenset(p.name for p in ROOT.iterdir() if (p / '__init__.py').is_file() and p.name != PREFIX)
__all__ = ['Upscaler', 'resolve_model']


class _Prefixer(ast.NodeTransformer):
    """``import utils.x`` -> ``import realesrgan_paddle.utils.x`` + ``from realesrgan_paddle import utils``;
    ``import utils.x as y`` and ``from utils.x import y`` get the prefix; relative imports are left alone."""

    def visit_Import(self, node):
        out = []
        for alias in node.names:
            top = alias.name.split('.')[0]
            if top not in OWN:
                out.append(ast.Import(names=[alias]))
            elif alias.asname:
                out.append(ast.Import(names=[ast.alias(f'{PREFIX}.{alias.name}', alias.asname)]))
            else:  # binds the top name, as the original statement does
                if '.' in alias.name:
                    out.append(ast.Import(names=[ast.alias(f'{PREFIX}.{alias.name}', f'_{PREFIX}_tmp')]))
                out.append(ast.ImportFrom(module=PREFIX, names=[ast.alias(top, None)], level=0))
        return [ast.copy_location(n, node) for n in out]

    def visit_ImportFrom(self, node):
        if node.level == 0 and node.module and node.module.split('.')[0] in OWN:
            node.module = f'{PREFIX}.{node.module}'
        return node


class _Loader(importlib.abc.Loader):
    def __init__(self, path):
        self.path = path

    def exec_module(self, module):
        tree = _Prefixer().visit(ast.parse(self.path.read_bytes(), str(self.path)))
        exec(compile(ast.fix_missing_locations(tree), str(self.path), 'exec'), module.__dict__)

    def get_source(self, fullname):  # for tracebacks and inspect
        return self.path.read_text()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``realesrgan_paddle.<package>...`` in the repository (no bytecode cache: the rewritten code
    must never land in the ``__pycache__`` that the plain imports read)."""

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split('.')
        if len(parts) < 2 or parts[0] != PREFIX or parts[1] not in OWN:
            return None
        base = ROOT.joinpath(*parts[1:])
        if (base / '__init__.py').is_file():
            return importlib.util.spec_from_file_location(fullname, base / '__init__.py', loader=_Loader(
                base / '__init__.py'), submodule_search_locations=[str(base)])
        file = base.with_suffix('.py')
        if file.is_file():
            return importlib.util.spec_from_file_location(fullname, file, loader=_Loader(file))
        return None


# Paddle warns at import that ccache is missing (it only matters for compiling custom C++ ops); the tools import
# it quietly (utils.runtime_env.import_paddle_quietly), and the API, whose Paddle loads later, drops that one line.
warnings.filterwarnings('ignore', message='No ccache found', category=UserWarning)

if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())


def __getattr__(name):  # lazy: importing this package loads nothing else
    if name in __all__:
        return getattr(importlib.import_module(f'{PREFIX}.inference'), name)
    raise AttributeError(f'module {PREFIX!r} has no attribute {name!r}')
