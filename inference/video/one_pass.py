"""Video upscaling by streaming frames through two ffmpeg pipes (decoder -> Upscaler -> encoder).

The three stages overlap: a decoder thread, the model on the calling thread
and an encoder thread, joined by bounded queues (``queue_frames`` frames each,
2 by default), so the model does not wait for decoding or encoding. Paddle's
predictor and the pipe reads and writes release the GIL. An error in any
stage stops the others and reaches the caller as a one-line ``VideoError``.
The frame loop itself (slots, batches, the model, the stabiliser) is shared with segments: ``inference/video/frame_loop.py``.
Small frames go through the predictor a few at a time (one forward; rules and
measurements in ``inference/video/stages.py``).

Orientation: the decoder turns the picture the way a player would (display
matrix or legacy ``rotate`` tag, multiples of 90 degrees, read by
``probe_video``), with an explicit ``transpose``/``hflip,vflip`` after
``-noautorotate`` so the decoded size is known exactly with any ffmpeg
version. The pixels are upscaled upright and the output carries no rotation.
Non-square source pixels keep their aspect ratio (``setsar``), so the output
displays with the source's proportions.

Timing: the output is constant-rate at the source's base rate
(``r_frame_rate``, e.g. exactly 30000/1001; the average rate if the base rate
is implausibly high). Every decoded frame's timestamp (from the ``showinfo``
filter on the decoder's log) picks its output slot, so a variable-rate source
stays in sync with its audio to within half a frame: gaps repeat the previous
upscaled frame, and a frame that lands in an already filled slot is dropped
before it reaches the model. A constant-rate source maps one frame to one
slot (same frame count; no ``nb_frames`` needed); the last picture is held
to the end of the video stream when ffprobe reports it and the decoder logged
no error (AVI files whose skipped frames are empty packets; not truncated
files). Byte-identical consecutive
frames are upscaled once. Audio streams are re-encoded to AAC, which every
target container accepts. The file is written under a temporary name and
renamed when complete.
"""
import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path

from realesrgan_paddle.media.ffmpeg import MediaInput, ffmpeg_exe, probe_video, widen_pipe
from realesrgan_paddle.media.image_io import max_pixels
from realesrgan_paddle.utils.fileio import temp_beside
from realesrgan_paddle.media.kinds import OUTPUT_CONTAINERS
from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils.progress import counter

from .frame_loop import TURN, Decoder, FrameLoop, encoder_args, to_i420
from .options import VideoOptions
from .stages import END, Pipeline, one_line


def _last_line(path):
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors='replace').splitlines() if ln.strip()]
    except OSError:
        return 'ffmpeg failed'
    return lines[-1] if lines else 'ffmpeg failed'


def _fraction(text):
    try:
        f = Fraction(text)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


def output_container(src, dst=None):
    """Keep .mkv/.mov/.mp4; everything else (avi, webm, ...) becomes .mp4 (H.264 + AAC)."""
    ext = Path(dst).suffix.lower() if dst else Path(src).suffix.lower()
    return ext if ext in OUTPUT_CONTAINERS else '.mp4'


def output_rate(info):
    """The constant output rate: the base rate unless it is implausibly high next to the average (1 kHz tbr)."""
    base, avg = _fraction(info.get('r_fps_str')), _fraction(info.get('fps_str'))
    if base and (base <= 120 or not avg or base <= 4 * avg):
        return base
    return avg or Fraction(25)


def _model_on_gpu(upscaler):
    return getattr(upscaler, 'device', 'cpu').startswith('gpu')


def pick_preset(upscaler, preset=None):
    """The x264 preset: ``preset`` when given, else 'veryfast' when the model runs on the CPU and 'medium'
    on a GPU. On the CPU ffmpeg shares the cores with the model: decoding and encoding at 'medium' took about
    a fifth of a compact model's CPU time per frame, at 'veryfast' about half of that, for a somewhat larger
    file at the same ``crf``."""
    if preset is not None:  # tools/infer.py offers X264_PRESETS; anything else is the encoder's one-line error
        return preset
    return 'medium' if _model_on_gpu(upscaler) else 'veryfast'


# On the CPU, the default 'veryfast' also searches motion with x264's diamond pattern (as its 'superfast'
# does) instead of the hexagon: 6-14 % less encoder CPU on upscaled bikes/cup/box frames at the same crf,
# with the same file size (within 0.5 %) and the same PSNR (within 0.01 dB)
CPU_X264_PARAMS = 'me=dia'


def pick_x264_params(upscaler, preset=None):
    """Extra x264 settings: :data:`CPU_X264_PARAMS` with the preset chosen for a CPU model, else None (an
    explicit preset is used as x264 defines it)."""
    if preset is not None or _model_on_gpu(upscaler):
        return None
    return CPU_X264_PARAMS


class Job:
    """What one video upscale is made of: the probed source, the sizes, the output rate and the encoder's
    command (writing a temporary file beside ``dst``); the segments' plan is made from it too."""

    def __init__(self, upscaler, src, dst, outscale, options):
        self.outscale, crf = outscale, options.crf
        x264_params = pick_x264_params(upscaler, options.preset)
        preset = pick_preset(upscaler, options.preset)
        self.src, self.dst, self.exe = Path(src), Path(dst), ffmpeg_exe()
        try:
            self.info = info = probe_video(self.src)
        except Exception as e:  # VideoProbeError: already one line naming the file
            raise VideoError(str(e)) from None
        self.turn = turn = info.get('rotation', 0) if info.get('rotation', 0) in TURN else 0
        w, h = (info['height'], info['width']) if turn in (90, 270) else (info['width'], info['height'])
        if max_pixels() and w * h > max_pixels():  # refused before a frame is decoded (1.5 GB for 10240^2)
            raise VideoError(f'{self.src}: its frames are {w}x{h} pixels, more than the limit of '
                             f'{max_pixels() / 1e6:g} MP (raise RESR_MAX_PIXELS to allow it)')
        self.w, self.h = w, h
        self.rate = rate = output_rate(info)
        scale = outscale or getattr(upscaler, 'outscale', None) or upscaler.scale
        self.ow, self.oh = int(round(w * scale)), int(round(h * scale))
        self.ew, self.eh = self.ow + self.ow % 2, self.oh + self.oh % 2  # yuv420p: black pad to even sizes
        sar = info.get('sar')
        if sar and turn in (90, 270):
            sar = (sar[1], sar[0])
        fd, self.tmp = temp_beside(self.dst, suffix=self.dst.suffix, spare=4)  # ffmpeg picks the container from
        # the suffix; spare: the name of the encoder's log, tmp + '.log'
        os.close(fd)
        self.log = self.tmp + '.log'
        self._enc = (f'{rate.numerator}/{rate.denominator}', crf, preset, sar, x264_params)
        self.total = int(round(info['duration'] * rate)) if info['duration'] else None

    def encoder(self):
        """(the encoder's command, the source opened for its audio or None: close it after the encoder)."""
        audio_in = MediaInput(self.src, self.exe, fmt=self.info.get('format'), error=VideoError) \
            if self.info['has_audio'] else None
        rate, crf, preset, sar, x264_params = self._enc
        return encoder_args(self.exe, audio_in, self.tmp, self.ew, self.eh, rate, crf, preset, sar,
                             x264_params), audio_in

    def cleanup(self):
        for path in (self.tmp, self.log):
            if os.path.exists(path):
                os.unlink(path)


class _Run:
    """One upscale through the three stages: the decoder and encoder threads, the frame loop
    (``inference.video.frame_loop.FrameLoop``: slots, the model, the stabiliser) on this thread."""

    def __init__(self, job, upscaler, progress, options):
        self.job = job
        self.pipe = Pipeline(max(1, int(options.queue_frames)))
        self.frames = 0  # frames handed to the encoder
        self.bar, self.audio_in = None, None
        self.loop = FrameLoop(upscaler, job, self._write, options.temporal)  # may refuse (the batch bound): no bar left open
        if progress:  # a bar on a terminal, a line every tenth or LOG_EVERY_S seconds with the ETA in a log
            self.bar = self.loop.bar = counter(job.total, job.src.name, 'frame')

    def execute(self):
        job = self.job
        try:
            with open(job.log, 'wb') as enc_log:
                self.dec = Decoder(job.exe, job.src, job.turn, job.w, job.h)
                try:
                    args, self.audio_in = job.encoder()
                    fds = self.audio_in.pass_fds if self.audio_in is not None else ()
                    self.enc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=enc_log, pass_fds=fds)
                except BaseException:
                    self.dec.close(kill=True)
                    self._close_audio()
                    raise
                widen_pipe(self.enc.stdin)
                try:
                    self._stream()
                    self._finish()
                except BaseException as e:
                    self._abort()
                    if isinstance(e, (VideoError, MemoryError, KeyboardInterrupt)):
                        raise
                    raise VideoError(f'{job.src}: {one_line(e)}') from None  # a stage's unexpected error
        finally:
            if self.bar is not None:
                self.bar.close()
            self._close_audio()
            job.cleanup()

    def _close_audio(self):
        if self.audio_in is not None:
            self.audio_in.close()
            self.audio_in = None

    def _decode(self):
        for item in self.dec.frames():
            if not self.pipe.put(self.pipe.decoded, item):
                return
        self.pipe.put(self.pipe.decoded, END)

    def _encode(self):
        job = self.job
        while True:
            item = self.pipe.get(self.pipe.upscaled)
            if item is END:
                return
            data, times = item
            data = to_i420(data, job.ew, job.eh)
            try:
                for _ in range(times):
                    self.enc.stdin.write(data)
            except (BrokenPipeError, ValueError):  # ValueError: stdin closed by a failing main thread
                self.enc.wait()
                raise VideoError(f'{job.src}: the encoder stopped ({_last_line(job.log)})') from None

    def _write(self, data, times):
        times = max(times, 0)
        if times == 0:
            return
        if not self.pipe.put(self.pipe.upscaled, (data, times)):
            self.pipe.check()
            raise VideoError(f'{self.job.src}: the video pipeline stopped')
        self.frames += times
        if self.bar is not None:
            self.bar.update(times)

    def _stream(self):
        """Decoded frames -> the frame loop -> the encoder's queue."""
        self.pipe.start('video-decode', self._decode)
        self.pipe.start('video-encode', self._encode)
        while True:
            item = self.pipe.get(self.pipe.decoded)
            if item is END:
                break
            self.loop.add(*item)
        self.loop.flush()

    def _finish(self):
        """Hold the last picture to the stream's end, close both pipes and keep the file."""
        job, pipe = self.job, self.pipe
        pipe.check()
        dec_rc = self.dec.close(kill=False)
        prev = self.loop.prev_out
        if prev is not None and job.info.get('video_duration') and not self.dec.errors:
            self._write(prev, int(round(job.info['video_duration'] * job.rate)) - self.frames)
        if not pipe.put(pipe.upscaled, END):
            pipe.check()
        pipe.join()
        pipe.check()
        self.enc.stdin.close()
        enc_rc = self.enc.wait()
        if dec_rc != 0 or self.frames == 0:
            raise VideoError(self.dec.failure())
        if enc_rc != 0:
            raise VideoError(f'{job.dst}: the encoder failed ({_last_line(job.log)})')
        os.replace(job.tmp, job.dst)

    def _abort(self):
        self.pipe.stop.set()
        self.dec.close(kill=True)
        if self.enc.poll() is None:
            self.enc.kill()
            self.enc.wait()
        self.pipe.join(timeout=5)


def upscale_video(upscaler, src, dst, outscale=None, options=VideoOptions(), progress=True):
    """Upscale ``src`` into ``dst`` in one pass, with the settings ``options`` (``VideoOptions``: ``crf``,
    ``preset``, None for :func:`pick_preset`'s choice, ``temporal``, ``queue_frames``; its ``temporal`` stabilises
    the model's texture between frames, ``inference.video.stabiliser``, docs/temporal.md).

    Decoding, the model and encoding overlap: a decoder thread fills a queue of
    at most ``options.queue_frames`` frames, the calling thread runs the model, an
    encoder thread empties a second queue of the same size into ffmpeg. An
    error in any stage stops the others and is raised here as one line.

    Returns ``dict(frames, upscaled, fps, width, height, audio, seconds, model_seconds, temporal_seconds)``:
    ``frames`` written at ``fps``, of which ``upscaled`` went through the model (the rest repeat their
    predecessor); ``seconds`` end to end, ``model_seconds`` of it in ``upscaler.upscale``, ``temporal_seconds``
    in the stabiliser.
    """
    t_start = time.perf_counter()
    job = Job(upscaler, src, dst, outscale, options)
    try:
        run = _Run(job, upscaler, progress, options)
    except BaseException:
        job.cleanup()
        raise
    run.execute()
    loop = run.loop
    return dict(frames=run.frames, upscaled=loop.upscaled, fps=str(job.rate), width=job.ew, height=job.eh,
                audio=bool(job.info['has_audio']), seconds=time.perf_counter() - t_start,
                model_seconds=loop.model_seconds, temporal_seconds=loop.temporal_seconds)
