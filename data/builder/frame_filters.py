"""Frame quality filters for the dataset builder.

Every function takes a uint8 BGR (H, W, 3) or gray (H, W) frame and is cheap
enough to run on each decoded keyframe while ffmpeg decodes the next one.

- ``blur_score``: variance of the Laplacian of the luma (low means blurry).
- ``luma_stats``: mean and standard deviation of the luma (black / flat frames).
- ``detect_bars``: the content rectangle inside letterbox / pillarbox bars.
- ``exclude_box``: the largest part of a rectangle that avoids a burnt-in
  overlay box such as a scoreboard.
- ``phash``: a 64-bit DCT perceptual hash; ``HashIndex`` finds near-duplicates.
- ``FrameFilter``: the configured chain, returning one verdict per frame.
"""
import cv2
import numpy as np

from realesrgan_paddle.data.builder.config import REASONS, FilterConfig, parse_box  # noqa: F401  (re-exported)


def to_gray(img):
    if img.ndim == 2:
        return img
    if img.shape[2] == 1:
        return img[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_BGR2GRAY)


def blur_score(gray):
    """Variance of the 3x3 Laplacian of a gray uint8 image (sharper is larger)."""
    if gray.ndim != 2:
        raise ValueError(f'blur_score expects a 2-D gray image, got shape {gray.shape}')
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=1)
    _, std = cv2.meanStdDev(lap)
    return float(std[0, 0] ** 2)


def luma_stats(gray):
    mean, std = cv2.meanStdDev(gray)
    return float(mean[0, 0]), float(std[0, 0])


def _bar_run(lines, limit, std_limit):
    """How many of ``lines`` (ordered from the frame edge inwards) are dark, uniform bars."""
    if lines.shape[0] == 0:
        return 0
    edge = lines[0].astype(np.float32)
    if edge.mean() > limit or edge.std() > std_limit:
        return 0  # the common case: no bar at all, decided from one line
    f = lines.astype(np.float32)
    ok = (f.mean(axis=1) <= limit) & (f.std(axis=1) <= std_limit)
    return int(len(ok) if ok.all() else np.argmin(ok))


def detect_bars(gray, limit=24, std_limit=6.0, max_frac=0.45, min_frac=0.04):
    """Content rectangle ``(x, y, w, h)`` inside dark letterbox / pillarbox bars.

    A bar line is a full row (or column) whose mean luma is <= ``limit`` and
    whose spread is <= ``std_limit``, scanned from each edge inwards for at most
    ``max_frac`` of the size. A frame that is dark everywhere keeps its full
    rectangle (the black-frame filter decides about it). Bars that together take
    less than ``min_frac`` of the width (or height) are kept: a dark edge column
    or two from the encoder is no letterbox, and cropping it would change the
    frame's size by a pixel, which unpairs it from the real LQ footage's frames.
    """
    if gray.ndim != 2:
        raise ValueError(f'detect_bars expects a 2-D gray image, got shape {gray.shape}')
    h, w = gray.shape
    mh, mw = int(h * max_frac), int(w * max_frac)
    top = _bar_run(gray[:mh], limit, std_limit)
    bottom = _bar_run(gray[::-1][:mh], limit, std_limit)
    left = _bar_run(gray[:, :mw].T, limit, std_limit)
    right = _bar_run(gray[:, ::-1][:, :mw].T, limit, std_limit)
    if max(top, bottom) >= mh or max(left, right) >= mw or top + bottom >= h or left + right >= w:
        return (0, 0, w, h)  # dark across the scan limit: not bars but a dark frame
    if left + right < min_frac * w:
        left = right = 0
    if top + bottom < min_frac * h:
        top = bottom = 0
    return (left, top, w - left - right, h - top - bottom)


def exclude_box(rect, box):
    """Largest axis-aligned part of ``rect`` that does not overlap ``box``.

    Both are ``(x, y, w, h)`` in frame pixels. The overlay is removed by
    cropping (never by painting it over), so the kept image holds only real
    content: the candidates are the parts above, below, left and right of the
    box, and the one with the largest area wins.
    """
    rx, ry, rw, rh = rect
    bx, by, bw, bh = box
    ix0, iy0 = max(rx, bx), max(ry, by)
    ix1, iy1 = min(rx + rw, bx + bw), min(ry + rh, by + bh)
    if ix0 >= ix1 or iy0 >= iy1:
        return rect  # no overlap
    cands = [(rx, ry, rw, iy0 - ry),                 # above
             (rx, iy1, rw, ry + rh - iy1),           # below
             (rx, ry, ix0 - rx, rh),                 # left
             (ix1, ry, rx + rw - ix1, rh)]           # right
    return max(cands, key=lambda r: (r[2] * r[3], r[2], r[3]))


def phash(gray):
    """64-bit DCT perceptual hash of a gray image, as a Python int."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low[1:] > np.median(low[1:])  # the DC term carries brightness only
    bits = np.concatenate([[low[0] > 0], bits])
    return int(np.packbits(bits).view('>u8')[0])


class HashIndex:
    """Near-duplicate lookup over 64-bit hashes by Hamming distance."""

    def __init__(self):
        self._hashes = np.zeros(64, dtype=np.uint64)
        self._names = []

    def __len__(self):
        return len(self._names)

    def add(self, h, name):
        n = len(self._names)
        if n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros(n, dtype=np.uint64)])
        self._hashes[n] = np.uint64(h)
        self._names.append(name)

    def nearest(self, h):
        """``(distance, name)`` of the closest stored hash, or ``(None, None)`` when empty."""
        n = len(self._names)
        if n == 0:
            return None, None
        d = np.bitwise_count(self._hashes[:n] ^ np.uint64(h))
        i = int(np.argmin(d))
        return int(d[i]), self._names[i]


class FrameFilter:
    """Runs the configured crops and filters on one frame at a time.

    ``__call__(img)`` returns a dict with the content ``crop`` (x, y, w, h),
    the scores (``blur``, ``mean``, ``std``, ``phash`` as hex), whether the
    bars or an overlay box changed the crop, and ``reason`` (None when kept,
    else one of ``REASONS``; the first failing filter wins). Duplicates are
    checked against ``index``; the caller adds kept frames with ``keep``.
    """

    def __init__(self, cfg, index=None):
        self.cfg = cfg
        self.index = index if index is not None else HashIndex()

    def __call__(self, img):
        cfg = self.cfg
        gray_full = to_gray(img)
        h, w = gray_full.shape
        rect = (0, 0, w, h)
        if cfg.bars:
            rect = detect_bars(gray_full, limit=cfg.bar_limit)
        bars_cropped = rect != (0, 0, w, h)
        before = rect
        for box in cfg.crops:
            rect = exclude_box(rect, box)
        x, y, cw, ch = rect
        gray = gray_full[y:y + ch, x:x + cw]
        res = dict(crop=list(rect), bars=bars_cropped, overlay=rect != before, reason=None)
        if cw <= 0 or ch <= 0:
            res['reason'] = 'small'
            return res
        mean, std = luma_stats(gray)
        res.update(mean=round(mean, 2), std=round(std, 2), blur=round(blur_score(gray), 2))
        hsh = phash(gray)
        res['phash'] = f'{hsh:016x}'
        if cfg.min_size is not None and min(cw, ch) < cfg.min_size:
            res['reason'] = 'small'
        elif cfg.black is not None and mean < cfg.black:
            res['reason'] = 'black'
        elif cfg.flat is not None and std < cfg.flat:
            res['reason'] = 'flat'
        elif cfg.blur is not None and res['blur'] < cfg.blur:
            res['reason'] = 'blurry'
        elif cfg.dedupe is not None:
            dist, name = self.index.nearest(hsh)
            if dist is not None and dist <= cfg.dedupe:
                res.update(reason='duplicate', dup_of=name, dup_dist=dist)
        return res

    def keep(self, res, name):
        if 'phash' in res:
            self.index.add(int(res['phash'], 16), name)
