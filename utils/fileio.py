"""Atomic file writes: write to a temporary file beside the target, then rename."""
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def _read_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: changing the umask is process-wide, so doing it per write would race
# with the thread pools that write PNGs concurrently.
_UMASK = _read_umask()


def temp_beside(path, suffix='.tmp'):
    """Create an empty hidden temp file in ``path``'s folder (same filesystem, so a
    rename onto ``path`` is atomic) with the usual umask mode, not mkstemp's 0600.
    Returns ``(fd, tmp_path)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=suffix, dir=str(path.parent))
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


def same_file(a, b):
    """True when two paths name the same file (also through links)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()
