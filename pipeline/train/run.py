"""Running ``train.py`` for a pipeline stage (the finetune, its warm-up and the knob's partner) and reading
what it saved."""
import os
import subprocess
import sys
from pathlib import Path

from realesrgan_paddle.training.checkpoints import CheckpointManager
from realesrgan_paddle.utils.runtime_env import PARENT_ENV

from ..context import ROOT, DomainError
from .ranks import run_ranks

EXP_NAME = 'finetune'


def run_train(opt_path, log_to=None, auto_resume=True, procs=1):
    """``train.py`` on ``opt_path`` in a child process that ends with this one, in this one's working folder, or
    ``procs`` of them as the ranks of one training (``ranks.py``; their logs beside the options); its exit code."""
    cmd = train_command() + ['--yml_path', str(opt_path)] + (['--auto_resume'] if auto_resume else [])
    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})  # the trainer ends with this process
    # in this process's folder: the options hold the paths as the user gave them (--work runs/x, --base my.pdparams)
    if procs > 1:
        return run_ranks(cmd, procs, env, log_to, Path(opt_path).parent)
    return subprocess.run(cmd, stdout=log_to, stderr=log_to, env=env).returncode


def train_command():
    """The clone's ``train.py``; installed (no train.py beside the rooms), its module, run without the working
    folder on ``sys.path`` (``-P``) so that the package's folders never become top-level modules."""
    script = ROOT / 'train.py'
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, *(['-P'] if sys.version_info >= (3, 11) else []), '-m', 'realesrgan_paddle.training.train_cli']


def train_checked(opt_path, exp, what='training', procs=1):
    """``train.py --auto_resume`` on ``opt_path`` (``procs`` ranks); its saved generators (``checkpoints(exp)``),
    or a one-line DomainError when it failed or saved none."""
    rc = run_train(opt_path, procs=procs)
    if rc != 0:
        ranks = f' and {Path(opt_path).parent}/rank*.log' if procs > 1 else ''
        raise DomainError(f'{what} failed (train.py exit {rc}); the log is in {exp}{ranks}; re-run the same '
                          f'command to resume', code=1)
    ckpts = checkpoints(exp)
    if not ckpts:
        raise DomainError(f'{what} wrote no checkpoint in {exp / "models"}', code=1)
    return ckpts


def checkpoints(exp_dir):
    """{iteration: path} of the saved generators (EMA weights inside), in iteration order."""
    return CheckpointManager(exp_dir).net_files('g')


def committed_paths(opt, part, final):
    """``opt`` with its real-frame datasets read from ``final`` (WORK/finetune) instead of ``part`` (the stage's
    partial folder), so its options file reproduces the run after the stage is committed."""
    for ds in (opt['datasets'].get('real_lq'), opt['datasets'].get('real_pairs')):
        for k in [k for k in (ds or {}) if k.startswith('dataroot_')]:
            ds[k] = ds[k].replace(str(part), str(final), 1)
    return opt
