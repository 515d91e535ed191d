"""tools/webui.py refuses an address it cannot listen on in one line, before gradio and the models load
(gradio itself ends in a traceback whose advice is to edit a launch() call)."""
import socket
from pathlib import Path

from realesrgan_paddle.tools.webui import cannot_listen
from tests.cli_checks import one_line, watched_run

ROOT = Path(__file__).resolve().parents[2]


def _webui(*args):
    return watched_run('tools/webui.py', *args, cwd=ROOT)


def test_a_port_in_use_is_one_line_before_anything_loads(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        assert one_line(cannot_listen('127.0.0.1', port), port, '--port')
        rc, lines, run = _webui('--port', str(port), '-o', tmp_path / 'out')
    assert rc == 2 and one_line(lines, port, '--port')
    assert run['loaded'] == [] and not (tmp_path / 'out').exists()  # nothing loaded, nothing written


def test_a_host_that_is_not_this_machine_is_one_line(tmp_path):
    rc, lines, _ = _webui('--host', '192.0.2.1', '--port', '7860', '-o', tmp_path / 'out')  # TEST-NET-1
    assert rc == 2 and lines[-1] == ('webui.py: error: --host 192.0.2.1 is not an address of this machine; '
                                     'give another --host (127.0.0.1 by default)'), lines
    rc, lines, _ = _webui('--host', 'no-such-host.invalid', '-o', tmp_path / 'out')
    assert rc == 2 and lines[-1].startswith('webui.py: error: --host no-such-host.invalid: not an address'), lines


def test_a_free_port_passes():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    assert cannot_listen('127.0.0.1', port) is None
