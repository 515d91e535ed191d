"""utils.download against a local HTTP server (127.0.0.1, never the internet), with the suite's offline switch
(conftest.py) off; and the switch: nothing is fetched, one line says what and how."""
import hashlib
import os
import http.server
import threading

import pytest

from realesrgan_paddle.utils import download as D
from realesrgan_paddle.utils.download import DownloadError, download, sha256_file

PAYLOAD = bytes(range(256)) * 1200 + b'tail'  # 307 204 bytes, not a multiple of the chunk size
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file with Range support; ``drop_after`` cuts a reply short."""

    state = None  # dict shared with the test: requests seen, drops left, range support

    def log_message(self, *args):
        pass

    def do_GET(self):
        st = self.state
        if self.path != '/file':
            self.send_error(404)
            return
        rng = self.headers.get('Range')
        st['ranges'].append(rng)
        start = 0
        if rng and st['ranges_ok']:
            start = int(rng.split('=')[1].split('-')[0])
            if start >= len(PAYLOAD):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}')
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if st['drops'] > 0:
            st['drops'] -= 1
            self.wfile.write(body[:st['drop_after']])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def online(monkeypatch):
    """These tests download from a local server: the switch the suite sets (conftest.py) is off here."""
    monkeypatch.delenv(D.OFFLINE_ENV, raising=False)


@pytest.fixture
def server():
    state = {'ranges': [], 'drops': 0, 'drop_after': 100_000, 'ranges_ok': True}
    handler = type('H', (_Handler,), {'state': state})
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}', state
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_renames(server, tmp_path):
    base, state = server
    dest = tmp_path / 'w.pth'
    assert download(base + '/file', dest, sha256=SHA, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / 'w.pth.part').exists()
    assert state['ranges'] == [None]
    # present and valid: no second request
    download(base + '/file', dest, sha256=SHA, progress=False)
    assert len(state['ranges']) == 1


def test_resume_after_dropped_connection(server, tmp_path):
    base, state = server
    state['drops'], state['drop_after'] = 2, 100_000
    dest = tmp_path / 'w.pth'
    download(base + '/file', dest, sha256=SHA, progress=False, backoff=0)
    assert sha256_file(dest) == SHA
    # first request full, then two resumes from where each reply was cut
    assert state['ranges'] == [None, 'bytes=100000-', 'bytes=200000-']


def test_resume_across_calls_keeps_part(server, tmp_path):
    """A call that gives up leaves the .part; the next call continues it with Range."""
    base, state = server
    state['drops'], state['drop_after'] = 1, 50_000
    dest = tmp_path / 'w.pth'
    with pytest.raises(DownloadError, match='run again to resume'):
        download(base + '/file', dest, sha256=SHA, progress=False, retries=0)
    part = tmp_path / 'w.pth.part'
    assert part.stat().st_size == 50_000 and not dest.exists()
    download(base + '/file', dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert state['ranges'][-1] == 'bytes=50000-'


def test_server_without_range_restarts(server, tmp_path):
    base, state = server
    state['ranges_ok'] = False
    dest = tmp_path / 'w.pth'
    (tmp_path / 'w.pth.part').write_bytes(b'garbage' * 10)
    download(base + '/file', dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_gets_416_and_finishes(server, tmp_path):
    base, state = server
    dest = tmp_path / 'w.pth'
    (tmp_path / 'w.pth.part').write_bytes(PAYLOAD)
    download(base + '/file', dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_hash_mismatch_keeps_nothing(server, tmp_path):
    base, _ = server
    dest = tmp_path / 'w.pth'
    with pytest.raises(DownloadError, match='sha256 mismatch') as err:
        download(base + '/file', dest, sha256='0' * 64, progress=False)
    assert '\n' not in str(err.value)
    assert not dest.exists() and not (tmp_path / 'w.pth.part').exists()


def test_corrupt_existing_dest_is_replaced(server, tmp_path):
    base, _ = server
    dest = tmp_path / 'w.pth'
    dest.write_bytes(b'old and wrong')
    download(base + '/file', dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_404_is_one_clear_error(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match='HTTP 404'):
        download(base + '/missing', tmp_path / 'x', progress=False)
    assert not (tmp_path / 'x').exists()


@pytest.mark.parametrize('url, words', [('http://127.0.0.1:9/file', 'cannot connect'),
                                        ('http://no-such-host.invalid/file', 'cannot resolve the host name')])
def test_offline_fails_at_once_without_retries(tmp_path, monkeypatch, url, words):
    def no_sleep(_):
        raise AssertionError('retried an unreachable server')
    monkeypatch.setattr('realesrgan_paddle.utils.download.time.sleep', no_sleep)
    with pytest.raises(DownloadError) as e:
        download(url, tmp_path / 'f.bin', progress=False)
    msg = str(e.value)
    assert words in msg and 'no network?' in msg and '\n' not in msg
    assert not (tmp_path / 'f.bin').exists()


# ---------------------------------------------------------------- a planted .part (issue 73)
VICTIM = b'a user file that no download may touch\n' * 100  # 4,000 bytes, under the payload's size


def _plant(kind, part, victim):
    if kind == 'symlink':
        part.symlink_to(victim)
    elif kind == 'hardlink':
        os.link(victim, part)
    elif kind == 'dangling':
        part.symlink_to(victim.with_name('not_there_yet'))
    else:
        os.mkfifo(part)


@pytest.mark.parametrize('kind', ['symlink', 'hardlink', 'dangling', 'fifo'])
def test_a_planted_part_is_never_written_through(server, tmp_path, kind, caplog):
    """``w.pth.part`` planted as a link to (or a second name of) a user's file: the resume appended the download to
    that file before (4,000 bytes grew, then the sha256 failed). Now the name is removed, the download starts over
    into a file of its own, and the user's file keeps its bytes; a dangling link creates nothing where it points."""
    base, state = server
    victim = tmp_path / 'mine' / 'notes.txt'
    victim.parent.mkdir()
    victim.write_bytes(VICTIM)
    dest = tmp_path / 'cache' / 'w.pth'
    dest.parent.mkdir()
    part = dest.with_name('w.pth.part')
    _plant(kind, part, victim)
    with caplog.at_level('WARNING', logger='models'):
        download(base + '/file', dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD and not os.path.lexists(part)
    assert victim.read_bytes() == VICTIM and os.stat(victim).st_nlink == 1
    assert not victim.with_name('not_there_yet').exists()
    assert state['ranges'] == [None]  # from the start: nothing of the planted file was taken as downloaded
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith(f'{part}: ') and 'starts over' in lines[0], lines


def test_a_part_swapped_for_a_link_during_the_download_is_not_renamed(server, tmp_path, monkeypatch):
    """The name is checked again before the rename: a link put in place of the ``.part`` while the bytes came in
    is not moved onto the destination."""
    import realesrgan_paddle.utils.download as dl
    base, _ = server
    victim = tmp_path / 'notes.txt'
    victim.write_bytes(VICTIM)
    dest = tmp_path / 'w.pth'
    real = dl._fetch_once

    def swap(url, fd, *a):
        size = real(url, fd, *a)
        part = dest.with_name('w.pth.part')
        part.unlink()
        part.symlink_to(victim)
        return size
    monkeypatch.setattr(dl, '_fetch_once', swap)
    with pytest.raises(DownloadError, match=r'w\.pth\.part: replaced by another file during the download'):
        download(base + '/file', dest, sha256=SHA, progress=False)
    assert not dest.exists() and victim.read_bytes() == VICTIM


@pytest.mark.parametrize('value,refused', [('1', True), ('yes', True), ('0', False), ('', False), ('off', False)])
def test_the_offline_switch_fetches_nothing(server, tmp_path, monkeypatch, value, refused):
    url, state = server
    monkeypatch.setenv(D.OFFLINE_ENV, value)
    dest = tmp_path / 'f.bin'
    if not refused:
        assert download(url + '/file', dest, sha256=SHA, progress=False) == dest
        return
    with pytest.raises(D.OfflineError) as e:
        download(url + '/file', dest, sha256=SHA, progress=False)
    msg = str(e.value)
    assert msg == (f'{url}/file: not fetched, REALESRGAN_PADDLE_OFFLINE is set (no network); download it where the '
                   f'network is reachable and put it at {dest}')
    assert state['ranges'] == [] and not dest.exists() and not list(tmp_path.iterdir())  # no request, no .part
    dest.write_bytes(PAYLOAD)  # a file already there is used as it is, switch or not
    assert download(url + '/file', dest, sha256=SHA, progress=False) == dest and state['ranges'] == []
