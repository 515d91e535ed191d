"""FLICKER: how much an upscaled video changes between frames where it should not, against a reference.

Per frame pair (t, t+1), on BT.601 luma Y (0-255 scale, ``evaluation.metrics.bgr_to_y``):

* **static ratio**: the mean |Y_out(t+1) - Y_out(t)| over the *still* pixels, divided by the same mean of the
  reference video there. A pixel is still where the reference's |dY| < ``STILL_DELTA`` (1.5 grey levels) after a
  3x3 box blur of both reference frames. With GT (``flicker_ratios``) the reference is the GT video; without GT
  (``flicker_vs_bicubic``) it is the bicubic upscale of the LQ, and the still pixels are those where the LQ is
  still (its mask enlarged to the output's size).
* **warp ratio**: the mean |Y_out(t+1) - warp(Y_out(t))| over the pixels whose flow stays inside the frame,
  divided by the reference's own warping error |Y_ref(t+1) - warp(Y_ref(t))|. The flow is dense optical flow
  computed on the reference frames (OpenCV DIS, medium preset, no weights), from t+1 back to t, so that warp
  samples frame t where each pixel of t+1 came from (``cv2.remap``, bilinear). It follows motion: a camera pan
  that the output follows scores about 1 here while its static ratio, which assumes a still camera, rises.

Both sums are pooled over all pairs before dividing. A reference that barely changes would make the ratio
explode or divide by zero, so each mean is floored at ``FLOOR`` (0.25 grey levels) before the division: a
perfectly still video scored against its copy gives 0.25 / 0.25 = 1.0, and an output whose change stays under
a quarter grey level counts as still as the reference. 1 = as steady as the reference, above = flicker
(boiling texture, noise redrawn in every frame), below = steadier than the reference (blur, denoising).

Frames are HxWx3 uint8 BGR images given as iterables; only two frames of each stream are held at a time.
Bad input (under two frames, streams of different lengths, frames of different sizes) raises ``FlickerError``
(a ValueError) with one line.
"""
import cv2
import numpy as np

from realesrgan_paddle.evaluation.metrics import bgr_to_y

STILL_DELTA = 1.5   # grey levels of |dY| (after a 3x3 blur) under which a reference pixel is still
FLOOR = 0.25        # grey levels: each mean change is floored here before the ratio (a still GT gives 1.0)


class FlickerError(ValueError):
    """Frames that cannot be scored for flicker (one line)."""


def luma(img):
    """BT.601 Y (float32, 16-235) of a BGR uint8 image, as ``evaluation.metrics.bgr_to_y``."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] < 3:
        raise FlickerError(f'a frame of shape {img.shape} is not an HxWx3 BGR image')
    return bgr_to_y(img[..., :3].astype(np.float32)).astype(np.float32)


def still_mask(y0, y1, delta=STILL_DELTA):
    """Pixels where |blur3x3(y1) - blur3x3(y0)| < ``delta``."""
    return np.abs(cv2.blur(y1, (3, 3)) - cv2.blur(y0, (3, 3))) < delta


def _flow_back(y0, y1, dis):
    """Sampling maps (map_x, map_y) and the in-frame mask that warp frame t onto frame t+1 (flow t+1 -> t)."""
    g0 = np.clip(y0, 0, 255).astype(np.uint8)
    g1 = np.clip(y1, 0, 255).astype(np.uint8)
    flow = dis.calc(g1, g0, None)
    h, w = y0.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = xs + flow[..., 0], ys + flow[..., 1]
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return mx, my, inside


def _warp(y, mx, my):
    return cv2.remap(y, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class FlickerMeter:
    """Streams frame pairs: ``add(ref, out, still=None)`` per frame in order, then ``result()``.

    ``ref`` is the reference frame (GT, or bicubic of the LQ) at the output's size; ``still``, when given, is
    the frame that decides which pixels are still (the LQ, enlarged to the output's size); otherwise ``ref``.
    ``warp=False`` skips the optical flow (the static ratio only).
    """

    def __init__(self, warp=True, what='output'):
        self.warp, self.what = warp, what
        self.prev = None
        self.n = 0
        self.sums = dict(static_out=0.0, static_ref=0.0, static_px=0, warp_out=0.0, warp_ref=0.0, warp_px=0,
                         px=0)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if warp else None

    def add(self, ref, out, still=None):
        yr, yo = luma(ref), luma(out)
        ys = yr if still is None else still
        if yr.shape != yo.shape:
            raise FlickerError(f'frame {self.n}: the {self.what} is {yo.shape[1]}x{yo.shape[0]}, its reference '
                               f'{yr.shape[1]}x{yr.shape[0]}; they must be the same size')
        if ys.shape != yr.shape:
            raise FlickerError(f'frame {self.n}: the still-pixel frame is {ys.shape[1]}x{ys.shape[0]}, the '
                               f'reference {yr.shape[1]}x{yr.shape[0]}')
        if self.prev is not None and self.prev[0].shape != yr.shape:
            h, w = self.prev[0].shape
            raise FlickerError(f'frame {self.n} is {yr.shape[1]}x{yr.shape[0]}, frame {self.n - 1} {w}x{h}: '
                               f'the frames of a video must all be the same size')
        if self.prev is not None:
            self._pair(*self.prev, yr, yo, ys)
        self.prev = (yr, yo, ys)
        self.n += 1

    def _pair(self, r0, o0, s0, r1, o1, s1):
        s = self.sums
        mask = still_mask(s0, s1)
        s['px'] += mask.size
        s['static_px'] += int(mask.sum())
        s['static_out'] += float(np.abs(o1 - o0)[mask].sum())
        s['static_ref'] += float(np.abs(r1 - r0)[mask].sum())
        if self.warp:
            mx, my, inside = _flow_back(r0, r1, self._dis)
            s['warp_px'] += int(inside.sum())
            s['warp_out'] += float(np.abs(o1 - _warp(o0, mx, my))[inside].sum())
            s['warp_ref'] += float(np.abs(r1 - _warp(r0, mx, my))[inside].sum())

    def result(self):
        """``{'static', 'warp', 'static_fraction', 'n_pairs', 'static_out', 'static_ref', 'warp_out',
        'warp_ref'}`` (mean changes in grey levels); NaN where no pixel qualified."""
        if self.n < 2:
            raise FlickerError(f'{self.n} frame(s): flicker needs at least two consecutive frames')
        s = self.sums
        out = {'n_pairs': self.n - 1, 'static_fraction': s['static_px'] / s['px'] if s['px'] else float('nan')}
        for kind in ('static', 'warp'):
            px = s[f'{kind}_px']
            o = s[f'{kind}_out'] / px if px else float('nan')
            r = s[f'{kind}_ref'] / px if px else float('nan')
            out[f'{kind}_out'], out[f'{kind}_ref'] = o, r
            out[kind] = max(o, FLOOR) / max(r, FLOOR) if px else float('nan')
        if not self.warp:
            out['warp'] = out['warp_out'] = out['warp_ref'] = float('nan')
        return out


def _zip_strict(a, b, names):
    """Pairs of two streams; a FlickerError when one ends before the other."""
    ia, ib = iter(a), iter(b)
    i = 0
    while True:
        x, y = next(ia, None), next(ib, None)
        if x is None and y is None:
            return
        if x is None or y is None:
            short = names[0] if x is None else names[1]
            raise FlickerError(f'the {short} frames end after {i} frame(s), the other stream goes on: '
                               f'give the same number of frames')
        yield x, y
        i += 1


def flicker_ratios(gt_frames, out_frames, warp=True):
    """Static and warp ratios of an output video against its GT video (same size, same frame count).

    Returns ``dict(static=, warp=, static_fraction=, n_pairs=, ...)``; see the module docstring.
    """
    meter = FlickerMeter(warp=warp)
    for gt, out in _zip_strict(gt_frames, out_frames, ('GT', 'output')):
        meter.add(gt, out)
    return meter.result()


class BicubicFlickerMeter:
    """No GT: ``add(lq, out)`` per frame; the reference is the bicubic x``scale`` of the LQ and the still
    pixels are where the LQ is still (``STILL_DELTA`` on the LQ, enlarged by nearest neighbour)."""

    def __init__(self, scale, warp=True):
        self.scale = int(scale)
        self.meter = FlickerMeter(warp=warp)

    def add(self, lq, out):
        lq = np.asarray(lq)[..., :3]
        h, w = lq.shape[0] * self.scale, lq.shape[1] * self.scale
        if np.asarray(out).shape[:2] != (h, w):
            o = np.asarray(out).shape
            raise FlickerError(f'frame {self.meter.n}: the output is {o[1]}x{o[0]}, not x{self.scale} of its '
                               f'{lq.shape[1]}x{lq.shape[0]} input')
        ref = cv2.resize(lq, (w, h), interpolation=cv2.INTER_CUBIC)
        # the LQ's luma blown up by nearest: a still LQ pixel marks its scale x scale block still
        ys = cv2.resize(luma(lq), (w, h), interpolation=cv2.INTER_NEAREST)
        self._check_lq(lq)
        self.meter.add(ref, out, still=ys)

    def _check_lq(self, lq):
        if self.meter.prev is not None:
            ph, pw = self.meter.prev[0].shape
            if (ph, pw) != (lq.shape[0] * self.scale, lq.shape[1] * self.scale):
                raise FlickerError(f'frame {self.meter.n} is {lq.shape[1]}x{lq.shape[0]}, frame {self.meter.n - 1} '
                                   f'{pw // self.scale}x{ph // self.scale}: the frames of a video must all be '
                                   f'the same size')

    def result(self):
        return self.meter.result()


def flicker_vs_bicubic(lq_frames, out_frames, scale, warp=True):
    """No GT: the output's change against the bicubic upscale's on the pixels where the LQ is still (``static``;
    ``warp`` the same with flow computed on the bicubic frames). Same keys as ``flicker_ratios``."""
    meter = BicubicFlickerMeter(scale, warp=warp)
    for lq, out in _zip_strict(lq_frames, out_frames, ('LQ', 'output')):
        meter.add(lq, out)
    return meter.result()


def verdict(name, ratios, reference='the source'):
    """One line: ``"x4plus flickers 2.6x the source (static 2.63, warp 1.72 over 29 frame pairs)"``."""
    s, w = ratios.get('static', float('nan')), ratios.get('warp', float('nan'))
    worst = max((v for v in (s, w) if v == v), default=float('nan'))
    if worst != worst:
        return f'{name}: flicker not measured (no still pixels)'
    how = f'flickers {worst:.1f}x' if worst >= 1.05 else 'holds as still as' if worst > 0.95 else \
        f'is steadier than ({worst:.2f}x)'
    parts = [f'static {s:.2f}'] + ([f'warp {w:.2f}'] if w == w else [])
    return f'{name} {how} {reference} ({", ".join(parts)} over {ratios["n_pairs"]} frame pairs)'
