"""Tiled forward with overlapping windows and feathered (linear cross-fade) blending.

The LR image stays in host memory; only one window at a time goes through the
network. All windows have the same shape (the last one in a row/column is
shifted inward instead of shrunk), so a predictor sees one input shape. Tiles
may be square (``tile=N``) or rectangular (``tile=(th, tw)``, what the memory
planner of ``inference.memory`` picks). Each window's output is weighted by a
separable ramp that falls to ~0 at window edges inside the image (where the
network lacked context) and stays 1 at the image border; the weighted sum is
divided by the summed weight, which is separable too (rows x columns), so no
full-size weight map is stored.

``tiled_bands`` blends one row of windows at a time: it yields the finished
HR rows band by band, and only the rows the next band overlaps are carried
over, so the float accumulator is one band high instead of the whole output.
``stream=False`` keeps one accumulator for the whole output (the layout before
bands; ``tiled_forward`` returns it). The additions happen in the same order
either way, so the two give bit-identical results.

Windows start on multiples of ``mod``. A network with its own size rule (``any_size``: it pads any input
itself, ``models.pads_itself``) gets the image as it is, H and W not multiples of ``mod``: its windows are then
longer by up to ``mod - 1`` pixels, so that the last one, shifted inward, still starts on the grid.

No window reaches the network smaller than ``MIN_SIDE`` pixels a side: smaller
images are padded (edge pixels repeated) and cropped back, smaller tiles are
raised to it. Paddle Inference's oneDNN convolutions corrupt the heap on a 1x1
input with small SRVGG exports (abort, or a hang); 8 px costs nothing.
"""
import math

import numpy as np

MIN_SIDE = 8


def round_up(v, m):
    return int(math.ceil(v / m) * m)


def tile_sides(tile):
    """``(tile_h, tile_w)`` of a square ``N`` or a ``(th, tw)`` pair; 0 or None: no tiling."""
    if not tile:
        return 0, 0
    if isinstance(tile, (tuple, list)):
        return int(tile[0]), int(tile[1])
    return int(tile), int(tile)


def window_starts(size, tile, pad, mod=1):
    """Start offsets (LR pixels) of fixed-length windows ``min(size, tile + 2*pad)`` covering ``size``; ``mod``:
    a window shorter than ``size`` is lengthened by up to ``mod - 1`` so that ``size - window`` is a multiple of it
    (with ``tile`` and ``pad`` multiples of ``mod``, every start is one)."""
    win = min(size, tile + 2 * pad)
    if win < size:
        win = min(size, win + (size - win) % mod)
    starts = []
    for i in range(int(math.ceil(size / tile))):
        s = min(max(i * tile - pad, 0), size - win)
        if not starts or s != starts[-1]:
            starts.append(s)
    return starts, win


def ramp_weight(length, start, total, ramp):
    """1-D blending weight of a window ``[start, start+length)`` inside ``[0, total)`` (HR pixels)."""
    w = np.ones(length, np.float32)
    if ramp <= 0:
        return w
    x = np.arange(length, dtype=np.float32) + 0.5
    if start > 0:
        w = np.minimum(w, x / ramp)
    if start + length < total:
        w = np.minimum(w, (length - x) / ramp)
    return np.maximum(w, 1e-4)


def tile_grid(h, w, tile, pad, mod=1):
    """The window starts (rows, columns) and sides in LR pixels, and the padding: ``(ys, xs, win_h, win_w, pad)``.
    ``tile``: a square side or ``(tile_h, tile_w)``; starts on multiples of ``mod`` (``window_starts``)."""
    th, tw = tile_sides(tile)
    th, tw = max(round_up(th, mod), mod), max(round_up(tw, mod), mod)
    pad = round_up(pad, mod) if pad > 0 else 0
    ys, wh = window_starts(h, th, pad, mod)
    xs, ww = window_starts(w, tw, pad, mod)
    return ys, xs, wh, ww, pad


def n_windows(h, w, tile, pad, mod=1):
    """How many windows ``tiled_bands`` runs for an ``h`` x ``w`` LR image."""
    th, tw = tile_sides(tile)
    if th <= 0 or (h <= th and w <= tw):
        return 1
    ys, xs = tile_grid(h, w, tile, pad, mod)[:2]
    return len(ys) * len(xs)


class _Blend:
    """The weights of one tiling: per-window ramps and their separable sums."""

    def __init__(self, h, w, scale, ys, xs, wh, ww, pad):
        ramp = 2 * pad * scale
        self.wy = [ramp_weight(wh * scale, y * scale, h * scale, ramp) for y in ys]
        self.wx = [ramp_weight(ww * scale, x0 * scale, w * scale, ramp) for x0 in xs]
        self.sum_y = np.zeros(h * scale, np.float32)
        self.sum_x = np.zeros(w * scale, np.float32)
        for y, wgt in zip(ys, self.wy):
            self.sum_y[y * scale:(y + wh) * scale] += wgt
        for x0, wgt in zip(xs, self.wx):
            self.sum_x[x0 * scale:(x0 + ww) * scale] += wgt

    def normalise(self, rows, r0):
        """Divide ``rows`` (C, n, W) in place, HR rows ``r0 ..``, by the summed weight, a strip at a time."""
        n, step = rows.shape[1], max(1, (1 << 22) // max(1, rows.shape[2]))
        for r in range(0, n, step):
            e = min(n, r + step)
            rows[:, r:e] /= self.sum_y[r0 + r:r0 + e, None] * self.sum_x[None, :]


def _small_padded(x, mod, side=MIN_SIDE):
    """``x`` padded with its edge pixels to at least ``side`` a side (and a multiple of ``mod``)."""
    c, h, w = x.shape
    ph, pw = max(0, side - h), max(0, side - w)
    ph, pw = ph + (-(h + ph)) % mod, pw + (-(w + pw)) % mod
    return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode='edge')


def tiled_bands(x, forward, scale, tile=0, tile_pad=10, mod=1, progress=None, stream=True, min_side=MIN_SIDE,
                any_size=False):
    """Run ``forward`` over ``x`` (C,H,W float32) in tiles; yield ``(r0, rows)``: the finished HR rows
    ``r0 .. r0 + rows.shape[1]`` as (C', n, W*scale) float32, top to bottom, covering H*scale rows.

    ``forward`` maps a (1,C,h,w) float32 array to (1,C',h*scale,w*scale). ``tile``: a square side or
    ``(tile_h, tile_w)``; 0 or an image no larger than one tile runs in one piece. ``mod``: H and W of
    ``x`` and every window are multiples of it (pixel unshuffle). ``progress``: optional
    callable(n_done, n_total) after each tile. ``stream=False``: one accumulator for the whole output,
    yielded once. A yielded array may be reused afterwards: use it before asking for the next. ``min_side``:
    the network's smallest input side (``models.min_side``), raised to ``MIN_SIDE``. ``any_size``: the network
    pads any input itself (``models.pads_itself``): ``x`` and its windows need not be multiples of ``mod``, only
    the windows' starts are.
    """
    c, h, w = x.shape
    side = max(MIN_SIDE, int(min_side))
    if h < side or w < side:
        for r0, rows in tiled_bands(_small_padded(x, mod, side), forward, scale, tile, tile_pad, mod, progress,
                                    stream, side, any_size):
            if r0 < h * scale:
                yield r0, rows[:, :h * scale - r0, :w * scale]
        return
    th, tw = tile_sides(tile)
    if 0 < th < side or 0 < tw < side:
        th, tw = max(th, side), max(tw, side)
    if th <= 0 or (h <= th and w <= tw):
        out = forward(x[None])[0]
        if progress:
            progress(1, 1)
        yield 0, out
        return
    if (h % mod or w % mod) and not any_size:
        raise ValueError(f'image size {h}x{w} must be a multiple of {mod} for tiling')
    yield from _blend_bands(x, forward, scale, tile_grid(h, w, (th, tw), tile_pad, mod), progress, stream)


def _blend_bands(x, forward, s, grid, progress, stream):
    """The tiled case of ``tiled_bands``: windows in rows, each band's finished rows as soon as they are."""
    _, h, w = x.shape
    ys, xs, wh, ww, pad = grid
    blend = _Blend(h, w, s, ys, xs, wh, ww, pad)
    acc, top = None, 0  # the accumulator and its first HR row
    total, done = len(ys) * len(xs), 0
    for iy, y in enumerate(ys):
        if stream and acc is not None:
            keep = top + acc.shape[1] - y * s  # rows of this band the previous one reached
            acc[:, :keep] = acc[:, acc.shape[1] - keep:]
            acc[:, keep:] = 0
            top = y * s
        for ix, x0 in enumerate(xs):
            res = forward(np.ascontiguousarray(x[None, :, y:y + wh, x0:x0 + ww]))[0]
            if acc is None:
                acc = np.zeros((res.shape[0], (wh if stream else h) * s, w * s), np.float32)
                top = y * s if stream else 0
            weight = blend.wy[iy][:, None] * blend.wx[ix][None, :]
            acc[:, y * s - top:(y + wh) * s - top, x0 * s:(x0 + ww) * s] += res * weight
            done += 1
            if progress:
                progress(done, total)
        if stream:
            end = ys[iy + 1] * s if iy + 1 < len(ys) else h * s
            rows = acc[:, :end - top]
            blend.normalise(rows, top)
            yield top, rows
    if not stream:
        blend.normalise(acc, 0)
        yield 0, acc


def tiled_forward(x, forward, scale, tile=0, tile_pad=10, mod=1, progress=None):
    """``tiled_bands`` gathered into one (C', H*scale, W*scale) float32 array (one whole-output accumulator)."""
    for _, out in tiled_bands(x, forward, scale, tile, tile_pad, mod, progress, stream=False):
        return out
