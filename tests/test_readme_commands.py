"""Every command the README and the user pages under docs/ show names a script that exists, and every flag it passes
is one that script's --help lists (each long flag also as its -/_ twin)."""
import re
import shlex
import subprocess
import sys
from functools import lru_cache

from tests.user_path import ROOT


def readme_commands(path=ROOT / 'README.md'):
    text = path.read_text()
    lines = []
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        lines += [ln for ln in block.replace('\\\n', ' ').splitlines() if ln.strip()]
    lines += re.findall(r'`(python [^`]+)`', text)
    cmds = []
    for line in lines:
        for part in line.split('&&'):
            argv = shlex.split(part, comments=True)
            if argv[:3] == ['python', '-m', 'paddle.distributed.launch']:
                script = next((i for i, a in enumerate(argv) if a.endswith('.py')), None)
                if script is None:  # the launcher named in a sentence, not a command
                    continue
                argv = ['python'] + argv[script:]
            if len(argv) > 1 and argv[0] == 'python' and argv[1].endswith('.py'):
                cmds.append(argv[1:])
    return cmds


@lru_cache(maxsize=None)
def help_flags(script):
    res = subprocess.run([sys.executable, script, '--help'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f'{script} --help: {res.stderr[-500:]}'
    return set(re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', res.stdout))


def wrong_flags(cmds):
    """``script: problem`` for each command whose script is missing or passes a flag its --help does not list."""
    bad = []
    for script, *args in cmds:
        if not (ROOT / script).is_file():
            bad.append(f'{script}: no such script')
            continue
        flags = help_flags(script)
        for a in args:
            flag = a.split('=')[0]
            twins = {flag, flag.replace('_', '-'), flag.replace('-', '_')}
            if re.fullmatch(r'--?[A-Za-z][\w-]*', flag) and not twins & flags:
                bad.append(f'{script}: {flag}')
    return bad


def test_readme_commands_exist_and_their_flags_parse():
    cmds = readme_commands()
    assert len(cmds) > 20 and any(c[0] == 'tools/infer.py' for c in cmds)
    bad = wrong_flags(cmds)
    assert not bad, bad


def test_the_user_pages_commands_exist_and_their_flags_parse():
    """docs/*.md but the design notes (whose commands are placeholders such as tools/x.py)."""
    pages = [p for p in sorted((ROOT / 'docs').glob('*.md')) if p.name != 'DESIGN.md']
    cmds = {p.name: readme_commands(p) for p in pages}
    assert sum(map(len, cmds.values())) > 80 and cmds['finetune_domain.md'] and cmds['export_infer.md']
    bad = [f'docs/{name}: {b}' for name, c in cmds.items() for b in wrong_flags(c)]
    assert not bad, bad


def test_the_check_catches_a_wrong_flag():
    assert wrong_flags([['tools/infer.py', '--no-such-flag'], ['tools/no_such.py']]) == [
        'tools/infer.py: --no-such-flag', 'tools/no_such.py: no such script']
    assert '--no-such-flag' not in help_flags('tools/infer.py')
    assert '--model_path' in help_flags('tools/infer.py') or '--model-path' in help_flags('tools/infer.py')


def test_readme_test_command_is_what_ci_runs():
    """The README's two commands are run by .ci/run literally, inside the venv it makes (python -m venv, activated:
    never the system Python); the test command runs before torch is installed (as in a user's venv: the reference
    tests skip), then torch and the tests marked torch alone; the worker count it passes has its plugin declared.
    torch is not in requirements-test.txt (its own file: no extra index that every package waits on)."""
    first = re.search(r'```bash\n(.*?)```', (ROOT / 'README.md').read_text(), re.S).group(1)
    cmds = [ln.strip() for ln in first.splitlines() if ln.startswith('pip install')]
    test_cmd = [ln for ln in cmds if 'pytest' in ln]
    assert len(test_cmd) == 1 and len(cmds) == 2, cmds
    install, run = (part.strip() for part in test_cmd[0].split('&&'))
    assert install == 'pip install -r requirements-test.txt'
    ci = [ln for ln in (ROOT / '.ci' / 'run').read_text().splitlines() if ln.strip() and not ln.startswith('#')]
    readme = ci.index(test_cmd[0])
    torch_install = next(i for i, ln in enumerate(ci) if 'requirements-torch.txt' in ln)
    assert readme < torch_install < ci.index(f'{run} -m torch'), 'no torch before the README command; -m torch after'
    venv = next(i for i, ln in enumerate(ci) if re.search(r'-m venv "\$venv"$', ln))
    activate = ci.index('. "$venv/bin/activate"')
    assert venv < activate < ci.index(cmds[0]) < readme, 'the first command runs in the venv'
    if ' -n ' in f' {run} ':
        reqs = (ROOT / 'requirements-test.txt').read_text().split()
        assert 'pytest-xdist' in reqs
    test_reqs = (ROOT / 'requirements-test.txt').read_text()
    assert 'index-url' not in test_reqs and not re.search(r'^torch\b', test_reqs, re.M)
    assert re.search(r'^torch==', (ROOT / 'requirements-torch.txt').read_text(), re.M)
