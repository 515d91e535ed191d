"""The one ``sys.meta_path`` edit of the product (``utils/runtime_env.py``'s docstring): after ``setup()`` the first
``import paddle``, wherever it happens, writes nothing to stderr, keeps Python's SIGTERM handler, and takes the
finder off ``sys.meta_path``; a plain import replaces the handler (why the finder exists). Fresh interpreters."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = ('import json, signal; print("@@" + json.dumps({"python_sigterm": callable(signal.getsignal(signal.SIGTERM)), '
          '"finders": [type(f).__name__ for f in sys.meta_path]}))')


def _run(code):
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    env['RESR_NO_REEXEC'] = '1'
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    marks = [ln for ln in r.stdout.splitlines() if ln.startswith('@@')]
    assert marks, r.stdout[-2000:]
    return r.stderr, json.loads(marks[-1][2:])


def test_setup_defers_a_quiet_first_paddle_import():
    err, rep = _run('import sys\nfrom realesrgan_paddle.utils import runtime_env\nruntime_env.setup()\n'
                    'runtime_env.quiet_first_paddle_import()  # a second call adds no second finder\n'
                    'assert "paddle" not in sys.modules\n'
                    'assert [type(f).__name__ for f in sys.meta_path].count("_QuietFirstImport") == 1\n'
                    'import json  # another import is not its business\nassert "paddle" not in sys.modules\n'
                    'import paddle.nn\n' + REPORT)
    assert err.strip() == '', err
    assert rep['python_sigterm'] and '_QuietFirstImport' not in rep['finders'], rep


def test_a_plain_paddle_import_takes_sigterm():
    _, rep = _run('import sys\nimport paddle\n' + REPORT)
    assert not rep['python_sigterm'], rep  # paddle's own handler: why the first import is caught
