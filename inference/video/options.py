"""The settings of one video upscale, made and checked once: ``VideoOptions``.

``Upscaler.upscale_video`` (the API, ``tools/infer.py``, ``tools/predict.py``, the web app) makes one from its
keywords, before ffmpeg starts; the one-pass run (``one_pass.py``), the segments (``segments/``) and Ray's workers
(``inference/distributed/``) read its fields and never read a setting again. A bad value is one line
(``TemporalError`` for ``temporal``, ``ValueError`` for the others).

Which mode runs: one pass when ``segment_seconds`` is None or 0 and ``ray`` is not given (the API's default), else
segments of about ``segment_seconds`` (``SEGMENT_SECONDS`` with ``ray`` alone) kept in ``OUT.parts/`` until the
join. The command line's default is segments of 10 s (``--segment_seconds``): docs/scale.md says why the two differ.
"""
import math
from dataclasses import dataclass

from .stabiliser import DEFAULT_MODE, temporal_mode

SEGMENT_SECONDS = 10.0  # segments' length with ray and no segment_seconds, and the command line's default
OVERLAP_FRAMES = 0  # frames before a cut run through the model with their outputs discarded
# with --temporal: the stabiliser's memory of the frames before a cut falls as 0.9^k at most (its default strength,
# inference/video/stabiliser.py), about 12 % after 20 frames (4 % after 30); a segment started 20 frames early joins
# its predecessor without a visible step (tests/inference/test_segments.py measures the join). Every segment starts
# its stabiliser afresh from these frames, inside a span too, so a segment's frames never depend on where a run
# started or stopped: a resumed or Ray run gives the uninterrupted run's frames bit for bit
TEMPORAL_OVERLAP = 20


@dataclass(frozen=True)
class VideoOptions:
    """One video upscale's settings. After construction ``temporal`` is None (off), 'flow' or 'static', or a
    ``Stabiliser`` (one pass only: its state carries on); ``segment_seconds`` is None for one pass, else the
    segments' length; ``overlap_frames`` is the frames each segment starts early (its default follows
    ``temporal``)."""
    crf: int = 18
    preset: str = None  # None: the choice of one_pass.pick_preset
    temporal: object = DEFAULT_MODE  # 'flow', True (the same), 'static', 'off'/False/None, or a Stabiliser
    segment_seconds: float = None
    ray: str = None  # None (this process), 'auto', 'local' or a cluster address
    workers: int = None
    overlap_frames: int = None
    queue_frames: int = 2  # one pass: frames each of the two queues holds
    keep_parts: bool = False  # segments: keep OUT.parts/ after the join

    def __post_init__(self):
        seconds = self.segment_seconds or None
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f'segment_seconds must be a positive number of seconds, got {self.segment_seconds!r}')
        if self.ray and seconds is None:
            seconds = SEGMENT_SECONDS
        if self.workers is not None and not (isinstance(self.workers, int) and self.workers >= 1):
            raise ValueError(f'workers must be a whole number >= 1, got {self.workers!r}')
        temporal = temporal_mode(self.temporal, named=seconds is not None)  # a Stabiliser: one pass only
        overlap = self.overlap_frames
        if overlap is None:
            overlap = TEMPORAL_OVERLAP if temporal else OVERLAP_FRAMES
        for name, value in (('segment_seconds', seconds), ('temporal', temporal), ('overlap_frames', overlap)):
            object.__setattr__(self, name, value)

    @property
    def segmented(self):
        """True for resumable segments, False for one pass."""
        return self.segment_seconds is not None

