"""``OUT.parts/``, the work folder of a segmented video (``inference/video/segments/plan.py``), and the rules that make it the
program's own (docs/reliability.md, "The parts folder"):

- it is a real folder, made by a run or opened as one (``O_DIRECTORY | O_NOFOLLOW``): a symbolic link or a file
  under its name is refused in one line. Every listing and removal goes through that descriptor, so nothing
  outside the folder is ever removed, and before the join and the final clean-up the name must still be that
  folder;
- one run at a time: ``lock`` holds the pid of the run that has its ``flock`` (a killed run's lock is free again,
  so it is taken over); a second run refuses in one line naming the first. The lock is opened without following a
  link and written only when it is a regular file of this user's with one name; anything else under its name is
  removed (the name) and made fresh;
- only regular files with the program's own names are removed: ``seg_NNNNN.mp4``, ``plan.json``, ``lock``, and
  the temporary ``.seg_*``, ``.join.*``, ``.concat.*``, ``.plan.json.*`` files whose writer's pid is gone;
- ``plan.json`` is read without following a link, at most ``PLAN_BYTES``; its plan must equal the one made again
  from the input (a forged or stale field is one line and a fresh plan, never used), and each finished segment is
  recorded in it (frames, bytes, SHA-256) before the segment gets its final name;
- a segment is reused, and joined, only when it is a regular file with the size and SHA-256 recorded for it and
  its probe (``media.ffmpeg.probe_stream_copy``: ffmpeg alone, the mp4 demuxer pinned) gives the codec, the
  frame size, the frame count and the duration the plan asks for; anything else is logged and redone.
"""
import hashlib
import json
import logging
import os
import re
import stat
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: segments cannot be locked there
    fcntl = None

from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils.fileio import (NotOwnFileError, atomic_write_bytes, atomic_write_text, fit_name,
                                            open_own_file, pid_alive, sha256_file, temp_beside)

from .file_check import check_file

log = logging.getLogger('inference')
PLAN, LOCK = 'plan.json', 'lock'
PLAN_BYTES = 16 << 20
MAX_FRAMES = 10 ** 8  # a segment's frame count beyond this is no record of ours
_OURS = re.compile(r'^(?:seg_\d{5}\.mp4|plan\.json|lock)$')
_TEMP = re.compile(r'^\.(?:seg_\d{5}\.mp4|join|concat|plan\.json)\.(\d+)-[a-z0-9_]{8}(?:\.[A-Za-z0-9]{1,8}){0,2}$')
_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)


def segment_name(k):
    return f'seg_{k:05d}.mp4'


def _pid_gone(pid):
    return pid != os.getpid() and not pid_alive(pid)


class PartsFolder:
    """The work folder of ``dst``, opened and locked by ``open()``; ``close()`` lets go of it."""

    def __init__(self, dst):
        self.dst = Path(dst)
        self.path = self.dst.with_name(fit_name(self.dst.name, len('.parts')) + '.parts')  # a long name: cut, hashed
        self.fd = self.lock_fd = None
        self.state = None
        self._checked = {}  # segment -> (dev, ino, size, mtime_ns) of the file that passed its check

    def __str__(self):
        return str(self.path)

    # ------------------------------------------------------------ the folder and its lock
    def open(self):
        for _ in range(5):  # the run that held the lock may remove the folder as this one opens it
            try:
                self._open_dir()
                if self._take_lock() and self.same_folder():
                    return self
            except BaseException:
                self.close()
                raise
            self.close()
        raise VideoError(f'{self.path}: cannot take the work folder (another run keeps removing it)')

    def _open_dir(self):
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise VideoError(f'{self.path}: cannot read the work folder ({e.strerror or e})') from None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise self._not_folder(st.st_mode)
        try:
            if st is None:
                os.mkdir(self.path)
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
        except FileExistsError:
            return self._open_dir()
        except OSError as e:
            if os.path.islink(self.path) or os.path.exists(self.path) and not os.path.isdir(self.path):
                raise self._not_folder(os.lstat(self.path).st_mode) from None
            raise VideoError(f'{self.path}: cannot make the work folder ({e.strerror or e})') from None

    def _not_folder(self, mode):
        what = 'a symbolic link' if stat.S_ISLNK(mode) else 'not a folder'
        return VideoError(f'{self.path}: is {what}; the work folder of {self.dst} must be a real folder this '
                          'program makes (nothing was written; remove it or choose another output)')

    def _open_lock(self):
        """The lock's descriptor, opened without following a link and checked before anything is written to it: a
        regular file of this user's with one name (``open_own_file``). A link, a hard link to a user's file (which
        the run truncated and wrote its pid into) or another kind of file under the name is removed (the name only),
        with one line, and a fresh lock made (``O_EXCL``)."""
        where = f'{self.path}/{LOCK}'
        try:
            return open_own_file(LOCK, os.O_RDWR | os.O_CREAT, dir_fd=self.fd)
        except NotOwnFileError as e:
            log.info('%s; removed (the name only: what it points to is untouched)', str(e).replace(LOCK, where, 1))
            try:
                os.unlink(LOCK, dir_fd=self.fd)
                return open_own_file(LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, dir_fd=self.fd)
            except OSError as again:
                raise VideoError(f'{where}: not this program\'s lock, and it cannot be replaced ({again}); remove '
                                 'it') from None
        except OSError as e:
            raise VideoError(f'{where}: cannot open the lock ({e.strerror or e}); remove it') from None

    def _take_lock(self):
        if fcntl is None:
            raise VideoError(f'{self.path}: resumable segments need POSIX file locks (fcntl), which this system '
                             'lacks; run without segments')
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.pread(fd, 32, 0).decode('ascii', 'replace').strip()
            os.close(fd)
            pid = pid if pid.isdigit() else 'unknown'
            raise VideoError(f'{self.dst}: another run (pid {pid}) is writing it, with {self.path}; wait for it '
                             'to finish or stop it') from None
        self.lock_fd = fd
        st, now = os.fstat(fd), self.lstat(LOCK)
        if now is None or (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):
            return False  # removed by the run that held it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        return True

    def same_folder(self):
        """True while the name still is the folder this run opened."""
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        own = os.fstat(self.fd)
        return stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    def check(self):
        if not self.same_folder():
            raise VideoError(f'{self.path}: the work folder was moved or replaced during the run; stopped '
                             '(nothing joined)')

    def close(self):
        for name in ('lock_fd', 'fd'):
            if getattr(self, name) is not None:
                os.close(getattr(self, name))
                setattr(self, name, None)

    # ------------------------------------------------------------ the program's own files
    def lstat(self, name):
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _remove(self, name):
        """Remove ``name`` when it is a regular file with one of the program's names (never a link's target)."""
        st = self.lstat(name)
        if st is not None and stat.S_ISREG(st.st_mode) and (_OURS.match(name) or _TEMP.match(name)):
            try:
                os.unlink(name, dir_fd=self.fd)
            except FileNotFoundError:
                pass

    def remove_stale(self):
        """Temporary files of writers whose pid is gone (a killed run's half-written segment, join or list)."""
        for name in os.listdir(self.fd):
            m = _TEMP.match(name)
            if m and _pid_gone(int(m.group(1))):
                self._remove(name)

    def start_over(self):
        """Every segment removed, then plan.json (last: a kill in between leaves no segment without its record)."""
        for name in sorted(os.listdir(self.fd)):
            if name not in (LOCK, PLAN) and _OURS.match(name):
                self._remove(name)
        self._remove(PLAN)
        self._checked.clear()

    def clear(self):
        """The end of a run: the program's files removed, then the folder when nothing else is left in it."""
        self.check()
        self.remove_stale()
        self.start_over()
        self._remove(LOCK)
        left = os.listdir(self.fd)
        self.close()
        if left:
            log.info('%s: kept, it holds files this program did not make (%s)', self.path,
                     ', '.join(map(repr, left[:3])))
            return
        try:
            os.rmdir(self.path)
        except OSError as e:
            log.info('%s: not removed (%s)', self.path, e.strerror or e)

    def temp(self, stem, suffix, text=''):
        """A fresh file of our own in the folder (``O_EXCL``, so never an existing name or link), holding
        ``text``: ``.STEM.PID-XXXXXXXX SUFFIX``; returns its path."""
        fd, tmp = temp_beside(self.path / stem, suffix=suffix)
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        return Path(tmp)

    # ------------------------------------------------------------ the plan
    def read_plan(self):
        """``plan.json`` as a dict, or ``(None, reason)`` when there is none or it is no plan of ours."""
        try:
            fd = os.open(PLAN, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.fd)
        except FileNotFoundError:
            return None, None
        except OSError as e:
            return None, 'not a regular file' if self.lstat(PLAN) else (e.strerror or str(e))
        with os.fdopen(fd, 'rb') as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > PLAN_BYTES:
                return None, 'not a regular file' if not stat.S_ISREG(st.st_mode) else f'{st.st_size} bytes'
            data = f.read(PLAN_BYTES + 1)
        try:
            state = json.loads(data)
        except (ValueError, RecursionError):
            return None, 'not valid JSON'
        return (state, None) if isinstance(state, dict) else (None, 'not a JSON object')

    def load(self, fresh):
        """The saved state when it holds ``fresh``'s fingerprint and plan (its records of finished segments kept);
        else one log line, the folder's segments removed and ``fresh`` saved. ``fresh``: the plan made again."""
        fresh = json.loads(json.dumps(fresh))
        state, reason = self.read_plan()
        reason = _plan_mismatch(state, fresh) if state is not None else reason and f'{PLAN}: {reason}'
        if state is not None and reason is None:  # a record out of range or of another type: that segment is redone
            n = len(fresh['starts'])
            self.state = dict(fresh, done={k: r for k, r in state['done'].items() if _valid_record(k, r, n)})
            return self.state
        if reason:
            log.info('%s: %s; starting over', self.path, reason)
        self.start_over()
        self.state = dict(fresh, done={})
        self.save()
        return self.state

    def save(self):
        atomic_write_text(self.path / PLAN, json.dumps(self.state, indent=1))

    # ------------------------------------------------------------ segments
    def record(self, k, path, frames):
        """Record segment ``k`` (the finished file at ``path``, not yet under its final name) in plan.json."""
        self.state['done'][str(k)] = dict(frames=int(frames), bytes=os.path.getsize(path), sha256=sha256_file(path))
        self.save()

    def store_bytes(self, k, data, frames):
        """Segment ``k`` made elsewhere (a Ray worker): recorded, written under a temporary name, synced, renamed."""
        self.state['done'][str(k)] = dict(frames=int(frames), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        self.save()
        atomic_write_bytes(self.path / segment_name(k), data)

    def finished(self, n):
        """Segments under their final names with a record (not yet checked): what a disk error reports kept."""
        return [k for k in range(n) if self.lstat(segment_name(k)) is not None and str(k) in self.state['done']]

    def reusable(self, spec):
        """The finished segments that pass ``check_segment``; the others are logged (one line each), their
        records dropped and their files removed (a link is left: the new segment's rename replaces it)."""
        ok = []
        for k in range(len(spec.starts)):
            st = self.lstat(segment_name(k))
            if st is None:
                self.state['done'].pop(str(k), None)
                continue
            reason = self.check_segment(k, spec)
            if reason is None:
                ok.append(k)
                continue
            log.info('%s/%s: %s; it is made again', self.path, segment_name(k), reason)
            self.state['done'].pop(str(k), None)
            self._remove(segment_name(k))
        return ok

    def check_segment(self, k, spec):
        """None when segment ``k`` is the file this program recorded and fits the plan, else the reason."""
        name = segment_name(k)
        st = self.lstat(name)
        key = st and (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key is not None and self._checked.get(k) == key:
            return None
        reason = check_file(self, k, name, st, spec)
        if reason is None:
            self._checked[k] = key
        return reason

    def checked_unchanged(self, n):
        """True when the ``n`` segments are still the files that passed their check (after the join read them)."""
        for k in range(n):
            st = self.lstat(segment_name(k))
            if st is None or self._checked.get(k) != (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns):
                return False
        return True


def _plan_mismatch(state, fresh):
    """Why a saved state is not this run's plan (None when it is): the fingerprint, each planned field compared
    with the plan made again (so no field is used before it is known to be right), the records' types."""
    saved = state.get('fingerprint')
    if saved != fresh['fingerprint']:
        what = [k for k in ('input', 'model', 'options')
                if not isinstance(saved, dict) or saved.get(k) != fresh['fingerprint'][k]]
        return f'the {", ".join(what) or "plan"} changed since the segments there were made'
    bad = [k for k in fresh if k != 'fingerprint' and state.get(k) != fresh[k]]
    if bad:
        return f'{PLAN} is not the plan of this input ({", ".join(bad)} differ)'
    if not isinstance(state.get('done'), dict):
        return f'{PLAN} holds no records of segments this program wrote'
    return None


def _valid_record(k, rec, n):
    ints = isinstance(rec, dict) and all(type(rec.get(f)) is int for f in ('frames', 'bytes'))
    return (isinstance(k, str) and k.isdigit() and len(k) <= 6 and int(k) < n and ints
            and 1 <= rec['frames'] <= MAX_FRAMES and 1 <= rec['bytes'] <= 1 << 50
            and isinstance(rec.get('sha256'), str) and re.fullmatch(r'[0-9a-f]{64}', rec['sha256']) is not None)
