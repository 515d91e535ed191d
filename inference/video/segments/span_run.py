"""Running spans of segments (see ``inference/video/segments/plan.py``): one decoder per span of consecutive segments, one
x264 encode per segment, the model in between; and the driver that plans, resumes, runs and joins.

The same ``run_span`` serves a single process (one span per run of unfinished segments) and each Ray task (one
segment; ``inference/distributed/ray_runner.py``).
"""
import contextlib
import os
import subprocess
from collections import deque
from fractions import Fraction
from pathlib import Path

from . import plan as sg
from ..frame_loop import Decoder, FrameLoop, encoder_args, to_i420
from realesrgan_paddle.media.ffmpeg import widen_pipe
from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils.fileio import temp_beside


class SpanSpec:
    """What a worker needs to encode segments: the probed job's sizes and settings, picklable."""

    def __init__(self, job, state, options, preset, x264_params, outscale):
        # options: the run's VideoOptions; preset: the one picked for it (one_pass.pick_preset)
        self.temporal = options.temporal  # None or a mode name of inference.video.stabiliser: picklable for Ray
        self.src, self.turn, self.w, self.h = str(job.src), job.turn, job.w, job.h
        self.ew, self.eh, self.ow, self.oh = job.ew, job.eh, job.ow, job.oh
        self.rate = Fraction(state['rate'])
        self.first, self.lead, self.starts = state['first'], state['lead'], list(state['starts'])
        self.video_duration = job.info.get('video_duration')
        self.sar = job.info.get('sar')
        if self.sar and job.turn in (90, 270):
            self.sar = (self.sar[1], self.sar[0])
        self.crf, self.preset, self.x264_params, self.outscale = options.crf, preset, x264_params, outscale
        self.overlap = max(0, int(options.overlap_frames))

    def slot(self, t):
        return self.lead + int(round((t - self.first) * float(self.rate)))

    def seg_end(self, k):
        return self.starts[k + 1] if k + 1 < len(self.starts) else None


class _SegEncoder:
    """Segment ``k``'s encoder writing ``tmp``; ``commit`` records it (``record(k, tmp, frames)``: the work folder's
    plan) and renames it to ``final`` once complete; on any failure the temporary files are removed."""

    def __init__(self, exe, spec, tmp, final, k, record=None):
        self.tmp, self.final, self.k, self.record = str(tmp), str(final), k, record
        rate = f'{spec.rate.numerator}/{spec.rate.denominator}'
        cmd = encoder_args(exe, None, self.tmp, spec.ew, spec.eh, rate, spec.crf, spec.preset, spec.sar,
                            spec.x264_params)
        self.log = open(self.tmp + '.log', 'wb')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self.log)
        widen_pipe(self.proc.stdin)
        self.frames = 0

    def write(self, data, times):
        try:
            for _ in range(times):
                self.proc.stdin.write(data)
        except BrokenPipeError:
            self.proc.wait()
            raise VideoError(f'{self.final}: the encoder stopped ({self._reason()})') from None
        self.frames += times

    def _reason(self):
        self.log.flush()
        text = Path(self.tmp + '.log').read_text(errors='replace')
        if 'No space left' in text:
            return 'the disk is full'
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return lines[-1] if lines else 'ffmpeg failed'

    def commit(self):
        try:
            self.proc.stdin.close()
            rc = self.proc.wait()
            reason = self._reason() if rc != 0 else None
            self.log.close()
            os.unlink(self.tmp + '.log')
            if rc != 0:
                raise VideoError(f'{self.final}: the encoder failed ({reason})')
            if self.record is not None:
                self.record(self.k, self.tmp, self.frames)
            commit_file(self.tmp, self.final)
        except BaseException:
            self.abort()  # a full disk, a failed encoder: no temporary segment is left behind
            raise

    def abort(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.log.close()
        for p in (self.tmp, self.tmp + '.log'):
            if os.path.exists(p):
                os.unlink(p)


def commit_file(tmp, final):
    """The finished segment synced to disk, then under its final name (atomic): a power cut leaves the whole
    segment or none, never an empty file under the final name."""
    fd = os.open(tmp, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)


class SpanRun:
    """Segments ``k0`` to ``k1 - 1`` through one decoder and the frame loop (``inference.video.frame_loop``, as one pass),
    each segment to its own encoder."""

    def __init__(self, upscaler, spec, k0, k1, folder, exe, on_frames=None, record=None):
        self.spec, self.k0, self.k1, self.folder, self.exe = spec, k0, k1, Path(folder), exe
        self.record = record  # called with (k, temporary file, frames) before a segment gets its final name
        self.on_frames = on_frames or (lambda n: None)
        self.k = k0
        self.pos = spec.starts[k0]  # the next slot to write
        self.end = spec.seg_end(k1 - 1)  # None: to the end of the video
        self.enc = None
        # a fresh stabiliser per span: it starts warm from the pre-roll
        self.loop = FrameLoop(upscaler, spec, self._emit, spec.temporal)
        self.loop.slots.first, self.loop.slots.lead, self.loop.slots.next = spec.first, spec.lead, spec.starts[k0]

    @property
    def upscaled(self):
        return self.loop.upscaled

    @property
    def model_seconds(self):
        return self.loop.model_seconds

    @property
    def temporal_seconds(self):
        return self.loop.temporal_seconds

    def run(self):
        spec, loop = self.spec, self.loop
        start_t = spec.first + (spec.starts[self.k0] - spec.lead) / float(spec.rate)
        seek = max(0.0, start_t - (spec.overlap + 1.5) / float(spec.rate)) if self.k0 > 0 else 0.0
        dec = Decoder(self.exe, spec.src, spec.turn, spec.w, spec.h, seek)
        pre = []
        recent, cut_k = deque(maxlen=spec.overlap + 1), self.k0 + 1  # the frames a restart at cut_k warms up on
        try:
            for frame, t in dec.frames():
                if t is not None and spec.slot(t) < spec.starts[self.k0]:
                    pre = (pre + [frame])[-(spec.overlap + 1):]
                    recent.append(frame)
                    continue
                if pre:
                    loop.preroll(pre)
                    pre = []
                if t is not None and self.end is not None and spec.slot(t) >= self.end:
                    break
                if loop.stab is not None and t is not None:
                    cut_k = self._restart_at_cuts(spec.slot(t), cut_k, recent)
                loop.add(frame, t)
                recent.append(frame)
            loop.flush()
            ended = self.end is None
            errors = bool(dec.errors)
        except BaseException:
            dec.close(kill=True)
            self._abort()
            raise
        rc = dec.close(kill=not ended)
        if ended and (rc != 0 or (loop.prev_out is None and self.enc is None)):
            self._abort()
            raise VideoError(dec.failure())
        try:
            self._finish(ended and not errors)
        except BaseException:
            self._abort()
            raise
        return self.upscaled

    def _restart_at_cuts(self, slot, cut_k, recent):
        """Before the first frame at or after a cut inside the span: the slots up to the cut hold the last picture
        (as a span's end does), and the stabiliser starts afresh, warm from the frames before the cut, as a span
        that starts at that cut does. Returns the next cut to watch."""
        spec, loop = self.spec, self.loop
        while cut_k < len(spec.starts) and slot >= spec.starts[cut_k]:
            cut = spec.starts[cut_k]
            loop.flush()
            if loop.prev_out is not None and self.pos < cut:
                self._emit(loop.prev_out, cut - self.pos)
            loop.slots.next = max(loop.slots.next, cut)
            loop.stab.reset()
            loop.preroll(list(recent))
            cut_k += 1
        return cut_k

    def _emit(self, img, times):
        """Write ``img`` into ``times`` slots from ``pos``, switching segments at their cuts."""
        data = None
        while times > 0:
            seg_end = self.spec.seg_end(self.k)
            if seg_end is not None and self.pos >= seg_end:
                self._next_segment()
                continue
            if self.enc is None:
                self._open()
            n = times if seg_end is None else min(times, seg_end - self.pos)
            if data is None:
                data = to_i420(img, self.spec.ew, self.spec.eh).tobytes()
            self.enc.write(data, n)
            self.on_frames(n)
            self.pos += n
            times -= n

    def _open(self):
        final = self.folder / sg.segment_name(self.k)
        fd, tmp = temp_beside(final, suffix='.mp4')
        os.close(fd)
        try:
            self.enc = _SegEncoder(self.exe, self.spec, tmp, final, self.k, self.record)
        except BaseException:
            for p in (tmp, tmp + '.log'):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
            raise

    def _commit(self):
        enc, self.enc = self.enc, None
        enc.commit()

    def _next_segment(self):
        if self.enc is None:
            self._open()  # an empty segment cannot be: a cut is a slot with a frame
        self._commit()
        self.k += 1

    def _finish(self, hold_to_end):
        spec = self.spec
        prev = self.loop.prev_out
        if self.end is not None:
            if prev is not None and self.pos < self.end:
                self._emit(prev, self.end - self.pos)  # the gap up to the next cut holds the picture
        elif hold_to_end and prev is not None and spec.video_duration:
            self._emit(prev, int(round(spec.video_duration * spec.rate)) - self.pos)
        if self.enc is not None:
            self._commit()

    def _abort(self):
        if self.enc is not None:
            self.enc.abort()
            self.enc = None
