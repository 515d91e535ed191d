"""Decoded frames from ffmpeg, with their timestamps: the one reader behind the video upscaler and the
keyframe extractor, and ``VideoError``, the one error for a video that cannot be read or processed.

ffmpeg decodes the first real video stream (``0:V:0``: cover art is no video) through the caller's
filters and a final ``showinfo``, and writes raw BGR24 frames to stdout. ``showinfo`` logs every frame
(n, pts, size, key flag, picture type) before ffmpeg writes it, so one thread parses the log while another
reads each frame the log announced: the consumer gets ``(frame, info)`` while ffmpeg keeps decoding.
Times are exact (pts x the filter's time base). Standard library only at import; numpy loads in the
reader thread, while ffmpeg is already decoding.

The input is probed first (``media.ffmpeg.probe_video``: a FIFO, a device, a manifest or a playlist is refused
in one line) and reaches ffmpeg through ``media.ffmpeg.MediaInput``, by descriptor, with the probed demuxer
pinned: the file's name never appears in the log parsed here, so it cannot forge a ``Duration`` or a
``showinfo`` line, and each frame's size is checked against the pixel limit before its buffer is allocated.
"""
import collections
import queue
import re
import subprocess
import threading
from fractions import Fraction

from realesrgan_paddle.media.ffmpeg import (
    FFmpegNotFound, MediaInput, VideoProbeError, VideoUnreadable, ffmpeg_exe, probe_video,
    widen_pipe)

_CTX = r'^\[Parsed_showinfo_\d+ @ (?:0x)?[0-9a-fA-F]+\] '  # the filter's own context, at the line's start
_INFO = re.compile(_CTX + r'n:\s*(\d+) pts:\s*(-?\d+|NOPTS)\s+pts_time:\s*(\S+).*?\bs:(\d+)x(\d+)'
                   r'(?:.*?\biskey:(\d))?(?:.*?\btype:(\S))?')
_CONFIG = re.compile(_CTX + r'config in time_base: (\d+)/(\d+), frame_rate: (\d+)/(\d+)')
_DURATION = re.compile(r'^  Duration: (\d+):(\d+):(\d+(?:\.\d+)?)')
# ``-loglevel level+info`` tags each line after its context: ``[ctx @ 0x..] [error] message``
_LEVEL = re.compile(r'^((?:\[[^\]]*@[^\]]*\]\s*)*)\[(trace|debug|verbose|info|warning|error|fatal|panic)\]\s?')
_ERROR_LEVELS = ('error', 'fatal', 'panic')
LOG_LINES = 200  # ffmpeg messages kept from the start and from the end of the log (frame lines excluded)
INFO_TIMEOUT = 30  # seconds to wait for a frame's log line before reading frames of the known size untimed


class VideoError(RuntimeError):
    """A video that cannot be read or processed; the message is one line naming the file and the problem."""


def frame_command(src, filters=(), input_args=(), exe=None, inp=None):
    """The ffmpeg argument list: ``src``'s first video stream through ``filters`` + showinfo to raw BGR24;
    ``inp``: the ``media.ffmpeg.MediaInput`` that opened ``src`` (its descriptor replaces the name)."""
    source = inp.args(input_args) if inp is not None else [*input_args, '-i', str(src)]
    return [exe or ffmpeg_exe(), '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+info',
            *source, '-map', '0:V:0', '-vf', ','.join([*filters, 'showinfo']),
            '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'bgr24', 'pipe:']


def parse_level(line):
    """``(level or None, message)`` of one ffmpeg log line, the ``[level]`` tag removed (context kept)."""
    m = _LEVEL.match(line)
    if not m:
        return None, line
    return m.group(2), m.group(1) + line[m.end():]


class FrameReader:
    """Iterate ``(frame, info)`` over the frames ffmpeg decodes from ``src``.

    ``frame`` is an HxWx3 BGR uint8 array; ``info`` has ``n`` (output count), ``pts``, ``time`` (seconds from
    the file start, exact from pts and time base; None without pts), ``frame_index`` (time x frame rate),
    ``width``, ``height``, ``key`` and ``pict_type``. ``duration`` is known once the header is parsed.
    ``size=(width, height)``: the frame size when known in advance; frames whose log line does not come
    are then still read, untimed. Iteration ends by raising ``VideoError`` (``failure``) when ffmpeg
    fails; ``FFmpegNotFound`` when there is no ffmpeg. ``prefetch`` frames are decoded ahead.
    """

    def __init__(self, src, filters=(), input_args=(), exe=None, prefetch=8, size=None):
        self.path = src
        self.exe, self.filters, self.input_args = exe, tuple(filters), tuple(input_args)
        self.cmd = frame_command(src, filters, input_args, exe)
        self.size = size
        self.refused = self.input = self.limit = None  # refused: the one-line reason decoding was refused
        self.duration = self.time_base = self.frame_rate = self.returncode = None
        self.count = 0
        self.errors = collections.deque(maxlen=4)  # error-level messages, without tags
        self._head, self._tail = [], collections.deque(maxlen=LOG_LINES)
        self._infos = queue.Queue()
        self._frames = queue.Queue(maxsize=max(1, prefetch))
        self.proc = None
        self._stop = False

    @property
    def log(self):
        """ffmpeg's messages (without the frame lines): the first and the last ``LOG_LINES``."""
        return self._head + list(self._tail)

    def _read_stderr(self, pipe):
        tb = rate = None
        for raw in iter(pipe.readline, b''):
            level, line = parse_level(raw.decode('utf-8', 'replace').rstrip())
            m = _INFO.search(line)
            if m:
                n, pts, pts_time, w, h, key, ptype = m.groups()
                pts = None if pts == 'NOPTS' else int(pts)
                t = float(pts * tb) if pts is not None and tb else _float(pts_time) if pts is not None else None
                idx = int(round(t * rate)) if t is not None and rate else None
                self._infos.put(dict(n=int(n), pts=pts, time=t, frame_index=idx, width=int(w), height=int(h),
                                     key=key == '1' if key else None, pict_type=ptype))
                continue
            m = _CONFIG.search(line)
            if m:
                a, b, c, d = (int(g) for g in m.groups())
                tb = Fraction(a, b) if b else None
                rate = Fraction(c, d) if d else None
                self.time_base, self.frame_rate = tb, rate
                continue
            if 'Parsed_showinfo' in line:
                continue  # a frame's side-data lines
            if self.duration is None:
                m = _DURATION.search(line)
                if m:
                    hh, mm, ss = m.groups()
                    self.duration = int(hh) * 3600 + int(mm) * 60 + float(ss)
            if level in _ERROR_LEVELS:
                self.errors.append(re.sub(r'^(\[[^\]]*\]\s*)+', '', line))
            (self._head if len(self._head) < LOG_LINES else self._tail).append(line)
        self._infos.put(None)

    def start(self):
        """Launch ffmpeg and the reader threads (idempotent): decoding runs ahead of the consumer."""
        if self.proc is not None or self.refused:
            return self
        exe = self.exe or ffmpeg_exe()
        try:
            self.input = self._open_input(exe)
        except VideoProbeError as e:
            self.refused = str(e)
            return self
        self.cmd = frame_command(self.path, self.filters, self.input_args, exe, self.input)
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL, bufsize=0, pass_fds=self.input.pass_fds)
        except (FileNotFoundError, PermissionError):
            self.input.close()
            raise FFmpegNotFound() from None
        widen_pipe(self.proc.stdout)
        self._err_thread = threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True)
        self._err_thread.start()
        self._out_thread = threading.Thread(target=self._read_stdout, daemon=True)
        self._out_thread.start()
        return self

    def _open_input(self, exe):
        """Probe ``path`` (refusing FIFOs, devices, manifests, playlists, frames over the pixel limit) and open
        it for ffmpeg with the probed demuxer pinned."""
        self.limit = _pixel_limit()
        try:
            info = probe_video(self.path)
        except VideoUnreadable:  # damaged or no video: ffmpeg's own attempt, still by descriptor, says why
            return MediaInput(self.path, exe)
        if self.limit and info['width'] * info['height'] > self.limit:
            raise VideoProbeError(f'{self.path}: its frames are {info["width"]}x{info["height"]} pixels, more than '
                                  f'the limit of {self.limit / 1e6:g} MP (raise RESR_MAX_PIXELS to allow it)')
        return MediaInput(self.path, exe, fmt=info.get('format'))

    def _next_info(self, timed):
        """The next frame's log entry; None at the end of the log; ``False`` when it does not come in time."""
        if not timed:
            return False
        try:
            return self._infos.get(timeout=INFO_TIMEOUT if self.size else None)
        except queue.Empty:
            return False

    def _read_stdout(self):
        import numpy as np  # here, in the reader thread: ffmpeg is already decoding while numpy loads
        stdout = self.proc.stdout
        timed = True
        try:
            while not self._stop:
                info = self._next_info(timed)
                if info is False or (info is None and self.size):  # no log to go by: frames of the known size
                    timed = False
                    w, h = self.size
                    info = dict(n=self.count, pts=None, time=None, frame_index=None, width=w, height=h,
                                key=None, pict_type=None)
                if info is None:
                    break
                if self.limit and info['width'] * info['height'] > self.limit:  # the real decoded size
                    self.refused = (f'{self.path}: a decoded frame is {info["width"]}x{info["height"]} pixels, more '
                                    f'than the limit of {self.limit / 1e6:g} MP (raise RESR_MAX_PIXELS to allow it)')
                    self.proc.kill()
                    break
                size = info['width'] * info['height'] * 3
                buf = bytearray(size)
                view = memoryview(buf)
                got = 0
                while got < size:
                    k = stdout.readinto(view[got:])
                    if not k:
                        break
                    got += k
                if got < size:
                    break  # the end, or ffmpeg died mid-frame: its exit status tells which
                frame = np.frombuffer(buf, dtype=np.uint8).reshape(info['height'], info['width'], 3)
                if not self._put((frame, info)):
                    break
            while stdout.read(1 << 20):
                pass  # drain so ffmpeg can exit
        finally:
            self._put(None)

    def _put(self, item):
        """Queue ``item`` for the consumer; False once ``close`` was called (nobody will take it)."""
        while not self._stop:
            try:
                self._frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def close(self, kill=True):
        """Stop reading and return ffmpeg's exit status: ``kill`` it if still running, else wait for it.
        Safe to call again."""
        self._stop = True
        proc = self.proc
        if self.input is not None:
            self.input.close()
        if proc is None:
            return None
        if kill and proc.poll() is None:
            proc.kill()
        self.returncode = proc.wait()
        for thread, pipe in ((self._out_thread, proc.stdout), (self._err_thread, proc.stderr)):
            thread.join(timeout=5)
            if not thread.is_alive():
                pipe.close()
        return self.returncode

    def failure(self):
        """One line saying why decoding failed (override for more specific wording)."""
        if self.errors:
            reason = self.errors[-1]
        elif not self.count:
            reason = 'no frames decoded'
        else:
            reason = f'the decoder stopped after {self.count} frames (exit status {self.returncode})'
        return f'{self.path}: cannot decode the video ({reason})'

    def __iter__(self):
        self.start()
        if self.refused:
            raise VideoError(self.refused)
        proc = self.proc
        try:
            while True:
                try:
                    item = self._frames.get(timeout=0.1)
                except queue.Empty:
                    if self._stop:  # closed from another thread
                        break
                    continue
                if item is None:
                    break
                self.count += 1
                yield item
            self._out_thread.join()
            self._err_thread.join()
        finally:
            self.close(kill=proc.poll() is None)  # the consumer stopped early: stop ffmpeg
        if self.refused:
            raise VideoError(self.refused)
        if self.returncode != 0:
            raise VideoError(self.failure())


def _pixel_limit():
    from realesrgan_paddle.media.image_io import max_pixels  # here: OpenCV loads only when a video is read
    return max_pixels()


def _float(text):
    try:
        return float(text)
    except ValueError:
        return None
