"""``--ray ADDRESS`` checked before ``ray.init`` (issue 73): with nothing listening at the address, or a server that
accepts connections and never answers, ``ray.init`` retried for over 3 minutes before it gave up. A Ray cluster's
address (its GCS, or a Ray Client server with ``ray://``) is a gRPC server, and a gRPC server answers the HTTP/2
connection preface with a SETTINGS frame at once (10 ms from a real GCS here); so the address is probed with a TCP
connect bounded by ``CONNECT_S`` and that one exchange bounded by ``REPLY_S``, and anything else is one line within
``CONNECT_S + REPLY_S`` seconds (twice that for a loopback address, probed in Ray's form too: 26 s). Standard
library only: testable without Ray.

Ray replaces a loopback host (``127.0.0.1``, ``localhost``, ``::1``) in the address by this machine's own address
before it connects (``ray._private.services.resolve_ip_for_localhost``): a cluster that listens on the loopback
only is then not reached. ``ray_runner.connect`` probes the address Ray will use, and says so when only the one
given answers.
"""
import socket

CONNECT_S = 5.0
REPLY_S = 8.0  # two probes (a loopback address and Ray's form of it) stay within 30 s
RAY_CLIENT_PORT = 10001
# the HTTP/2 client connection preface and an empty SETTINGS frame (RFC 9113, 3.4 and 6.5)
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
SETTINGS = 4


def split_address(address):
    """``(host, port)`` of ``HOST:PORT``, ``[IPV6]:PORT`` or ``ray://HOST[:PORT]`` (the Ray Client port by default);
    ValueError (one line) otherwise."""
    text = str(address).strip()
    client = text.startswith('ray://')
    rest = text[len('ray://'):] if client else text
    rest = rest.split('/', 1)[0]
    if rest.startswith('['):
        host, _, tail = rest[1:].partition(']')
        port = tail[1:] if tail.startswith(':') else ''
    else:
        host, sep, port = rest.rpartition(':')
        if not sep:
            host, port = rest, ''
    if not port and client:
        port = str(RAY_CLIENT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'--ray {text}: not a cluster address: give HOST:PORT (the head\'s GCS, as `ray start --head` '
                         'prints it), ray://HOST:PORT, auto or local')
    return host, int(port)


def probe(host, port, connect_s=None, reply_s=None):
    """None when ``host:port`` answers as a gRPC server (a Ray cluster's address) within the bounds (``CONNECT_S``,
    ``REPLY_S`` when not given), else why not, in a few words."""
    connect_s, reply_s = connect_s or CONNECT_S, reply_s or REPLY_S
    try:
        sock = socket.create_connection((host, port), timeout=connect_s)
    except socket.gaierror as e:
        return f'cannot resolve the host name {host} ({e.strerror or e})'
    except ConnectionRefusedError:
        return 'nothing listens there (connection refused)'
    except (socket.timeout, TimeoutError):
        return f'no answer to a connection within {connect_s:g} s (no such host, or a firewall)'
    except OSError as e:
        return f'cannot connect ({e.strerror or e})'
    with sock:
        try:
            sock.settimeout(reply_s)
            sock.sendall(PREFACE)
            head = sock.recv(9)
        except (socket.timeout, TimeoutError):
            return f'the server there accepts connections but sends nothing back within {reply_s:g} s (not a Ray ' \
                   'cluster, or a stalled one)'
        except OSError as e:
            return f'the connection failed ({e.strerror or e})'
    if len(head) < 4 or head[3] != SETTINGS:
        return 'the server there does not speak gRPC (not a Ray cluster\'s address)'
    return None


def check_address(address, used=None, connect_s=None, reply_s=None):
    """None when the cluster at ``address`` answers, else one line starting ``--ray ADDRESS:``. ``used``: the
    ``HOST:PORT`` Ray will really connect to (its loopback rewrite; None: ``address`` itself)."""
    host, port = split_address(address)
    if used is None or used == f'{host}:{port}':
        why = probe(host, port, connect_s, reply_s)
        return why and f'--ray {address}: cannot reach the Ray cluster: {why}'
    why = probe(*split_address(used), connect_s, reply_s)
    if why is None:
        return None
    rewrite = f'Ray connects to {used} instead (it replaces a loopback address by this machine\'s own): {why}'
    given = probe(host, port, connect_s, reply_s)
    if given is None:
        return (f'--ray {address}: {rewrite}; the cluster listens on the loopback only: start its head on all '
                'addresses (ray start --head), or use --ray local')
    return f'--ray {address}: cannot reach the Ray cluster: {given}; and {rewrite}'
