"""Temporal stabilisation of upscaled video frames: no video network, no weights (numpy + OpenCV).

A single-image model invents its texture anew in every frame from the codec's noise, so on video the texture
boils where the picture holds still. :class:`Stabiliser` works on the model's OUTPUT frames (any model, tiled
or not, any precision, ``.onnx`` too), one frame at a time, with the low-resolution input beside each:

- each output is split into a low band, the bicubic upscale of its input, and a high band, the output minus
  that (the model's detail and texture);
- the motion between the previous and the current input is found by OpenCV's DIS optical flow on the small
  input frames, kept only where it explains the input clearly better than no motion (DIS reports motion in
  still, noisy areas; no motion resamples nothing and so blurs nothing), and scaled up to the output;
- a confidence per pixel says where the previous input, so moved, matches the current one: 1 where the
  warping error of the input is under ``ERR_LOW`` gray levels, 0 over ``ERR_HIGH`` (occlusions, new objects,
  lighting), eroded by one pixel so it also drops at an object's edge;
- the previous stabilised high band, warped, is blended into the current one with weight ``strength`` x the
  confidence, and the previous (warped) stabilised input into the current input with ``low_strength`` x the
  confidence (this removes the codec's flicker from the low band, which is the bicubic upscale of the
  stabilised input); where the input changed, the current output is kept as it is, so a moving object leaves
  no trail;
- optionally (``keep_energy``) the blend's local energy is brought back to the current frame's;
- a fade (a frame-wide gain and offset explain the input's change) brings the previous frame to the current
  one's brightness first; a scene cut (mean input change above ``cut``), a steep fade, a change from a flat frame
  (black) or a frame of another size starts afresh.

``stabilise_frames`` is the same as a function over a list of frames. The state (previous input and
stabilised high band) is exported by ``Stabiliser.state()`` and restored by ``load_state``; ``reset()`` starts
afresh. The recursion forgets its start geometrically: after k frames the initial state weighs at most
``strength ** k`` in any pixel, so a segment that re-runs k overlap frames before its first written frame
reproduces a continuous run's state up to that weight: 0.9^k at the default strength 0.9 (``DEFAULT_STRENGTH``),
about 12 % after the 20 frames a segment starts early (``span_run.TEMPORAL_OVERLAP``), 4 % after 30.
Measurements and the choice of design: docs/temporal.md.
"""
import cv2
import numpy as np

MODES = ('flow', 'static')
DEFAULT_MODE = 'flow'  # video is stabilised unless told otherwise: ``--temporal off``, ``temporal=False``
OFF = 'off'
DEFAULT_STRENGTH = 0.9  # the blend weight of the warped previous high band where the input agrees
DEFAULT_CUT = 30.0  # mean |change| of the LR input (0-255 gray) above which a frame is a scene cut
ERR_LOW, ERR_HIGH = 4.0, 12.0  # LR warping error (0-255): full confidence below, none above
ENERGY_SIGMA = 2.0  # local energy window of the high band (LR px)
DEFAULT_LOW_STRENGTH = 0.7  # the blend weight of the previous (warped) LR input where it agrees
MIN_FLOW = 0.25  # LR motion below this (px) counts as none: no resampling blur of a still texture
FLOW_GAIN = 1.0  # the flow is used where its LR warping error is this much (0-255) below no motion's
# DIS refuses frames under 12 px a side (a cv2.error: a 10x10 video's raw OpenCV message) and crashes the process
# on some wide ones under 32 (300x24): a smaller side is padded (edge replicated) to this for the search
DIS_MIN_SIDE = 32
# a fade (to or from black, an exposure change): the input changes by a frame-wide gain and offset, by under the
# confidence's thresholds per frame in dark areas, so the blend would lag it. The previous frame is first brought
# to the current one's brightness, ``a * prev + b`` fitted on the LR gray, when that fit explains the change
# (leaves under FADE_EXPLAINS of it) and moves it (|a - 1| over FADE_MIN_GAIN, or |b| over FADE_MIN_OFFSET levels)
# and starts afresh when the gain is over FADE_MAX_GAIN (or under its inverse): the previous frame, brightened that
# much, brings its codec noise along amplified; so does a change from a flat frame (gray variance under FLAT_VAR)
FADE_EXPLAINS, FADE_MIN_GAIN, FADE_MIN_OFFSET, FADE_MAX_GAIN, FLAT_VAR = 0.6, 0.01, 1.0, 1.25, 4.0
STICKY = 0.75  # integer outputs: a value this close (0-255 levels) to the previous output keeps it
_VMAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class TemporalError(ValueError):
    """A frame the stabiliser cannot take (one line)."""


def _gray255(img):
    """Float32 gray in 0-255 of an LR frame (uint8/uint16/float in [0, 1]; gray, BGR or BGRA)."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        f = a.astype(np.float32)
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) * (255.0 / 65535.0)
    else:
        f = a.astype(np.float32) * 255.0
    if f.ndim == 3:
        f = cv2.cvtColor(f[..., :3], cv2.COLOR_BGR2GRAY) if f.shape[2] >= 3 else f[..., 0]
    return f


def _ramp(x, lo, hi):
    """1 below ``lo``, 0 above ``hi``, linear between (float32)."""
    return np.clip((hi - x) * (1.0 / (hi - lo)), 0.0, 1.0).astype(np.float32)


def _error(a, b):
    """Per-pixel difference of two LR frames (0-255): the largest channel's, 3x3 Gaussian blurred."""
    d = np.abs(a - b)
    return cv2.GaussianBlur(d.max(axis=2) if d.ndim == 3 else d, (3, 3), 0)


def _check(lq, out):
    lq, out = np.asarray(lq), np.asarray(out)
    for name, a in (('input', lq), ('output', out)):
        if a.ndim not in (2, 3) or a.size == 0 or a.dtype.kind not in 'uf' or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
            raise TemporalError(f'temporal: the {name} frame must be an HxW, HxWx3 or HxWx4 image, got '
                                f'{a.dtype} {a.shape}')
    if out.shape[0] < lq.shape[0] or out.shape[1] < lq.shape[1]:
        raise TemporalError(f'temporal: the output frame {out.shape[1]}x{out.shape[0]} is smaller than its input '
                            f'{lq.shape[1]}x{lq.shape[0]}')
    return lq, out


class Stabiliser:
    """Stabilise upscaled frames one by one: ``out = stab(lq, model_out)``; see the module's docstring.

    mode: 'flow' (warp by optical flow on the LR input; default) or 'static' (no flow: blend only where the
        LR input did not change; cheaper, for a fixed camera).
    strength: the largest blend weight of the previous frame's high band (0 = off, below 1).
    low_strength: the same for the LR input itself (its temporal denoise, the low band's source).
    cut: mean LR change (0-255 gray) that counts as a scene cut and starts afresh.
    keep_energy: bring the blended high band's local energy back to the current frame's (more detail, lower
        PSNR, slower; docs/temporal.md).
    """

    def __init__(self, mode='flow', strength=DEFAULT_STRENGTH, cut=DEFAULT_CUT, keep_energy=False,
                 low_strength=DEFAULT_LOW_STRENGTH, min_flow=MIN_FLOW):
        if mode not in MODES:
            raise TemporalError(f'temporal: mode must be one of {MODES}, got {mode!r}')
        for name, v in (('strength', strength), ('low_strength', low_strength)):
            if not 0.0 <= float(v) < 1.0:
                raise TemporalError(f'temporal: {name} must be in [0, 1), got {v!r}')
        if not float(cut) > 0:
            raise TemporalError(f'temporal: the scene-cut threshold must be > 0, got {cut!r}')
        self.mode, self.strength, self.cut, self.keep_energy = mode, float(strength), float(cut), bool(keep_energy)
        self.low_strength, self.min_flow = float(low_strength), float(min_flow)
        self._dis = None
        self._flow_memo = None  # (a, b, flow) of the last _flow call: a fast pan's cut test and blend share it
        self.frames = self.cuts = self.fades = 0
        self.reset()

    def reset(self):
        """Forget the previous frame: the next output is passed through unchanged."""
        self.prev_gray = self.prev_lq = self.prev_high = self.prev_out = None

    def state(self):
        """The state carried to the next frame (copies): ``dict(prev_gray, prev_lq, prev_high, prev_out)``; None
        after ``reset`` (``prev_out``, the last integer output, also for float frames)."""
        return {k: None if v is None else v.copy()
                for k, v in (('prev_gray', self.prev_gray), ('prev_lq', self.prev_lq), ('prev_high', self.prev_high),
                             ('prev_out', self.prev_out))}

    def load_state(self, state):
        """Continue from ``state()`` taken from another stabiliser (e.g. the previous segment's)."""
        vals = [state.get(k) for k in ('prev_gray', 'prev_lq', 'prev_high')]
        if any(v is None for v in vals) and not all(v is None for v in vals):
            raise TemporalError('temporal: a state needs prev_gray, prev_lq and prev_high, or none of them')
        self.prev_gray, self.prev_lq, self.prev_high = [None if v is None else np.array(v, np.float32) for v in vals]
        self.prev_out = None if state.get('prev_out') is None else np.array(state['prev_out'])

    # ---------------------------------------------------------------- steps
    def _fade(self, cur):
        """``(a, b)`` with the current LR gray ~ ``a * previous + b`` when a frame-wide gain and offset explain the
        change between them (a fade, an exposure change), else None."""
        prev = self.prev_gray[::2, ::2].ravel().astype(np.float64)
        now = cur[::2, ::2].ravel().astype(np.float64)
        before = np.mean(np.abs(now - prev))
        var = prev.var()
        if before < FADE_MIN_OFFSET:
            return None
        if var < FLAT_VAR:  # from a flat frame (black, a title card): nothing to carry
            return 0.0, float(now.mean())
        a = float(np.mean((prev - prev.mean()) * (now - now.mean())) / var)
        b = float(now.mean() - a * prev.mean())
        if np.mean(np.abs(now - (a * prev + b))) > FADE_EXPLAINS * before:
            return None
        if abs(a - 1) < FADE_MIN_GAIN and abs(b) < FADE_MIN_OFFSET:
            return None
        return a, b

    def _follow_fade(self, cur, vmax):
        """Bring the previous frame's state to the current frame's brightness (see ``_fade``); False when the
        change is too large to follow (start afresh)."""
        ab = self._fade(cur)
        if ab is None:
            return True
        a, b = ab
        self.fades += 1
        if not 1 / FADE_MAX_GAIN <= a <= FADE_MAX_GAIN:
            return False
        self.prev_gray = self.prev_gray * a + b
        self.prev_lq = self.prev_lq * a + b * (vmax / 255.0)
        self.prev_high = self.prev_high * a
        return True

    def _lr_grid(self, h, w):
        if getattr(self, '_lr', (None,))[0] != (h, w):
            self._lr = ((h, w), np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        return self._lr[1]

    def _flow(self, a, b):
        """DIS flow from LR gray ``a`` to ``b`` (``a(x) ~ b(x + flow(x))``); motion under ``min_flow`` px is 0.
        The same two arrays twice in a row (a large change tested for motion, then blended) are searched once."""
        memo = self._flow_memo
        if memo is not None and memo[0] is a and memo[1] is b:
            self._flow_memo = None  # once: the blend zeroes the flow where it explains nothing
            return memo[2]
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        a0, b0 = a, b
        h, w = a.shape
        pad = dict(top=0, left=0, bottom=max(0, DIS_MIN_SIDE - h), right=max(0, DIS_MIN_SIDE - w),
                   borderType=cv2.BORDER_REPLICATE)
        a, b = (cv2.copyMakeBorder(np.clip(x, 0, 255).astype(np.uint8), **pad) for x in (a, b))
        flow = np.ascontiguousarray(self._dis.calc(a, b, None)[:h, :w])
        flow[(flow * flow).sum(axis=2) < self.min_flow ** 2] = 0
        self._flow_memo = (a0, b0, flow)
        return flow

    def _confidence(self, cur, prev, cur_c, prev_c):
        """LR confidence in [0, 1] that the previous frame, moved by the flow (grays ``prev`` -> ``cur``), is the
        same content: from the warping error of the colour inputs ``prev_c`` -> ``cur_c`` (0-255, the largest
        channel's, 3x3 blurred). Also the backward flow and the LR sampling maps (None where nothing moved)."""
        h, w = cur.shape
        err0 = _error(cur_c, prev_c)
        flow = None if self.mode == 'static' else self._flow(cur, prev)
        if flow is not None:
            gx, gy = self._lr_grid(h, w)
            maps = (gx + flow[..., 0], gy + flow[..., 1])
            errf = _error(cur_c, cv2.remap(prev_c, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
            inside = (maps[0] >= 0) & (maps[0] <= w - 1) & (maps[1] >= 0) & (maps[1] <= h - 1)
            # DIS on small noisy frames reports motion in still areas: the flow is used only where it explains
            # the input clearly better than no motion (which resamples nothing and so blurs nothing)
            moved = inside & (errf < err0 - FLOW_GAIN)
        if flow is None or not moved.any():
            conf, flow, maps = _ramp(err0, ERR_LOW, ERR_HIGH), None, None
        else:
            flow[~moved] = 0
            maps = (gx + flow[..., 0], gy + flow[..., 1])
            conf = _ramp(np.where(moved, errf, err0), ERR_LOW, ERR_HIGH)
        return cv2.erode(conf, np.ones((3, 3), np.uint8)), flow, maps

    def _warp_high(self, flow, size):
        """The previous stabilised high band moved onto the current frame (output size ``size`` = (H, W)).
        Only the box around the LR pixels that moved (plus 2 px) is resampled; the rest stays put."""
        if flow is None:
            return self.prev_high
        H, W = size
        h, w = flow.shape[:2]
        ys, xs = np.nonzero(flow.any(axis=2))
        sy, sx = H / h, W / w
        y0, y1 = max(int((ys.min() - 2) * sy), 0), min(int(np.ceil((ys.max() + 3) * sy)), H)
        x0, x1 = max(int((xs.min() - 2) * sx), 0), min(int(np.ceil((xs.max() + 3) * sx)), W)
        # the flow at output pixel centres: LR coordinates (x + 0.5) / s - 0.5, sampled bilinearly
        oy = (np.arange(y0, y1, dtype=np.float32) + 0.5) / sy - 0.5
        ox = (np.arange(x0, x1, dtype=np.float32) + 0.5) / sx - 0.5
        mx, my = np.meshgrid(ox, oy)
        up = cv2.remap(flow, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        warped = self.prev_high.copy()
        warped[y0:y1, x0:x1] = cv2.remap(self.prev_high, gx + up[..., 0] * sx, gy + up[..., 1] * sy,
                                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return warped

    def _blend(self, high, warped, m, lr_size):
        """``m * warped + (1 - m) * high`` with the current frame's local energy kept (``keep_energy``):
        energies measured on an LR-sized grid (area averages), the gain brought up bilinearly."""
        m3 = m[..., None] if high.ndim == 3 else m
        mixed = high + m3 * (warped - high)
        if not self.keep_energy:
            return mixed
        def energy(x):
            e = x * x
            e = e.mean(axis=2) if e.ndim == 3 else e
            return cv2.GaussianBlur(cv2.resize(e, lr_size, interpolation=cv2.INTER_AREA), (0, 0), ENERGY_SIGMA)
        gain = np.sqrt((energy(high) + 1e-6) / (energy(mixed) + 1e-6))
        gain = cv2.resize(np.clip(gain, 1.0, 2.0), (high.shape[1], high.shape[0]), interpolation=cv2.INTER_LINEAR)
        return mixed * (gain[..., None] if mixed.ndim == 3 else gain)

    def _round(self, res, m, dtype, vmax):
        """Integer output that does not flip between two levels where the picture holds still: where the
        stabiliser blended (``m`` > 0) and the value is within ``STICKY`` levels of the previous output, the
        previous output's value is kept (a still area of a very still video otherwise changes by the rounding
        alone, about a quarter level per frame, more than such a video's own change)."""
        res += 0.5  # round half up: values are >= 0
        rounded = res.astype(dtype)
        prev = self.prev_out
        if m is not None and prev is not None and prev.shape == rounded.shape and prev.dtype == rounded.dtype:
            near = np.abs(res - 0.5 - prev) <= STICKY * vmax / 255.0
            keep = near & ((m > 0)[..., None] if near.ndim == 3 else (m > 0))
            np.copyto(rounded, prev, where=keep)
        self.prev_out = rounded
        return rounded.copy()

    def _fresh(self, cur, high, vmax):
        """True when this frame starts afresh: the first, another size, a scene cut (mean LR change over ``cut``)
        or a fade too steep to follow; else the previous state is brought to a fade's brightness (``_fade``)."""
        if (self.prev_gray is None or self.prev_gray.shape != cur.shape or self.prev_high.shape != high.shape
                or self.strength == 0):
            return True
        if ((float(np.mean(np.abs(cur - self.prev_gray))) > self.cut and not self._moved_along(cur))
                or not self._follow_fade(cur, vmax)):
            self.cuts += 1
            return True
        return False

    def _moved_along(self, cur):
        """A large change that motion explains (a fast pan: mean LR warping error along the flow under a third
        of ``cut``) is not a cut ('flow' mode; 'static' has no flow)."""
        if self.mode != 'flow':
            return False
        h, w = cur.shape
        gx, gy = self._lr_grid(h, w)
        flow = self._flow(cur, self.prev_gray)
        moved = cv2.remap(self.prev_gray, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        return float(np.mean(np.abs(cur - moved))) < self.cut / 3

    def __call__(self, lq, out):
        """The stabilised ``out`` (same shape and dtype) for the LR frame ``lq`` it was upscaled from."""
        lq, out = _check(lq, out)
        cur = _gray255(lq)
        H, W = out.shape[:2]
        h, w = cur.shape
        alpha = out[..., 3:] if out.ndim == 3 and out.shape[2] == 4 else None
        color = out[..., :3] if alpha is not None else out
        vmax = _VMAX.get(out.dtype, 1.0)
        f = color.astype(np.float32)
        if f.ndim == 3 and f.shape[2] == 1:
            f = f[..., 0]
        lq_c = lq[..., :3] if lq.ndim == 3 and lq.shape[2] == 4 else lq
        lq_f = lq_c.astype(np.float32) * (vmax / _VMAX.get(lq.dtype, 1.0))
        if lq_f.ndim == 3 and lq_f.shape[2] == 1:
            lq_f = lq_f[..., 0]
        if lq_f.ndim != f.ndim or (f.ndim == 3 and f.shape[2] != lq_f.shape[2]):
            raise TemporalError(f'temporal: the input frame has {lq.shape} and its output {out.shape}: not the same '
                                f'colour channels')
        high = f - cv2.resize(lq_f, (W, H), interpolation=cv2.INTER_CUBIC)
        self.frames += 1
        m = None
        if self._fresh(cur, high, vmax):
            lq_s, high_s = lq_f, high
        else:
            to255 = 255.0 / vmax
            conf, flow, maps = self._confidence(cur, self.prev_gray, lq_f * to255, self.prev_lq * to255)
            prev_lq = self.prev_lq if maps is None else cv2.remap(self.prev_lq, *maps, cv2.INTER_LINEAR,
                                                                  borderMode=cv2.BORDER_REPLICATE)
            ml = conf * self.low_strength
            lq_s = lq_f + (ml[..., None] if lq_f.ndim == 3 else ml) * (prev_lq - lq_f)
            m = cv2.resize(conf, (W, H), interpolation=cv2.INTER_LINEAR) * self.strength
            high_s = self._blend(high, self._warp_high(flow, (H, W)), m, (w, h))
        self.prev_gray, self.prev_lq, self.prev_high = cur, lq_s, high_s
        res = cv2.resize(lq_s, (W, H), interpolation=cv2.INTER_CUBIC)
        res += high_s
        np.clip(res, 0, vmax, out=res)
        if out.dtype.kind == 'u':
            res = self._round(res, m, out.dtype, vmax)
        else:
            res = res.astype(out.dtype)
        if res.ndim == 2 and color.ndim == 3:
            res = res[..., None]
        if alpha is not None:
            res = np.concatenate([res, alpha], axis=2)
        return res


def stabilise_frames(lq_frames, out_frames, **kw):
    """The stabilised outputs of a whole clip (lists of LR frames and their model outputs, in order);
    ``kw`` as :class:`Stabiliser`."""
    if len(lq_frames) != len(out_frames):
        raise TemporalError(f'temporal: {len(lq_frames)} input frames but {len(out_frames)} outputs')
    stab = Stabiliser(**kw)
    return [stab(lq, out) for lq, out in zip(lq_frames, out_frames)]


def temporal_mode(temporal, named=False):
    """The one reading of ``temporal`` (``--temporal``, ``upscale_video(temporal=...)``, whose default is
    ``DEFAULT_MODE``), done once by ``inference.video.options.VideoOptions`` before ffmpeg starts: None (off: 'off',
    False, None, ''), a mode name (True is 'flow') or a ``Stabiliser`` (its state carries on), which segments refuse
    (``named``: Ray's workers and the plan's fingerprint take a name). Anything else is a one-line
    ``TemporalError``."""
    if temporal is None or temporal is False or temporal == '' or temporal == OFF:
        return None
    if temporal is True:
        return 'flow'
    if isinstance(temporal, Stabiliser):
        if named:
            raise TemporalError('segmented video takes temporal as a mode name (flow or static), not a Stabiliser')
        return temporal
    if isinstance(temporal, str) and temporal in MODES:
        return temporal
    raise TemporalError(f'temporal must be False, True, {OFF!r}, one of {MODES} or a Stabiliser, got {temporal!r}')


def make_stabiliser(temporal):
    """The one place where ``temporal`` (as ``VideoOptions`` holds it: None, a mode name or a ``Stabiliser``)
    becomes a ``Stabiliser``: None when off, a new one for a mode name, ``temporal`` itself when it is one. Called
    by ``inference.video.frame_loop.FrameLoop`` (one pass, each span of segments, each Ray task)."""
    return temporal if temporal is None or isinstance(temporal, Stabiliser) else Stabiliser(mode=temporal)
