"""Pairs of consecutive real low-resolution frames with the motion between them, for the temporal loss
(``loss/temporal_agreement.py``).

``datasets.real_lq_pairs: {dataroot_lq: DIR, crop: 32, batch_size: 2}``: ``DIR`` holds each pair as
``<name>_t0.png`` (frame t) and ``<name>_t1.png`` (frame t+1) of one clip (``pipeline/inputs/lq_flow_pairs.py`` writes
them from ``--lq-videos``). At load, for each pair, ``lq_flow`` finds the motion on the LQ frames themselves (OpenCV
DIS, numpy, no weights, no gradient) and a confidence of where frame t, so moved, is frame t+1. Each ``batch()``
is ``batch_size`` random ``crop`` x ``crop`` windows, the same window in both frames, randomly flipped left-right:
``(frame t, frame t+1, flow, mask)`` as float32 tensors ``[N, 3, c, c]`` (RGB in [0, 1]) x 2, ``[N, 2, c, c]``
(LQ pixels, x then y: frame t+1 at ``p`` shows frame t at ``p + flow(p)``) and ``[N, 1, c, c]`` in [0, 1].

The confidence follows the idea of ``inference/video/stabiliser.py`` (which this floor cannot import): the flow is used
only where it is at least ``MIN_FLOW`` and explains frame t+1 clearly better than no motion (DIS reports motion in still, noisy areas; no motion
resamples nothing), and the confidence is 1 where the warping error of the LQ is under ``ERR_LOW`` gray levels,
0 over ``ERR_HIGH`` (occlusions, new objects, lighting), eroded by one pixel so that it drops at an object's edge.

Memory is bounded (issue 64, O04: an 8000x8000 pair went past 3 GiB as float32 9xHxW): every frame's size is read
from its header before any is decoded (at most ``MAX_FRAME_PIXELS``, at least ``MIN_SIDE`` a side), the pairs
are found one at a time and keep their frames as read (8 or 16 bit) beside the float32 motion, and when all of
them would keep more than ``MAX_BYTES`` each keeps a random window of its frames (and motion) of its share.
"""
from pathlib import Path

import cv2
import numpy as np
import paddle

from realesrgan_paddle.data.datasets import scan_images
from realesrgan_paddle.media.image_io import ImageReadError, declared_size_of, image_to_chw, imread

SUFFIXES = ('_t0', '_t1')
ERR_LOW, ERR_HIGH = 4.0, 12.0  # LQ warping error (0-255): full confidence below, none above
FLOW_GAIN = 1.0  # the flow is used where its LQ warping error is this much (0-255) below no motion's
MIN_FLOW = 0.25  # LQ motion below this (px) counts as none: codec noise, not motion


def _gray(rgb01):
    return cv2.cvtColor(np.ascontiguousarray(rgb01.transpose(1, 2, 0)) * 255.0, cv2.COLOR_RGB2GRAY)


def _error(a, b):
    """Per-pixel difference of two CHW frames (0-255): the largest channel's, 3x3 Gaussian blurred."""
    return cv2.GaussianBlur(np.abs(a - b).max(axis=0) * 255.0, (3, 3), 0)


def warp_chw(img, flow):
    """``img`` (CHW float32) sampled at ``p + flow(p)`` (bilinear, border replicated)."""
    h, w = img.shape[1:]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    hwc = np.ascontiguousarray(img.transpose(1, 2, 0))
    out = cv2.remap(hwc, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (out[..., None] if out.ndim == 2 else out).transpose(2, 0, 1)


def lq_flow(prev, cur):
    """``(flow HxWx2, confidence HxW)`` between two CHW RGB float32 frames in [0, 1] of one size: ``cur`` at ``p``
    shows ``prev`` at ``p + flow(p)`` where the confidence is 1 (see the module's docstring)."""
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


MIN_SIDE = 32  # OpenCV's DIS refuses frames under 12 px a side and crashes on some wide ones under 32 (300x24)
MAX_FRAME_PIXELS = 3840 * 2160  # one LQ frame: its motion is found on the whole frame (about 70 B a pixel at once)
MAX_BYTES = 512 << 20  # what the pairs keep in all; beyond it each pair keeps a window of its frames
KEPT_BYTES = 24  # a kept pixel: two RGB frames (16-bit at most), the flow (2 x float32), the confidence (float32)


def _read(path):
    try:
        return imread(path)
    except (ImageReadError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read the real LQ frame ({exc})') from None


def _header_size(path):
    try:
        return declared_size_of(path)
    except ImageReadError as exc:
        raise ValueError(f'{path}: cannot read the real LQ frame ({exc})') from None


def _check_pair(p0, p1, s0, s1, crop):
    """One line for a pair of sizes ``(w, h)`` (from the headers, or decoded) that does not fit: frames of two
    sizes, a frame too large to find its motion in bounded memory, or too small for DIS or the crop."""
    if s0 is None or s1 is None:
        return
    if s0 != s1:
        raise ValueError(f'{p1}: {s1[0]}x{s1[1]}, its frame t {p0.name} is {s0[0]}x{s0[1]}: not consecutive '
                         'frames of one clip')
    (w, h), side = s0, max(MIN_SIDE, crop)
    if w * h > MAX_FRAME_PIXELS:
        raise ValueError(f'{p0}: {w}x{h}, more than the {MAX_FRAME_PIXELS / 1e6:.1f} MP (3840x2160) a real LQ frame '
                         'may have (its motion is found on the whole frame): scale the pairs down')
    if min(w, h) < side:
        raise ValueError(f'{p0}: {w}x{h} is smaller than {side} px a side, the least that the crop {crop} and the '
                         f'motion search (OpenCV DIS, {MIN_SIDE} px) take')


def _window(h, w, budget, side, rng):
    """``(y, x, h, w)``: the whole frame, or a random window of about ``budget`` pixels of its shape, at least
    ``side`` a side (the crop's)."""
    if h * w <= budget:
        return 0, 0, h, w
    f = (budget / (h * w)) ** 0.5
    wh, ww = min(h, max(side, int(h * f))), min(w, max(side, int(w * f)))
    return int(rng.integers(0, h - wh + 1)), int(rng.integers(0, w - ww + 1)), wh, ww


class RealLQFlowPairs:
    def __init__(self, dataroot_lq, crop=32, batch_size=2, seed=0):
        if int(crop) < 4 or int(batch_size) < 1:
            raise ValueError(f'datasets.real_lq_pairs: crop must be >= 4 and batch_size >= 1, got {crop}, '
                             f'{batch_size}')
        self.crop, self.batch_size = int(crop), int(batch_size)
        pairs = find_pairs(dataroot_lq)
        for p0, p1 in pairs:  # every size from the headers first: nothing is decoded for a pair that cannot fit
            _check_pair(p0, p1, _header_size(p0), _header_size(p1), self.crop)
        budget, cut = MAX_BYTES // KEPT_BYTES // len(pairs), np.random.default_rng([seed, 1])
        self.frames, self.motion = [], []  # (frame t, frame t+1) as read (HxW[xC]); (flow x, flow y, mask) 3xHxW
        for p0, p1 in pairs:
            a, b = _read(p0), _read(p1)
            _check_pair(p0, p1, a.shape[1::-1], b.shape[1::-1], self.crop)
            flow, conf = lq_flow(image_to_chw(a), image_to_chw(b))
            y, x, h, w = _window(*a.shape[:2], budget, self.crop, cut)
            self.frames.append((a[y:y + h, x:x + w].copy(), b[y:y + h, x:x + w].copy()))
            self.motion.append(np.concatenate([flow.transpose(2, 0, 1), conf[None]])[:, y:y + h, x:x + w].copy())
        self.moving = float(np.mean([(np.abs(m[0:2]).sum(axis=0) > 0).mean() for m in self.motion]))
        self.confident = float(np.mean([m[2].mean() for m in self.motion]))
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.motion)

    def sample(self):
        """``(frame t, frame t+1, flow, mask)``: float32 numpy arrays ``[N, 3|3|2|1, crop, crop]``."""
        out, c = [], self.crop
        for _ in range(self.batch_size):
            k = int(self.rng.integers(len(self.motion)))
            (f0, f1), m = self.frames[k], self.motion[k]
            y = int(self.rng.integers(0, m.shape[1] - c + 1))
            x = int(self.rng.integers(0, m.shape[2] - c + 1))
            s = np.concatenate([image_to_chw(f0[y:y + c, x:x + c]), image_to_chw(f1[y:y + c, x:x + c]),
                                m[:, y:y + c, x:x + c]])
            if self.rng.uniform() < 0.5:
                s = s[:, :, ::-1].copy()
                s[6] = -s[6]  # the motion's x runs the other way in the mirrored frames
            out.append(s)
        b = np.stack(out).astype(np.float32)
        return b[:, 0:3], b[:, 3:6], b[:, 6:8], b[:, 8:9]

    def batch(self):
        return tuple(paddle.to_tensor(np.ascontiguousarray(a)) for a in self.sample())
