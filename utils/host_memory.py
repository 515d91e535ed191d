"""How much memory this process may still take: the host's ``MemAvailable`` and the memory cgroup's limit.

A container or a systemd slice caps a process below what the host has free; past the cap the kernel kills it
(the attacks of issue 73 ended as ``exit -9`` at a 3 GiB cgroup while ``MemAvailable`` said 20 GB). So the
memory available is the smaller of ``MemAvailable`` and, for each cgroup level this process is in (v2 and v1),
its limit minus its usage plus the page cache it could drop (``inactive_file``). Where /proc or the cgroup files
are missing, the host's figure (or a guess) stands.
"""
import os
from pathlib import Path

UNLIMITED = 1 << 60  # cgroup v1 writes 2^63 rounded to a page for "no limit"; v2 writes "max"


def _read_int(path):
    try:
        text = Path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    if text == 'max':
        return UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _stat_value(path, key):
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(' ')
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _levels(rel):
    """``rel`` (a cgroup path) and each of its ancestors up to the root, as relative paths."""
    parts = [p for p in rel.split('/') if p]
    return ['/'.join(parts[:n]) for n in range(len(parts), -1, -1)]


def cgroup_headroom(proc='/proc/self/cgroup', root='/sys/fs/cgroup'):
    """The least ``limit - usage + inactive_file`` over the memory cgroup levels of this process (v2 and v1),
    or None when no level has a limit."""
    try:
        lines = Path(proc).read_text().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        _, controllers, rel = (line.split(':', 2) + ['', ''])[:3]
        if controllers == '':  # v2: memory.max, memory.current, inactive_file
            names, base = ('memory.max', 'memory.current', 'inactive_file'), Path(root)
        elif 'memory' in controllers.split(','):  # v1
            names, base = ('memory.limit_in_bytes', 'memory.usage_in_bytes', 'total_inactive_file'), \
                Path(root) / 'memory'
        else:
            continue
        for level in _levels(rel):
            folder = base / level
            limit = _read_int(folder / names[0])
            if limit is None or limit >= UNLIMITED:
                continue
            usage = _read_int(folder / names[1]) or 0
            room = max(0, limit - usage + _stat_value(folder / 'memory.stat', names[2]))
            best = room if best is None else min(best, room)
    return best


def host_available(meminfo='/proc/meminfo'):
    """``MemAvailable`` in bytes, or None."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory():
    """Bytes this process can still allocate before the host or its cgroup runs out (see the module's doc)."""
    found = host_available()
    if found is None:
        try:
            found = os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
        except (ValueError, OSError, AttributeError):
            found = 4 << 30
    room = cgroup_headroom()
    return found if room is None else min(found, room)
