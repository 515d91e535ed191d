"""Video upscaling by streaming frames through two ffmpeg pipes (decoder -> Upscaler -> encoder).

The three stages overlap: a decoder thread, the model on the calling thread
and an encoder thread, joined by bounded queues (``queue_frames`` frames each,
2 by default), so the model does not wait for decoding or encoding. Paddle's
predictor and the pipe reads and writes release the GIL. An error in any
stage stops the others and reaches the caller as a one-line ``VideoError``.
Small frames go through the predictor a few at a time (one forward; rules and
measurements in ``inference/video_stages.py``).

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

import cv2
import ffmpeg
import numpy as np

from realesrgan_paddle.media.ffmpeg import MediaInput, ffmpeg_exe, probe_video, widen_pipe
from realesrgan_paddle.utils.fileio import temp_beside
from realesrgan_paddle.media.kinds import OUTPUT_CONTAINERS
from realesrgan_paddle.media.video_reader import FrameReader, VideoError

from .video_stages import _END, FrameSlots, _Pipeline, _batch_size, _one_line, _run_model

_TURN = {90: 'transpose=clock', 180: 'hflip,vflip', 270: 'transpose=cclock'}  # clockwise display rotation


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


class _Decoder(FrameReader):
    """ffmpeg decoding ``src`` to upright BGR frames of ``width`` x ``height``, each with its presentation
    time in seconds (None when unknown). The display rotation is applied by an explicit filter after
    ``-noautorotate``, so the decoded size is known with any ffmpeg version."""

    def __init__(self, exe, src, rotation, width, height):
        turn = [_TURN[rotation]] if rotation in _TURN else []
        super().__init__(src, filters=turn, input_args=['-noautorotate'], exe=exe, prefetch=1, size=(width, height))
        self.start()

    def frames(self):
        """Yield ``(frame, seconds or None)``; a failed decode ends with ``VideoError``."""
        w, h = self.size
        for frame, info in self:
            if frame.shape[:2] != (h, w):
                raise VideoError(f'{self.path}: frame {self.count - 1} is {frame.shape[1]}x{frame.shape[0]}, '
                                 f'the video started at {w}x{h}; a size change inside a video is not supported')
            yield frame, info['time']


def _encoder_args(exe, audio_in, tmp, ow, oh, rate, crf, preset, sar=None, x264_params=None):
    """The encoder's command: I420 frames of ``ow`` x ``oh`` (even sizes, see :func:`_to_i420`) on stdin, and the
    source's audio through ``audio_in`` (a ``media.ffmpeg.MediaInput``: the file the probe checked, by its open
    descriptor and the probe's demuxer, never opened again by name) or None."""
    video = ffmpeg.input('pipe:', format='rawvideo', pix_fmt='yuv420p', s=f'{ow}x{oh}', framerate=rate)
    if sar:  # non-square source pixels: the output displays with the source's aspect
        video = video.filter('setsar', f'{sar[0]}/{sar[1]}')
    streams = [video]
    audio = {}
    if audio_in is not None:
        opts = dict(zip((o.lstrip('-') for o in audio_in.options[0::2]), audio_in.options[1::2]))
        streams.append(ffmpeg.input(audio_in.url, **opts).audio)
        audio = {'acodec': 'aac', 'audio_bitrate': '192k'}
    if x264_params:
        audio['x264-params'] = x264_params
    return (ffmpeg.output(*streams, tmp, vcodec='libx264', pix_fmt='yuv420p', crf=crf, preset=preset, r=rate, **audio)
            .global_args('-nostdin', '-loglevel', 'error', '-y').compile(cmd=exe))


def _to_i420(img, ow, oh):
    """A BGR frame as the encoder's I420 bytes: padded with black to the even ``ow`` x ``oh``, then BT.601
    limited range, the conversion ffmpeg itself applies to RGB input. Done here (OpenCV, about 0.4 ms for
    1280x544) it costs a tenth of ffmpeg's own conversion and halves the bytes through the pipe."""
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if (h, w) != (oh, ow):
        img = cv2.copyMakeBorder(img, 0, oh - h, 0, ow - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)


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


class _Job:
    """What one video upscale is made of: the probed source, the sizes, the output rate and the encoder's
    command (writing a temporary file beside ``dst``)."""

    def __init__(self, upscaler, src, dst, outscale, crf, preset):
        x264_params = pick_x264_params(upscaler, preset)
        preset = pick_preset(upscaler, preset)
        self.src, self.dst, self.exe = Path(src), Path(dst), ffmpeg_exe()
        try:
            self.info = info = probe_video(self.src)
        except Exception as e:  # VideoProbeError: already one line naming the file
            raise VideoError(str(e)) from None
        self.turn = turn = info.get('rotation', 0) if info.get('rotation', 0) in _TURN else 0
        w, h = (info['height'], info['width']) if turn in (90, 270) else (info['width'], info['height'])
        from realesrgan_paddle.media.image_io import max_pixels
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
        fd, self.tmp = temp_beside(self.dst, suffix=self.dst.suffix)  # ffmpeg picks the container from it
        os.close(fd)
        self.log = self.tmp + '.log'
        self._enc = (f'{rate.numerator}/{rate.denominator}', crf, preset, sar, x264_params)
        self.total = int(round(info['duration'] * rate)) if info['duration'] else None

    def encoder(self):
        """(the encoder's command, the source opened for its audio or None: close it after the encoder)."""
        audio_in = MediaInput(self.src, self.exe, fmt=self.info.get('format'), error=VideoError) \
            if self.info['has_audio'] else None
        rate, crf, preset, sar, x264_params = self._enc
        return _encoder_args(self.exe, audio_in, self.tmp, self.ew, self.eh, rate, crf, preset, sar,
                             x264_params), audio_in

    def cleanup(self):
        for path in (self.tmp, self.log):
            if os.path.exists(path):
                os.unlink(path)


class _Run:
    """One upscale through the three stages: the decoder and encoder threads, the model on this thread.

    Decoded frames are placed in output slots (``FrameSlots``), new pictures collected into batches for
    the model (``upscaler.upscale_batch``), and every slot written in order, gaps holding the last picture.
    """

    def __init__(self, job, upscaler, outscale, progress, queue_frames, temporal=None):
        self.job, self.up, self.outscale = job, upscaler, outscale
        self.temporal, self.temporal_seconds = temporal, 0.0  # inference.temporal.Stabiliser or None
        self.pipe = _Pipeline(max(1, int(queue_frames)))
        self.frames = self.upscaled = 0  # frames handed to the encoder; frames through the model
        self.model_seconds = 0.0
        self.prev_out = None  # the latest picture written
        self.batch, self.pending = [], []  # LR frames for the model; (index in batch or None = repeat, gap)
        self.batch_n = _batch_size(upscaler, job.h, job.w, outscale)
        self.bar, self.audio_in = None, None
        if progress:  # a bar on a terminal, a line every tenth or LOG_EVERY_S seconds with the ETA in a log
            from realesrgan_paddle.utils.progress import counter
            self.bar = counter(job.total, job.src.name, 'frame')

    def execute(self):
        job = self.job
        try:
            with open(job.log, 'wb') as enc_log:
                self.dec = _Decoder(job.exe, job.src, job.turn, job.w, job.h)
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
                    raise VideoError(f'{job.src}: {_one_line(e)}') from None  # a stage's unexpected error
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
        self.pipe.put(self.pipe.decoded, _END)

    def _encode(self):
        job = self.job
        while True:
            item = self.pipe.get(self.pipe.upscaled)
            if item is _END:
                return
            data, times = item
            data = _to_i420(data, job.ew, job.eh)
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
        """Decoded frames -> slots -> batches through the model -> the encoder's queue."""
        self.pipe.start('video-decode', self._decode)
        self.pipe.start('video-encode', self._encode)
        slots = FrameSlots(self.job.rate)
        while True:
            item = self.pipe.get(self.pipe.decoded)
            if item is _END:
                break
            placed = slots.place(*item)
            if placed is None:  # its slot is already shown: dropped before the model
                continue
            new, gap = placed
            self.pending.append((len(self.batch) if new else None, gap))
            if new:
                self.batch.append(item[0])
            if len(self.batch) >= self.batch_n or not self.batch:
                self._flush()
        self._flush()

    def _flush(self):
        """Run the batch through the model and write the pending slots in order."""
        outs = []
        if self.batch:
            job, t0 = self.job, time.perf_counter()
            outs = _run_model(self.up, self.batch, self.outscale, job.src, self.upscaled)
            self.model_seconds += time.perf_counter() - t0
            for out in outs:
                if out.shape[:2] != (job.oh, job.ow):
                    raise VideoError(f'{job.src}: frame {self.upscaled} came out {out.shape[1]}x{out.shape[0]}, '
                                     f'expected {job.ow}x{job.oh}')
            self.upscaled += len(outs)
            if self.temporal is not None:  # after the model, in frame order, with each frame's LR input
                t1 = time.perf_counter()
                outs = [self.temporal(lr, out) for lr, out in zip(self.batch, outs)]
                self.temporal_seconds += time.perf_counter() - t1
            self.batch.clear()
            if self.bar is not None:
                self.bar.set_postfix_str(f'model {self.upscaled / max(self.model_seconds, 1e-9):.2f} fps',
                                         refresh=False)
        for idx, gap in self.pending:
            out = self.prev_out if idx is None else outs[idx]
            self._write(self.prev_out if self.prev_out is not None else out, gap)  # gap: hold the last picture
            self._write(out, 1)
            self.prev_out = out
        self.pending.clear()

    def _finish(self):
        """Hold the last picture to the stream's end, close both pipes and keep the file."""
        job, pipe = self.job, self.pipe
        pipe.check()
        dec_rc = self.dec.close(kill=False)
        if self.prev_out is not None and job.info.get('video_duration') and not self.dec.errors:
            self._write(self.prev_out, int(round(job.info['video_duration'] * job.rate)) - self.frames)
        if not pipe.put(pipe.upscaled, _END):
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


def upscale_video(upscaler, src, dst, outscale=None, crf=18, preset=None, progress=True, queue_frames=2,
                  temporal=False):
    """Upscale ``src`` into ``dst``.

    ``temporal``: stabilise the model's texture between frames (``inference.temporal``, docs/temporal.md):
    False/None (off), True or 'flow', 'static', or a ``Stabiliser`` (its state carries on; ``reset()`` it
    for a new video).

    ``preset``: the x264 preset, None for :func:`pick_preset`'s choice.

    Decoding, the model and encoding overlap: a decoder thread fills a queue of
    at most ``queue_frames`` frames, the calling thread runs the model, an
    encoder thread empties a second queue of the same size into ffmpeg. An
    error in any stage stops the others and is raised here as one line.

    Returns ``dict(frames, upscaled, fps, width, height, audio, seconds, model_seconds, temporal_seconds)``:
    ``frames`` written at ``fps``, of which ``upscaled`` went through the model (the rest repeat their
    predecessor); ``seconds`` end to end, ``model_seconds`` of it in ``upscaler.upscale``, ``temporal_seconds``
    in the stabiliser.
    """
    from .temporal import make_stabiliser
    stab = make_stabiliser(temporal)  # a bad value fails here, before ffmpeg starts
    t_start = time.perf_counter()
    job = _Job(upscaler, src, dst, outscale, crf, preset)
    run = _Run(job, upscaler, outscale, progress, queue_frames, stab)
    run.execute()
    return dict(frames=run.frames, upscaled=run.upscaled, fps=str(job.rate), width=job.ew, height=job.eh,
                audio=bool(job.info['has_audio']), seconds=time.perf_counter() - t_start,
                model_seconds=run.model_seconds, temporal_seconds=run.temporal_seconds)
