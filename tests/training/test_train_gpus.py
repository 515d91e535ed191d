"""train.py --gpus: checked here (Paddle's launcher ends in a traceback on a machine without the GPUs), then
handed to python -m paddle.distributed.launch. No GPU here: the launch itself has not run."""
import subprocess
import sys
from pathlib import Path

import pytest

from realesrgan_paddle.training.dist import gpus_problem, launcher_command, parse_gpu_ids
from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_ids_are_parsed_and_bad_ones_named():
    assert parse_gpu_ids('0,1, 2,3') == [0, 1, 2, 3] and parse_gpu_ids('5') == [5]
    for bad, why in (('0,a', 'separated by commas'), ('-1', 'separated by commas'), ('', 'separated by commas'),
                     ('1,1', 'repeated')):
        with pytest.raises(ValueError, match=why):
            parse_gpu_ids(bad)


def test_gpus_problem_names_the_build_and_the_missing_device():
    assert 'no CUDA' in gpus_problem([0], False, 0)
    assert gpus_problem([0, 1], True, 2) is None
    assert gpus_problem([0, 3], True, 2) == ('--gpus 0,3: GPU 3 is not visible (2 GPU(s) visible: ids 0-1; '
                                            'CUDA_VISIBLE_DEVICES?)')
    assert 'visible: none' in gpus_problem([0], True, 0)


def test_the_launcher_command_takes_gpus_out_of_the_child_arguments():
    cmd = launcher_command([0, 1], 'train.py', ['--gpus', '0,1', '--yml_path', 'o.yml', '--gpus=0,1', '-o', 'a=1'])
    assert cmd == [sys.executable, '-m', 'paddle.distributed.launch', '--gpus', '0,1', 'train.py',
                   '--yml_path', 'o.yml', '-o', 'a=1']


def _train(*args):
    r = subprocess.run([sys.executable, 'train.py', *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr.splitlines()


def test_gpus_on_this_cpu_build_is_one_line_before_any_launch():
    rc, lines = _train('--gpus', '0,1', '--yml_path', 'options/tiny_smoke.yml')
    assert rc == 2 and one_line(lines, '--gpus 0,1', 'CUDA'), lines
    rc, lines = _train('--gpus', '0,x', '--yml_path', 'options/tiny_smoke.yml')
    assert rc == 2 and one_line(lines, '--gpus 0,x')


def test_options_are_checked_before_the_gpus(tmp_path):
    rc, lines = _train('--gpus', '0,1', '--yml_path', tmp_path / 'none.yml')
    assert rc == 2 and one_line(lines, tmp_path / 'none.yml')
    rc, lines = _train('--gpus', '0,1', '--yml_path', 'options/tiny_smoke.yml', '-o', 'device=cpu')
    assert rc == 2 and one_line(lines, 'options/tiny_smoke.yml', 'device', '--gpus 0,1')
