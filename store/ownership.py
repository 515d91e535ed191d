"""The one answer to "is this cached entry ours" (``check_entry``), and the writing that makes it true
(``write_entry``). The threat model is the package's (``store/__init__.py``)."""
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

try:
    import fcntl
except ImportError:  # not POSIX: two processes making one entry are not kept apart
    fcntl = None

from realesrgan_paddle.utils.fileio import NotOwnFileError, cache_root, open_own_file

KINDS = ('weights', 'export', 'onednn', 'bf16')
RECORD = 'record.json'
FORMAT = 1  # of the record: bumped when what it holds changes (an entry of another format is not ours)
MAX_RECORD_BYTES = 64 << 10  # a record is a few hundred bytes
MAX_FILES = 16
log = logging.getLogger('store')

# file identity (device, inode, size, mtime, ctime) -> its sha256, and a record's identity -> the record read: this
# process only, never a file
_DIGESTS = {}
_RECORDS = {}


class NotOurs(ValueError):
    """A cached entry that is not this program's copy of what was asked for; one line naming the file or folder."""


class Entry(NamedTuple):
    """An entry of the store, checked: its folder, its record and each file's sha256 (``digests``)."""

    dir: Path
    record: dict
    digests: dict

    def path(self, name):
        return self.dir / name


def entry_dir(kind, key, root=None):
    """``<root>/store/<kind>/<key>`` (``root``: the user cache, ``utils.fileio.cache_root()``, when not given)."""
    if kind not in KINDS:
        raise ValueError(f'store: unknown kind {kind!r} (one of {", ".join(KINDS)})')
    key = str(key)
    if not key or key.startswith('.') or '/' in key or os.sep in key:
        raise ValueError(f'store: a key is one file name, got {key!r}')
    return Path(root if root is not None else cache_root()) / 'store' / kind / key


def _identity(st):
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _plain(value):
    """``value`` as it reads back from JSON (tuples as lists)."""
    return json.loads(json.dumps(value))


# ---------------------------------------------------------------- writing
def _hash_fd(fd):
    h = hashlib.sha256()
    with os.fdopen(os.dup(fd), 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _seal(folder):
    """``{name: {'sha256', 'size'}}`` of the regular files of ``folder``, each fsynced and remembered (what the
    writer made is hashed here once: ``open_entry`` in this process reads none of it again); anything else in the
    folder (a sub-folder, a link) is removed."""
    files = {}
    for name in sorted(os.listdir(folder)):
        p = folder / name
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode) or name == RECORD:
            shutil.rmtree(p, ignore_errors=True) if stat.S_ISDIR(st.st_mode) else os.unlink(p)
            continue
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            digest = _hash_fd(fd)
            _DIGESTS[_identity(os.fstat(fd))] = digest
        finally:
            os.close(fd)
        files[name] = {'sha256': digest, 'size': st.st_size}
    return files


def _fill(tmp, files):
    if callable(files):
        files(tmp)
        return
    for name, data in files.items():
        (tmp / name).write_bytes(data)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_entry(kind, key, files, facts, root=None, readers=None, reuse=False):
    """Make the entry ``kind``/``key``: ``files`` (``{name: bytes}``, or a function that writes the entry's files
    into the folder it is given) fill a temporary folder beside it; the record (each file's sha256 and size, then
    ``facts``: ``made_from``, ``revision``, ``arch`` and any other JSON value) is written last and fsynced, and the
    folder renamed into place (whatever was under the name is removed first). Returns the ``Entry``.

    One process at a time makes an entry (a lock file beside it, ``.<key>.lock``). With ``reuse`` (a caller that
    writes only what it found missing: a zoo file, an export), an entry another process made since this one
    looked (two ranks of one training on a fresh cache) is taken as it is, checked as ``check_entry`` checks it with
    ``facts`` and ``readers``, instead of being removed under that process's feet and made again."""
    final = entry_dir(kind, key, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _one_maker(final):
        if reuse:
            try:
                return check_entry(final, kind, key, facts, readers)
            except (OSError, ValueError):  # none, not ours (NotOurs), or a graph the check refuses: made here
                pass
        return _make(final, kind, key, files, facts)


@contextmanager
def _one_maker(final):
    """Hold the entry's lock file while it is made; nothing on Windows. The file lives only as long as the lock:
    its holder removes it before letting go, so nothing is left beside the entry, and a waiter that wakes on a
    removed file opens the new one (the file under the name must be the one it holds)."""
    if fcntl is None:
        yield
        return
    path = final.parent / f'.{final.name}.lock'
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0), 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, path):
            break
        os.close(fd)
    try:
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)  # the lock goes with the descriptor


def _same_file(fd, path):
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st, now = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)


def _make(final, kind, key, files, facts):
    """``write_entry``'s work, under the lock."""
    tmp = Path(tempfile.mkdtemp(prefix=f'.{final.name}.', dir=str(final.parent)))
    try:
        _fill(tmp, files)
        sealed = _seal(tmp)
        if not sealed or len(sealed) > MAX_FILES:
            raise ValueError(f'store: {kind}/{key}: {len(sealed)} files made (1 to {MAX_FILES} expected)')
        record = {'format': FORMAT, 'kind': kind, 'key': str(key), 'files': sealed,
                  'made_from': None, 'revision': None, 'arch': None, **_plain(facts)}
        with open(tmp / RECORD, 'w', encoding='utf-8') as f:
            json.dump(record, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
            _RECORDS[_identity(os.fstat(f.fileno()))] = _plain(record)
        _fsync_dir(tmp)
        _remove(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Entry(final, record, {n: v['sha256'] for n, v in sealed.items()})


def _remove(folder):
    """Remove what is under an entry's name: a link or a file unlinked (never what it points to), a folder renamed
    aside and removed whole (a hard link in it loses only this name)."""
    if os.path.islink(folder) or os.path.lexists(folder) and not folder.is_dir():
        os.unlink(folder)
    elif folder.exists():
        aside = Path(tempfile.mkdtemp(prefix=f'.{folder.name}.old.', dir=str(folder.parent)))
        os.replace(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)


# ---------------------------------------------------------------- checking
def _own_stat(p):
    """``os.lstat(p)`` when ``p`` is a regular file of this user with one name; ``NotOurs`` otherwise."""
    try:
        st = os.lstat(p)
    except OSError as e:
        raise NotOurs(f'{p}: cannot read it ({e.strerror})') from None
    mine = not hasattr(os, 'getuid') or st.st_uid == os.getuid()
    if stat.S_ISLNK(st.st_mode):
        raise NotOurs(f'{p}: a symbolic link, not a file of this program')
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or not mine:
        raise NotOurs(f'{p}: {"a hard link" if st.st_nlink != 1 else "not a regular file of this user"}, '
                      'not a file of this program')
    return st


def _read_record(folder):
    """The record of ``folder``, read (bounded) once per process while the file is unchanged."""
    p = folder / RECORD
    if not os.path.lexists(p):
        raise NotOurs(f'{folder}: no record (not made by this version of the program)')
    st = _own_stat(p)
    if _identity(st) in _RECORDS:
        return _RECORDS[_identity(st)]
    try:
        fd = open_own_file(p)
    except NotOwnFileError as e:
        raise NotOurs(str(e)) from None
    except OSError as e:
        raise NotOurs(f'{folder}: no record ({e.strerror or e})') from None
    with os.fdopen(fd, 'rb') as f:
        data = f.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise NotOurs(f'{p}: larger than a record ({MAX_RECORD_BYTES} bytes)')
    try:
        rec = json.loads(data)
    except ValueError:
        raise NotOurs(f'{p}: not a record of this program (not JSON)') from None
    if not isinstance(rec, dict) or rec.get('format') != FORMAT or not isinstance(rec.get('files'), dict):
        raise NotOurs(f'{p}: not a record of this program (or of an older version)')
    _RECORDS[_identity(st)] = rec
    return rec


def _own_digest(p, want, readers):
    """The sha256 of ``p``, a regular file of this user with one name whose size and sha256 are ``want``'s: from
    this process's memory when its identity is one already hashed, else read once (its reader, ``reader(f,
    sha256)``, then sees the same open file, once its sha256 is the recorded one). ``NotOurs`` otherwise."""
    st = _own_stat(p)
    if st.st_size != want['size']:
        raise NotOurs(f'{p}: {st.st_size} bytes, its record says {want["size"]}')
    digest = _DIGESTS.get(_identity(st))
    if digest is None:
        digest = _read_own(p, st, want, readers.get(p.name))
    if digest != want.get('sha256'):
        raise NotOurs(f'{p}: not the file its record names (another sha256)')
    return digest


def _read_own(p, st, want, reader):
    """``p`` hashed through a descriptor that is still ``st``'s file, and given to ``reader`` when it is the
    recorded one."""
    try:
        fd = open_own_file(p)
    except (NotOwnFileError, OSError) as e:
        raise NotOurs(str(e) if isinstance(e, NotOwnFileError) else f'{p}: cannot read it ({e.strerror})') from None
    with os.fdopen(fd, 'rb') as f:
        if _identity(os.fstat(fd)) != _identity(st):
            raise NotOurs(f'{p}: changed while it was checked')
        digest = _hash_fd(fd)
        if digest == want.get('sha256') and reader is not None:
            f.seek(0)
            reader(f, digest)
    _DIGESTS[_identity(st)] = digest
    return digest


def _check_facts(folder, rec, expect):
    for k, v in (expect or {}).items():
        if rec.get(k) != _plain(v):
            raise NotOurs(f'{folder}: made from other {k} than asked for (its record: {str(rec.get(k))[:80]})')


class _Readers:
    """``readers`` given as a dict, or as a function of the entry's folder and its record that makes it, called
    only when a file is read (never when every file's digest is remembered)."""

    def __init__(self, readers, folder, record):
        self.readers, self.folder, self.record = readers, folder, record

    def get(self, name):
        if callable(self.readers):
            self.readers = self.readers(self.folder, self.record)
        return (self.readers or {}).get(name)


def check_entry(folder, kind, key, expect=None, readers=None):
    """``Entry`` of ``folder`` when it is this program's entry ``kind``/``key`` (the package's docstring says what
    that means), with the facts ``expect``; ``readers``: ``{name: reader(f, sha256)}`` run on a file's bytes
    the time it is hashed (the graph check), or a function of the folder and its record that returns them. ``NotOurs`` (one line) otherwise; FileNotFoundError when there is
    nothing."""
    if not os.path.lexists(folder):
        raise FileNotFoundError(folder)
    if os.path.islink(folder) or not folder.is_dir():
        raise NotOurs(f'{folder}: a symbolic link or a file, not an entry of this program')
    rec = _read_record(folder)
    if rec.get('kind') != kind or rec.get('key') != str(key):
        raise NotOurs(f'{folder}: its record is of another entry')
    files = rec['files']
    names = set(os.listdir(folder)) - {RECORD}
    if names != set(files) or not files:
        raise NotOurs(f'{folder}: holds {", ".join(sorted(names ^ set(files)))[:120]}, which its record does not '
                      'list' if names - set(files) else f'{folder}: a file of its record is missing')
    digests, readers = {}, _Readers(readers, folder, rec)
    for name, want in sorted(files.items()):
        if not isinstance(want, dict) or not isinstance(want.get('size'), int):
            raise NotOurs(f'{folder / RECORD}: not a record of this program')
        digests[name] = _own_digest(folder / name, want, readers)
    _check_facts(folder, rec, expect)
    return Entry(folder, rec, digests)


def open_entry(kind, key, expect=None, root=None, readers=None):
    """The ``Entry`` ``kind``/``key`` when it is this program's (``check_entry``), else None: a missing entry, or
    one that is not ours, removed with one line (it is made again)."""
    folder = entry_dir(kind, key, root)
    try:
        return check_entry(folder, kind, key, expect, readers)
    except FileNotFoundError:
        return None
    except NotOurs as e:
        log.warning('%s; removed, to be made again', e)
    try:
        _remove(folder)
    except OSError as e:
        raise NotOurs(f'{folder}: not an entry of this program, and it cannot be removed ({e.strerror or e}); '
                      'remove it') from None
    return None
