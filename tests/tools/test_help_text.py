"""The commands quoted in each tool's help (its module docstring, which --help prints) read as typed:
no line glued to the next by a backslash-newline swallowed inside the docstring."""
import ast
import re

from tests.user_path import ROOT


def test_quoted_commands_keep_their_line_breaks():
    bad = []
    for f in sorted((ROOT / 'tools').glob('[!_]*.py')) + [ROOT / 'train.py', ROOT / 'make_lq_data.py']:
        doc = ast.get_docstring(ast.parse(f.read_text()), clean=False) or ''
        bad += [f'{f.name}: {ln.strip()[:60]}' for ln in doc.splitlines()
                if 'python ' in ln and re.search(r'\S {5,}[^#\s]', ln.strip())]
    assert not bad, bad
