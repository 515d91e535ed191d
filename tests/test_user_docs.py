"""The user docs: one page per step, linked from the README, written for users (no work-diary wording),
and every command they quote names a script that exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ['convert.md', 'dataset.md', 'finetune.md', 'export_infer.md', 'degradation.md', 'finetune_domain.md', 'benchmarks.md']
DIARY = re.compile(r'\b(sessions?|issues?|targets?)\b', re.I)


def _user_docs():
    return [ROOT / 'README.md'] + [ROOT / 'docs' / p for p in PAGES]


def test_readme_links_each_page_and_no_diary():
    readme = (ROOT / 'README.md').read_text()
    for page in PAGES:
        assert f'](docs/{page}' in readme, page
    assert 'docs/notes' not in readme and 'docs/history' not in readme


def test_no_diary_wording_in_user_docs():
    for path in _user_docs():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not DIARY.search(line), f'{path.name}:{n}: {line}'


def test_quoted_commands_name_existing_scripts_and_links_resolve():
    for path in _user_docs():
        text = path.read_text()
        for script in re.findall(r'python (?:-m paddle\.distributed\.launch [^`\n]*? )?((?:tools/|benchmarks/)?[\w/]+\.py)',
                                 text):
            assert (ROOT / script).is_file(), f'{path.name}: {script}'
        for link in re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', text):
            if not link.startswith('http'):
                assert (path.parent / link).exists(), f'{path.name}: {link}'
