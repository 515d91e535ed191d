"""Atomic file writes: write to a temporary file beside the target, then rename.

Temporary files are named ``.<target name>.<writer pid>-<random>.tmp``, so one left behind by a
killed process can be told from one being written: ``remove_stale_temps`` deletes those whose
writer is gone.
"""
import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path


def _read_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: changing the umask is process-wide, so doing it per write would race
# with the thread pools that write PNGs concurrently.
_UMASK = _read_umask()


class CacheRootError(NotADirectoryError):
    """The user cache's path names something that is not a folder; ``str(e)`` is one line naming it."""

    def __str__(self):
        return self.args[0]


def cache_root():
    """The user cache (converted models, exports, side files): ``$REALESRGAN_PADDLE_HOME``, else
    ``~/.cache/realesrgan-paddle``; read at each call, so a changed environment takes effect. ``CacheRootError``
    (an OSError, one line) when that path is a file or anything else that is not a folder (it was a bare
    ``[Errno 20] Not a directory`` or ``[Errno 17] File exists`` when the first file was written)."""
    env = os.environ.get('REALESRGAN_PADDLE_HOME')
    root = Path(env).expanduser() if env else Path.home() / '.cache' / 'realesrgan-paddle'
    if os.path.lexists(root) and not os.path.isdir(root):
        what = 'a symbolic link to nothing' if not os.path.exists(root) else 'a file, not a folder'
        how = 'point REALESRGAN_PADDLE_HOME at a folder' if env else 'remove it, or set REALESRGAN_PADDLE_HOME to a ' \
              'folder'
        raise CacheRootError(f'{root}: the model cache{" ($REALESRGAN_PADDLE_HOME)" if env else ""} is {what}; '
                             f'{how}')
    return root


NAME_MAX = 255  # bytes in one file name: ext4, XFS, btrfs, tmpfs, APFS, NTFS (in UTF-16 units)


def fit_name(name, room=0):
    """``name`` cut (at a character, in UTF-8 bytes) so that ``room`` more bytes still fit in ``NAME_MAX``; a cut
    name ends with 8 hex digits of its sha256, so two long names that share their start stay apart."""
    raw = os.fsencode(name)
    if len(raw) + room <= NAME_MAX:
        return name
    keep = NAME_MAX - room - 9
    head = raw[:max(keep, 0)].decode('utf-8', 'ignore')  # a character cut in two is left out
    return f'{head}~{hashlib.sha256(raw).hexdigest()[:8]}'


def temp_beside(path, suffix='.tmp', spare=0):
    """Create an empty hidden temp file in ``path``'s folder (same filesystem, so a
    rename onto ``path`` is atomic) with the usual umask mode, not mkstemp's 0600.
    Returns ``(fd, tmp_path)``. The target's name in the temp's is cut to fit ``NAME_MAX``
    (an output named with 240 characters is a legal name, its temp's 262 would not be), ``spare`` bytes
    more for names made from the temp's (``tmp + '.log'``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    name = fit_name(path.name, len(f'..{pid}-') + 8 + len(os.fsencode(suffix)) + spare)
    fd, tmp = tempfile.mkstemp(prefix=f'.{name}.{pid}-', suffix=suffix, dir=str(path.parent))
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path, mode='wb', fsync=True):
    """Yield a file object; on success it replaces ``path`` in one rename.

    An exception (or a kill) leaves the old ``path`` untouched and no partial file.
    ``fsync=False`` skips flushing to disk before the rename: for bulk outputs (thousands of
    PNGs) that can be regenerated, where a per-file fsync costs more than it protects.
    """
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data, fsync=True):
    with atomic_write(path, 'wb', fsync=fsync) as f:
        f.write(data)


def atomic_write_text(path, text):
    with atomic_write(path, 'w') as f:
        f.write(text)


# ours: .<name>.<pid>-<8 mkstemp chars>.tmp; before pids were added: .<name>.<8 chars>.tmp
_TEMP_RE = re.compile(r'^\..+\.(?:(\d+)-)?[a-z0-9_]{8}\.tmp$')
_OLD_TEMP_AGE = 3600.0  # seconds: a temp without a pid is stale once this old


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_temps(folder, recursive=True):
    """Temp files of ``atomic_write`` under ``folder`` whose writing process no longer runs
    (or, for names without a pid, older than an hour)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    now = time.time()
    for p in (folder.rglob('.*.tmp') if recursive else folder.glob('.*.tmp')):
        m = _TEMP_RE.match(p.name)
        if not m or not p.is_file():
            continue
        if m.group(1) is not None:
            pid = int(m.group(1))
            if pid != os.getpid() and not pid_alive(pid):
                found.append(p)
        else:
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > _OLD_TEMP_AGE:
                    found.append(p)
    return sorted(found)


def remove_stale_temps(folder, recursive=True):
    """Delete the stale temp files under ``folder`` (see ``stale_temps``); returns the removed paths."""
    removed = []
    for p in stale_temps(folder, recursive):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def link_or_copy(src, dst):
    """``dst`` as a hard link to ``src`` (no bytes copied), or a copy where links are refused (another
    file system, a FAT or network drive). A ``dst`` already there (a stage re-run after a stop) is kept when it
    is ``src`` itself and otherwise replaced in one step."""
    dst = Path(dst)
    if dst.exists() and same_file(src, dst):
        return
    fd, tmp = temp_beside(dst)
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def same_file(a, b):
    """True when two paths name the same file (also through links)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


class NotRegularFileError(OSError):
    """A path that names no regular file (a FIFO, a device, a socket, a folder): reading it could hang or
    never end. ``str(e)`` is one line naming the path."""

    def __str__(self):
        return self.args[0] if self.args else 'not a regular file'


_KINDS = ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


def require_regular_file(path, error=None):
    """The one check before any read of a user's file: ``path`` (links followed) must be a regular file, checked
    with ``os.stat`` without opening it (opening a FIFO blocks; /dev/zero never ends). Returns the stat result.

    Raises ``FileNotFoundError`` for a missing path, else ``error`` (default ``NotRegularFileError``) with one
    line naming the path and what it is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: no such file') from None
    except (OSError, ValueError) as e:  # a loop of links, a name too long, a NUL byte
        raise (error or NotRegularFileError)(f'{path}: cannot read ({getattr(e, "strerror", None) or e})') from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), 'a special file')
        raise (error or NotRegularFileError)(f'{path}: not a regular file ({kind}); give a file')
    return st


def is_regular_file(path):
    """True when ``path`` (links followed) is a regular file: the test for a folder scan's entries, which skips
    a FIFO or a link to /dev/zero that has an image's or a video's name. Never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def open_regular(path, error=None):
    """Open ``path`` for binary reading after ``require_regular_file``, and check the opened file again (it may
    have been swapped for a FIFO in between: O_NONBLOCK keeps that open from blocking)."""
    require_regular_file(path, error)
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise (error or NotRegularFileError)(f'{path}: not a regular file (it changed while opening it)')
        if hasattr(os, 'set_blocking'):
            os.set_blocking(fd, True)
        return os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise


def open_or_fail(path, error):
    """``open_regular(path)`` with every failure as ``error``: one line naming the path (no such file, not a
    regular file, cannot read)."""
    try:
        return open_regular(path, error)
    except FileNotFoundError:
        raise error(f'{path}: no such file') from None
    except error:
        raise
    except OSError as e:
        raise error(f'{path}: cannot read ({e.strerror or e})') from None


def check_inside(folder, path, error=ValueError):
    """``path``, an entry of the folder the user named, unless it resolves outside it: a symbolic link (of the entry
    or on its way) out of ``folder`` is ``error``, one line naming both ends. A folder's entries are read as the
    folder's content, never as a way to another file (issue 64, D03, E02)."""
    root, target = Path(folder).resolve(), Path(path).resolve()
    if target != root and root not in target.parents:
        raise error(f'{path}: a link to {target}, outside the folder {folder}: not read (name that file itself, or '
                    'copy it into the folder)')
    return path


class NotOwnFileError(OSError):
    """A file the program writes or trusts as its own (a download's ``.part``, a lock, a cache entry) that is not:
    a symbolic link, a hard link to another name, not a regular file, or another user's. ``str(e)`` is one line
    naming the path."""

    def __str__(self):
        return self.args[0] if self.args else 'not a file of this program'


_NO_LINK = getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NONBLOCK', 0)


def open_own_file(path, flags=os.O_RDONLY, mode=0o644, dir_fd=None):
    """A descriptor of ``path``, a file of the program's own, opened without following a link (``O_NOFOLLOW``;
    ``O_NONBLOCK``, so a FIFO does not block the open) and checked on the descriptor: a regular file, this user's,
    with one name (a hard link to a user's file would be appended to or truncated through). ``flags``: ``O_RDWR |
    O_CREAT``, ``O_EXCL``...; never ``O_TRUNC`` (truncate with ``os.ftruncate`` once the file is known to be
    ours). ``NotOwnFileError`` (one line naming the path) otherwise; other OSErrors (a missing folder) as they are."""
    if flags & os.O_TRUNC:
        raise ValueError('open_own_file: truncate after the check (os.ftruncate), not with O_TRUNC')
    try:
        fd = os.open(path, flags | _NO_LINK, mode, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW on a link (EMLINK: FreeBSD)
            raise NotOwnFileError(f'{path}: is a symbolic link, not a file of this program') from None
        if e.errno == errno.EISDIR:
            raise NotOwnFileError(f'{path}: is a folder, not a file of this program') from None
        raise
    try:
        st = os.fstat(fd)
        why = (None if stat.S_ISREG(st.st_mode) else 'is not a regular file') or \
            (f'has {st.st_nlink} names (a hard link)' if st.st_nlink != 1 else None) or \
            (f'belongs to user {st.st_uid}' if hasattr(os, 'getuid') and st.st_uid != os.getuid() else None)
        if why:
            raise NotOwnFileError(f'{path}: {why}, not a file of this program')
        if hasattr(os, 'set_blocking'):
            os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a regular file, read in 1 MiB blocks (``NotRegularFileError`` for a FIFO or a device)."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()
