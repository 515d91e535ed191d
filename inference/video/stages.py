"""The stages of ``inference.video.one_pass``: pipeline threads with bounded queues, the frame-slot scheduler, and
batches of small frames.

Kept apart from the ffmpeg side (``inference/video/frame_loop.py``, ``inference/video/one_pass.py``); imported only with them.
"""
import math
import queue
import threading

import numpy as np

from realesrgan_paddle.media.video_reader import VideoError

END = object()


class _Stage(threading.Thread):
    """A pipeline thread running ``fn``; its exception is kept for the main thread and stops the others."""

    def __init__(self, name, fn, stop):
        super().__init__(name=name, daemon=True)
        self.fn, self.stop, self.error = fn, stop, None

    def run(self):
        try:
            self.fn()
        except BaseException as e:  # raised again by the main thread (Pipeline.check)
            self.error = e
            self.stop.set()


class Pipeline:
    """Bounded queues between the decoder thread, the model (the calling thread) and the encoder thread."""

    def __init__(self, slots):
        self.stop = threading.Event()
        self.decoded, self.upscaled = queue.Queue(maxsize=slots), queue.Queue(maxsize=slots)
        self.stages = []

    def start(self, name, fn):
        st = _Stage(name, fn, self.stop)
        self.stages.append(st)
        st.start()

    def check(self):
        for st in self.stages:
            if st.error is not None:
                raise st.error

    def put(self, q, item):
        """False when the pipeline stopped (a stage failed) before ``item`` found room."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def get(self, q):
        """The next item, or the error of a stage that died (never a wait on a dead stage)."""
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                self.check()
                if self.stop.is_set():
                    return END

    def join(self, timeout=None):
        for st in self.stages:
            st.join(timeout)


class FrameSlots:
    """Which output slot of a constant-rate video each decoded frame fills.

    A frame at ``t`` seconds goes to slot ``lead + round((t - first) * rate)``, where ``first`` is the first
    frame's time and ``lead`` the whole slots before it (a video stream that starts after the audio). Slots
    skipped since the previous frame are a gap (the previous picture held over them); a frame whose slot is
    already taken is dropped before the model; a frame byte-identical to the previous one is not new (its
    picture is shown again). A frame without a time comes one slot after the previous one.
    """

    def __init__(self, rate):
        self.rate = float(rate)
        self.first = self.last = self.prev = None
        self.lead = 0
        self.next = 0  # slots decided so far

    def place(self, frame, t):
        """``(new, gap)`` for a decoded frame at ``t`` seconds (None: unknown), or None when it is dropped."""
        if t is None:
            t = 0.0 if self.last is None else self.last + 1 / self.rate
        if self.first is None:
            self.first, self.lead = t, max(math.floor(t * self.rate + 1e-3), 0)
        self.last = t
        slot = self.lead + int(round((t - self.first) * self.rate))
        if slot < self.next:
            return None
        new = self.prev is None or not np.array_equal(frame, self.prev)
        if new:
            self.prev = frame
        gap, self.next = slot - self.next, slot + 1
        return new, gap


# Frames up to this many LR pixels go through the model BATCH_MAX at a time (one forward), when the
# upscaler runs them untiled on the predictor without a final resize. Measured with animevideov3 on
# OpenVINO bf16 (2 busy cores, min of 4): one forward of 4 frames took 0.87x (160x120) and 0.80x
# (320x240) the time of 4 single forwards; the medians were level (0.97x). A small gain, never a loss.
BATCH_PIXELS = 320 * 240
BATCH_MAX = 4


def batch_size(upscaler, h, w, outscale):
    """How many frames of ``h`` x ``w`` to send to the model at once (1: one by one via ``upscale``); an
    upscaler without ``batch_fits`` (any object with ``upscale`` and ``scale``) takes them one by one."""
    fits = getattr(upscaler, 'batch_fits', None)
    if fits is None or h * w > BATCH_PIXELS or not fits(BATCH_MAX, h, w, outscale):
        return 1
    return BATCH_MAX


def run_model(upscaler, frames, outscale, src, first_index):
    """The upscaled frames; the model's own error as a one-line ``VideoError`` naming the frame."""
    try:
        if len(frames) == 1:
            return [upscaler.upscale(frames[0], outscale)]
        return upscaler.upscale_batch(frames, outscale)
    except (MemoryError, VideoError, KeyboardInterrupt):
        raise
    except Exception as e:
        where = f'frame {first_index}' if len(frames) == 1 else f'frames {first_index}-{first_index + len(frames) - 1}'
        raise VideoError(f'{src}: the model failed on {where}: {one_line(e)}') from None


def one_line(e):
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]
