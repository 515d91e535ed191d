"""The user docs: one page per step, linked from the README, written for users (no work-diary wording),
and every command they quote names a script that exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ['convert.md', 'dataset.md', 'finetune.md', 'export_infer.md', 'degradation.md', 'finetune_domain.md', 'benchmarks.md',
         'reliability.md']
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


MAX_BENCHMARK_LINES = 300


def _items(text):
    """``(kind, line number, first line)`` of the page's headings, ```bash blocks with a command and tables, in order."""
    items, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('```'):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith('```')), len(lines))
            body = lines[i + 1:end]
            if line.strip() == '```bash' and any(re.match(r'\s*(python|ffmpeg) ', ln) for ln in body):
                items.append(('command', i + 1, body[0] if body else ''))
            i = end + 1
            continue
        if line.startswith('#'):
            items.append(('heading', i + 1, line))
        elif line.startswith('|') and not (i and lines[i - 1].startswith('|')):
            items.append(('table', i + 1, line))
        i += 1
    return items


def tables_without_command(text):
    """The tables with no command block next to them: the item before or after a table, inside its section, is a
    ```bash block that runs ``python`` or ``ffmpeg``."""
    items = _items(text)
    kind = lambda k: items[k][0] if 0 <= k < len(items) else 'heading'  # noqa: E731
    return [f'line {n}: {line}' for k, (what, n, line) in enumerate(items)
            if what == 'table' and 'command' not in (kind(k - 1), kind(k + 1))]


def test_benchmarks_is_short_and_every_table_has_its_command():
    """docs/benchmarks.md is the user's tables (which model, how fast, how good), each with the command that measures
    it; the runs behind them live in docs/experiments/."""
    text = (ROOT / 'docs' / 'benchmarks.md').read_text()
    n = len(text.splitlines())
    assert n < MAX_BENCHMARK_LINES, f'docs/benchmarks.md has {n} lines; the limit is {MAX_BENCHMARK_LINES - 1}'
    assert sum(what == 'table' for what, _, _ in _items(text)) >= 8
    bad = tables_without_command(text)
    assert not bad, 'tables without a command block beside them: ' + '; '.join(bad)


def test_the_table_check_catches_a_table_without_its_command():
    table = '| a | b |\n|---|---|\n| 1 | 2 |\n'
    command = '```bash\npython tools/infer.py -i x.png -o out\n```\n'
    assert not tables_without_command(f'## S\n\n{command}\nProse.\n\n{table}')
    assert not tables_without_command(f'## S\n\n{table}\n{command}')
    assert tables_without_command(f'## S\n\n{table}') == ['line 3: | a | b |']
    assert tables_without_command(f'## S\n\n{command}\n## T\n\n{table}')  # a command in another section
    assert tables_without_command(f'## S\n\n{command}\n{table}\n{table}')  # a second table, its command shared
    assert tables_without_command(f'## S\n\n```\npython x.py\n```\n\n{table}')  # not a bash block
    assert tables_without_command(f'## S\n\n```bash\n# nothing run\n```\n\n{table}')


def heading_anchors(text):
    """The anchors GitHub gives a page's headings: lower case, punctuation but ``-`` and ``_`` dropped, spaces to
    ``-``, a repeated one suffixed ``-1``, ``-2``, ...; headings inside code blocks are not headings."""
    seen, anchors = {}, set()
    for heading in re.findall(r'^#{1,6}[ \t]+(.+?)[ \t#]*$', re.sub(r'^```.*?^```', '', text, flags=re.S | re.M), re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        anchors.add(slug if n == 0 else f'{slug}-{n}')
        seen[slug] = n + 1
    return anchors


def broken_anchors(path):
    """``page: target#anchor`` for each link of the page to a heading that the target page does not have."""
    text = re.sub(r'^```.*?^```', '', path.read_text(), flags=re.S | re.M)
    bad = []
    for target, anchor in re.findall(r'\]\(([^)#\s]*)#([^)\s]+)\)', text):
        page = (path.parent / target) if target else path
        if not target.startswith('http') and (not page.is_file() or anchor not in heading_anchors(page.read_text())):
            bad.append(f'{path.relative_to(ROOT)}: {target}#{anchor}')
    return bad


def test_links_to_a_heading_find_it():
    """README and every page under docs/ (the experiments too): a link to ``page.md#anchor`` lands on a heading, so
    moving a section means updating the links into it."""
    pages = [ROOT / 'README.md'] + sorted((ROOT / 'docs').rglob('*.md'))
    assert len(pages) > 20
    bad = [b for p in pages for b in broken_anchors(p)]
    assert not bad, 'links to headings that are not there: ' + '; '.join(bad)


def test_the_anchor_check_follows_githubs_rule():
    text = '# Measurements\n## The codec step (`data/degrade/codec.py`)\n## Speed\n### Speed\n```\n# not a heading\n```\n'
    assert heading_anchors(text) == {'measurements', 'the-codec-step-datadegradecodecpy', 'speed', 'speed-1'}
    assert heading_anchors('### Flicker on a real clip, plain and `--temporal`') == {
        'flicker-on-a-real-clip-plain-and---temporal'}
