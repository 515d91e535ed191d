"""Ray without starting Ray (issue 73): ``--ray ADDRESS`` is probed before ``ray.init`` (a closed port and a server
that never answers each waited over 3 minutes before; now one line within ``ray_probe``'s bounds), Ray's rewrite of
a loopback address is said, ``--ray local`` ignores ``RAY_ADDRESS`` with one line, and the Ray folder of a run is
removed even when its watchdog is killed (by the driver's ``stop()``, or, when both were killed, by the next start).
Every socket is on the loopback."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import pytest

from realesrgan_paddle.inference.distributed import ray_local, ray_probe
from realesrgan_paddle.inference.distributed.ray_runner import connect
from realesrgan_paddle.media.video_reader import VideoError


@pytest.fixture
def fast(monkeypatch):
    """Bounds of a second: the test waits for no real timeout."""
    monkeypatch.setattr(ray_probe, 'CONNECT_S', 1.0)
    monkeypatch.setattr(ray_probe, 'REPLY_S', 1.0)


def _listener(host='127.0.0.1', answer=None):
    """A listening socket on ``host``; ``answer``: None (it never accepts: a silent server) or the bytes a thread
    sends to each connection it accepts. Returns ``(socket, port)``."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(8)
    if answer is not None:
        def serve():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(64)
                    conn.sendall(answer)
        threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def _closed_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


GRPC = bytes([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100])  # a server's SETTINGS frame, as a GCS sends it


@pytest.mark.parametrize('server, words', [
    ('closed', 'nothing listens there (connection refused)'),
    ('silent', 'accepts connections but sends nothing back within 1 s'),
    ('http', 'does not speak gRPC'),
    ('grpc', None)])
def test_the_probe(fast, server, words):
    srv = None
    if server == 'closed':
        port = _closed_port()
    else:
        answers = {'silent': None, 'http': b'HTTP/1.1 400 Bad Request\r\n\r\n', 'grpc': GRPC}
        srv, port = _listener(answer=answers[server])
    try:
        why = ray_probe.check_address(f'127.0.0.1:{port}')
    finally:
        if srv:
            srv.close()
    if words is None:
        assert why is None
    else:
        assert why.startswith(f'--ray 127.0.0.1:{port}: cannot reach the Ray cluster: ') and words in why, why


@pytest.mark.parametrize('text', ['6379', 'host:', 'host:99999', ':6379', 'ray://'])
def test_a_malformed_address_is_one_line(text):
    with pytest.raises(ValueError, match=r'not a cluster address: give HOST:PORT'):
        ray_probe.split_address(text)
    assert ray_probe.split_address('ray://head') == ('head', 10001)
    assert ray_probe.split_address('[::1]:6379') == ('::1', 6379)


def _fake_ray(used=None):
    """A stand-in for the ray module: ``canonicalize_bootstrap_address`` as Ray's (``used``: its loopback
    rewrite), and an ``init`` that must not be reached."""
    def canonical(address):
        return used or address

    def init(**kw):
        raise AssertionError('ray.init was called for an address that does not answer')
    services = types.SimpleNamespace(canonicalize_bootstrap_address=canonical)
    return types.SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: None,
                                 _private=types.SimpleNamespace(services=services))


@pytest.mark.parametrize('server', ['closed', 'silent'])
def test_connect_says_it_before_ray_init(fast, server):
    srv = None
    port = _closed_port() if server == 'closed' else None
    if server == 'silent':
        srv, port = _listener()
    try:
        with pytest.raises(VideoError) as e:
            connect(_fake_ray(), f'127.0.0.1:{port}', 1)
    finally:
        if srv:
            srv.close()
    assert str(e.value).startswith(f'--ray 127.0.0.1:{port}: cannot reach the Ray cluster') and '\n' not in str(e.value)


def test_rays_loopback_rewrite_is_said(fast):
    """A cluster on 127.0.0.1 only: Ray would connect to this machine's address instead (stood for by 127.0.0.2,
    where nothing listens), and the line says so."""
    srv, port = _listener(answer=GRPC)
    try:
        with pytest.raises(VideoError) as e:
            connect(_fake_ray(used=f'127.0.0.2:{port}'), f'127.0.0.1:{port}', 1)
    finally:
        srv.close()
    msg = str(e.value)
    assert msg.startswith(f'--ray 127.0.0.1:{port}: Ray connects to 127.0.0.2:{port} instead') and \
        'listens on the loopback only' in msg, msg


def test_the_real_ray_module_never_waits_on_a_silent_server(fast, tiny_models, tmp_path):
    """Through ``Upscaler.upscale_video`` with the ray package itself (no cluster is started: the probe refuses
    first), a listener on 127.0.0.1 that never answers: the line says so, and that Ray would connect to this
    machine's own address instead (where nothing listens), unless the loopback is the machine's only address."""
    ray = pytest.importorskip('ray', reason='ray is not installed: pip install -r requirements-ray.txt')
    from realesrgan_paddle.inference import Upscaler
    from tests.inference.segment_clips import make_clip
    src = make_clip(tmp_path / 'clip.mkv', seconds=2)
    srv, port = _listener()
    used = ray._private.services.canonicalize_bootstrap_address(f'127.0.0.1:{port}')
    try:
        with pytest.raises(VideoError) as e:
            Upscaler(tiny_models['srvgg_x4'], backend='dynamic').upscale_video(
                src, tmp_path / 'out.mkv', progress=False, segment_seconds=1, ray=f'127.0.0.1:{port}')
    finally:
        srv.close()
    msg = str(e.value)
    assert msg.startswith(f'--ray 127.0.0.1:{port}: cannot reach the Ray cluster: the server there accepts '
                          'connections but sends nothing back within 1 s'), msg
    if used != f'127.0.0.1:{port}':
        assert f'and Ray connects to {used} instead' in msg and 'nothing listens there' in msg, msg
    assert '\n' not in msg and not (tmp_path / 'out.mkv').exists()


def test_ray_local_ignores_ray_address_and_says_so(monkeypatch, caplog):
    """``RAY_ADDRESS`` set (to a cluster that is not there) made ``--ray local`` join it and fail unclearly; the
    local cluster is now started without it (ray.init does not see it), one line says so, and it is put back."""
    seen = {}

    def init(**kw):
        seen['RAY_ADDRESS'] = os.environ.get('RAY_ADDRESS')
        seen['address'] = kw.get('address')
    base = tempfile.mkdtemp(prefix='rp', dir='/tmp')
    monkeypatch.setattr(ray_local, 'temp_base', lambda: base)
    monkeypatch.setenv('RAY_ADDRESS', '127.0.0.1:1')
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: None,
                                 _private=types.SimpleNamespace(ray_constants=types.SimpleNamespace()))
    try:
        with caplog.at_level('INFO', logger='inference'):
            connect(fake, 'local', 1)
        assert seen == {'RAY_ADDRESS': None, 'address': None}
        assert os.environ['RAY_ADDRESS'] == '127.0.0.1:1'
        assert any('RAY_ADDRESS=127.0.0.1:1 is ignored' in r.getMessage() for r in caplog.records), caplog.text
    finally:
        ray_local.stop(fake)
        os.rmdir(base)


# ---------------------------------------------------------------- the run's Ray folder
def _holder(folder, env=None):
    """A process holding a file open in ``folder`` (as Ray's processes hold their logs)."""
    return subprocess.Popen([sys.executable, '-c', 'import sys, time; f = open(sys.argv[1], "w"); time.sleep(120)',
                             os.path.join(folder, 'log.txt')], env=env)


def _wait_file(p):
    for _ in range(100):
        if os.path.exists(p):
            return
        time.sleep(0.05)


def _dead_pid():
    p = subprocess.Popen([sys.executable, '-c', 'pass'])
    p.wait()
    return p.pid


def test_a_killed_watchdogs_work_is_done_by_stop(tmp_path):
    """The watchdog SIGKILLed: the driver's ``stop()`` kills the cluster's processes left and removes the folder (it
    was left behind)."""
    base = tempfile.mkdtemp(prefix='rw', dir='/tmp')
    temp = tempfile.mkdtemp(prefix=f'resr-ray-{os.getpid()}-', dir=base)
    token = 'feedc0de'
    held = _holder(temp, env=dict(os.environ, **{ray_local.MARK: token}))
    try:
        _wait_file(os.path.join(temp, 'log.txt'))
        ray_local._state.update(watch=ray_local.watchdog(temp, token), temp=temp, token=token)
        ray_local._state['watch'].send_signal(signal.SIGKILL)
        ray_local._state['watch'].wait()
        ray_local.stop(types.SimpleNamespace(shutdown=lambda: None))
        assert not os.path.exists(temp)
        assert held.wait(10) == -signal.SIGKILL
    finally:
        if held.poll() is None:
            held.kill()
        subprocess.run(['rm', '-rf', base])


def test_stale_folders_of_dead_drivers_are_removed_and_nothing_else(tmp_path):
    """Driver and watchdog both killed: the next start removes ``resr-ray-PID-*`` folders whose pid is gone (and
    kills what still holds a file in one); a live driver's folder, an older-named folder, a link named like one
    (to a user's folder) and a file are left, the user's folder untouched."""
    base = Path(tempfile.mkdtemp(prefix='rs', dir='/tmp'))
    dead = base / f'resr-ray-{_dead_pid()}-abcd1234'
    live = base / f'resr-ray-{os.getpid()}-abcd1234'
    old = base / 'resr-ray-abcd1234'
    link = base / f'resr-ray-{_dead_pid()}-linklink'
    user = tmp_path / 'mine'
    for d in (dead, live, old, user):
        d.mkdir()
    (user / 'notes.txt').write_text('keep')
    link.symlink_to(user)
    a_file = base / f'resr-ray-{_dead_pid()}-filefile'
    a_file.write_text('a file')
    held = _holder(str(dead))
    try:
        _wait_file(dead / 'log.txt')
        assert ray_local.remove_stale(str(base)) == [str(dead)]
        assert held.wait(10) == -signal.SIGKILL
        assert sorted(p.name for p in base.iterdir()) == sorted([live.name, old.name, link.name, a_file.name])
        assert live.is_dir() and old.is_dir() and link.is_symlink() and (user / 'notes.txt').read_text() == 'keep'
    finally:
        if held.poll() is None:
            held.kill()
        subprocess.run(['rm', '-rf', str(base)])
