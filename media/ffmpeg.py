"""Finding and probing ffmpeg: the system binary, else imageio-ffmpeg's bundled one.

A user's media file reaches ffmpeg only through :class:`MediaInput`: a regular file (``utils.fileio``'s check),
opened here and handed over as a file descriptor (the ``fd`` protocol when the binary has it, else
``/proc/self/fd/N``), with ``-protocol_whitelist``: ffmpeg never sees the file's name, so nothing it prints
can carry it, and a demuxer that reads other files named inside the input (:data:`INDIRECT_FORMATS`: DASH and
HLS manifests, concat lists, image patterns...) is refused by the format the probe reports.
"""
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: the pipe keeps its size
    fcntl = None

from realesrgan_paddle.utils.fileio import open_or_fail

FIX = 'install it with `apt-get install ffmpeg` or `pip install imageio-ffmpeg`'


class FFmpegNotFound(RuntimeError):
    def __init__(self):
        super().__init__(f'ffmpeg was not found: {FIX}')


class VideoProbeError(RuntimeError):
    pass


class VideoUnreadable(VideoProbeError):
    """ffmpeg itself could not read the file (damaged, not a video): its reason in one line."""


# Demuxers that open other files or URLs named inside the input: manifests and playlists, lists of files,
# image-sequence patterns, scripts, network descriptions. Refused by the name the probe reports.
INDIRECT_FORMATS = frozenset({
    'dash', 'hls', 'applehttp', 'concat', 'image2', 'imf', 'sdp', 'rtsp', 'rtp', 'rtp_mpegts', 'lavfi',
    'vapoursynth', 'avisynth', 'webm_dash_manifest', 'dvdvideo'})
PROBE_TIMEOUT = 20  # seconds for one probe: a manifest naming a FIFO, or a slow disk, cannot hang the caller


@functools.lru_cache(maxsize=8)
def has_fd_protocol(exe):
    """True when ``exe`` reads ``-fd N -i fd:`` (ffmpeg 6.1 and later; imageio-ffmpeg's binary)."""
    try:
        out = subprocess.run([exe, '-hide_banner', '-protocols'], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    inputs = out.split('Input:', 1)[-1].split('Output:', 1)[0]
    return 'fd' in inputs.split()


class MediaInput:
    """A user's media file opened for one ffmpeg process: ``args`` go where ``-i NAME`` would (input options
    first), ``pass_fds`` to ``subprocess``. Only the opened regular file can be read: ``fd`` protocol alone
    when the binary has it (a manifest then cannot open anything), else ``file`` on ``/proc/self/fd/N``.
    ``fmt``: the demuxer to use (the probe's), so the reader cannot pick another. Raises ``error`` (one line
    naming the file) for a missing file, a FIFO, a device. Close it (or use ``with``) after the process."""

    def __init__(self, path, exe, fmt=None, error=None):
        error = error or VideoProbeError
        self.path, self._tmp = Path(path), None
        self.file = open_or_fail(path, error)
        fd = self.file.fileno()
        self.pass_fds = (fd,)
        pin = ['-f', fmt] if fmt else []
        if has_fd_protocol(exe):
            self.options, self.url = ['-protocol_whitelist', 'fd', '-fd', str(fd), *pin], 'fd:'
        elif os.path.isdir('/proc/self/fd'):
            self.options, self.url = ['-protocol_whitelist', 'file', *pin], f'/proc/self/fd/{fd}'
        else:  # no /proc: a link with a plain name in a private folder
            self._tmp = tempfile.mkdtemp(prefix='resr-in-')
            self.url = os.path.join(self._tmp, 'input')
            os.symlink(os.path.abspath(path), self.url)
            self.options = ['-protocol_whitelist', 'file', *pin]

    def args(self, input_args=()):
        """``[input options..., *input_args, '-i', url]``."""
        return [*self.options, *input_args, '-i', self.url]

    def close(self):
        self.file.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_format(path, format_name):
    """Refuse a demuxer that reads other files named inside the input (``format_name`` as ffmpeg reports it,
    comma-separated aliases); returns the demuxer to pin (the first alias)."""
    names = [n.strip() for n in str(format_name or '').split(',') if n.strip()]
    bad = [n for n in names if n in INDIRECT_FORMATS]
    if bad:
        raise VideoProbeError(f'{path}: is a {bad[0]} manifest, playlist or file list, which makes ffmpeg read '
                              'other files named inside it; give the video file itself')
    return names[0] if names else None


_FD_NAME = re.compile(r'(?:/proc/self/fd/\d+|\bfd:|\S*/resr-in-\w+/input): ')  # MediaInput's url in ffmpeg's messages


def _run_probe(cmd, inp, path):
    """Run a probe command on ``inp`` within :data:`PROBE_TIMEOUT`."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, errors='replace', pass_fds=inp.pass_fds,
                              stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise VideoProbeError(f'{path}: not a readable video (the probe took more than {PROBE_TIMEOUT} s)') from None


PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged processes


def widen_pipe(fileobj, size=PIPE_BYTES):
    """Grow an ffmpeg pipe's kernel buffer (64 KiB by default) so that a frame crosses in a few wake-ups
    instead of one per 64 KiB: each wake-up of ffmpeg preempts a thread of the model. Best effort (Linux)."""
    if fcntl is None:
        return
    try:
        fcntl.fcntl(fileobj.fileno(), getattr(fcntl, 'F_SETPIPE_SZ', 1031), size)
    except (OSError, ValueError, AttributeError):
        pass


def ffmpeg_exe():
    exe = shutil.which('ffmpeg')
    if exe:
        return exe
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or its binary is missing
        raise FFmpegNotFound() from None
    # IMAGEIO_FFMPEG_EXE is returned unchecked: make sure it can run
    if not exe or not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        raise FFmpegNotFound()
    return exe


def ffprobe_exe():
    """ffprobe next to the system ffmpeg, or None (imageio-ffmpeg ships none)."""
    return shutil.which('ffprobe')


def _parse_rate(text):
    if not text or text in ('0/0', 'N/A'):
        return None
    if '/' in text:
        num, den = text.split('/')
        return float(num) / float(den) if float(den) else None
    return float(text)


def _rate_in(line, unit):
    """'29.97 fps' / '1k tbr' in an ``ffmpeg -i`` stream line -> float, or None."""
    m = re.search(r'(\d+(?:\.\d+)?)(k?) ' + unit + r'\b', line)
    return float(m.group(1)) * (1000 if m.group(2) else 1) if m else None


def _rate_text(rate):
    """ffmpeg prints 2 decimals: give 29.97/23.98/59.94 back as the NTSC rationals they stand for."""
    ntsc = round(rate * 1.001)
    if rate != int(rate) and abs(rate * 1.001 - ntsc) < 0.006:
        return f'{ntsc * 1000}/1001'
    return f'{rate:g}'


def _sar(text):
    """Sample (pixel) aspect ratio 'a:b' as (a, b), or None when square or unknown ('0:1', 'N/A')."""
    m = re.fullmatch(r'(\d+):(\d+)', str(text or ''))
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0 or m.group(1) == m.group(2):
        return None
    return int(m.group(1)), int(m.group(2))


def _clockwise(degrees):
    """Display rotation as clockwise degrees in [0, 360), from a display-matrix angle (counter-clockwise)."""
    return int(round(-float(degrees))) % 360


def probe_video(path):
    """Return ``dict(width, height, fps, fps_str, r_fps_str, rotation, duration, video_duration, nb_frames,
    has_audio, codec, format)``.

    ``format``: the demuxer (refused when it reads other files: :func:`check_format`). Uses ffprobe when present, else parses ``ffmpeg -i``. ``nb_frames``,
    ``duration`` and the video stream's own ``video_duration`` (ffprobe only)
    may be None (containers without them). ``fps_str`` is the
    average rate, ``r_fps_str`` the base rate ffmpeg guesses from the
    timestamps (``tbr``; can be higher than the average for VFR files).
    ``sar`` is the pixel aspect ratio ``(a, b)``, None for square pixels.
    ``width``/``height`` are the coded size; ``rotation`` is how far a player
    turns the picture clockwise (display matrix, else the legacy ``rotate``
    tag), 0 when none. Raises VideoProbeError with a one-line reason for
    unreadable files or files without a video stream.
    """
    path = Path(path)
    probe = ffprobe_exe()
    with MediaInput(path, probe or ffmpeg_exe()) as inp:
        if probe:
            res = _run_probe([probe, '-v', 'error', *inp.options, '-print_format', 'json', '-show_streams',
                              '-show_format', inp.url], inp, path)
            return _from_json(path, res)
        res = _run_probe([ffmpeg_exe(), '-hide_banner', '-nostdin', *inp.args()], inp, path)
        return _from_log(path, res.stderr)


def probe_stream_copy(path, fmt=None, exe=None):
    """``probe_video``'s facts from ``ffmpeg -i`` alone (no ffprobe needed: imageio-ffmpeg's binary does), plus
    ``frames``: the first video stream's packets counted by a copy pass (no decode, so it is fast). ``fmt``: the
    demuxer to pin (a manifest or another container then does not open). Raises VideoProbeError in one line."""
    exe = exe or ffmpeg_exe()
    with MediaInput(path, exe, fmt=fmt) as inp:
        res = _run_probe([exe, '-hide_banner', '-nostdin', *inp.args(), '-map', '0:v:0', '-c', 'copy', '-f', 'null',
                          '-'], inp, path)
    info = _from_log(Path(path), res.stderr)
    count = re.findall(r'(?:^|\r|\n)frame=\s*(\d+)', res.stderr)
    if res.returncode != 0 or not count:
        raise VideoUnreadable(f'{path}: not a readable video ({error_reason(res.stderr)})')
    info['frames'] = int(count[-1])
    return info


def _from_json(path, res):
    """``probe_video``'s facts from ffprobe's JSON."""
    if res.returncode != 0 and _MANIFEST_HINT.search(res.stderr):
        raise _manifest(path)
    if res.returncode != 0:
        msg = _FD_NAME.sub('', (res.stderr.strip().splitlines() or ['unreadable'])[-1])
        raise VideoUnreadable(f'{path}: not a readable video ({msg})')
    try:
        info = json.loads(res.stdout or '{}')
    except ValueError:
        raise VideoProbeError(f'{path}: not a readable video (ffprobe gave no report)') from None
    fmt = check_format(path, info.get('format', {}).get('format_name'))
    streams = info.get('streams', [])
    video = [s for s in streams if s.get('codec_type') == 'video' and
             not s.get('disposition', {}).get('attached_pic')]
    if not video:
        raise VideoProbeError(f'{path}: has no video stream')
    v = video[0]
    fps_str = v.get('avg_frame_rate') if _parse_rate(v.get('avg_frame_rate')) else v.get('r_frame_rate')
    dur = v.get('duration') or info.get('format', {}).get('duration')
    nb = v.get('nb_frames')
    matrix = [d for d in v.get('side_data_list', []) if d.get('rotation') is not None]
    tag = v.get('tags', {}).get('rotate', '0')
    rotation = (_clockwise(matrix[0]['rotation']) if matrix else
                int(float(tag)) % 360 if re.fullmatch(r'-?\d+(\.\d+)?', tag) else 0)
    r_fps = v.get('r_frame_rate') if _parse_rate(v.get('r_frame_rate')) else None
    return dict(width=int(v['width']), height=int(v['height']), fps=_parse_rate(fps_str), fps_str=fps_str,
                r_fps_str=r_fps, rotation=rotation, sar=_sar(v.get('sample_aspect_ratio')),
                duration=float(dur) if dur not in (None, 'N/A') else None,
                video_duration=float(v['duration']) if v.get('duration') not in (None, 'N/A') else None,
                nb_frames=int(nb) if nb and nb.isdigit() else None,
                has_audio=any(s.get('codec_type') == 'audio' for s in streams), codec=v.get('codec_name'),
                format=fmt)


# what ffmpeg says when a manifest, playlist or list could not open the files it names (the fd protocol alone,
# or names relative to /proc/self/fd/): refused as what it is, not as a damaged video
_MANIFEST_HINT = re.compile(r'fragment of playlist|m3u8/hls|Unsafe file name|Impossible to open')


def _manifest(path):
    return VideoProbeError(f'{path}: is a manifest, playlist or file list naming other files (not read); '
                           'give the video file itself')
_INPUT = re.compile(r'^Input #0, (.+), from \'', re.M)
# the frame size in a video stream's line: ", WxH" followed by a space, a comma or the end (1 to 5 digits: a 3x3 or
# 1x16 video is one too; the codec tag "(avc1 / 0x31637661)" has no comma before it)
_FRAME_SIZE = re.compile(r'Stream #\S+.*?: Video: (\w+).*?, (\d{1,5})x(\d{1,5})(?=[\s,\[]|$)', re.M)
_DURATION = re.compile(r'^  Duration: (\d+):(\d+):(\d+(?:\.\d+)?)', re.M)  # input #0's own line, 2 spaces


def _from_log(path, err):
    """``probe_video``'s facts from ``ffmpeg -i``'s report (the input named by a descriptor, never by its name:
    a name cannot forge a line)."""
    m = _INPUT.search(err)
    if not m and _MANIFEST_HINT.search(err):
        raise _manifest(path)
    if not m:
        raise VideoUnreadable(f'{path}: not a readable video ({error_reason(err)})')
    fmt = check_format(path, m.group(1))
    videos = video_streams(err)
    if not videos:
        raise VideoProbeError(f'{path}: has no video stream')
    m = _FRAME_SIZE.search(err, err.index(videos[0]))
    if not m:
        raise VideoProbeError(f'{path}: not a readable video (no frame size in: {videos[0]})')
    # the first video stream's own lines: up to the next stream / section
    block = re.split(r'\n\s*(?:Stream #|Output #|At least one)', err[m.start():].split('\n', 1)[-1], maxsplit=1)[0]
    line = err[m.start():].split('\n', 1)[0]
    tbr = _rate_in(line, 'tbr')
    fps = _rate_in(line, 'fps') or tbr
    rot_m = re.search(r'rotation of (-?\d+(?:\.\d+)?) degrees', block)
    tag_m = re.search(r'^\s*rotate\s*:\s*(-?\d+)', block, re.M)
    rotation = _clockwise(rot_m.group(1)) if rot_m else int(tag_m.group(1)) % 360 if tag_m else 0
    dur_m = _DURATION.search(err)
    duration = None
    if dur_m:
        h, mi, s = dur_m.groups()
        duration = int(h) * 3600 + int(mi) * 60 + float(s)
    fps_str = _rate_text(fps) if fps else None
    sar_m = re.search(r'\[SAR (\d+:\d+) DAR', line)
    return dict(width=int(m.group(2)), height=int(m.group(3)), fps=_parse_rate(fps_str), fps_str=fps_str,
                r_fps_str=_rate_text(tbr) if tbr else None, rotation=rotation, sar=_sar(sar_m and sar_m.group(1)),
                duration=duration, video_duration=duration if len(stream_lines(err)) == 1 else None, nb_frames=None,
                has_audio=any(kind == 'Audio' for kind, _ in stream_lines(err)), codec=m.group(1), format=fmt)


_STREAM = re.compile(r'^  Stream #0:\d+\S*: (\w+): .*$', re.M)  # input #0's streams: 2 spaces, no metadata
_REASONS = ('Invalid data found', 'moov atom not found', 'No such file', 'Permission denied', 'could not find codec',
            'does not contain any stream', 'End of file', 'Invalid argument')


def stream_lines(text):
    """``[(kind, line)]`` of input #0's streams in ffmpeg's ``-i`` report (kind: Video, Audio, Subtitle...)."""
    return [(m.group(1), m.group(0).strip()) for m in _STREAM.finditer(text.split('\nOutput #', 1)[0])]


def video_streams(text):
    """The stream lines of real video streams (cover art, '(attached pic)', is no video)."""
    return [line for kind, line in stream_lines(text) if kind == 'Video' and '(attached pic)' not in line]


def error_reason(text):
    """ffmpeg's own reason for failing to open an input, as ffprobe would give it (one line)."""
    lines = [_FD_NAME.sub('', ln.strip()) for ln in text.splitlines() if ln.strip()]
    for key in _REASONS:
        for ln in lines:
            if key.lower() in ln.lower():
                return ln[ln.lower().index(key.lower()):]
    lines = [ln for ln in lines if 'At least one output file' not in ln]
    return lines[-1] if lines else 'unreadable'
