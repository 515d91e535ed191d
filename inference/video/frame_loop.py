"""The one frame loop of video upscaling and its two ffmpeg ends, shared by the one-pass run
(``inference/video/one_pass.py``), the segment runner (``inference/video/segments/span_run.py``) and so Ray's workers
(``inference/distributed/ray_runner.py``, which run segments):

    Decoder -> FrameLoop.add: output slot (FrameSlots) -> batch -> the model -> output size check
            -> the stabiliser (--temporal) -> write(picture, times) -> to_i420 -> the encoder (encoder_args)

The caller owns the threads, the encoder processes and where each slot goes (one file, or the segment whose cut
it falls before); everything a frame goes through is here. A new per-frame step (a denoise before or after the
model) goes in :meth:`FrameLoop.upscale`, a new codec in :func:`encoder_args` (and its flag in ``inference/upscale_cli.py``).
"""
import time

import cv2
import ffmpeg
import numpy as np

from realesrgan_paddle.media.video_reader import FrameReader, VideoError
from realesrgan_paddle.utils.runtime_env import raise_if_terminated

from .stabiliser import make_stabiliser
from .stages import FrameSlots, batch_size, run_model

TURN = {90: 'transpose=clock', 180: 'hflip,vflip', 270: 'transpose=cclock'}  # clockwise display rotation


class Decoder(FrameReader):
    """ffmpeg decoding ``src`` to upright BGR frames of ``width`` x ``height``, each with its presentation
    time in seconds (None when unknown). The display rotation is applied by an explicit filter after
    ``-noautorotate``, so the decoded size is known with any ffmpeg version. With ``seek`` (seconds, a segment's
    span) it starts just before that time and reports the file's own times (``-copyts``)."""

    def __init__(self, exe, src, rotation, width, height, seek=None):
        turn = [TURN[rotation]] if rotation in TURN else []
        args = ['-noautorotate'] + (['-ss', f'{seek:.6f}', '-copyts'] if seek else [])
        super().__init__(src, filters=turn, input_args=args, exe=exe, prefetch=1 if seek is None else 2,
                         size=(width, height))
        self.start()

    def frames(self):
        """Yield ``(frame, seconds or None)``; a failed decode ends with ``VideoError``."""
        w, h = self.size
        for frame, info in self:
            if frame.shape[:2] != (h, w):
                raise VideoError(f'{self.path}: frame {self.count - 1} is {frame.shape[1]}x{frame.shape[0]}, '
                                 f'the video started at {w}x{h}; a size change inside a video is not supported')
            yield frame, info['time']


def encoder_args(exe, audio_in, tmp, ow, oh, rate, crf, preset, sar=None, x264_params=None):
    """The encoder's command: I420 frames of ``ow`` x ``oh`` (even sizes, see :func:`to_i420`) on stdin, and the
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


def to_i420(img, ow, oh):
    """A BGR frame as the encoder's I420 bytes: padded with black to the even ``ow`` x ``oh``, then BT.601
    limited range, the conversion ffmpeg itself applies to RGB input. Done here (OpenCV, about 0.4 ms for
    1280x544) it costs a tenth of ffmpeg's own conversion and halves the bytes through the pipe."""
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if (h, w) != (oh, ow):
        img = cv2.copyMakeBorder(img, 0, oh - h, 0, ow - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)


class FrameLoop:
    """Decoded frames of one run (a whole video, or a span of segments) to finished pictures.

    ``job``: the sizes and settings (``one_pass.Job`` or ``span_run.SpanSpec``: ``src``, ``rate``, ``w``, ``h``,
    ``ow``, ``oh``, ``outscale``). Each frame is placed in its output slot (``FrameSlots``; a frame whose slot is
    taken is dropped, a repeat of the previous picture is not new), new pictures are collected into batches for
    the model, and every slot is written in order through ``write(picture, times)`` (``times`` may be 0), a gap
    holding the last picture. ``temporal``: as ``VideoOptions.temporal`` holds it (``inference/video/options.py``); the stabiliser is
    made here, once per loop (a ``Stabiliser`` given by the caller carries its state on). ``bar``: a progress
    counter shown the model's rate, or None.
    """

    def __init__(self, upscaler, job, write, temporal=None, bar=None):
        self.up, self.job, self.write, self.bar = upscaler, job, write, bar
        self.stab = make_stabiliser(temporal)
        self.slots = FrameSlots(job.rate)
        self.batch, self.pending = [], []  # LR frames for the model; (index in batch or None = repeat, gap)
        self.batch_n = batch_size(upscaler, job.h, job.w, job.outscale)
        self.prev_out = None  # the latest picture written
        self.upscaled = 0  # frames through the model (pre-roll not counted)
        self.model_seconds = self.temporal_seconds = 0.0

    def add(self, frame, t):
        """A decoded frame at ``t`` seconds (None: unknown); a full batch goes through the model at once."""
        placed = self.slots.place(frame, t)
        if placed is None:  # its slot is already shown: dropped before the model
            return
        new, gap = placed
        self.pending.append((len(self.batch) if new else None, gap))
        if new:
            self.batch.append(frame)
        if len(self.batch) >= self.batch_n or not self.batch:
            self.flush()

    def flush(self):
        """Run the batch through the model and write the pending slots in order."""
        outs = []
        if self.batch:
            outs = self.upscale(self.batch, self.upscaled)
            self.upscaled += len(outs)
            self.batch.clear()
            if self.bar is not None:
                self.bar.set_postfix_str(f'model {self.upscaled / max(self.model_seconds, 1e-9):.2f} fps',
                                         refresh=False)
        for idx, gap in self.pending:
            out = self.prev_out if idx is None else outs[idx]
            self.write(self.prev_out if self.prev_out is not None else out, gap)  # gap: hold the last picture
            self.write(out, 1)
            self.prev_out = out
        self.pending.clear()

    def preroll(self, frames):
        """Frames before a segment's cut: through the model (a stateful filter and the stabiliser start warm),
        outputs discarded except the last, which a gap at the cut holds (as one pass does)."""
        reset = getattr(self.up, 'reset', None)
        if callable(reset):
            reset()
        for frame in frames:
            self.prev_out = self.upscale([frame], -1)[0]

    def upscale(self, lrs, index):
        """``lrs`` (frames ``index``...; -1: pre-roll) through the model, their size checked, then the stabiliser
        in frame order with each frame's LR input; each step timed."""
        raise_if_terminated()
        job, t0 = self.job, time.perf_counter()
        outs = run_model(self.up, lrs, job.outscale, job.src, index)
        t1 = time.perf_counter()
        self.model_seconds += t1 - t0
        for i, out in enumerate(outs):
            if out.shape[:2] != (job.oh, job.ow):
                where = 'a frame before the segment' if index < 0 else f'frame {index + i}'
                raise VideoError(f'{job.src}: {where} came out {out.shape[1]}x{out.shape[0]}, expected '
                                 f'{job.ow}x{job.oh} (the model does not make the size its scale says)')
        if self.stab is not None:
            outs = [self.stab(lr, out) for lr, out in zip(lrs, outs)]
            self.temporal_seconds += time.perf_counter() - t1
        return outs
