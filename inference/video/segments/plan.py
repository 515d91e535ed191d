"""Resumable video upscaling: the video is cut into segments of output frames, each encoded on its own into
a work folder beside the output (``OUT.parts/``), then joined without re-encoding.

The plan: the one-pass upscaler (``inference/video/one_pass.py``) maps every decoded frame to a slot of a constant-rate
output (``FrameSlots``). A segment is a range of those slots; cuts fall on the input's keyframes (found by a
keyframe-only decode, fast), at least ``segment_seconds`` apart, or every ``segment_seconds`` where keyframes
are further apart than twice that. A span of segments is decoded from just before its first cut (``-ss`` with
``-copyts``, so the decoder reports the file's own times) and every frame goes to the slot the one-pass run
gives it, so the joined frames, their count and their times equal a one-pass run's. Frames decoded before
the cut (``overlap_frames``, at least one) go through the model with their outputs discarded: a stateful
per-frame filter on the upscaler (``reset()``) starts the segment as it would mid-video, and a gap at the cut
holds the previous picture as one pass does.

Each segment is its own x264 encode (so it starts with a keyframe of the output) with the same settings, written
under a temporary name, synced, recorded and renamed when complete. ``plan.json`` holds the plan, a fingerprint of
the input (size, mtime, a hash of its first and last MiB), the model and the options that change pixels, and the
record of each finished segment: a re-run with the same fingerprint and plan reuses the finished segments that pass
their check, another one starts over (one log line). The work folder's rules (a real folder, locked, only the
program's own files removed, every segment checked before it is reused or joined) are ``inference/video/segments/work_folder.py``'s.
The join is ffmpeg's concat demuxer on a list the program writes in that folder, naming the checked segments by
their plain names (``-c copy``, the demuxer's safe mode), with the input's audio (AAC, as one pass) and subtitles.
"""
import errno
import hashlib
import logging
import os
import re
import subprocess
from pathlib import Path

from realesrgan_paddle.media.ffmpeg import MediaInput, VideoProbeError, probe_stream_copy
from realesrgan_paddle.media.video_reader import VideoError

from .work_folder import segment_name  # the segments' names are the work folder's

log = logging.getLogger('inference')
MIN_SEGMENTS = 3  # a short clip is cut into at least this many segments: a stop after its first third keeps work
_KEY_TIME = re.compile(r'\[Parsed_showinfo[^\]]*\] n:\s*\d+ pts:\s*-?\d+\s+pts_time:\s*(-?[\d.]+)')


# ------------------------------------------------------------------ the plan
def keyframe_times(exe, src):
    """The input's keyframe times in seconds (a decode of the keyframes only)."""
    res = subprocess.run([exe, '-hide_banner', '-nostdin', '-skip_frame', 'nokey', '-i', str(src), '-map', '0:V:0',
                          '-vf', 'showinfo', '-f', 'null', '-'], capture_output=True, text=True, errors='replace')
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        raise VideoError(f'{src}: cannot read its keyframes ({lines[-1].strip() if lines else "ffmpeg failed"})')
    return [float(m.group(1)) for m in _KEY_TIME.finditer(res.stderr)]


def cut_slots(key_slots, total, seg_frames):
    """Segment starts (slots): at a keyframe at least ``seg_frames`` after the previous cut, or exactly
    ``seg_frames`` after it when the next keyframe is more than twice that away."""
    starts, keys = [0], sorted(set(s for s in key_slots if s > 0))
    while True:
        target = starts[-1] + seg_frames
        if total is not None and target >= total:
            return starts
        nxt = next((s for s in keys if s >= target), None)
        cut = nxt if nxt is not None and nxt <= starts[-1] + 2 * seg_frames else target
        if total is None and nxt is None:
            return starts
        if total is not None and cut >= total:
            return starts
        starts.append(cut)


def segment_frames(segment_seconds, rate, total, overlap=0):
    """Output frames a segment aims at: ``segment_seconds`` worth, fewer for a clip shorter than
    ``MIN_SEGMENTS`` of those, so that it too has that many and an interrupted run of it resumes; never fewer than
    ``overlap`` + 1, the frames run again through the model before each cut, so cutting a short clip at most
    doubles a segment's work (a 3 s clip at 25 fps: three segments of 25 frames; 10 s and more: 10 s each)."""
    longest = max(1, int(round(segment_seconds * float(rate))))
    if not total:
        return longest
    return min(longest, max(-(-int(total) // MIN_SEGMENTS), int(overlap) + 1))


def make_plan(exe, src, rate, total, segment_seconds, overlap=0):
    keys = keyframe_times(exe, src)
    first = keys[0] if keys else 0.0
    lead = max(int(first * float(rate) + 1e-3), 0)
    key_slots = [lead + int(round((t - first) * float(rate))) for t in keys]
    seg_frames = segment_frames(segment_seconds, rate, total, overlap)
    if seg_frames < segment_frames(segment_seconds, rate, None):  # a short clip: its cuts where its count needs them
        key_slots = []  # (a segment's decoder starts at the keyframe before its cut all the same)
    return dict(rate=str(rate), first=first, lead=lead, total=total,
                starts=cut_slots(key_slots, total, seg_frames))


# ------------------------------------------------------------------ the fingerprint
def _file_id(path, chunk=1 << 20):
    st = path.stat()
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        h.update(f.read(chunk))
        if st.st_size > chunk:
            f.seek(max(chunk, st.st_size - chunk))
            h.update(f.read(chunk))
    return dict(size=st.st_size, mtime_ns=st.st_mtime_ns, head_tail=h.hexdigest())


def model_identity(up):
    """What names the model's pixels: its path with the sizes and times of its files, arch, scale, engine."""
    p = Path(str(getattr(up, 'model_path', '')))
    files = sorted(p.rglob('*')) if p.is_dir() else [p] if p.is_file() else []
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    backend = getattr(up, 'backend', None)
    return dict(path=str(p), files=stats, arch=repr(getattr(up, 'arch', None)), scale=getattr(up, 'scale', None),
                backend=[getattr(backend, k, None) for k in ('kind', 'name', 'engine', 'precision')],
                tile=repr(getattr(up, 'tile', None)), outscale=getattr(up, 'outscale', None))


def fingerprint(src, up, options):
    return dict(input=_file_id(Path(src)), model=model_identity(up), options=options)


# ------------------------------------------------------------------ the join
def subtitle_codec(dst):
    return 'copy' if Path(dst).suffix.lower() == '.mkv' else 'mov_text'


def join_segments(exe, src, parts, n, dst, has_audio, fmt=None):
    """Concatenate the ``n`` checked segments (``-c copy``) with ``src``'s audio (AAC) and subtitles into ``dst``;
    returns the frames the joined video holds. The list and the joined file are fresh files of the work folder
    (``O_EXCL``), the list names the segments by their plain names (the concat demuxer's safe mode: no path, no
    protocol), and the result replaces ``dst`` only when the segments are still the checked files and its frame
    count is theirs. ``src`` is read by descriptor with its probed demuxer ``fmt`` pinned (``MediaInput``)."""
    lst = parts.temp('concat', '.txt', ''.join(f"file '{segment_name(k)}'\n" for k in range(n)))
    tmp = lst
    try:
        tmp = parts.temp('join', Path(dst).suffix)  # ffmpeg picks the container from the suffix
        with MediaInput(src, exe, fmt=fmt, error=VideoError) as src_in:
            _run_join(exe, src_in, lst, tmp, parts, n, dst, has_audio)
        frames = _joined_frames(exe, tmp, parts, n, dst)
        parts.check()
        os.replace(tmp, dst)
        return frames
    finally:
        for p in {tmp, lst}:
            if os.path.exists(p):
                os.unlink(p)


def _run_join(exe, src_in, lst, tmp, parts, n, dst, has_audio):
    base = [exe, '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'concat', '-safe', '1',
            '-protocol_whitelist', 'file', '-i', str(lst), *src_in.args(), '-map', '0:v:0', '-c:v', 'copy']
    audio = ['-map', '1:a?', '-c:a', 'aac', '-b:a', '192k'] if has_audio else []
    for subs in (['-map', '1:s?', '-c:s', subtitle_codec(dst)], []):  # subtitles a container refuses: dropped
        os.lseek(src_in.file.fileno(), 0, os.SEEK_SET)  # the descriptor's offset is shared with each ffmpeg
        res = subprocess.run([*base, *audio, *subs, str(tmp)], capture_output=True, text=True, errors='replace',
                             pass_fds=src_in.pass_fds)
        if res.returncode == 0:
            if not subs:
                log.info('%s: the subtitles could not go into %s and were left out', src_in.path, Path(dst).suffix)
            return
    raise _write_error(dst, parts, res.stderr, n)


def _joined_frames(exe, tmp, parts, n, dst):
    """The joined file's frame count, which must be the sum of the segments' (each checked, still unchanged)."""
    want = sum(parts.state['done'][str(k)]['frames'] for k in range(n))
    try:
        got = probe_stream_copy(tmp, exe=exe)['frames']
    except VideoProbeError as e:
        raise VideoError(f'{dst}: the joined video cannot be read back ({e}); {n} finished segments kept in '
                         f'{parts}') from None
    if not parts.checked_unchanged(n) or got != want:
        raise VideoError(f'{dst}: the joined video has {got} frames where the segments hold {want} (a segment '
                         f'changed during the join); not written, {n} finished segments kept in {parts}')
    return got


def _write_error(dst, folder, text, kept):
    lines = [ln.strip() for ln in (text or '').splitlines() if ln.strip()]
    reason = lines[-1] if lines else 'ffmpeg failed'
    if 'No space left' in (text or ''):
        reason = 'the disk is full'
    return VideoError(f'{dst}: cannot write the output ({reason}); {kept} finished segments kept in {folder}')


def disk_error(dst, folder, err, kept):
    reason = 'the disk is full' if getattr(err, 'errno', None) == errno.ENOSPC else str(err).splitlines()[0]
    return VideoError(f'{dst}: cannot write ({reason}); {kept} finished segments kept in {folder}')


def spans(todo):
    """Maximal runs of consecutive segment numbers: [(first, last + 1)]."""
    out = []
    for k in todo:
        if out and out[-1][1] == k:
            out[-1][1] = k + 1
        else:
            out.append([k, k + 1])
    return [tuple(s) for s in out]
