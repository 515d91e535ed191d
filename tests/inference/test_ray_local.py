"""``--ray local`` as a user runs it (tools/infer.py on a video): while it runs, every TCP listener of the driver and
of the Ray processes below it is on the loopback (read from /proc/net/tcp{,6}); SIGKILL of the driver takes every
one of them down (Ray's DashboardAgent and RuntimeEnvAgent outlived it before) and removes the cluster's temp
folder. And a cluster that cannot be reached is said to be one, not "cannot write"."""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.inference.ray_procs import alive, cmdline, descendants, listeners, loopback
from tests.inference.segment_clips import make_clip

ray = pytest.importorskip('ray', reason='ray is not installed: pip install -r requirements-ray.txt')
ROOT = Path(__file__).resolve().parents[2]
START_WAIT = 240  # Ray's start, the actors' model set-up, on a busy machine
END_WAIT = 20


def _watch_listeners(driver, deadline):
    """Poll the driver's process tree until a segment worker listens; returns ``(pids seen, {pid: (its program,
    {(ip, port)})})``, each program's name as last seen."""
    seen, held = set(), {}
    while time.monotonic() < deadline and driver.poll() is None:
        pids = descendants(driver.pid) | {driver.pid}
        seen |= pids
        for pid, addrs in listeners(pids).items():
            name = (cmdline(pid).split() or ['?'])[0].rsplit('/', 1)[-1]  # a worker renames itself as it works
            held[pid] = (name, held.get(pid, ('', set()))[1] | set(addrs))
        if any(name.startswith('ray::SegmentWorker') for name, _ in held.values()):  # .run while it works
            return seen, held
        time.sleep(0.3)
    return seen, held


@pytest.mark.slow
def test_ray_local_listens_on_loopback_only_and_dies_with_a_killed_driver(tiny_models, tmp_path):
    src = make_clip(tmp_path / 'long.mkv', seconds=20)
    short = tempfile.mkdtemp(prefix='rt', dir='/tmp')  # the run's TMPDIR: where its Ray folder goes
    env = dict(os.environ, TMPDIR=short, RESR_NO_REEXEC='1', OMP_NUM_THREADS='1')
    env.pop('RAY_ADDRESS', None)
    cmd = [sys.executable, str(ROOT / 'tools' / 'infer.py'), '-i', str(src), '-o', str(tmp_path / 'out.mkv'),
           '-m', str(tiny_models['srvgg_x4']), '--ray', 'local', '--workers', '1', '--segment_seconds', '1']
    driver = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = set()
    try:
        seen, held = _watch_listeners(driver, time.monotonic() + START_WAIT)
        assert driver.poll() is None, f'the run ended before its workers were seen: {driver.stderr.read()[-800:]}'
        seen |= descendants(driver.pid)
        names = {name.split('.')[0] for name, _ in held.values()}
        assert {'gcs_server', 'raylet', 'ray::SegmentWorker'} <= names and driver.pid in held, names
        wide = {(name, a) for name, addrs in held.values() for a in addrs if not loopback(a[0])}
        assert not wide, f'listening beyond the loopback: {wide}'
        assert [p.name for p in Path(short).glob('resr-ray-*')], 'the cluster has no folder of its own'
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + END_WAIT
        while time.monotonic() < deadline and any(alive(p) for p in seen):
            time.sleep(0.5)
        left = [(p, cmdline(p)[:60]) for p in seen if alive(p)]
        assert not left, f'alive after the driver was killed: {left}'
        assert not list(Path(short).glob('resr-ray-*')), 'the Ray folder is left behind'
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(['rm', '-rf', short])


def test_an_unreachable_cluster_is_said_to_be_one(tiny_models, tmp_path, monkeypatch):
    """``--ray auto`` with no cluster to find: one line saying so (it read "cannot write" before)."""
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.media.video_reader import VideoError
    monkeypatch.delenv('RAY_ADDRESS', raising=False)
    monkeypatch.setenv('RAY_TMPDIR', str(tmp_path / 'no_cluster'))  # where 'auto' looks for a running cluster
    src = make_clip(tmp_path / 'clip.mkv', seconds=2)
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    # no cluster found: Ray's own reason; a local cluster of another test running beside this one, found by Ray's
    # process scan and gone when probed: the probe's line with its address (inference/distributed/ray_probe.py)
    with pytest.raises(VideoError, match=r'^--ray auto( \([^)]+\))?: cannot (connect to|reach) the Ray cluster'
                                         r'( \(.+\)|: .+)$') as e:
        up.upscale_video(src, tmp_path / 'out.mkv', progress=False, segment_seconds=1, ray='auto')
    assert 'cannot write' not in str(e.value) and '\n' not in str(e.value)
    assert not (tmp_path / 'out.mkv').exists()
