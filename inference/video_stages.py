"""The stages of ``inference.video``: pipeline threads with bounded queues, and batches of small frames.

Kept apart from the ffmpeg side (``inference/video.py``); imported only with it.
"""
import queue
import threading

import numpy as np

from utils.img_io import chw_to_image, image_to_chw
from utils.video_reader import VideoError

_END = object()


class _Stage(threading.Thread):
    """A pipeline thread running ``fn``; its exception is kept for the main thread and stops the others."""

    def __init__(self, name, fn, stop):
        super().__init__(name=name, daemon=True)
        self.fn, self.stop, self.error = fn, stop, None

    def run(self):
        try:
            self.fn()
        except BaseException as e:  # raised again by the main thread (_Pipeline.check)
            self.error = e
            self.stop.set()


class _Pipeline:
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
                    return _END

    def join(self, timeout=None):
        for st in self.stages:
            st.join(timeout)


# Frames up to this many LR pixels go through the model BATCH_MAX at a time (one forward), when the
# upscaler runs them untiled on the predictor without a final resize. Measured with animevideov3 on
# OpenVINO bf16 (2 busy cores, min of 4): one forward of 4 frames took 0.87x (160x120) and 0.80x
# (320x240) the time of 4 single forwards; the medians were level (0.97x). A small gain, never a loss.
BATCH_PIXELS = 320 * 240
BATCH_MAX = 4


def _batch_size(upscaler, h, w, outscale):
    """How many frames of ``h`` x ``w`` to send to the model at once (1: one by one via ``upscale``)."""
    backend = getattr(upscaler, 'backend', None)
    if getattr(backend, 'name', None) != 'predictor' or h * w > BATCH_PIXELS or getattr(upscaler, 'pre_pad', 1):
        return 1
    scale = outscale or upscaler.outscale
    if scale and abs(scale - upscaler.scale) > 1e-9:
        return 1
    mod = upscaler.mod
    hp, wp = h + (-h) % mod, w + (-w) % mod
    tile = upscaler.tile
    if tile != 'auto' and 0 < tile < max(hp, wp):
        return 1  # tiled: one frame at a time
    if tile == 'auto' and upscaler._pick_tile(hp * BATCH_MAX, wp):
        return 1  # the batch would not fit in memory in one piece
    return BATCH_MAX


def _upscale_batch(upscaler, frames):
    """``upscaler.upscale`` of same-size BGR uint8 frames (untiled, no resize) in one forward."""
    h, w = frames[0].shape[:2]
    x = np.stack([image_to_chw(f) for f in frames])
    ph, pw = (-h) % upscaler.mod, (-w) % upscaler.mod
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode='reflect' if max(ph, pw) < min(h, w) else 'edge')
    s = upscaler.scale
    y = upscaler.backend.forward(x)
    return [chw_to_image(yi[:, :h * s, :w * s]) for yi in y]


def _run_model(upscaler, frames, outscale, src, first_index):
    """The upscaled frames; the model's own error as a one-line ``VideoError`` naming the frame."""
    try:
        if len(frames) == 1:
            return [upscaler.upscale(frames[0], outscale)]
        return _upscale_batch(upscaler, frames)
    except (MemoryError, VideoError, KeyboardInterrupt):
        raise
    except Exception as e:
        where = f'frame {first_index}' if len(frames) == 1 else f'frames {first_index}-{first_index + len(frames) - 1}'
        raise VideoError(f'{src}: the model failed on {where}: {_one_line(e)}') from None


def _one_line(e):
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]
