"""Fit the degradation options to real low-resolution footage.

The fitted family is the part of the second-order pipeline (``data.degrade.second_order``) a camera and a stream
apply, with the rest switched off:

    HR --Gaussian blur (sigma, at HR size)--> downscale x scale (``resize_mode_list``, stage 2's resize)
       --> noise (Gaussian, colour or gray, at LQ size)--> JPEG (``jpeg_range2``) or a video codec (CRF)

A point of the family is ``{'sigma', 'mode', 'noise', 'gray', 'comp', 'level'}`` (``comp``: 'none',
'jpeg' or an encoder of ``data.degrade.codec.CODECS``; ``level``: JPEG quality or CRF). Synthetic LQ is made
from HR frames exactly as training makes it (``data.degrade.codec_cache.degrade_images``), with fixed random
numbers per point, and compared with the real LQ through ``data.fit.lq_stats`` (the relative sharpness,
chroma, noise, blockiness and ringing statistics). The search is coordinate descent over grids; the
range of each parameter is every grid value, next to the best, whose loss stays within
``TOLERANCE`` of the best (with one grid step of margin): the values the footage cannot tell apart.
"""
import math

import numpy as np

from realesrgan_paddle.data.degrade.codec_cache import code_clips, degrade_images, degrade_uncoded
from realesrgan_paddle.data.fit import lq_stats

SIGMAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0)
NOISES = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 18.0, 25.0)
LEVELS = {'jpeg': (15, 25, 35, 45, 55, 65, 75, 85, 95),
          'libx264': (14, 18, 21, 24, 26, 28, 30, 32, 35, 38, 42),
          'libx265': (14, 18, 21, 24, 26, 28, 30, 32, 35, 38, 42),
          'none': (0,)}
MODES = ('area', 'bilinear', 'bicubic')
# statistic -> (kind, scale): 'log' compares log ratios, 'abs' differences; scale = one unit of loss
WEIGHTS = {'fine': ('log', 0.08), 'mid': ('log', 0.06), 'chroma': ('log', 0.25), 'noise_y': ('abs', 0.2),
           'noise_c': ('abs', 0.1), 'block8': ('abs', 0.03), 'block4': ('abs', 0.03), 'ringing': ('abs', 0.15)}
TOLERANCE = 1.0   # loss units (one scale of one statistic)
STREAM_CODECS = {'h264': 'libx264', 'hevc': 'libx265'}


def loss(real, syn):
    """Squared distance between two ``set_stats`` results, each statistic in units of its ``WEIGHTS`` scale."""
    total = 0.0
    for k, (kind, unit) in WEIGHTS.items():
        a, b = real[k], syn[k]
        d = math.log(max(a, 1e-6) / max(b, 1e-6)) if kind == 'log' else a - b
        total += (d / unit) ** 2
    return total


def family_options(p, scale, clip=1, pan=0, pan_px=1.0):
    """Degradation options (``data.degrade.second_order`` keys) of a family point ``p``; ranges as ``[lo, hi]`` when ``p``
    holds ``(lo, hi)`` pairs."""
    def rng_of(v):
        return [float(v[0]), float(v[1])] if isinstance(v, (tuple, list)) else [float(v), float(v)]
    comp = p['comp']
    opt = {'kernel_list': ['iso'], 'kernel_prob': [1.0], 'sinc_prob': 0.0, 'blur_sigma': rng_of(p['sigma']),
           'second_blur_prob': 0.0, 'sinc_prob2': 0.0, 'final_sinc_prob': 0.0,
           'resize_prob': [0.0, 0.0, 1.0], 'resize_prob2': [0.0, 0.0, 1.0], 'resize_mode_list': [p['mode']],
           'gaussian_noise_prob': 1.0, 'noise_range': [0.0, 0.0], 'gray_noise_prob': 0.0,
           'gaussian_noise_prob2': 1.0, 'noise_range2': rng_of(p['noise']), 'gray_noise_prob2': float(p['gray']),
           'jpeg_prob': 0.0, 'jpeg_prob2': 1.0 if comp == 'jpeg' else 0.0,
           'jpeg_range2': [int(x) for x in rng_of(p['level'])] if comp == 'jpeg' else [95, 95],
           'codec_prob': 1.0 if comp in STREAM_CODECS.values() else 0.0,
           'codec_list': [comp] if comp in STREAM_CODECS.values() else ['libx264'],
           'codec_crf_range': rng_of(p['level']) if comp in STREAM_CODECS.values() else [18.0, 35.0],
           'codec_clip': int(clip), 'codec_pan': int(pan), 'codec_pan_px': float(pan_px),
           'usm_weight': 0.0, 'l1_gt_usm': False, 'percep_gt_usm': False}
    del scale  # the downscale is the training scale: stage 2 resizes to the target size
    return opt


class Fitter:
    """Synthesises LQ from ``hr`` frames (uint8 BGR, ``names`` for the codec clips) for family points and
    scores them against the ``real`` LQ frames' statistics (relative to ``hr`` shrunk to the LQ size)."""

    def __init__(self, hr, names, real, scale, clip=1, seed=0, pan=0, pan_px=1.0):
        from realesrgan_paddle.data.degrade.second_order import resolve_options
        self.hr, self.names, self.scale, self.clip, self.seed = hr, names, scale, clip, seed
        self.pan, self.pan_px = pan, pan_px
        self.resolve = resolve_options
        h, w = hr[0].shape[:2]
        self.ref = lq_stats.shrink(hr, (w // scale, h // scale)) if len({f.shape for f in hr}) == 1 else None
        self.real = real
        self.memo = {}

    def reference(self, lqs):
        return self.ref if self.ref is not None else [
            lq_stats.shrink([f], (q.shape[1], q.shape[0]))[0] for f, q in zip(self.hr, lqs)]

    def synth(self, points, seed=None):
        """The synthetic LQ frames of each family point of ``points``; their codec clips share ffmpeg
        processes (``data.degrade.codec_cache.code_clips``), so a scan costs two per batch of clips, not per point."""
        sets = []
        for p in points:
            opt = self.resolve(family_options(p, self.scale, self.clip, self.pan, self.pan_px))
            rng = np.random.default_rng(self.seed if seed is None else seed)
            sets.append((*degrade_uncoded(self.hr, self.names, opt, self.scale, rng), opt))
        code_clips(sets)
        return [lqs for lqs, _, _, _ in sets]

    def score_all(self, points):
        """Score every point of ``points`` not scored yet (memoised on the point)."""
        todo = {_key(p): p for p in points}
        todo = [(k, p) for k, p in todo.items() if k not in self.memo]
        for (key, _), lqs in zip(todo, self.synth([p for _, p in todo])):
            self.memo[key] = loss(self.real, lq_stats.set_stats(lqs, self.reference(lqs)))

    def score(self, p):
        self.score_all([p])
        return self.memo[_key(p)]


def _key(p):
    return tuple(sorted(p.items()))


def _scan(fitter, p, key, values):
    fitter.score_all([{**p, key: v} for v in values])
    scores = {v: fitter.score({**p, key: v}) for v in values}
    return min(values, key=lambda v: scores[v]), scores


def _descend(fitter, p, grids, rounds, log):
    for r in range(rounds):
        before = dict(p)
        for key, values in grids:
            if len(values) > 1:
                p[key], _ = _scan(fitter, p, key, values)
        if p['noise'] > 0:
            p['gray'], _ = _scan(fitter, p, 'gray', (0.0, 1.0))
        if log:
            log(f'fit {p["comp"]} round {r + 1}: sigma {p["sigma"]}, {p["mode"]}, noise {p["noise"]}, level '
                f'{p["level"]}: loss {fitter.score(p):.2f} ({len(fitter.memo)} points tried)')
        if p == before:
            break
    return p


def search(fitter, start, rounds=3, log=None, starts=2, levels=None):
    """Blur and compression trade off against each other (both remove fine detail), so a coordinate descent
    from one point stops in the wrong valley: first the joint grid of blur x compression level (no noise),
    then a coordinate descent (level, blur, resize mode, noise) from each of its ``starts`` best points.
    ``levels``: the compression levels to try (default ``LEVELS`` of the point's kind).
    Returns ``(best point, its loss, {key: {value: loss}} at the best point)``."""
    p0 = dict(start)
    levels = tuple(levels or LEVELS[p0['comp']])
    grid = [{**p0, 'sigma': sg, 'level': lv} for sg in SIGMAS for lv in levels]
    fitter.score_all(grid)
    grid.sort(key=fitter.score)
    grids = [('level', levels), ('sigma', SIGMAS), ('mode', MODES), ('noise', NOISES)]
    ends = [_descend(fitter, dict(g), grids, rounds, log) for g in grid[:starts]]
    p = min(ends, key=fitter.score)
    scans = {key: _scan(fitter, p, key, values)[1] for key, values in grids if len(values) > 1}
    return p, fitter.score(p), scans


def value_range(scores, best, tolerance=TOLERANCE):
    """``(lo, hi)``: the grid values next to ``best`` whose loss is within ``tolerance`` of its loss, widened
    by one grid step on each side (the footage cannot tell these apart)."""
    values = sorted(scores)
    i = values.index(best)
    lo = hi = i
    limit = scores[best] + tolerance
    while lo > 0 and scores[values[lo - 1]] <= limit:
        lo -= 1
    while hi < len(values) - 1 and scores[values[hi + 1]] <= limit:
        hi += 1
    return values[max(0, lo - 1)], values[min(len(values) - 1, hi + 1)]


def ranges_of(best, scans):
    """The fitted point as ranges: ``sigma``, ``noise``, ``level`` as ``(lo, hi)``; noise switched off
    (``(0, 0)``) when the best noise is 0 and 1 grey level already fits worse."""
    out = dict(best)
    for key in ('sigma', 'noise', 'level'):
        if key in scans:
            out[key] = value_range(scans[key], best[key])
    if best['noise'] == 0 and scans.get('noise', {}).get(1.0, 0) > scans['noise'][0.0] + TOLERANCE:
        out['noise'] = (0.0, 0.0)
    if out['noise'][1] > 0:
        out['gray'] = 0.75 if best['gray'] >= 0.5 else 0.25
    return out


def start_point(comp, levels=None):
    levels = levels or LEVELS[comp]
    return {'sigma': 0.6, 'mode': 'area', 'noise': 0.0, 'gray': 0.0, 'comp': comp, 'level': levels[len(levels) // 2]}


def fit(hr, names, lq, lq_reference, scale, comps=('libx264',), clip=1, seed=0, log=None, pan=0, pan_px=1.0,
        min_side=lq_stats.MIN_MEASURE_SIDE, levels=None):
    """Fit the family to real LQ frames.

    ``hr``/``names``: HR frames (uint8 BGR) to synthesise from and their names (codec clips);
    ``lq``: real LQ frames; ``lq_reference``: the HR frames of the same moments (paired footage) or of
    the same domain (unpaired), shrunk to the LQ size by the caller with ``lq_stats.shrink``;
    ``comps``: the compression kinds to try ('none', 'jpeg', 'libx264', 'libx265');
    ``pan``/``pan_px``: code each synthetic frame as a P frame after a pan (``data.degrade.codec.pan_clip``);
    ``levels``: ``{kind: levels}`` to try instead of ``LEVELS`` (JPEG files: the qualities their tables show).
    Returns ``{'best', 'loss', 'ranges', 'options', 'scans', 'tried', 'confidence', 'stats': {'real', 'fitted',
    'generic'}}`` (``options``: ``data.degrade.second_order`` keys of the ranges). LQ frames too small to measure
    (``fit_confidence`` 'low', short side under ``min_side``) are not searched: ``options`` is ``{}``, the
    generic degradation.
    """
    real = lq_stats.set_stats(lq, lq_reference)
    confidence = fit_confidence(lq, lq_reference, min_side)
    fitter = Fitter(hr, names, real, scale, clip, seed, pan, pan_px)
    if confidence['level'] == 'low':  # nothing to search: the generic degradation, its statistics for the plot
        generic = synth_stats(fitter, {}, seed + 1)
        return {'best': None, 'loss': None, 'ranges': None, 'options': {}, 'confidence': confidence, 'scans': {},
                'tried': {}, 'points': 0, 'stats': {'real': real, 'fitted': generic, 'generic': generic}}
    results = {}
    for comp in comps:
        own = (levels or {}).get(comp)
        results[comp] = search(fitter, start_point(comp, own), log=log, levels=own)
    comp = min(results, key=lambda c: results[c][1])
    best, best_loss, scans = results[comp]
    ranges = ranges_of(best, scans)
    options = family_options(ranges, scale, clip, pan, pan_px)
    return {'best': best, 'loss': best_loss, 'ranges': ranges, 'options': options, 'confidence': confidence,
            'scans': {k: {str(v): s for v, s in sc.items()} for k, sc in scans.items()},
            'tried': {c: results[c][1] for c in results}, 'points': len(fitter.memo),
            'stats': {'real': real, 'fitted': synth_stats(fitter, options, seed + 1),
                      'generic': synth_stats(fitter, {}, seed + 1)}}


def fit_confidence(lq, lq_reference, min_side=lq_stats.MIN_MEASURE_SIDE):
    """How far the fit can be trusted: ``{'level': 'low' | 'ok', 'why', 'split_half'}``. ``split_half``: the loss
    (in ``WEIGHTS`` units, as the fit's own) between the statistics of the even and the odd LQ frames, how much
    the measurement moves with the content; 'low' when the frames are too small to measure
    (``lq_stats.measurable``), and then ``fit`` returns the generic degradation's options (``{}``)."""
    half = None
    if len(lq) >= 4:
        ref = lq_reference if lq_reference is not None and len(lq_reference) == len(lq) else None
        a = lq_stats.set_stats(lq[0::2], ref[0::2] if ref else None)
        b = lq_stats.set_stats(lq[1::2], ref[1::2] if ref else None)
        half = round(loss(a, b), 2)
    ok, why = lq_stats.measurable(lq, min_side)
    return {'level': 'ok' if ok else 'low', 'why': why, 'split_half': half}


def synth_stats(fitter, options, seed):
    """The statistics of LQ made from the fitter's HR frames with ``options`` (random draws in the ranges)."""
    lqs = degrade_images(fitter.hr, fitter.names, fitter.resolve(options), fitter.scale,
                         np.random.default_rng(seed))
    return lq_stats.set_stats(lqs, fitter.reference(lqs))
