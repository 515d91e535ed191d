"""Differentiable JPEG (baseline, 4:2:0) in Paddle with a quality per sample.

Steps, following the JPEG standard (ITU T.81) and the IJG library's choices:
RGB -> YCbCr (JFIF, full range) rounded to 8 bits; chroma averaged over 2x2;
level shift by 128; 8x8 DCT-II (two small matrix products per plane);
division by the Annex K luma/chroma tables scaled by quality with the IJG
formula (``s = 5000/q`` below 50, ``200 - 2q`` above; ``floor((T s + 50)/100)``
clipped to [1, 255]); rounding; dequantisation; inverse DCT; rounding and
clipping of the samples; chroma upsampled with the triangle ("fancy") filter
that libjpeg's decoder uses (= bilinear x2 with half-pixel centres);
YCbCr -> RGB; clip to [0, 1].

Rounding is differentiable: ``'ste'`` (default) rounds exactly in the forward pass
and passes gradients straight through; ``'cubic'`` uses
``round(x) + (x - round(x))^3``, whose forward value is slightly off a true round.
Images whose size is not a multiple of 16 are padded by edge replication (as the
encoder does for partial MCUs) and cropped back.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

LUMA_TABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99]], dtype=np.float64)

CHROMA_TABLE = np.full((8, 8), 99.0)
CHROMA_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]

ROUND_MODES = ('ste', 'cubic')


def quality_tables(quality):
    """IJG-scaled (luma, chroma) tables for each quality, numpy float32 (B, 64)."""
    q = np.asarray(quality, dtype=np.float64).reshape(-1)
    if np.any(~np.isfinite(q)) or np.any(q < 1) or np.any(q > 100):
        raise ValueError(f'JPEG quality must be in [1, 100], got {q.tolist()}')
    q = np.floor(q)
    s = np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)[:, None]
    luma = np.clip(np.floor((LUMA_TABLE.reshape(1, 64) * s + 50) / 100), 1, 255)
    chroma = np.clip(np.floor((CHROMA_TABLE.reshape(1, 64) * s + 50) / 100), 1, 255)
    return luma.astype(np.float32), chroma.astype(np.float32)


def diff_round(x, mode='ste'):
    if mode == 'ste':
        return x + (paddle.round(x) - x).detach()
    if mode == 'cubic':
        r = paddle.round(x)
        return r + (x - r) ** 3
    raise ValueError(f'round mode must be one of {ROUND_MODES}, got {mode!r}')


# JFIF colour conversion (full range)
_RGB2YCC = np.array([[0.299, 0.587, 0.114],
                     [-0.168736, -0.331264, 0.5],
                     [0.5, -0.418688, -0.081312]], dtype=np.float64)
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def _pad_edge(x, mult):
    """Replicate the last row/column up to a multiple of ``mult`` (as libjpeg does)."""
    h, w = x.shape[2], x.shape[3]
    ph, pw = (-h) % mult, (-w) % mult
    if ph:
        x = paddle.concat([x, x.index_select(paddle.to_tensor([h - 1] * ph, place=x.place), axis=2)], axis=2)
    if pw:
        x = paddle.concat([x, x.index_select(paddle.to_tensor([w - 1] * pw, place=x.place), axis=3)], axis=3)
    return x


def _mix(a, b, c, coef, offset=0.0):
    """``coef[0]*a + coef[1]*b + coef[2]*c + offset`` (elementwise ops: on CPU far cheaper
    than a 3-channel 1x1 convolution)."""
    out = a * float(coef[0]) + b * float(coef[1]) + c * float(coef[2])
    return out + offset if offset else out


def rgb_to_ycbcr(x):
    """RGB NCHW in [0, 1] -> (Y, Cb, Cr) planes (N, 1, H, W) on the 0-255 scale (JFIF)."""
    r, g, b = paddle.split(x, 3, axis=1)
    m = _RGB2YCC * 255.0
    return _mix(r, g, b, m[0]), _mix(r, g, b, m[1], 128.0), _mix(r, g, b, m[2], 128.0)


def ycbcr_to_rgb(y, cb, cr):
    """(Y, Cb, Cr) on the 0-255 scale -> RGB NCHW in [0, 1] (not clipped)."""
    m = _YCC2RGB / 255.0
    off = -(_YCC2RGB @ np.array([0.0, 128.0, 128.0])) / 255.0
    return paddle.concat([_mix(y, cb, cr, m[i], float(off[i])) for i in range(3)], axis=1)


_DCT = {}


def _dct8(place):
    key = str(place)
    if key not in _DCT:
        n = np.arange(8)
        c = np.where(n == 0, np.sqrt(1 / 8), np.sqrt(2 / 8))
        d = c[:, None] * np.cos((2 * n[None, :] + 1) * n[:, None] * np.pi / 16)  # d[freq, pos], orthonormal
        _DCT[key] = paddle.to_tensor(d.astype(np.float32), place=place)
    return _DCT[key]


def block_dct(planes, inverse=False):
    """8x8 block DCT-II (or its inverse) of planes (N, H, W), H and W multiples of 8.

    Coefficient (u, v) of block (i, j) sits at (8i + u, 8j + v). Two small matrix
    products (rows, then columns) instead of a 64-channel strided convolution,
    which is ~20x slower on CPU.
    """
    n, h, w = planes.shape
    d = _dct8(planes.place)
    if not inverse:
        t = paddle.matmul(d, planes.reshape([n * h // 8, 8, w]))             # along rows
        return paddle.matmul(t.reshape([-1, 8]), d, transpose_y=True).reshape([n, h, w])  # along columns
    t = paddle.matmul(planes.reshape([-1, 8]), d).reshape([n * h // 8, 8, w])
    return paddle.matmul(d, t, transpose_x=True).reshape([n, h, w])


def _tiled_tables(tables, h, w, place):
    """(N, 64) tables -> (N, h, w) with each 8x8 table repeated over the blocks."""
    t = np.tile(tables.reshape(-1, 8, 8), (1, h // 8, w // 8))
    return paddle.to_tensor(np.ascontiguousarray(t, dtype=np.float32), place=place)


def _code_planes(planes, tables, rnd):
    """Level shift, DCT, quantise, dequantise, inverse DCT; planes (N, H, W) 0-255."""
    coef = block_dct(planes - 128.0)
    coef = rnd(coef / tables) * tables
    return rnd(block_dct(coef, inverse=True) + 128.0).clip(0, 255)


def diff_jpeg(x, quality, round_mode='ste'):
    """JPEG-compress-and-decode an RGB batch ``x`` (B, 3, H, W) in [0, 1].

    Args:
        quality: one number or one per sample (1-100, IJG scale; floored to an integer).
        round_mode: 'ste' or 'cubic' (see module doc). With 'ste' and an input that
            needs no gradient, plain rounding is used (same values, fewer ops).
    Returns:
        float tensor in [0, 1] of the same shape (not rounded to 1/255).
    """
    if not isinstance(x, paddle.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f'x must be an RGB NCHW paddle.Tensor, got {getattr(x, "shape", type(x))}')
    if round_mode not in ROUND_MODES:
        raise ValueError(f'round mode must be one of {ROUND_MODES}, got {round_mode!r}')
    b, _, h, w = x.shape
    q = np.asarray(quality, dtype=np.float64).reshape(-1)
    if q.size == 1:
        q = np.repeat(q, b)
    if q.size != b:
        raise ValueError(f'{q.size} JPEG qualities for a batch of {b}')
    luma_t, chroma_t = quality_tables(q)
    if x.stop_gradient and round_mode == 'ste':
        rnd = paddle.round  # same forward value, fewer ops when no gradient is needed
    else:
        def rnd(v):
            return diff_round(v, round_mode)

    xp = _pad_edge(x, 16)
    hp, wp = xp.shape[2], xp.shape[3]
    y, cb, cr = (rnd(p) for p in rgb_to_ycbcr(xp))
    chroma = rnd(F.avg_pool2d(paddle.concat([cb, cr], axis=1), 2))  # 4:2:0
    y = _code_planes(y.reshape([b, hp, wp]), _tiled_tables(luma_t, hp, wp, x.place), rnd)
    chroma = _code_planes(chroma.reshape([2 * b, hp // 2, wp // 2]),
                          _tiled_tables(np.repeat(chroma_t, 2, axis=0), hp // 2, wp // 2, x.place), rnd)
    chroma = F.interpolate(chroma.reshape([b, 2, hp // 2, wp // 2]), size=[hp, wp], mode='bilinear',
                           align_corners=False)  # libjpeg's "fancy" triangle upsampling
    cb, cr = paddle.split(chroma, 2, axis=1)
    rgb = ycbcr_to_rgb(y.reshape([b, 1, hp, wp]), cb, cr)
    if hp != h or wp != w:
        rgb = paddle.crop(rgb, shape=[b, 3, h, w])  # contiguous copy; a 2-axis slice view is ~20x slower to use
    return rgb.clip(0, 1)


class DiffJPEG(paddle.nn.Layer):
    """Layer form of :func:`diff_jpeg`: ``forward(x, quality)``."""

    def __init__(self, round_mode='ste'):
        super().__init__()
        if round_mode not in ROUND_MODES:
            raise ValueError(f'round mode must be one of {ROUND_MODES}, got {round_mode!r}')
        self.round_mode = round_mode

    def forward(self, x, quality):
        return diff_jpeg(x, quality, self.round_mode)
