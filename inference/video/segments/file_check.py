"""Whether a finished segment in the work folder (``inference/video/segments/work_folder.py``) is the file this program wrote for this
plan: a regular file, the size and SHA-256 recorded when it was made, and a probe (ffmpeg alone, the mp4 demuxer
pinned, so a manifest or a playlist is not opened) that gives H.264 at the planned frame size, the recorded frame
count (the planned one, the last segment's excepted) and a duration that fits it."""
import hashlib
import os
import stat

from realesrgan_paddle.media.ffmpeg import VideoProbeError, probe_stream_copy

H264 = 'h264'


def check_file(parts, k, name, st, spec):
    """None when ``name`` (segment ``k``, ``st`` its lstat) passes, else the reason in a few words."""
    if not stat.S_ISREG(st.st_mode):
        return 'not a regular file (a link or a special file is never joined)'
    rec = parts.state['done'].get(str(k))
    if rec is None:
        return 'no record of it in the plan (this run did not make it)'
    if st.st_size != rec['bytes']:
        return f'{st.st_size} bytes where {rec["bytes"]} were written'
    end = spec.seg_end(k)
    if end is not None and rec['frames'] != end - spec.starts[k]:
        return f'{rec["frames"]} frames recorded where the plan has {end - spec.starts[k]}'
    if _sha256(parts.fd, name, st) != rec['sha256']:
        return 'its content is not what was written (another SHA-256)'
    reason = _probe_mismatch(parts.path / name, rec['frames'], spec)
    if reason is None and _changed(parts, name, st):
        reason = 'it changed while it was checked'
    return reason


def _sha256(dir_fd, name, st):
    """SHA-256 of ``name`` opened without following a link; None when it is no longer the file ``st`` names."""
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0), dir_fd=dir_fd)
    except OSError:
        return None
    h = hashlib.sha256()
    with os.fdopen(fd, 'rb') as f:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return None
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _probe_mismatch(path, frames, spec):
    try:
        info = probe_stream_copy(path, fmt='mp4')
    except VideoProbeError as e:
        msg = str(e)
        return msg[len(str(path)) + 2:] if msg.startswith(f'{path}: ') else msg
    if info['codec'] != H264:
        return f'{info["codec"]} video where the run writes {H264}'
    if (info['width'], info['height']) != (spec.ew, spec.eh):
        return f'{info["width"]}x{info["height"]} frames where the plan has {spec.ew}x{spec.eh}'
    if info['frames'] != frames:
        return f'{info["frames"]} frames where {frames} were written'
    want = frames / float(spec.rate)
    if info['duration'] is None or abs(info['duration'] - want) > 1.5 / float(spec.rate) + 0.02:
        return f'lasts {info["duration"]} s where {frames} frames last {want:.3f} s'
    return None


def _changed(parts, name, st):
    now = parts.lstat(name)
    return now is None or (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != \
        (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
