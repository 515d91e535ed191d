"""GRL's fixed geometry: the position tables and indexes (numpy, at build time), the shifted-window and shifted-
stripe masks and the input pad (paddle, at run-time sizes, so the static export takes any H and W).

* ``coords_table(wh, ww, df)``: the (1, wh + wh/df - 1, ww + ww/df - 1, 2) table of relative offsets between a
  ``wh`` x ``ww`` window and its anchor window (``df`` times smaller; 1: the window itself), each axis divided by
  its largest positive offset, times 8, then ``sign(t) log2(1 + |t|) / 3`` (Swin V2's log-spaced coordinates).
* ``position_index(wh, ww, df, window_to_anchor)``: for each (window token, anchor token) pair (or the reverse),
  its row in that table, flattened.
* ``stripe_masks``: -100 between a stripe token and an anchor token that come from different regions of the
  cyclically shifted map (the regions of the Swin shift: before size - stripe, up to size - shift, the rest).
* ``pad_grl``: the input padded at the bottom and right to a multiple of the pad size by reflection, or, when the
  pad is not smaller than the image on an axis (where PyTorch's reflection refuses, and GRL falls back), by zeros.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from ..swinir.window_attention import MASK_VALUE


def coords_table(wh, ww, df=1):
    """(1, T0, T1, 2) float32 log-spaced relative coordinates of a window and its anchor (module docstring)."""
    axes = []
    for w in (wh, ww):
        a = w // df
        top = w - 1 - (w - a) // 2
        axes.append(np.arange(-(a - 1) - (w - a) // 2, top + 1, dtype=np.float32) / np.float32(top))
    table = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1) * np.float32(8)
    table = np.sign(table) * np.log2(np.abs(table) + np.float32(1)) / np.float32(np.log2(8))
    return table[None].astype(np.float32)


def _grid(h, w):
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    return np.stack([rows.ravel(), cols.ravel()])  # (2, h * w)


def position_index(wh, ww, df=1, window_to_anchor=True):
    """(N1, N2) int64 rows of ``coords_table(wh, ww, df)`` for window token -> anchor token (or (N2, N1) for
    anchor -> window)."""
    awh, aww = wh // df, ww // df
    window, anchor = _grid(wh, ww), _grid(awh, aww)
    if window_to_anchor:
        diff, offset = window[:, :, None] - anchor[:, None, :], (awh - 1, aww - 1)
    else:
        diff, offset = anchor[:, :, None] - window[:, None, :], (wh - 1, ww - 1)
    return ((diff[0] + offset[0]) * (aww + ww - 1) + diff[1] + offset[1]).astype(np.int64)


def partition(x, wh, ww):
    """(B, H, W, C) with H, W multiples of ``wh``, ``ww`` -> (B * windows, wh * ww, C), windows row-major."""
    shape, c = paddle.shape(x), x.shape[-1]
    x = x.reshape([-1, shape[1] // wh, wh, shape[2] // ww, ww, c])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, wh * ww, c])


def reverse(windows, wh, ww, h, w):
    """The inverse of ``partition``: (B * windows, wh * ww, C) -> (B, h, w, C)."""
    c = windows.shape[-1]
    x = windows.reshape([-1, h // wh, w // ww, wh, ww, c])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, h, w, c])


def _regions(h, w, size, shift):
    """(1, h, w, 1) labels 0-8 of the shifted regions of an h x w map (run-time sizes)."""
    labels = []
    for n, s, t in ((h, size[0], shift[0]), (w, size[1], shift[1])):
        r = paddle.arange(n, dtype=n.dtype)
        labels.append((r >= n - s).astype('float32') + (r >= n - t).astype('float32'))
    return (labels[0].unsqueeze(1) * 3 + labels[1].unsqueeze(0)).unsqueeze(0).unsqueeze(-1)


def stripe_masks(h, w, stripe, df):
    """``(window -> anchor, anchor -> window)`` masks, (windows, N1, N2) and (windows, N2, N1), of ``stripe``
    (rows, columns) stripes shifted by half a stripe on an h x w map, their anchors ``df`` times smaller."""
    shift = [s // 2 for s in stripe]
    win = partition(_regions(h, w, stripe, shift), *stripe).squeeze(-1)
    anchor_size = [s // df for s in stripe]
    anc = partition(_regions(h // df, w // df, anchor_size, [s // df for s in shift]), *anchor_size).squeeze(-1)
    w2a = (win.unsqueeze(2) != anc.unsqueeze(1)).astype('float32') * MASK_VALUE
    a2w = (anc.unsqueeze(2) != win.unsqueeze(1)).astype('float32') * MASK_VALUE
    return w2a, a2w


def _source_rows(n, pad):
    """Rows (or columns) 0 .. n + pad - 1 read from their reflection inside 0 .. n - 1 (int64), and which are
    inside (0 or 1). In float32 arithmetic and ReLUs (exact for any side a map has), which both graphs trace."""
    rows = paddle.arange(n + pad, dtype='float32')
    last = (n - 1).astype('float32')
    source = F.relu(rows - 2 * F.relu(rows - last))
    return source.astype('int64'), (rows <= last).astype('float32')


def pad_grl(x, multiple):
    """``x`` (N, C, H, W) padded at the bottom and right to multiples of ``multiple`` (module docstring)."""
    shape = paddle.shape(x)
    h, w = shape[2], shape[3]
    pad_h, pad_w = (multiple - h % multiple) % multiple, (multiple - w % multiple) % multiple
    rows, in_rows = _source_rows(h, pad_h)
    cols, in_cols = _source_rows(w, pad_w)
    y = paddle.gather(paddle.gather(x, rows, axis=2), cols, axis=3)
    reflect = (pad_h < h).astype('float32') * (pad_w < w).astype('float32')
    inside = in_rows.unsqueeze(1) * in_cols.unsqueeze(0)
    return y * (inside + reflect - inside * reflect).astype(x.dtype)  # inside or reflect
