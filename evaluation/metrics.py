"""Image metrics for super-resolution, on the 0-255 scale of BT.601 Y where it says so.

* ``psnr``, ``ssim``: distortion, as in SR papers (optionally on Y, with a border crop).
* ``laplacian_energy``, ``detail_ratio``: how much fine detail an output carries, against the GT.
* ``artefact``: high-frequency error where the GT is smooth (ringing, noise, false texture).
* ``texture_ratio``: the power in the octave above the input's resolution, against the GT: texture-scale detail
  (4-8 px periods at x4), which the finest grain and 2-px meshes barely reach.
* ``blocks``: how much larger an output's luma steps are across the lines of the upscaling's pixel grid than
  inside its cells (the 4x4 tiles of a x4 network whose residual stops cancelling its nearest-neighbour skip).
* NIQE (no reference) is in ``evaluation.niqe``.

Inputs are HWC (or HW) arrays, uint8/uint16 or float; BGR channel order as read
by OpenCV.
"""
import cv2
import numpy as np


def as_float255(img):
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 257.0
    return img.astype(np.float64) * (255.0 if img.max() <= 1.0 + 1e-6 else 1.0)


def bgr_to_y(img255):
    """ITU-R BT.601 luma (16-235 range), the convention of SR benchmarks. The planes are made contiguous first:
    the same arithmetic in the same order (the same bits), a quarter of the time on strided channels, which an
    evaluation paid a dozen times per scored image."""
    c = np.ascontiguousarray(np.moveaxis(np.asarray(img255)[..., :3], -1, 0))
    y = c[2] * 65.481
    y += c[1] * 128.553
    y += c[0] * 24.966
    y /= 255.0
    y += 16.0
    return y


def _prepare(a, b, crop_border, test_y):
    a, b = as_float255(a), as_float255(b)
    if a.shape != b.shape:
        raise ValueError(f'image shapes differ: {a.shape} vs {b.shape}')
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if test_y and a.ndim == 3 and a.shape[2] >= 3:
        a, b = bgr_to_y(a), bgr_to_y(b)
    return a, b


def _psnr_of_mse(mse):
    return float('inf') if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def psnr(a, b, crop_border=0, test_y=False):
    a, b = _prepare(a, b, crop_border, test_y)
    return _psnr_of_mse(np.mean((a - b) ** 2))


def _ssim_channel(a, b):
    if min(a.shape[:2]) < 11:
        return float('nan')  # smaller than the 11x11 window: no valid region
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    win = cv2.getGaussianKernel(11, 1.5)  # the 11x11 window is separable: rows then columns
    f = lambda x: cv2.sepFilter2D(x, -1, win, win)[5:-5, 5:-5]  # noqa: E731  valid region only
    mu_a, mu_b = f(a), f(b)
    var_a = f(a * a) - mu_a ** 2
    var_b = f(b * b) - mu_b ** 2
    cov = f(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def ssim(a, b, crop_border=0, test_y=False):
    a, b = _prepare(a, b, crop_border, test_y)
    if a.ndim == 2:
        return _ssim_channel(a, b)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))


# ---------------------------------------------------------------- detail and artefacts
ARTEFACT_HP_SIGMA = 1.0     # high-pass: d - Gaussian(d, 1.0)
ARTEFACT_VAR_SIGMA = 2.0    # GT local variance window (Gaussian, sigma 2)
ARTEFACT_TAU = 25.0         # smoothness scale: weight exp(-var / 25), i.e. local std about 5 grey levels


def luma(img, crop_border=0):
    """BT.601 Y (0-255 scale) of a BGR/gray image, border cropped; float64 2-D."""
    a = as_float255(img)
    if a.ndim == 3:
        a = bgr_to_y(a) if a.shape[2] >= 3 else a[..., 0]
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
    return a


def _laplacian(y, crop_border):
    """4-neighbour Laplacian of a 2-D float array (reflect border), ``crop_border`` px cropped after filtering."""
    lap = cv2.Laplacian(y, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)
    return lap[crop_border:-crop_border, crop_border:-crop_border] if crop_border else lap


def laplacian_energy(img, crop_border=4):
    """Mean squared 4-neighbour Laplacian of Y (0-255 scale), ``crop_border`` px cropped after filtering."""
    lap = _laplacian(luma(img), crop_border)
    return float(np.mean(lap * lap)) if lap.size else float('nan')  # nothing left after the border crop


def detail_ratio(out, gt, crop_border=4):
    """``laplacian_energy(out) / laplacian_energy(gt)``: 1 = as detailed as the GT, < 1 blur, > 1 overshoot/noise."""
    if np.shape(out)[:2] != np.shape(gt)[:2]:
        raise ValueError(f'image shapes differ: {np.shape(out)} vs {np.shape(gt)}')
    ref = laplacian_energy(gt, crop_border)
    return float('nan') if ref == 0 else laplacian_energy(out, crop_border) / ref


def input_detail(lq, gt, crop_border=1):
    """How much of the GT's fine detail the LQ input keeps at its own size.

    ``laplacian_energy(lq) / laplacian_energy(gt shrunk to the LQ's size by area averaging)``. About 1: the
    input carries the GT's structure at its scale; near 0: it was blurred away, and detail at the GT's level
    can only be invented there; above 1: noise or ringing added by the degradation.
    """
    h, w = np.shape(lq)[:2]
    small = cv2.resize(np.asarray(gt), (w, h), interpolation=cv2.INTER_AREA)
    ref = laplacian_energy(small, crop_border)
    return float('nan') if ref == 0 else laplacian_energy(lq, crop_border) / ref


def geometric_mean(values):
    """Geometric mean of the finite, positive values (NaN when there are none): the average of ratios."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], np.float64)
    return float(np.exp(np.mean(np.log(v)))) if v.size else float('nan')


def _blur(x, sigma):
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def smooth_weight(gt_y, sigma=ARTEFACT_VAR_SIGMA, tau=ARTEFACT_TAU):
    """Per-pixel weight of GT smoothness: ``exp(-v / tau)``, v the GT local variance (Gaussian window)."""
    mu = _blur(gt_y, sigma)
    var = np.maximum(_blur(gt_y * gt_y, sigma) - mu * mu, 0.0)
    return np.exp(-var / tau)


def artefact(out, gt, crop_border=4):
    """High-frequency error where the GT is smooth, in Y grey levels (0 = none; lower is better).

    With ``d = Y(out) - Y(gt)``, its high-pass ``h = d - G_1(d)`` (``G_s``: Gaussian blur of sigma s)
    and the smoothness weight ``w = exp(-v / 25)``, ``v = G_2(Y(gt)^2) - G_2(Y(gt))^2`` the GT local
    variance: ``artefact = sqrt(sum(w * h^2) / sum(w))`` over the image less ``crop_border`` px.
    Blur barely moves it (smooth regions stay smooth); noise, ringing and invented texture in flat
    regions raise it.
    """
    a, b = luma(out), luma(gt)
    if a.shape != b.shape:
        raise ValueError(f'image shapes differ: {np.shape(out)} vs {np.shape(gt)}')
    d = a - b
    h = d - _blur(d, ARTEFACT_HP_SIGMA)
    w = smooth_weight(b)
    if crop_border:
        c = crop_border
        h, w = h[c:-c, c:-c], w[c:-c, c:-c]
    total = w.sum()
    return float('nan') if total <= 0 else float(np.sqrt(np.sum(w * h * h) / total))


def blockiness(y, period, floor=1e-9):
    """Mean |horizontal and vertical Y steps| on the ``period`` grid lines over the mean elsewhere (floored at
    ``floor`` grey levels)."""
    on, off = [], []
    for d in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):
        if d.shape[1] < 2 * period:
            continue
        cols = np.arange(d.shape[1])
        grid = (cols % period) == period - 1
        on.append(d[:, grid].mean())
        off.append(d[:, ~grid].mean())
    return float(np.mean(on) / max(np.mean(off), floor)) if on else 1.0


BLOCKS_FLOOR = 0.25  # grey levels


def blocks(out, period=4, crop_border=4):
    """The output's tiles on the ``period``-px grid of its upscaling: mean |Y step| across the grid lines over the
    mean |Y step| inside the cells (``blockiness``). 1 = no grid, as a photo; 2 = steps on the lines
    twice as large; below 1, weaker steps on the lines than inside (a grain of the grid's period): best closest to 1.

    The lines are after every ``period``-th column and row from the output's top left (output pixels
    ``period*i .. period*i+period-1`` come from input pixel ``i``); the border crop is rounded up to a multiple of
    ``period`` so that they stay there. The steps inside are floored at ``BLOCKS_FLOOR`` grey levels, so that flat
    cells (a nearest-neighbour upscale) give a large finite value. NaN when fewer than two cells remain each way
    or the image is flat."""
    p = int(period)
    if p < 2:
        raise ValueError(f'blocks: the period must be at least 2, got {period}')
    c = -(-int(crop_border) // p) * p
    y = luma(out)
    if y.ndim != 2:
        raise ValueError(f'blocks: expected an HxW or HxWxC image, got shape {np.shape(out)}')
    if c:
        y = y[c:-c, c:-c]
    if min(y.shape) < 2 * p or np.ptp(y) == 0:
        return float('nan')
    return blockiness(y, p, BLOCKS_FLOOR)


OCTAVE_TILE = 256  # px: the band power is averaged over tiles of this size (bounded memory on any frame)
BAND_FLOOR = 1e-6  # grey levels squared: a GT with less power in the band has none (a flat image)


def _tiles(n, size):
    """Start offsets of non-overlapping ``size``-px tiles along ``n`` px (one short tile when ``n < size``)."""
    return [0] if n <= size else list(range(0, n - size + 1, size))


def band_power(img, lo, hi, crop_border=4, tile=OCTAVE_TILE):
    """Mean power of Y (0-255) at radial frequencies in ``[lo, hi)`` cycles per pixel: each tile's mean removed,
    Hann-windowed, its FFT's power summed over the band, averaged over the tiles."""
    y = luma(img, crop_border)
    if y.ndim != 2 or min(y.shape) < 8:
        raise ValueError(f'band_power: expected an image of at least 8x8 px after the border crop, got {np.shape(img)}')
    th, tw = min(tile, y.shape[0]), min(tile, y.shape[1])
    r = np.hypot(np.fft.fftfreq(th)[:, None], np.fft.fftfreq(tw)[None, :])
    band = (r >= lo) & (r < hi)
    win = np.outer(np.hanning(th), np.hanning(tw))
    norm = th * tw * np.sum(win * win)  # Parseval: the window-weighted mean square of a tile over all frequencies
    total = [np.sum(np.abs(np.fft.fft2((t - t.mean()) * win))[band] ** 2) / norm
             for t in (y[i:i + th, j:j + tw] for i in _tiles(y.shape[0], th) for j in _tiles(y.shape[1], tw))]
    return float(np.mean(total))


def texture_ratio(out, gt, scale=4, crop_border=4):
    """Texture-scale detail: ``band_power`` of the output over the GT's in the octave above the input's Nyquist
    frequency, ``[1 / (2 * scale), 1 / scale)`` cycles per output pixel (0.125-0.25 at x4: periods of 4-8 px).

    The input carries nothing there, so all of it is restored or invented. Patterns of 2-3 px periods (a fine
    mesh, the finest grain) lie above it and count little, where they dominate ``detail_ratio``. 1 = the GT's
    amount, near 0 = none (bicubic about 0.01 on broadcast frames). NaN at x1, under 8 px after the border crop,
    or when the GT has no power in the band. Tiles of ``OCTAVE_TILE`` px from the top left; a strip narrower than
    a tile at the right or bottom edge is left out."""
    if np.shape(out)[:2] != np.shape(gt)[:2]:
        raise ValueError(f'image shapes differ: {np.shape(out)} vs {np.shape(gt)}')
    if isinstance(scale, bool) or int(scale) != scale or int(scale) < 2:
        return float('nan')
    if min(np.shape(gt)[:2]) - 2 * crop_border < 8:
        return float('nan')  # too small to measure a band (as blocks on fewer than two cells)
    lo, hi = 0.5 / int(scale), 1.0 / int(scale)
    ref = band_power(gt, lo, hi, crop_border)
    return float('nan') if ref < BAND_FLOOR else band_power(out, lo, hi, crop_border) / ref


# invented_texture_psnr: the GT band's displacements (rows, cols) and the Gaussian that splits off that band
TEXTURE_SHIFTS = ((5, 7), (11, -3), (-9, 13))
TEXTURE_SIGMA = 1.5


def invented_texture_psnr(out, gt, target=0.7, crop_border=4, shifts=TEXTURE_SHIFTS, sigma=TEXTURE_SIGMA):
    """Estimated Y PSNR of ``out`` once invented texture has raised its detail ratio to ``target``.

    The texture is the GT's own fine band (Y minus its Gaussian blur of ``sigma``), displaced by each of
    ``shifts``: detail of the GT's kind, strength and spectrum, at a phase the output does not know. It is
    added to Y(out) with the gain ``a >= 0`` that makes the detail ratio ``target`` (``a = 0`` when ``out``
    is there already; the Laplacian energy is quadratic in ``a``), clipped to 0-255, and the PSNR against
    Y(gt) is averaged over the shifts. Texture that does not follow the GT costs its own energy in MSE, so
    this is about the best a model that invents its detail, instead of recovering it from the input, can
    score at that detail with this output's structure.
    """
    ym, yg = luma(out), luma(gt)
    if ym.shape != yg.shape:
        raise ValueError(f'image shapes differ: {np.shape(out)} vs {np.shape(gt)}')
    if not target > 0:
        raise ValueError(f'target detail ratio must be > 0, got {target}')
    c = crop_border
    crop = (slice(c, -c), slice(c, -c)) if c else (slice(None), slice(None))
    lm, lg = _laplacian(ym, c), _laplacian(yg, c)
    need = target * np.mean(lg * lg) - np.mean(lm * lm)
    band = yg - _blur(yg, sigma)
    values = []
    for dy, dx in shifts:
        t = np.roll(band, (dy, dx), axis=(0, 1))
        lt = _laplacian(t, c)
        et, cross = np.mean(lt * lt), np.mean(lm * lt)
        a = 0.0 if need <= 0 or et <= 0 else (-cross + np.sqrt(cross * cross + et * need)) / et
        y = np.clip(ym + a * t, 0.0, 255.0)[crop]
        values.append(_psnr_of_mse(np.mean((y - yg[crop]) ** 2)))
    return float(np.mean(values))
