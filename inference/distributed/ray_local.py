"""The Ray cluster of ``--ray local``: on this machine's loopback only, in a temp folder of its own, and gone when the
driver is, however it ends.

- Loopback: Ray gives its processes the machine's address and they listen on every interface. Ray's single-machine
  mode of macOS and Windows (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, on Linux too) makes the node's address
  127.0.0.1, and then gcs_server, the raylet, the agents, the workers and the driver listen on 127.0.0.1 only
  (``_node_ip_address='127.0.0.1'`` does not: Ray replaces a loopback address by the machine's). No dashboard.
- Temp folder: ``_temp_dir`` is a fresh ``resr-ray-*`` folder (Ray's ``/tmp/ray`` is not touched), under the temp
  folder, or ``/tmp`` when that path is too long for the AF_UNIX sockets Ray makes in it (107 bytes at most).
- Gone with the driver: a watchdog (``inference/distributed/ray_watch.py``, its own session so that a Ctrl-C does not reach it)
  waits for the driver's end of a pipe to close, then kills every process of this cluster (``MARK`` in its
  environment, or a file open in the cluster's folder) and removes the folder. Ray's DashboardAgent and
  RuntimeEnvAgent outlive a SIGKILLed driver otherwise. ``stop()`` (also at exit) shuts Ray down first and waits
  for the watchdog; when the watchdog was killed, ``stop()`` does its work itself. The folder is named with the
  driver's pid (``resr-ray-PID-XXXXXXXX``): when both were killed, the next ``--ray local`` start removes the
  folders of drivers that are gone (``remove_stale``: real folders of this user's with that name only).
"""
import atexit
import logging
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from .ray_watch import sweep

MARK = 'RESR_RAY_LOCAL'
log = logging.getLogger('inference')
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
    for gone in remove_stale(temp_base()):
        log.info('removed %s, the Ray folder of a --ray local run whose driver and watchdog were killed', gone)
    temp = tempfile.mkdtemp(prefix=f'resr-ray-{os.getpid()}-', dir=temp_base())
    token = secrets.token_hex(8)
    _state.update(watch=watchdog(temp, token), temp=temp, token=token)
    if not _state.get('atexit'):
        atexit.register(stop)
        _state['atexit'] = True
    saved = {k: os.environ.get(k) for k in (MARK, LOOPBACK_ENV, 'RAY_ADDRESS')}
    constants = ray._private.ray_constants
    was = getattr(constants, 'ENABLE_RAY_CLUSTER', None)
    os.environ.update({MARK: token, LOOPBACK_ENV: '0'})  # the cluster's processes inherit both
    os.environ.pop('RAY_ADDRESS', None)  # ray.init would join the cluster it names instead of starting this one
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


def watchdog(temp, token):
    """The watchdog of the cluster whose folder is ``temp`` (``inference/distributed/ray_watch.py``): it acts when this process's
    end of its standard input closes."""
    return subprocess.Popen([sys.executable, '-I', '-S', str(Path(__file__).with_name('ray_watch.py')),
                             f'{MARK}={token}', temp, str(os.getpid())], stdin=subprocess.PIPE, start_new_session=True)


def stop(ray=None):
    """Shut the local cluster down (if this module started one), kill what is left of it, remove its folder."""
    watch = _state.pop('watch', None)
    if watch is None:
        return
    temp, token = _state.pop('temp', None), _state.pop('token', '')
    if ray is None:
        ray = sys.modules.get('ray')
    if ray is not None:
        ray.shutdown()
    try:
        watch.stdin.close()
    except OSError:  # the watchdog is gone: the pipe is broken
        pass
    try:
        watch.wait(WATCH_WAIT)
    except subprocess.TimeoutExpired:
        return  # it goes on alone (its own session); the driver does not wait longer
    if watch.returncode != 0 and temp and os.path.isdir(temp):  # the watchdog was killed: its work, done here
        sweep(f'{MARK}={token}'.encode(), os.path.join(temp, ''), os.getpid())
        shutil.rmtree(temp, ignore_errors=True)


_STALE = re.compile(r'^resr-ray-(\d+)-[a-z0-9_]{8}$')


def remove_stale(base):
    """The folders of earlier ``--ray local`` runs under ``base`` whose driver is gone (its pid, in the name, runs no
    more) and that its watchdog did not remove (killed too): the processes still holding a file open in one are
    killed, then it is removed. Only real folders (not links) of this user's named ``resr-ray-PID-XXXXXXXX``, as
    ``start`` makes them; returns the paths removed."""
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        m = _STALE.match(name)
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        mine = not hasattr(os, 'getuid') or st.st_uid == os.getuid()
        if not m or not stat.S_ISDIR(st.st_mode) or not mine or _running(int(m.group(1))):
            continue
        sweep(b'\0', os.path.join(path, ''), os.getpid())  # no mark matches b'\0': the folder's open files decide
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def current_temp():
    """The running local cluster's temp folder, or None."""
    return _state.get('temp')
