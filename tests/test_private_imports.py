"""No module of the product uses another module's private name (issue 72: there were 25 uses, in 18 modules): not
``from .frequency import _check`` nor ``evaluator._fmt(...)`` on an imported module or class. A name another module
needs is public, under a name that says what it is, in the module where it belongs. Read with ast over the product
(every .py outside tests/ and benchmarks/); the standard library's own private names (``pickle._Unpickler``,
``os._exit``) are not the product's and are not counted."""
import ast

from tests.product_tree import ROOT, product_files

PACKAGE = 'realesrgan_paddle'


def private(name):
    return name.startswith('_') and not (name.startswith('__') and name.endswith('__'))


def _from_product(node):
    return node.level > 0 or (node.module or '').split('.')[0] == PACKAGE


def private_uses(source):
    """``['line: name', ...]``: the private names ``source`` imports from the product's modules, and the private
    attributes it reads on a name such an import bound (a module, a class)."""
    tree, bound, found = ast.parse(source), set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _from_product(node):
            found += [f'{node.lineno}: {a.name}' for a in node.names if private(a.name)]
            bound |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            bound |= {a.asname or a.name.split('.')[0] for a in node.names if a.name.split('.')[0] == PACKAGE}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(f'{node.lineno}: {ast.unparse(node)}')
    return sorted(found, key=lambda use: int(use.split(':')[0]))


def count(root=ROOT):
    """``{relative path: [private uses]}`` over the product, the modules with none left out."""
    out = {}
    for p in product_files(root):
        uses = private_uses(p.read_text(encoding='utf-8'))
        if uses:
            out[p.relative_to(root).as_posix()] = uses
    return out


def test_no_private_name_is_used_across_modules():
    found = count()
    assert found == {}, 'make these public (a name that says what it is) where they belong: ' + '; '.join(
        f'{path}:{use}' for path, uses in found.items() for use in uses)


def test_the_count_sees_imports_and_attributes():
    src = ('import os\nimport pickle\nimport realesrgan_paddle.models.swinir as sw\n'
           'from realesrgan_paddle.evaluation import evaluator as E\nfrom .frequency import _check, luma\n'
           'from . import pixel\nfrom realesrgan_paddle.media.image_io import _decode\n\n\n'
           'def f(self, x):\n    os._exit(0)\n    pickle._Unpickler\n    self._x\n    x._y\n    E._fmt(1)\n'
           '    pixel._reduce(x)\n    sw._Norm\n    realesrgan_paddle.a._b\n    E.__name__\n    luma(x)\n')
    assert private_uses(src) == ['5: _check', '7: _decode', '15: E._fmt', '16: pixel._reduce', '17: sw._Norm']
    assert private_uses('import realesrgan_paddle\nrealesrgan_paddle.a._b\n') == ['2: realesrgan_paddle.a._b']
    assert private_uses('from realesrgan_paddle.loss.pixel import check_pair, reduce_loss\n') == []
