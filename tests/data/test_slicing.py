"""Batch slices on threads (data/degrade/slicing.py): order, tuples, nesting, options, and the
pipeline/USM results that must not depend on the slicing."""
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.second_order import SecondOrderDegradation, sample_kernels
from realesrgan_paddle.data.degrade.slicing import in_slice, resolve_slices, run_sliced
from realesrgan_paddle.data.degrade.usm import USMSharp, usm_sharp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def photos(photo_batch):
    return photo_batch(5, 96)


def test_run_sliced_keeps_order_and_tuples_and_runs_on_other_threads():
    x = paddle.arange(10, dtype='float32').reshape([10, 1])
    seen = []

    def fn(s, e):
        seen.append((s, e, threading.current_thread() is threading.main_thread(), in_slice()))
        return x[s:e] * 2, x[s:e] + 1
    a, b = run_sliced(fn, 10, 3)
    np.testing.assert_array_equal(a.numpy().ravel(), np.arange(10) * 2)
    np.testing.assert_array_equal(b.numpy().ravel(), np.arange(10) + 1)
    assert sorted(s[:2] for s in seen) == [(0, 3), (3, 6), (6, 10)]
    assert all(not main and flag for _, _, main, flag in seen)
    assert not in_slice()
    # one slice, or a call from inside a slice, runs inline on the calling thread
    assert run_sliced(lambda s, e: x[s:e], 10, 1).shape == [10, 1]
    nested = run_sliced(lambda s, e: run_sliced(lambda s2, e2: x[s:e][s2:e2] + in_slice(), e - s, 4), 10, 2)
    np.testing.assert_array_equal(nested.numpy().ravel(), np.arange(10) + 1)
    assert run_sliced(lambda s, e: x[s:e], 2, 8).shape == [2, 1]  # more slices than samples


def test_run_sliced_passes_errors_through():
    def fn(s, e):
        raise RuntimeError(f'bad slice {s}')
    with pytest.raises(RuntimeError, match='bad slice'):
        run_sliced(fn, 4, 2)


def test_resolve_slices(monkeypatch):
    from realesrgan_paddle.data.degrade.slicing import cpu_count
    monkeypatch.delenv('PADDLE_TRAINERS_NUM', raising=False)
    assert resolve_slices('auto', paddle.CPUPlace()) == cpu_count()
    assert resolve_slices('auto', 'gpu:0') == 1
    monkeypatch.setenv('PADDLE_TRAINERS_NUM', str(cpu_count() * 2))
    assert resolve_slices('auto', 'cpu') == 1  # the cores are shared by the ranks
    assert resolve_slices(3) == 3
    for bad in (0, -1, 'many', 1.5, True):
        with pytest.raises(ValueError, match='threads'):
            resolve_slices(bad)
    with pytest.raises(ValueError, match='threads'):
        SecondOrderDegradation(None, 4, threads='many')
    with pytest.raises(ValueError, match='threads'):
        USMSharp(threads=0)


def test_usm_slices_give_the_same_bytes(photos):
    one = usm_sharp(photos, threads=1).numpy()
    assert one.tobytes() == usm_sharp(photos, threads=2).numpy().tobytes()
    assert one.tobytes() == USMSharp(threads='auto')(photos).numpy().tobytes()


@pytest.mark.parametrize('threads', [1, 2, 'auto'])
def test_with_usm_is_usm_then_degradation(photos, threads):
    rng = np.random.default_rng(4)
    ks = [sample_kernels(None, rng) for _ in range(photos.shape[0])]
    k = {name: np.stack([d[name] for d in ks]) for name in ks[0]}
    deg = SecondOrderDegradation(None, 4, threads=threads)
    gt_usm, lq = deg.with_usm(photos, k['kernel1'], k['kernel2'], k['sinc_kernel'], rng=7)
    want_usm = usm_sharp(photos)
    want_lq = SecondOrderDegradation(None, 4, threads=1)(want_usm, k['kernel1'], k['kernel2'], k['sinc_kernel'],
                                                           rng=7)
    assert gt_usm.numpy().tobytes() == want_usm.numpy().tobytes()
    assert lq.numpy().tobytes() == want_lq.numpy().tobytes()
    assert lq.shape == [5, 3, 24, 24]


def test_single_arena_restart_sets_the_malloc_env(tmp_path):
    script = tmp_path / 'env_probe.py'
    script.write_text(f'import os, sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom realesrgan_paddle.utils import runtime_env\n'
                      'runtime_env.setup(reexec=True, quiet=False, single_arena=True)\n'
                      'print(os.environ.get("MALLOC_ARENA_MAX"), os.environ.get("MALLOC_MMAP_MAX_"))\n')
    env = {k: v for k, v in __import__('os').environ.items()
           if k not in ('MALLOC_ARENA_MAX', 'RESR_ENV_APPLIED', 'RESR_NO_REEXEC')}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['1', '0']


def test_process_wide_cpu_settings_only_when_an_entry_point_opts_in():
    """Importing and running the slices changes no process-wide setting; ``runtime_env.setup(single_arena=True)``
    (what train.py calls) sets the malloc arena and the per-slice math threads."""
    code = f'''
import ctypes, sys
sys.path.insert(0, {str(ROOT)!r})
calls = []
real_cdll = ctypes.CDLL
class Libc:
    def __init__(self, *a, **k):
        self.lib = real_cdll(*a, **k)
    def mallopt(self, *a):
        calls.append(('mallopt',) + a)
        return self.lib.mallopt(*a)
ctypes.CDLL = Libc
import paddle
real_set = paddle.base.core.set_num_threads
paddle.base.core.set_num_threads = lambda n: (calls.append(('threads', n)), real_set(n))
from realesrgan_paddle.data.degrade.slicing import run_sliced
x = paddle.ones([4, 1])
run_sliced(lambda s, e: x[s:e] * 2, 4, 2)
print(len(calls))
from realesrgan_paddle.utils import runtime_env
runtime_env.setup(quiet=False, single_arena=True)
run_sliced(lambda s, e: x[s:e] * 2, 4, 2)
print(sorted(set(c[0] for c in calls)), ('threads', 1) in calls)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split('\n')[:2] == ['0', "['mallopt', 'threads'] True"]
