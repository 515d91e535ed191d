"""Near-duplicate frames judged on what moves in the clip, not on the whole picture.

A static camera (a broadcast main camera, a surveillance camera) films the same background in every
frame: a whole-frame 64-bit hash (``frame_filters.phash``) calls all its frames duplicates, though cars, players
or people move in them. Here the clip itself decides which regions count:

- ``thumbnail``: a small, slightly blurred gray copy of a frame (``THUMB`` px wide): codec noise and
  grain stay below ``LEVEL``;
- ``MovingRegion(thumbs)``: a clip's moving region (the pixels where some frame departs from the clip's
  per-pixel median by more than ``LEVEL`` grey levels) and its moving area (how many of those pixels a
  frame has on average, at least ``MIN_AREA`` of the frame, so that a few flickering pixels do not make
  every frame new);
- ``MovingRegion.distance(a, b)``: the pixels of the moving region where ``a`` and ``b`` differ by more
  than ``LEVEL``, over the moving area: 0 for the same content, about 2 when every moving object has moved
  elsewhere, however small the objects are against the frame;
- ``dedupe(items, dist, threshold)``: greedy, in order: an item is kept when its distance to every kept
  item is at least ``threshold`` (``DUPLICATE``).

A hand-held or panning clip moves everywhere, so its mask is the whole frame and this is a plain
thumbnail comparison.
"""
import cv2
import numpy as np

THUMB = 128        # thumbnail width, px
LEVEL = 12.0       # grey levels: a pixel changes between two thumbnails
MIN_AREA = 0.01    # the moving region counts as at least this fraction of the frame
DUPLICATE = 0.25   # frames whose distance is below this (a quarter of the moving area) are near-duplicates


def thumbnail(img, width=THUMB):
    """Gray float32 thumbnail ``width`` px wide (aspect kept), Gaussian-blurred (sigma 1)."""
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_BGR2GRAY)
    h, w = img.shape[:2]
    height = max(1, round(h * width / w))
    small = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(small, (0, 0), 1.0)


class MovingRegion:
    """What moves in one clip, from the thumbnails of its frames.

    ``mask``: the pixels where at least one thumbnail departs from the clip's per-pixel median by more than
    ``level``. ``area``: the mean number of such pixels per frame (at least ``min_area`` of the frame): how
    much of a frame the moving content covers.
    """

    def __init__(self, thumbs, level=LEVEL, min_area=MIN_AREA):
        stack = np.stack(thumbs)
        self.level = level
        if len(stack) < 2:
            self.mask = np.ones(stack.shape[1:], bool)
            self.area = float(self.mask.size)
            return
        away = np.abs(stack - np.median(stack, axis=0)) > level
        self.mask = away.any(axis=0)
        self.area = max(float(away.sum(axis=(1, 2)).mean()), min_area * self.mask.size, 1.0)

    def distance(self, a, b):
        """Pixels of the moving region where ``a`` and ``b`` differ by more than ``level``, over ``area``:
        0 for the same content, about 2 when every moving object is somewhere else; inf for thumbnails of
        different sizes (not the same picture)."""
        if a.shape != b.shape or a.shape != self.mask.shape:
            return float('inf')
        return np.count_nonzero((np.abs(a - b) > self.level) & self.mask) / self.area


def dedupe(items, dist, threshold=DUPLICATE):
    """``(kept, dropped)``: ``kept`` the items (in order) at distance >= ``threshold`` from every earlier kept
    one; ``dropped`` a list of ``(item, nearest kept item, distance)``."""
    kept, dropped = [], []
    for it in items:
        near = min(((dist(it, k), i) for i, k in enumerate(kept)), default=(None, None))
        if near[0] is not None and near[0] < threshold:
            dropped.append((it, kept[near[1]], near[0]))
        else:
            kept.append(it)
    return kept, dropped
