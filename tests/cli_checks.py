"""What the tests check of a tool's refusal or warning: its behaviour (one line, no traceback, the file, flag and
value it is about), not its wording."""
import json
import subprocess
import sys


def names_all(line, *names):
    """True when ``line`` names each of ``names`` (a path, a flag, a value, a key word)."""
    return all(str(n) in line for n in names)


def one_line(err, *names):
    """The one non-blank line of ``err`` (stderr as text or lines), checked: no traceback, and it names each of
    ``names``; returned for further checks."""
    lines = [ln for ln in (err.splitlines() if isinstance(err, str) else err) if ln.strip()]
    assert not any('Traceback' in ln for ln in lines), '\n'.join(lines)[-2000:]
    assert len(lines) == 1, '\n'.join(lines)[-2000:]
    assert names_all(lines[0], *names), (names, lines[0])
    return lines[0]


def a_line(err, *names):
    """The first line of ``err`` (text or lines) that names each of ``names``; AssertionError when none does."""
    lines = err.splitlines() if isinstance(err, str) else list(err)
    found = [ln for ln in lines if names_all(ln, *names)]
    assert found, (names, '\n'.join(lines)[-2000:])
    return found[0]


# a tool run as ``python tools/x.py ...`` would run it, reporting on stderr at exit what it loaded and its peak memory
_WATCH = '''import json, os, runpy, sys
def _report():
    hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')]
    loaded = sorted({m.split('.')[0] for m in sys.modules} & {'paddle', 'gradio', 'torch'})
    peak = int(hwm[0].split()[1]) / 1024 if hwm else 0
    sys.stderr.write('\\n@@watch ' + json.dumps({'loaded': loaded, 'peak_mb': peak}) + '\\n')
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
finally:
    _report()
'''


def watched_run(script, *args, cwd, timeout=300):
    """Run ``python script args`` in ``cwd`` (the timeout only a guard against a hang); returns ``(exit code, stderr
    lines, report)``: the report says which of paddle, gradio and torch the run loaded (``loaded``) and its peak
    resident memory (``peak_mb``), what a refusal 'before anything loads' or 'in bounded memory' means."""
    r = subprocess.run([sys.executable, '-c', _WATCH, str(script), *map(str, args)], cwd=cwd, capture_output=True,
                       text=True, timeout=timeout)
    lines = r.stderr.splitlines()
    marks = [i for i, ln in enumerate(lines) if ln.startswith('@@watch ')]
    assert marks, r.stderr[-2000:]
    report = json.loads(lines[marks[-1]][len('@@watch '):])
    return r.returncode, [ln for i, ln in enumerate(lines) if i != marks[-1] and (ln or i + 1 != marks[-1])], report
