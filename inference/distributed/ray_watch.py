"""The watchdog of a ``--ray local`` cluster (``inference/distributed/ray_local.py``), run as a script with the standard library
only: ``python ray_watch.py MARK TEMP_DIR DRIVER_PID``.

It waits for its standard input to close: the driver holds the other end, so this happens when the driver ends in
any way (a clean stop, an exception, SIGKILL). Then it kills every process of the cluster (Ray's gcs_server,
raylet, agents and workers: those that inherited ``MARK`` in their environment from the driver's start of the
cluster, or hold a file open in ``TEMP_DIR``; Ray's own agents outlive a killed driver otherwise) and removes
``TEMP_DIR``, the cluster's session folder. The driver itself is spared: when it stopped the cluster, it lives on."""
import os
import shutil
import signal
import sys
import time

SWEEPS = 50  # a raylet that is being killed can still start a worker: sweep until two in a row find nothing
SWEEP_PAUSE = 0.1


def _holds(pid, mark, inside):
    """Whether ``pid``'s environment holds ``mark`` or one of its open files is ``inside`` the cluster's folder
    (Ray's processes keep their logs open there; a renamed process's environment can be overwritten by its title)."""
    try:
        with open(f'/proc/{pid}/environ', 'rb') as f:
            if mark in f.read().split(b'\0'):
                return True
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                if os.readlink(f'/proc/{pid}/fd/{fd}').startswith(inside):
                    return True
            except OSError:
                continue
    except OSError:  # gone, or not ours
        pass
    return False


def marked(mark, inside, spare):
    """Processes (other than this one and ``spare``) of the cluster (``_holds``)."""
    skip = {os.getpid(), spare}
    return [int(n) for n in os.listdir('/proc') if n.isdigit() and int(n) not in skip and _holds(n, mark, inside)]


def sweep(mark, inside, spare):
    quiet = 0
    for _ in range(SWEEPS):
        pids = marked(mark, inside, spare)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        quiet = 0 if pids else quiet + 1
        if quiet >= 2:
            return
        time.sleep(SWEEP_PAUSE)


def main(argv):
    mark, temp, driver = argv[1].encode(), argv[2], int(argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C aimed at the driver must not stop the clean-up
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    sweep(mark, os.path.join(temp, ''), driver)
    shutil.rmtree(temp, ignore_errors=True)


if __name__ == '__main__':
    main(sys.argv)
