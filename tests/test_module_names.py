"""One basename, one meaning: no two modules of the product (every .py outside tests/) share a file name, so
``cli.py`` or ``temporal.py`` never means two things in two rooms (issue 63: five ``cli.py`` with three meanings,
the video stabiliser and the training loss both ``temporal.py``)."""
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name -> why it means the same thing wherever it is; a package's __init__.py always does
SAME_MEANING = {'__init__.py': 'a package itself',
                '_bootstrap.py': "a script folder's one sys.path edit (tools/, benchmarks/; tests/test_no_path_edits.py)"}


def product_modules(root=ROOT):
    """Relative paths of the product's .py files (tests/, hidden folders and conftest.py left out)."""
    for p in sorted(root.rglob('*.py')):
        rel = p.relative_to(root)
        if rel.parts[0] == 'tests' or rel.name == 'conftest.py' or any(s.startswith('.') for s in rel.parts):
            continue
        yield rel


def shared_basenames(paths):
    """``{basename: [paths]}`` of the basenames held by more than one path, the allowed ones left out."""
    by_name = defaultdict(list)
    for rel in paths:
        by_name[rel.name].append(rel.as_posix())
    return {n: ps for n, ps in by_name.items() if len(ps) > 1 and n not in SAME_MEANING}


def test_no_two_product_modules_share_a_basename():
    clashes = shared_basenames(product_modules())
    assert not clashes, 'one basename, two meanings; name each for what it is: ' + '; '.join(
        f'{n}: {", ".join(ps)}' for n, ps in sorted(clashes.items()))


def test_the_check_sees_a_clash():
    """The check itself: two rooms' ``cli.py`` are reported, ``__init__.py`` is not, and the walk finds the
    product's real files (a typo in the walk would make the first test pass on nothing)."""
    paths = [Path('inference/cli.py'), Path('utils/cli.py'), Path('utils/__init__.py'), Path('models/__init__.py'),
             Path('models/zoo.py')]
    assert shared_basenames(paths) == {'cli.py': ['inference/cli.py', 'utils/cli.py']}
    found = {p.as_posix() for p in product_modules()}
    assert {'inference/upscaler.py', 'tools/infer.py', 'train.py', 'realesrgan_paddle/__init__.py'} <= found
    assert not any(p.startswith('tests/') for p in found)
