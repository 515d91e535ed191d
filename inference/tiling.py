"""Tiled forward with overlapping windows and feathered (linear cross-fade) blending.

The whole image stays in host memory; only one window at a time goes through
the network. All windows have the same shape (the last one in a row/column is
shifted inward instead of shrunk), so a predictor sees one input shape. Each
window's output is weighted by a separable ramp that falls to ~0 at window
edges inside the image (where the network lacked context) and stays 1 at the
image border; the weighted sum is divided by the summed weight, which is
separable too (rows x columns), so no full-size weight map is stored.

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


def window_starts(size, tile, pad):
    """Start offsets (LR pixels) of fixed-length windows ``min(size, tile + 2*pad)`` covering ``size``."""
    win = min(size, tile + 2 * pad)
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
    """The windows as ``(y0, x0, win_h, win_w)`` in LR pixels, plus the row/column start lists."""
    tile = max(round_up(tile, mod), mod)
    pad = round_up(pad, mod) if pad > 0 else 0
    ys, wh = window_starts(h, tile, pad)
    xs, ww = window_starts(w, tile, pad)
    return ys, xs, wh, ww, pad


def tiled_forward(x, forward, scale, tile=0, tile_pad=10, mod=1, progress=None):
    """Run ``forward`` over ``x`` (C,H,W float32) in tiles; returns (C', H*scale, W*scale) float32.

    ``forward`` maps a (1,C,h,w) float32 array to (1,C',h*scale,w*scale).
    ``tile <= 0`` or an image no larger than one tile runs in one piece.
    ``mod``: H and W of ``x`` and every window are multiples of it (pixel unshuffle).
    ``progress``: optional callable(n_done, n_total) after each tile.
    """
    c, h, w = x.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        ph, pw = ph + (-(h + ph)) % mod, pw + (-(w + pw)) % mod
        xp = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode='edge')
        out = tiled_forward(xp, forward, scale, tile, tile_pad, mod, progress)
        return out[:, :h * scale, :w * scale]
    if 0 < tile < MIN_SIDE:
        tile = MIN_SIDE
    if tile <= 0 or (h <= tile and w <= tile):
        out = forward(x[None])[0]
        if progress:
            progress(1, 1)
        return out
    if h % mod or w % mod:
        raise ValueError(f'image size {h}x{w} must be a multiple of {mod} for tiling')
    ys, xs, wh, ww, pad = tile_grid(h, w, tile, tile_pad, mod)
    ramp = 2 * pad * scale
    wy = [ramp_weight(wh * scale, y * scale, h * scale, ramp) for y in ys]
    wx = [ramp_weight(ww * scale, x0 * scale, w * scale, ramp) for x0 in xs]
    sum_y = np.zeros(h * scale, np.float32)
    sum_x = np.zeros(w * scale, np.float32)
    for y, wgt in zip(ys, wy):
        sum_y[y * scale:(y + wh) * scale] += wgt
    for x0, wgt in zip(xs, wx):
        sum_x[x0 * scale:(x0 + ww) * scale] += wgt
    out = None
    total, done = len(ys) * len(xs), 0
    for iy, y in enumerate(ys):
        for ix, x0 in enumerate(xs):
            patch = np.ascontiguousarray(x[None, :, y:y + wh, x0:x0 + ww])
            res = forward(patch)[0]
            if out is None:
                out = np.zeros((res.shape[0], h * scale, w * scale), np.float32)
            weight = wy[iy][:, None] * wx[ix][None, :]
            out[:, y * scale:(y + wh) * scale, x0 * scale:(x0 + ww) * scale] += res * weight
            done += 1
            if progress:
                progress(done, total)
    # normalise row strip by row strip to avoid a full-size temporary
    step = max(1, (1 << 22) // max(1, w * scale))
    for r in range(0, h * scale, step):
        out[:, r:r + step] /= sum_y[r:r + step, None] * sum_x[None, :]
    return out
