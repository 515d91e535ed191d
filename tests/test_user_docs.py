"""The user docs: one page per step, linked from the README, written for users (no work-diary wording),
and every command they quote names a script that exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ['convert.md', 'dataset.md', 'finetune.md', 'export_infer.md', 'degradation.md', 'finetune_domain.md', 'benchmarks.md']
DIARY = re.compile(r'\b(sessions?|issues?|targets?)\b', re.I)
# A user page says what the tools do and what was measured, not the story of the work: no first person (the
# pronoun I, not I-frames), no dates, no "we tried" / "it turned out" narration. Code is not prose.
NARRATION = re.compile(r"\b(we|we're|we've|our|ours|us|my|I'm|I've|I'd)\b|\bI\b(?![-/.])|\b20\d\d-\d\d-\d\d\b|"
                       r"\b(tried|attempted|yesterday|today|this morning|last week|at first|(it )?turned out)\b",
                       re.I)
DATED = {'benchmarks.md'}  # the measurement page says when its figures were taken (and at which commit)


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


def _prose_lines(text):
    """The page's lines with code blocks and `code spans` blanked (line numbers kept)."""
    blank = lambda m: '\n' * m.group(0).count('\n')  # noqa: E731
    return re.sub(r'`[^`]*`', blank, re.sub(r'```.*?```', blank, text, flags=re.S)).splitlines()


def test_no_narration_in_user_docs():
    for path in _user_docs() + [ROOT / 'docs' / 'cli.md']:
        for n, line in enumerate(_prose_lines(path.read_text()), 1):
            for m in NARRATION.finditer(line):
                if not (path.name in DATED and re.fullmatch(r'20\d\d-\d\d-\d\d', m.group(0))):
                    raise AssertionError(f'{path.name}:{n}: "{m.group(0)}" in: {line.strip()}')


def test_the_narration_check_catches_narration():
    for line in ('We tried three losses before this one.', 'I ran it on 2026-11-20.', 'At first the PSNR dropped.',
                 'our model wins', 'It turned out that the tile size matters.'):
        assert NARRATION.search(_prose_lines(line)[0]), line
    for line in ('Keyframes are the coded I-frames.', 'Run `python tools/infer.py -i x.png --tried`.',
                 'The model keeps its detail; bicubic does not.'):
        assert not NARRATION.search(_prose_lines(line)[0]), line


def test_quoted_commands_name_existing_scripts_and_links_resolve():
    for path in _user_docs():
        text = path.read_text()
        for script in re.findall(r'python (?:-m paddle\.distributed\.launch [^`\n]*? )?((?:tools/|benchmarks/)?[\w/]+\.py)',
                                 text):
            assert (ROOT / script).is_file(), f'{path.name}: {script}'
        for link in re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', text):
            if not link.startswith('http'):
                assert (path.parent / link).exists(), f'{path.name}: {link}'
