"""train.py on bad data and bad options: one line and a non-zero exit, never a hang or a traceback;
temp files left by a killed run are removed at the next start. Real train.py subprocesses."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from realesrgan_paddle.training.option_file import OptionsError, load_options
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
SMOKE = 'options/tiny_smoke.yml'


def _train(*args, timeout=300):
    """``(exit code, stderr)`` of ``python train.py args`` (the timeout only a guard against a hang)."""
    res = subprocess.run([sys.executable, 'train.py', *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    return res.returncode, res.stderr


def _error_lines(err):
    assert 'Traceback' not in err, err[-3000:]
    return [ln for ln in err.splitlines() if ln.startswith('error:')]


@pytest.mark.parametrize('workers', [0, 1])
def test_unreadable_dataset_stops_training_with_one_line(tmp_path, workers):
    bad = tmp_path / 'garbage'
    bad.mkdir()
    for i in range(4):
        (bad / f'g{i}.png').write_bytes(os.urandom(500))
    rc, err = _train('--yml_path', SMOKE, '-o', f'path.experiments_root={tmp_path / "exp"}',
                     '-o', f'datasets.train.dataroot_gt={bad}', '-o', 'train.total_iter=2',
                     '-o', 'val=~', '-o', 'datasets.val=~', '-o', f'datasets.train.num_worker_per_gpu={workers}')
    lines = _error_lines(err)
    assert rc != 0 and len(lines) == 1, err[-3000:]
    assert str(bad) in lines[0] and 'unreadable' in lines[0]  # the file, and why training stopped


@pytest.mark.parametrize('content,problem', [
    ('photo', 'not a YAML text file (binary content)'),  # a PNG renamed .yml
    (b'- a\n- b\n', 'top level must be a mapping of options, got a list'),
    (b'just words\n', 'top level must be a mapping of options, got a str'),
])
def test_yaml_shape_is_one_line(tmp_path, hr_photos, content, problem):
    p = tmp_path / 'opt.yml'
    p.write_bytes(hr_photos[0].read_bytes() if content == 'photo' else content)
    rc, err = _train('--yml_path', p, '-o', 'train.total_iter=2')
    assert rc == 2 and _error_lines(err) == [f'error: {p}: {problem}']


@pytest.mark.parametrize('override,problem', [
    ('datasets.train.batch_size_per_gpu=0', 'datasets.train.batch_size_per_gpu: must be between 1 and 256, got 0'),
    ('gt_size=-64', 'gt_size: must be >= 1, got -64'),
    ('gt_size=66', 'gt_size: must be a multiple of scale 4, got 66'),
    ('train.optim_g.lr=.nan', 'train.optim_g.lr: expected a finite number, got nan'),
    ('train.ema_decay=2', 'train.ema_decay: must be between 0 and 1, got 2.0'),
    ('datasets.train.crop_pad_size=0', 'datasets.train.crop_pad_size: must be >= 1, got 0'),
    ('train.total_iter=0', 'train.total_iter: must be between 1 and 1000000000, got 0'),
])
def test_option_values_checked_up_front(override, problem):
    with pytest.raises(OptionsError) as e:
        load_options(ROOT / SMOKE, [override])
    assert problem in e.value.problems


def test_bad_value_through_the_cli(tmp_path):
    rc, err = _train('--yml_path', SMOKE, '-o', 'gt_size=-64', '-o', f'path.experiments_root={tmp_path}')
    assert rc == 2 and _error_lines(err) == [f'error: {SMOKE}: gt_size: must be >= 1, got -64']


def _dead_pid():
    p = subprocess.Popen([sys.executable, '-c', 'pass'])
    p.wait()
    return p.pid


def test_stale_temps_removed_at_next_start(tmp_path):
    base = ['--yml_path', SMOKE, '-o', f'path.experiments_root={tmp_path}', '-o', 'val=~', '-o', 'datasets.val=~',
            '-o', 'logger.save_checkpoint_freq=2']
    rc, err = _train(*base, '-o', 'train.total_iter=2')
    assert rc == 0, err[-3000:]
    exp = tmp_path / 'tiny_smoke'
    dead = _dead_pid()
    planted = [exp / 'models' / f'.net_g_4.pdparams.{dead}-k1ll3d00.tmp',
               exp / 'training_states' / f'.4.pdstates.{dead}-k1ll3d00.tmp']
    for p in planted:
        p.write_bytes(b'half a checkpoint')
    alive = exp / 'models' / f'.net_d_4.pdparams.{os.getpid()}-wr1t1ng0.tmp'  # a writer that still runs
    alive.write_bytes(b'being written')
    rc, err = _train(*base, '-o', 'train.total_iter=3', '--auto_resume')
    assert rc == 0, err[-3000:]
    assert 'resumed from iter 2' in err
    assert not any(p.exists() for p in planted) and alive.exists()
    a_line(err, 'removed 2 ')  # the two planted temp files, counted


def _one_line_under(root):
    """The smoke options trained into ``root`` (no validation): exit 1 with one error line, returned as a list."""
    rc, err = _train('--yml_path', SMOKE, '-o', f'path.experiments_root={root}', '-o', 'val=~',
                     '-o', 'datasets.val=~')
    lines = _error_lines(err)
    assert rc == 1 and len(lines) == 1, err[-3000:]
    return lines


def test_unwritable_experiments_root_is_one_line(tmp_path):
    """A read-only experiments_root was an OSError traceback wall. As root chmod does not stop writes, so
    the folder is under /sys (as in tests/tools/test_no_clobber.py), else a chmod 555 folder."""
    if os.geteuid() == 0:
        root = Path('/sys/resr_probe_root')
        try:
            root.mkdir()
        except OSError:
            pass
        else:
            root.rmdir()
            pytest.skip('no read-only folder available')
    else:
        ro = tmp_path / 'ro'
        ro.mkdir()
        ro.chmod(0o555)
        root = ro / 'exp'
    lines = _one_line_under(root)
    assert lines[0].startswith(f'error: {root}') and '--auto_resume' in lines[0], lines


def test_experiments_root_through_a_file_names_it(tmp_path):
    """It said 'Not a directory': the line now says which part of the path is in the way."""
    (tmp_path / 'a_file').write_text('x')
    root = tmp_path / 'a_file' / 'exp'
    lines = _one_line_under(root)
    assert lines[0].startswith(f'error: {root}') and 'file' in lines[0], lines  # names the path and what is in the way


def test_gpu_asked_of_a_cpu_build_is_one_line(tmp_path):
    """It was a RuntimeError traceback: device gpu on a Paddle without CUDA is a usage error naming the fix."""
    from realesrgan_paddle.training.dist import gpu_available
    if gpu_available():
        pytest.skip('this machine has a CUDA GPU')
    rc, err = _train('--yml_path', SMOKE, '-o', 'device=gpu', '-o', f'path.experiments_root={tmp_path}')
    lines = _error_lines(err)
    assert rc == 2 and len(lines) == 1 and 'Traceback' not in err, err[-3000:]
    assert 'no CUDA device' in lines[0] and 'use device: cpu' in lines[0], lines
    assert not any(tmp_path.iterdir())  # nothing made before the check
