"""Pointers in prose lead somewhere: every ``something.py`` named in docs/*.md, README.md and the product's
docstrings is a file of the repository (by its path, or as the end of one: ``frame_loop.py`` in the inference
row), and every dotted name of a room (``inference.video.stabiliser.make_stabiliser``) is a module, or a name defined or
imported in one (read with ast). A rename that leaves an old name in a sentence fails here."""
import ast
import builtins
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ('models', 'utils', 'checkpoint_io', 'store', 'media', 'inference', 'data', 'loss', 'training', 'evaluation',
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
    assert dotted_resolves('inference.video.stabiliser.make_stabiliser') and dotted_resolves('models.convert')
    assert dotted_resolves('models.load_network')  # a name the package's __init__ imports
    assert not dotted_resolves('inference.temporal.make_stabiliser')
    assert not dotted_resolves('inference.video.stabiliser.no_such_function')
    assert path_exists('inference/video/frame_loop.py', files) and path_exists('frame_loop.py', files)
    assert not path_exists('inference/options.py', files) and not path_exists('loss/temporal.py', files)
    assert PY_PATH.findall('see `tools/<tool>.py` and ``data/fit/footage_fit.py``') == ['data/fit/footage_fit.py']


# --- docs/DESIGN.md: every code name it cites exists, beside the file it names, and its counts match the history

DESIGN = ROOT / 'docs' / 'DESIGN.md'
OPTION_SECTIONS = {'train', 'datasets', 'logger', 'dist', 'path', 'val', 'network_g', 'network_d'}  # option keys
EXTERNAL = {'paddle', 'inspect', 'sys', 'Config', 'torch', 'numpy', 'cv2'}  # other projects' names
NOT_CODE = re.compile(r'[/<\s]|\.(py|jsonl?|md|npz|txt|ini|pdmodel|pdiparams|pdparams|pth|onnx|safetensors|bin|param'
                      r'|png|yml)\b')


def design_text():
    """DESIGN.md without its code blocks, one line (inline code may wrap)."""
    return re.sub(r'^```.*?^```', '', DESIGN.read_text(encoding='utf-8'), flags=re.S | re.M).replace('\n', ' ')


@lru_cache(maxsize=None)
def names_in(path):
    """What a module can be cited for: the names it defines or imports, attributes it sets, parameters and keywords,
    and the option keys it spells (whole identifier strings, and the parts of dotted ones: 'datasets.*.pin_memory')."""
    names = set(defined_names(path))
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r'[\w.*]+', node.value):
            names |= {p for p in node.value.split('.') if re.fullmatch(r'[A-Za-z_]\w*', p)}
    return names


@lru_cache(maxsize=None)
def _product_index():
    """``(modules by basename, modules by the classes they define, every citable name)``."""
    by_base, by_class, everything = {}, {}, set()
    for f in product_files():
        if f == 'tests/test_doc_pointers.py':  # its own examples of stale names are not definitions
            continue
        path = ROOT / f
        by_base.setdefault(path.stem, []).append(path)
        everything |= names_in(path)
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.ClassDef):
                by_class.setdefault(node.name, []).append(path)
    return by_base, by_class, everything


def _codeish(name):
    """A name that reads as code, not a word: snake_case, CamelCase or CONSTANT."""
    return '_' in name.strip('_') or bool(re.search(r'[a-z][A-Z]|^[A-Z][a-z]+$|^[A-Z][A-Z0-9]+$', name))


def unknown_design_names(text):
    """The backticked names (``name``, ``name(...)``, ``module.name``, ``Class.name``) nothing in the product
    defines; rooms' dotted names are test_every_dotted_room_name_resolves's."""
    by_base, by_class, everything = _product_index()
    bad = []
    for span in sorted(set(re.findall(r'`([^`]+)`', text))):
        m = re.fullmatch(r'@?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?', span)
        if not m or NOT_CODE.search(m.group(1)):
            continue
        head, *rest = m.group(1).split('.')
        if head in ROOMS or head in ('realesrgan_paddle',) or head in OPTION_SECTIONS | EXTERNAL:
            continue
        if rest:
            homes = by_base.get(head) or by_class.get(head)
            ok = any(rest[0] in names_in(p) for p in homes) if homes else rest[0] in everything
        else:
            ok = not _codeish(head) or head in everything or hasattr(builtins, head)
        if not ok:
            bad.append(span)
    return bad


def misplaced_design_names(text):
    """Names cited beside a file or module that does not have them: "`NAME` (`path.py`", "`path.py`: `NAME`" and
    "`module`'s `NAME`" (a module's own definitions and imports)."""
    by_base = _product_index()[0]
    files = product_files()

    def modules(ref):
        if ref.endswith('.py'):
            return [ROOT / f for f in files if f == ref or f.endswith('/' + ref)]
        dotted = ref.removeprefix('realesrgan_paddle.').split('.')
        if len(dotted) == 1:
            return by_base.get(ref, [])
        package = ROOT.joinpath(*dotted)  # a package (models.zoo) is its __init__.py
        return [package / '__init__.py' if package.is_dir() else package.with_name(dotted[-1] + '.py')]
    pairs = [(n, f, names_in) for n, f in re.findall(r'`([A-Za-z_]\w*)[^`]*` \(`([\w/]+\.py)`', text)]
    pairs += [(n, f, names_in) for f, n in re.findall(r'`([\w/]+\.py)`: `([A-Za-z_]\w*)', text)]
    pairs += [(n, m, defined_names) for m, n in re.findall(r"`([\w.]+)`'s `([A-Za-z_]\w*)`", text)]
    return sorted({f'{name} in {ref}' for name, ref, known in pairs
                   if not any(p.is_file() and name in known(p) for p in modules(ref))})


def test_design_names_exist_where_it_says():
    text = design_text()
    assert len(re.findall(r'`[^`]+`', text)) > 500
    bad = unknown_design_names(text) + misplaced_design_names(text)
    assert not bad, 'docs/DESIGN.md cites what is not there: ' + '; '.join(bad)


def test_the_design_checks_catch_stale_names():
    """What DESIGN.md said before issue 72: the stage list in pipeline/context.py beside a STAGE_FUNCS, and the fit's
    plot writer imported by name."""
    old = ("its name in `STAGES` (`pipeline/context.py`, run order) and its pair in `STAGE_FUNCS` "
           "(`pipeline/pipeline.py`); `data.fit.footage_fit`'s `atomic_write_bytes`; `stabiliser.no_such_name`")
    assert unknown_design_names(old) == ['STAGE_FUNCS', 'stabiliser.no_such_name']
    assert misplaced_design_names(old) == ['STAGES in pipeline/context.py', 'STAGE_FUNCS in pipeline/pipeline.py',
                                           'atomic_write_bytes in data.fit.footage_fit']
    now = "`STAGES` (`pipeline/stage_list.py`); `models.zoo`'s `resolve_model_ref`; `FrameLoop.upscale`; `Stage`"
    assert unknown_design_names(now) == [] and misplaced_design_names(now) == []


def _git(*args):
    try:
        res = subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def test_design_counts_are_the_commits():
    """Where new things go: each "`hash`: N files, +M" is that commit's ``git show --shortstat``, and every hash
    cited is a commit of the history (skipped in a copy without it, or a shallow clone)."""
    text = design_text()
    claims = re.findall(r'`([0-9a-f]{7,40})`: (\d+) files, \+(\d+)', text)
    assert len(claims) >= 6
    if _git('rev-parse', '--is-shallow-repository') != 'false':
        pytest.skip('no full git history here (a copy of the tree or a shallow clone): the counts are not checked')
    for commit in set(re.findall(r'`([0-9a-f]{7,40})`', text)):
        assert _git('cat-file', '-e', f'{commit}^{{commit}}') is not None, f'docs/DESIGN.md: no commit {commit}'
    for commit, files, added in claims:
        stat = _git('show', '--shortstat', '--format=', commit)
        assert re.search(rf'\b{files} files? changed, {added} insertions?\(\+\)', stat or ''), \
            f'docs/DESIGN.md says {commit}: {files} files, +{added}; git says: {stat}'


def _literal(path, name):
    """The value of the module-level ``name = <literal>`` in ``path``."""
    tree = ast.parse((ROOT / path).read_text(encoding='utf-8'))
    return next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in n.targets))


def _class_fields(path, cls):
    tree = ast.parse((ROOT / path).read_text(encoding='utf-8'))
    body = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls).body
    return [n.target.id for n in body if isinstance(n, ast.AnnAssign)], {n.name for n in body
                                                                       if isinstance(n, ast.FunctionDef)}


def _said(pattern, text):
    m = re.search(pattern, text)
    assert m, f'docs/DESIGN.md no longer has a sentence matching {pattern!r}: update this test with it'
    return m.group(1)


def _split(listing):
    return [w for w in re.split(r',\s*|\s+or\s+|\s+and\s+', listing.replace('`', '')) if w]


def test_design_lists_are_the_codes():
    """The lists DESIGN.md spells out are the code's: the Upscaler's settings, the command's subcommands, a model
    reference's kinds, the ArchSpec table's fields, and which networks run on OpenVINO by default."""
    text = design_text()
    options = _said(r'one `UpscaleOptions` \(([^;]+);', text)
    assert _split(options) == _class_fields('inference/upscaler.py', 'UpscaleOptions')[0]
    commands = _said(r'The console script `realesrgan-paddle` maps\s+`([^`]+)`', text)
    assert _split(commands) == list(_literal('realesrgan_paddle/command.py', 'COMMANDS'))
    kinds = _said(r'into a `ModelRef\(kind, path, entry\)`, kind ((?:`\w+`(?:, | or ))+`\w+`)', text)
    assert tuple(_split(kinds)) == _literal('models/zoo/__init__.py', 'KINDS')
    table = _said(r'\| field \| fact \| asked by \|(.*?)Adding a network', text)
    fields, methods = _class_fields('models/specs.py', 'ArchSpec')
    cited = {re.sub(r'\(.*', '', f) for row in re.findall(r'\| ([^|]+) \| [^|]+ \| [^|]+ \|', table)
             for f in re.findall(r'`([^`]+)`', row)}
    assert len(cited) > 12 and cited <= set(fields) | methods, sorted(cited - set(fields) - methods)
    openvino = _said(r'\(([\w, ]+): OpenVINO; the others oneDNN\)', text)
    on_openvino = set()
    for f in product_files():
        if f.startswith('models/'):
            for node in ast.walk(ast.parse((ROOT / f).read_text(encoding='utf-8'))):
                if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'ArchSpec' and any(
                        k.arg == 'cpu_engine' and getattr(k.value, 'value', None) == 'openvino' for k in node.keywords):
                    on_openvino.add(node.args[0].value)
    assert set(_split(openvino)) == on_openvino
    floors = [{r.replace('/', '.') for r in _split(f.strip())} for f in _said(r'The rooms stand on floors: (.*?); then', text)
              .split(';')]
    assert floors == [{r for r, n in _literal('tests/test_import_cycles.py', 'FLOOR').items() if n == k}
                      for k in range(len(floors))]
    limit = int(_said(r'allows at most\s+(\d+) inside functions', text))
    assert limit == _literal('tests/test_lazy_imports.py', 'LIMIT')


def test_the_readme_names_every_subcommand():
    readme = re.sub(r'\s+', '', (ROOT / 'README.md').read_text(encoding='utf-8'))
    listed = re.search(r'`realesrgan-paddle((?:\w+\|)+\w+)`', readme).group(1).split('|')
    assert listed == list(_literal('realesrgan_paddle/command.py', 'COMMANDS'))
