"""Processes and their TCP listeners read from /proc (no iproute2 needed), for the Ray tests: the descendants of a
process, the listening sockets each holds, and whether an address is the loopback."""
import os


def _stat(pid):
    """``(parent pid, state letter)`` of ``pid``, or None when it is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return ''


def descendants(root):
    """The pids below ``root`` (children, their children...)."""
    parents = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                parents[int(name)] = st[0]
    found, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def alive(pid):
    """Running (a zombie, which holds nothing, counts as ended)."""
    st = _stat(pid)
    return st is not None and st[1] not in 'ZX'


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                link = os.readlink(f'/proc/{pid}/fd/{fd}')
            except OSError:
                continue
            if link.startswith('socket:['):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def _address(hex_addr):
    """``/proc/net/tcp{,6}``'s ``HEX:PORT`` as ``(ip text, port)``."""
    ip, port = hex_addr.split(':')
    raw = bytes.fromhex(ip)
    words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]  # each 32-bit word in host (little-endian) order
    b = b''.join(words)
    if len(b) == 4:
        text = '.'.join(map(str, b))
    elif b[:12] == b'\0' * 10 + b'\xff\xff':
        text = '::ffff:' + '.'.join(map(str, b[12:]))
    else:
        text = ':'.join(b[i:i + 2].hex() for i in range(0, 16, 2))
    return text, int(port, 16)


def listeners(pids):
    """``{pid: [(ip, port)]}``: the TCP sockets in LISTEN state that each of ``pids`` holds."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    out = {}
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == '0A' and cols[9] in owner:  # 0A: LISTEN
                out.setdefault(owner[cols[9]], []).append(_address(cols[1]))
    return out


def loopback(ip):
    return ip.startswith('127.') or ip.startswith('::ffff:127.') or ip == '0000:0000:0000:0000:0000:0000:0000:0001'
