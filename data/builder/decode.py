"""Decode the selected frames of a video through one ffmpeg pipe.

ffmpeg (command built with ffmpeg-python) decodes only what the mode needs
(``-skip_frame nokey`` for keyframes), keeps exactly the selected frames with
the ``select`` filter, logs each one with ``showinfo`` (pts, time base, size,
picture type) and writes raw BGR24 frames to stdout. Python reads the frames
while ffmpeg keeps decoding, so nothing is encoded twice.
"""
import collections
import queue
import re
import subprocess
import threading
from fractions import Fraction

import ffmpeg

from utils.ffmpeg import FFmpegNotFound, error_reason, ffmpeg_exe, stream_lines, video_streams

MODES = ('key', 'scene', 'interval')

_INFO = re.compile(r'\[Parsed_showinfo[^\]]*\] n:\s*(\d+) pts:\s*(-?\d+|NOPTS) .*?\bs:(\d+)x(\d+)'
                   r'(?:.*?\biskey:(\d))?(?:.*?\btype:(\S))?')
_CONFIG = re.compile(r'\[Parsed_showinfo[^\]]*\] config in time_base: (\d+)/(\d+), frame_rate: (\d+)/(\d+)')
_DURATION = re.compile(r'Duration: (\d+):(\d+):(\d+(?:\.\d+)?)')


class VideoError(RuntimeError):
    """A video that cannot be read; the message is one line naming the problem."""


def select_expr(mode, threshold=0.3, every=1.0):
    if mode == 'key':
        # The decoder skips non-key frames already; select also drops the
        # non-key frames of decoders that ignore skip_frame (Cinepak, ...).
        return 'eq(key,1)'
    if mode == 'scene':
        return f'eq(n,0)+gt(scene,{float(threshold):g})'
    if mode == 'interval':
        if every <= 0:
            raise ValueError('--every must be > 0 seconds')
        return f'isnan(prev_selected_t)+gte(t-prev_selected_t,{float(every):g})'
    raise ValueError(f'unknown mode {mode!r}; choose one of {", ".join(MODES)}')


def build_command(path, mode='key', threshold=0.3, every=1.0, exe=None):
    """The ffmpeg argument list (ffmpeg-python builds it) for one video."""
    exe = exe or ffmpeg_exe()
    in_args = {'skip_frame': 'nokey'} if mode == 'key' else {}
    stream = (ffmpeg.input(str(path), **in_args)['V:0']   # first real video stream (no cover art)
              .filter('select', select_expr(mode, threshold, every))
              .filter('showinfo'))
    out = stream.output('pipe:', format='rawvideo', pix_fmt='bgr24', fps_mode='passthrough')
    args = ffmpeg.compile(out, cmd=exe)
    return [args[0], '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'] + args[1:]


def classify_error(path, lines, rc):
    """One line saying what is wrong with ``path`` from ffmpeg's stderr."""
    text = '\n'.join(lines)
    name = str(path)
    if 'matches no streams' in text or 'does not contain any stream' in text:
        return f'{name}: has no video stream'
    if re.search(r'^Input #0', text, re.M) and stream_lines(text) and not video_streams(text):
        return f'{name}: has no video stream'  # newer ffmpeg fails on the input options before mapping
    if re.search(r'No such file or directory', text):
        return f'{name}: no such file'
    if re.search(r'Decoder \(codec [^)]*\) not found|Unsupported codec|unknown codec|could not find codec',
                 text, re.I):
        return (f'{name}: uses a video codec this ffmpeg cannot decode; '
                f'use a full ffmpeg build (apt-get install ffmpeg) or re-encode the file')
    if re.search(r'Invalid data found|moov atom not found|invalid header|End of file', text, re.I):
        return f'{name}: is corrupt or not a video (ffmpeg: Invalid data found when processing input)'
    tail = '\n'.join(ln for ln in lines if 'Parsed_showinfo' not in ln)
    return f'{name}: ffmpeg failed (exit {rc}): {error_reason(tail) if tail.strip() else "no message"}'


class FrameReader:
    """Iterate ``(frame_bgr_uint8, info)`` over the selected frames of one video.

    ``info`` has ``n`` (output count), ``pts``, ``time`` (seconds from the file
    start, exact from pts and time base), ``frame_index`` (time x frame rate),
    ``width``, ``height``, ``key`` and ``pict_type``. ``duration`` is known
    once the header is parsed. Raises ``VideoError`` (one line) when ffmpeg
    fails, and ``FFmpegNotFound`` when there is no ffmpeg.
    """

    def __init__(self, path, mode='key', threshold=0.3, every=1.0, exe=None, prefetch=8):
        self.path = path
        self.cmd = build_command(path, mode, threshold, every, exe)
        self.duration = None
        self.time_base = None
        self.frame_rate = None
        self.count = 0
        self._head, self._tail = [], collections.deque(maxlen=200)  # ffmpeg's messages, minus the frame lines
        self._infos = queue.Queue()
        self._frames = queue.Queue(maxsize=prefetch)
        self._proc = None
        self._stop = False

    def _read_stderr(self, pipe):
        tb = rate = None
        for raw in iter(pipe.readline, b''):
            line = raw.decode('utf-8', 'replace').rstrip()
            m = _INFO.search(line)
            if m:
                n, pts, w, h, key, ptype = m.groups()
                pts = None if pts == 'NOPTS' else int(pts)
                t = float(pts * tb) if pts is not None and tb else None
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
            if self.duration is None:
                m = _DURATION.search(line)
                if m:
                    hh, mm, ss = m.groups()
                    self.duration = int(hh) * 3600 + int(mm) * 60 + float(ss)
            (self._head if len(self._head) < 200 else self._tail).append(line)
        self._infos.put(None)

    def start(self):
        """Launch ffmpeg and the reader threads (idempotent): decoding runs ahead of the consumer."""
        if self._proc is not None:
            return self
        try:
            self._proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          stdin=subprocess.DEVNULL, bufsize=0)
        except (FileNotFoundError, PermissionError):
            raise FFmpegNotFound() from None
        self._err_thread = threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True)
        self._err_thread.start()
        self._out_thread = threading.Thread(target=self._read_stdout, daemon=True)
        self._out_thread.start()
        return self

    def _read_stdout(self):
        import numpy as np  # here, in the reader thread: ffmpeg is already decoding while numpy loads
        stdout = self._proc.stdout
        try:
            while not self._stop:
                info = self._infos.get()
                if info is None:
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
                    break  # ffmpeg died mid-frame; its exit status tells why
                frame = np.frombuffer(buf, dtype=np.uint8).reshape(info['height'], info['width'], 3)
                self._frames.put((frame, info))
            while stdout.read(1 << 20):
                pass  # drain so ffmpeg can exit
        finally:
            self._frames.put(None)

    def close(self):
        """Stop ffmpeg early (after a consumer stops iterating)."""
        self._stop = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        while True:  # unblock the reader thread if the queue is full
            try:
                self._frames.get_nowait()
            except queue.Empty:
                break

    def __iter__(self):
        self.start()
        proc = self._proc
        try:
            while True:
                item = self._frames.get()
                if item is None:
                    break
                self.count += 1
                yield item
            self._out_thread.join()
            rc = proc.wait()
            self._err_thread.join()
        finally:
            if proc.poll() is None:
                self.close()
            proc.stdout.close()
            proc.stderr.close()
        if rc != 0:
            raise VideoError(classify_error(self.path, self._head + list(self._tail), rc))
