"""docs/DESIGN.md's package map names every module of the product (issue 80: 33 modules of the rooms, and 14 of
tools/, webui/ and the top-level scripts, were in no row): each .py of ``tests/product_tree.py``'s product but a
package's ``__init__.py`` appears in the Packages table as `name.py` or as a path ending in it."""
import re

from tests.product_tree import ROOT, product_files


def packages_table(text):
    """The table rows of the "## Packages" section of docs/DESIGN.md."""
    section = text[text.index('\n## Packages'):]
    section = section[:section.index('\n## ', 1)]
    return '\n'.join(ln for ln in section.splitlines() if ln.startswith('|'))


def unnamed(table, files, root=ROOT):
    """The relative paths of ``files`` (no ``__init__.py``) that no backticked name or path of ``table`` names."""
    names = set(re.findall(r'`([^`\s]+\.py)`', table))
    ends = {n.rsplit('/', 1)[-1] for n in names}
    return [p.relative_to(root).as_posix() for p in files if p.name != '__init__.py' and p.name not in ends]


def test_the_package_map_names_every_module():
    table = packages_table((ROOT / 'docs' / 'DESIGN.md').read_text(encoding='utf-8'))
    files = product_files()
    assert len(files) > 200
    missing = unnamed(table, files)
    assert not missing, f'docs/DESIGN.md\'s package map names none of these {len(missing)}: ' + ', '.join(missing)


def test_the_check_sees_an_unnamed_module(tmp_path):
    for rel in ('room/kept.py', 'room/other.py', 'room/__init__.py', 'room/sub/deep.py'):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('')
    files = sorted(tmp_path.rglob('*.py'))
    table = '| `room/` | `kept.py`, `sub/deep.py`, other.py |'
    assert unnamed(table, files, tmp_path) == ['room/other.py']
    assert unnamed(table.replace('other.py', '`other.py`'), files, tmp_path) == []
