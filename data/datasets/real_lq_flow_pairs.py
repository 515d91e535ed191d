"""Pairs of consecutive real low-resolution frames with the motion between them, for the temporal loss
(``loss/temporal.py``).

``datasets.real_lq_pairs: {dataroot_lq: DIR, crop: 32, batch_size: 2}``: ``DIR`` holds each pair as
``<name>_t0.png`` (frame t) and ``<name>_t1.png`` (frame t+1) of one clip (``pipeline/lq_flow_pairs.py`` writes
them from ``--lq-videos``). At load, for each pair, ``lq_flow`` finds the motion on the LQ frames themselves (OpenCV
DIS, numpy, no weights, no gradient) and a confidence of where frame t, so moved, is frame t+1. Each ``batch()``
is ``batch_size`` random ``crop`` x ``crop`` windows, the same window in both frames, randomly flipped left-right:
``(frame t, frame t+1, flow, mask)`` as float32 tensors ``[N, 3, c, c]`` (RGB in [0, 1]) x 2, ``[N, 2, c, c]``
(LQ pixels, x then y: frame t+1 at ``p`` shows frame t at ``p + flow(p)``) and ``[N, 1, c, c]`` in [0, 1].

The confidence follows the idea of ``inference/temporal.py`` (which this floor cannot import): the flow is used
only where it is at least ``MIN_FLOW`` and explains frame t+1 clearly better than no motion (DIS reports motion in still, noisy areas; no motion
resamples nothing), and the confidence is 1 where the warping error of the LQ is under ``ERR_LOW`` gray levels,
0 over ``ERR_HIGH`` (occlusions, new objects, lighting), eroded by one pixel so that it drops at an object's edge.
"""
from pathlib import Path

import numpy as np

from realesrgan_paddle.data.datasets import scan_images
from realesrgan_paddle.media.image_io import ImageReadError, image_to_chw, imread

SUFFIXES = ('_t0', '_t1')
ERR_LOW, ERR_HIGH = 4.0, 12.0  # LQ warping error (0-255): full confidence below, none above
FLOW_GAIN = 1.0  # the flow is used where its LQ warping error is this much (0-255) below no motion's
MIN_FLOW = 0.25  # LQ motion below this (px) counts as none: codec noise, not motion


def _gray(rgb01):
    import cv2
    return cv2.cvtColor(np.ascontiguousarray(rgb01.transpose(1, 2, 0)) * 255.0, cv2.COLOR_RGB2GRAY)


def _error(a, b):
    """Per-pixel difference of two CHW frames (0-255): the largest channel's, 3x3 Gaussian blurred."""
    import cv2
    return cv2.GaussianBlur(np.abs(a - b).max(axis=0) * 255.0, (3, 3), 0)


def warp_chw(img, flow):
    """``img`` (CHW float32) sampled at ``p + flow(p)`` (bilinear, border replicated)."""
    import cv2
    h, w = img.shape[1:]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    hwc = np.ascontiguousarray(img.transpose(1, 2, 0))
    out = cv2.remap(hwc, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (out[..., None] if out.ndim == 2 else out).transpose(2, 0, 1)


def lq_flow(prev, cur):
    """``(flow HxWx2, confidence HxW)`` between two CHW RGB float32 frames in [0, 1] of one size: ``cur`` at ``p``
    shows ``prev`` at ``p + flow(p)`` where the confidence is 1 (see the module's docstring)."""
    import cv2
    if prev.shape != cur.shape or prev.ndim != 3 or prev.shape[0] != 3:
        raise ValueError(f'lq_flow: expected two 3xHxW frames of one size, got {prev.shape} and {cur.shape}')
    h, w = cur.shape[1:]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(np.clip(_gray(cur), 0, 255).astype(np.uint8), np.clip(_gray(prev), 0, 255).astype(np.uint8),
                    None)
    flow[(flow * flow).sum(axis=2) < MIN_FLOW ** 2] = 0
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    err0, errf = _error(cur, prev), _error(cur, warp_chw(prev, flow))
    moved = inside & (errf < err0 - FLOW_GAIN)
    flow[~moved] = 0
    err = np.where(moved, errf, err0)
    conf = np.clip((ERR_HIGH - err) / (ERR_HIGH - ERR_LOW), 0.0, 1.0).astype(np.float32)
    return flow.astype(np.float32), cv2.erode(conf, np.ones((3, 3), np.uint8))


def find_pairs(root):
    """``[(frame t path, frame t+1 path)]`` of ``root`` (``<name>_t0.png`` + ``<name>_t1.png``); ``ValueError``
    (one line) for a folder without images, a frame without its partner, or no pair."""
    files = [Path(root) / rel for rel in scan_images(root)]
    by = {p.with_suffix('').as_posix(): p for p in files}
    pairs, lone = [], []
    for p in files:
        stem = p.with_suffix('').as_posix()
        if stem.endswith(SUFFIXES[0]) and stem[:-3] + SUFFIXES[1] in by:
            pairs.append((p, by[stem[:-3] + SUFFIXES[1]]))
        elif not (stem.endswith(SUFFIXES[1]) and stem[:-3] + SUFFIXES[0] in by):
            lone.append(p)
    if lone:
        raise ValueError(f'{lone[0]}: not one of a pair of consecutive frames (<name>_t0.png with <name>_t1.png)')
    if not pairs:
        raise ValueError(f'{root}: no pairs of consecutive frames (<name>_t0.png with <name>_t1.png)')
    return pairs


def _read(path):
    try:
        return image_to_chw(imread(path)).astype(np.float32)
    except (ImageReadError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read the real LQ frame ({exc})') from None


class RealLQFlowPairs:
    def __init__(self, dataroot_lq, crop=32, batch_size=2, seed=0):
        if int(crop) < 4 or int(batch_size) < 1:
            raise ValueError(f'datasets.real_lq_pairs: crop must be >= 4 and batch_size >= 1, got {crop}, '
                             f'{batch_size}')
        self.crop, self.batch_size = int(crop), int(batch_size)
        self.items = []  # (CHW stack of frame t, frame t+1, flow x, flow y, mask): 9 x H x W float32
        for p0, p1 in find_pairs(dataroot_lq):
            a, b = _read(p0), _read(p1)
            if a.shape != b.shape:
                raise ValueError(f'{p1}: {b.shape[2]}x{b.shape[1]}, its frame t {p0.name} is '
                                 f'{a.shape[2]}x{a.shape[1]}: not consecutive frames of one clip')
            if min(a.shape[1:]) < self.crop:
                raise ValueError(f'{p0}: {a.shape[2]}x{a.shape[1]} is smaller than the crop {self.crop}')
            flow, conf = lq_flow(a, b)
            self.items.append(np.concatenate([a, b, flow.transpose(2, 0, 1), conf[None]]))
        self.moving = float(np.mean([(np.abs(i[6:8]).sum(axis=0) > 0).mean() for i in self.items]))
        self.confident = float(np.mean([i[8].mean() for i in self.items]))
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.items)

    def sample(self):
        """``(frame t, frame t+1, flow, mask)``: float32 numpy arrays ``[N, 3|3|2|1, crop, crop]``."""
        out, c = [], self.crop
        for _ in range(self.batch_size):
            s = self.items[int(self.rng.integers(len(self.items)))]
            y = int(self.rng.integers(0, s.shape[1] - c + 1))
            x = int(self.rng.integers(0, s.shape[2] - c + 1))
            s = s[:, y:y + c, x:x + c]
            if self.rng.uniform() < 0.5:
                s = s[:, :, ::-1].copy()
                s[6] = -s[6]  # the motion's x runs the other way in the mirrored frames
            out.append(s)
        b = np.stack(out).astype(np.float32)
        return b[:, 0:3], b[:, 3:6], b[:, 6:8], b[:, 8:9]

    def batch(self):
        import paddle
        return tuple(paddle.to_tensor(np.ascontiguousarray(a)) for a in self.sample())
