"""Helpers for tests that type commands as a user would, from a project folder of their own.

``workspace(tmp)`` makes ``tmp`` look like the repository root (``tools/``, ``train.py``,
``make_lq_data.py`` and ``options/*.yml`` linked in), so ``./experiments``, ``./infer``
and ``datasets/`` land in ``tmp``. ``run(line, cwd)`` runs one shell-style command line,
with ``python`` meaning this interpreter.
"""
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def workspace(tmp):
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ('tools', 'train.py', 'make_lq_data.py', 'assets'):
        (tmp / name).symlink_to(ROOT / name)
    (tmp / 'options').mkdir()
    for yml in (ROOT / 'options').glob('*.yml'):
        (tmp / 'options' / yml.name).symlink_to(yml)
    return tmp


def run(line, cwd, env=None, timeout=600, ok=True):
    """Run ``line`` (``python ...``) in ``cwd``; returns the CompletedProcess (asserts success when ``ok``)."""
    argv = shlex.split(line, comments=True)
    if argv[0] == 'python':
        argv[0] = sys.executable
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert res.returncode == 0, f'{line}\n{res.stderr[-3000:]}'
        assert 'Traceback' not in res.stderr, f'{line}\n{res.stderr[-3000:]}'
    return res
