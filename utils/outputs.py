"""Plan a run's outputs before anything is written: no output may overwrite an input or another output.

Every tool lists the files it reads and the files it will write, then calls
``check_no_clobber`` (or keeps an ``OutputPlan`` to add outputs whose names are
only known later). A clash raises ``OutputClash``: one line naming both paths.

What counts as a clash:

* an output that is an input: the same path, or an alias of it (symlink, hard
  link, ``..``, or another spelling on a filesystem that folds case). Existing
  outputs are compared by device and inode, so the filesystem itself decides;
* an output that is a folder holding an input (it would have to replace the folder);
* two outputs of the same run on the same path after resolving symlinks. Two
  outputs that differ only by letter case also count, on every system: on
  Windows, macOS and case-folding mounts (vfat, SMB, ext4 casefold folders) they
  are one file, and a run that silently keeps one of them loses data.

Folder-to-folder tools also call ``check_folder_pair``: the output folder may be
neither inside the input folder nor hold it.
"""
import os
from pathlib import Path

from realesrgan_paddle.utils.fileio import temp_beside


class OutputClash(ValueError):
    """One line: which output would overwrite which input or other output."""


def real_path(p):
    """Absolute path with symlinks resolved (also for parts that do not exist yet)."""
    return Path(os.path.abspath(os.fspath(p))).resolve()


def _fold(p):
    return os.path.normcase(str(p)).casefold()


def _inode(p):
    try:
        st = os.stat(p)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


class OutputPlan:
    """The inputs of a run and the outputs claimed so far; ``add`` raises ``OutputClash``."""

    def __init__(self, inputs=()):
        self._in_real = {}      # resolved input path -> input as given
        self._in_inode = {}     # (dev, ino) -> input
        self._in_parents = {}   # resolved folder holding an input -> that input
        self._out = {}          # folded resolved output -> (output, source)
        for p in inputs:
            self.add_input(p)

    def add_input(self, p):
        r = real_path(p)
        self._in_real.setdefault(r, Path(p))
        ino = _inode(r)
        if ino is not None:
            self._in_inode.setdefault(ino, Path(p))
        for parent in r.parents:
            if parent in self._in_parents:
                break
            self._in_parents[parent] = Path(p)

    def input_for(self, out):
        """The input that ``out`` would overwrite, or None."""
        r = real_path(out)
        hit = self._in_real.get(r)
        if hit is None and os.path.lexists(r):
            hit = self._in_inode.get(_inode(r))
        return hit

    def add(self, out, source=None):
        """Claim ``out`` (written from ``source``, for the message); returns it as a Path."""
        out = Path(out)
        r = real_path(out)
        hit = self.input_for(out)
        if hit is not None:
            made = f' (from {source})' if source is not None and Path(source) != hit else ''
            raise OutputClash(f'refusing to write {out}{made}: it is the input {hit}')
        if r in self._in_parents:
            raise OutputClash(f'refusing to write {out}: it is a folder holding the input {self._in_parents[r]}')
        inside = next((self._in_real[q] for q in r.parents if q in self._in_real and not q.is_dir()), None)
        if inside is not None:
            raise OutputClash(f'refusing to write {out}: its folder {inside} is an input file')
        key = _fold(r)
        prev = self._out.get(key)
        if prev is not None:
            other, other_src = prev
            if real_path(other) != r:
                raise OutputClash(f'refusing to write {out}: another output, {other}, differs only by letter case '
                                  '(one file where case is folded)')
            if source is not None and other_src is not None:
                raise OutputClash(f'refusing to write {out}: both {other_src} and {source} would write it')
            raise OutputClash(f'refusing to write {out}: it is already an output of this run')
        self._out[key] = (out, source)
        return out

    def __contains__(self, out):
        return _fold(real_path(out)) in self._out


def check_no_clobber(inputs, outputs):
    """``outputs``: paths, or ``(output, source)`` pairs. Raises ``OutputClash`` on the first clash;
    returns the ``OutputPlan`` so that later outputs can be added to it."""
    plan = OutputPlan(inputs)
    for item in outputs:
        out, src = item if isinstance(item, tuple) else (item, None)
        plan.add(out, src)
    return plan


def check_folder_pair(inp, out, in_name='input', out_name='output'):
    """Folder-to-folder tools: ``out`` may be neither ``inp``, nor inside it, nor hold it."""
    ri, ro = real_path(inp), real_path(out)
    if ro == ri or ri in ro.parents:
        raise OutputClash(f'refusing to write into {out}: the {out_name} folder must not be inside the '
                          f'{in_name} folder {inp}')
    if ro in ri.parents:
        raise OutputClash(f'refusing to write into {out}: the {out_name} folder holds the {in_name} folder {inp}, '
                          'so outputs could overwrite inputs')


def check_writable(folder):
    """Create ``folder`` when missing and prove a file can be made in it (then removed); raises
    ``OutputClash`` with ``write_error``'s line otherwise. One line up front instead of one per file."""
    folder = Path(folder)
    try:
        fd, tmp = temp_beside(folder / 'probe')
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OutputClash(write_error(folder, e)) from None


def _broken_link(path):
    """The first part of ``path`` (itself or a parent) that is a symbolic link to nothing, else None."""
    for p in [Path(path), *Path(path).parents]:
        try:
            if p.is_symlink() and not p.exists():
                return p
        except OSError:
            return None
    return None


def write_reason(path, exc):
    """Why ``path`` cannot be written, from the ``OSError`` ``exc`` (read-only, a folder, a broken link...)."""
    if isinstance(exc, IsADirectoryError):
        return 'it is a folder'
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        link = _broken_link(path)
        if link is not None:
            return f'{link} is a broken symbolic link (to {os.readlink(link)}, which does not exist)'
        return 'a part of the path is a file, not a folder'
    if isinstance(exc, PermissionError):
        return 'not allowed (read-only folder or file system?)'
    return getattr(exc, 'strerror', None) or (str(exc).splitlines() or [type(exc).__name__])[0]


def os_error_line(exc, output):
    """One line for the ``OSError`` ``exc`` of a run that writes under ``output``: ``write_error`` when it names no
    file or one in ``output``, else the file it names and why (an input that could not be read)."""
    name = getattr(exc, 'filename', None)
    if name is None:
        return write_error(output, exc)
    top = real_path(output)
    if real_path(name) == top or top in real_path(name).parents:
        return write_error(name, exc)
    return f'{name}: {getattr(exc, "strerror", None) or exc}'


def write_error(path, exc):
    """One line for an output that cannot be written: ``cannot write PATH: `` and ``write_reason``."""
    return f'cannot write {path}: {write_reason(path, exc)}'
