"""The Ray cluster of ``--ray local``: on this machine's loopback only, in a temp folder of its own, and gone when the
driver is, however it ends.

- Loopback: Ray gives its processes the machine's address and they listen on every interface. Ray's single-machine
  mode of macOS and Windows (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, on Linux too) makes the node's address
  127.0.0.1, and then gcs_server, the raylet, the agents, the workers and the driver listen on 127.0.0.1 only
  (``_node_ip_address='127.0.0.1'`` does not: Ray replaces a loopback address by the machine's). No dashboard.
- Temp folder: ``_temp_dir`` is a fresh ``resr-ray-*`` folder (Ray's ``/tmp/ray`` is not touched), under the temp
  folder, or ``/tmp`` when that path is too long for the AF_UNIX sockets Ray makes in it (107 bytes at most).
- Gone with the driver: a watchdog (``inference/ray_watch.py``, its own session so that a Ctrl-C does not reach it)
  waits for the driver's end of a pipe to close, then kills every process of this cluster (``MARK`` in its
  environment, or a file open in the cluster's folder) and removes the folder. Ray's DashboardAgent and
  RuntimeEnvAgent outlive a SIGKILLed driver otherwise. ``stop()`` (also at exit) shuts Ray down first and waits
  for the watchdog.
"""
import atexit
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

MARK = 'RESR_RAY_LOCAL'
LOOPBACK_ENV = 'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'
# Ray's longest socket path is TEMP/session_YYYY-MM-DD_HH-MM-SS_UUUUUU_PID/sockets/plasma_store: TEMP plus about 64
MAX_BASE = 40
WATCH_WAIT = 30
_state = {}


def temp_base():
    base = tempfile.gettempdir()
    return base if len(base) <= MAX_BASE else '/tmp'


def start(ray, num_cpus, **kw):
    """``ray.init`` of a local cluster of ``num_cpus`` (see the module docstring); ``kw`` go to ``ray.init``."""
    stop(ray)
    temp = tempfile.mkdtemp(prefix='resr-ray-', dir=temp_base())
    token = secrets.token_hex(8)
    watch = subprocess.Popen([sys.executable, '-I', '-S', str(Path(__file__).with_name('ray_watch.py')),
                              f'{MARK}={token}', temp, str(os.getpid())], stdin=subprocess.PIPE,
                             start_new_session=True)
    _state.update(watch=watch, temp=temp)
    if not _state.get('atexit'):
        atexit.register(stop)
        _state['atexit'] = True
    saved = {k: os.environ.get(k) for k in (MARK, LOOPBACK_ENV)}
    constants = ray._private.ray_constants
    was = getattr(constants, 'ENABLE_RAY_CLUSTER', None)
    os.environ.update({MARK: token, LOOPBACK_ENV: '0'})  # the cluster's processes inherit both
    constants.ENABLE_RAY_CLUSTER = False  # read at import: the driver's own copy
    try:
        ray.init(num_cpus=num_cpus, _temp_dir=temp, **kw)
    except BaseException:
        stop(ray)
        raise
    finally:
        constants.ENABLE_RAY_CLUSTER = was
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return temp


def stop(ray=None):
    """Shut the local cluster down (if this module started one), kill what is left of it, remove its folder."""
    watch = _state.pop('watch', None)
    if watch is None:
        return
    _state.pop('temp', None)
    if ray is None:
        ray = sys.modules.get('ray')
    if ray is not None:
        ray.shutdown()
    watch.stdin.close()
    try:
        watch.wait(WATCH_WAIT)
    except subprocess.TimeoutExpired:
        pass  # it goes on alone (its own session); the driver does not wait longer


def current_temp():
    """The running local cluster's temp folder, or None."""
    return _state.get('temp')
