"""Statistics of low-resolution footage, for fitting a degradation to it (``data.fit.degradation_fit``).

Frame statistics (uint8 BGR frames; Y, Cb, Cr are BT.601, 0-255), each a mean over a set of frames:

* ``fine``, ``mid``: energy of the Laplacian (the finest band) and of a difference of Gaussians
  (sigma 0.7 - 1.6, the band below it) of Y, **over the same energy of a reference set**: the HR frames
  shrunk to the LQ size by area averaging (``reference``). 1 = as sharp as an ideal downscale; blur
  lowers both, compression lowers ``fine`` more than ``mid``, noise raises ``fine``.
* ``chroma``: the gradient energy of Cb and Cr over that of Y, over the reference's: 4:2:0
  subsampling and chroma blur lower it.
* ``noise_y``, ``noise_c``: noise standard deviation (grey levels) of Y and of the chroma planes, by
  Immerkaer's estimator on the flattest half of the pixels (where texture does not pass for noise).
* ``block8``, ``block4``: blockiness, the mean absolute Y step across the 8 px (JPEG, MPEG-2) and
  4 px (H.264/HEVC transforms) grid lines over the mean step elsewhere (1 = no grid).
* ``ringing``: the Laplacian energy in a 2 px band beside strong edges over the energy on the edges.
* ``y_lo``, ``y_hi``: the 0.5 and 99.5 percentiles of Y (colour range: limited-range video squeezed
  into full-range RGB reads about 16-235).

Stream statistics (``stream_info``): codec, size, frame rate, bits per pixel, pixel format and colour
range, from ffprobe or the ffmpeg binary's own stream line. JPEG files: the IJG quality from the
quantisation tables (``jpeg_quality``).
"""
import re
import subprocess

import cv2
import numpy as np

from realesrgan_paddle.evaluation.metrics import blockiness
from realesrgan_paddle.media.ffmpeg import MediaInput, ffmpeg_exe, probe_video, video_streams

FRAME_STATS = ('fine', 'mid', 'chroma', 'noise_y', 'noise_c', 'block8', 'block4', 'ringing', 'y_lo', 'y_hi')
RELATIVE = ('fine', 'mid', 'chroma')  # divided by the reference's value


def ycc(img):
    """Y, Cb, Cr planes (float64, BT.601 on 0-255) of a uint8 BGR image."""
    f = img.astype(np.float64)
    b, g, r = f[..., 0], f[..., 1], f[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    return y, cb, cr


def _energy(x):
    return float(np.mean(x[2:-2, 2:-2] ** 2)) if min(x.shape) > 4 else float(np.mean(x ** 2))


def _laplacian(y):
    return cv2.Laplacian(y, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)


def _band(y):
    g1 = cv2.GaussianBlur(y, (0, 0), 0.7, borderType=cv2.BORDER_REFLECT)
    g2 = cv2.GaussianBlur(y, (0, 0), 1.6, borderType=cv2.BORDER_REFLECT)
    return g1 - g2


def _grad_energy(x):
    gx, gy = np.diff(x, axis=1), np.diff(x, axis=0)
    return float(np.mean(gx ** 2) + np.mean(gy ** 2))


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)


def noise_sigma(plane):
    """Immerkaer's noise standard deviation, on the flatter half of the pixels (by local gradient)."""
    if min(plane.shape) < 8:
        return 0.0
    resp = np.abs(cv2.filter2D(plane, cv2.CV_64F, _IMMERKAER, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    grad = cv2.GaussianBlur(np.abs(cv2.Sobel(plane, cv2.CV_64F, 1, 0)) + np.abs(cv2.Sobel(plane, cv2.CV_64F, 0, 1)),
                            (0, 0), 1.0)[1:-1, 1:-1]
    flat = grad <= np.median(grad)
    return float(np.sqrt(np.pi / 2) / 6.0 * resp[flat].mean()) if flat.any() else 0.0


def ringing(y):
    """Laplacian energy in a 2 px band beside strong edges over the energy on them (0 without edges)."""
    gy = cv2.Sobel(y, cv2.CV_64F, 0, 1)
    gx = cv2.Sobel(y, cv2.CV_64F, 1, 0)
    mag = np.hypot(gx, gy)
    thr = np.percentile(mag, 95)
    if thr <= 0:
        return 0.0
    edge = (mag >= thr).astype(np.uint8)
    ring = cv2.dilate(edge, np.ones((5, 5), np.uint8)) & (1 - cv2.dilate(edge, np.ones((3, 3), np.uint8)))
    lap = _laplacian(y) ** 2
    e_on = lap[edge > 0].mean()
    return float(lap[ring > 0].mean() / e_on) if ring.any() and e_on > 0 else 0.0


def frame_stats(img):
    """Per-frame raw statistics (``fine``/``mid``/``chroma`` absolute, not yet relative)."""
    y, cb, cr = ycc(img)
    ge = _grad_energy(y)
    return {'fine': _energy(_laplacian(y)), 'mid': _energy(_band(y)),
            'chroma': (_grad_energy(cb) + _grad_energy(cr)) / max(ge, 1e-9),
            'noise_y': noise_sigma(y), 'noise_c': 0.5 * (noise_sigma(cb) + noise_sigma(cr)),
            'block8': blockiness(y, 8), 'block4': blockiness(y, 4), 'ringing': ringing(y),
            'y_lo': float(np.percentile(y, 0.5)), 'y_hi': float(np.percentile(y, 99.5))}


def set_stats(frames, reference=None):
    """Means of ``frame_stats`` over ``frames``; with ``reference`` frames (the HR shrunk to the LQ size),
    ``fine``, ``mid`` and ``chroma`` become ratios to the reference's means."""
    rows = [frame_stats(f) for f in frames]
    out = {k: float(np.mean([r[k] for r in rows])) for k in FRAME_STATS}
    if reference is not None:
        ref = set_stats(reference)
        for k in RELATIVE:
            out[k] = out[k] / max(ref[k], 1e-9)
    return out


# The fit needs LQ frames at least this tall and wide: under it a frame holds under 6 rows of the codec's 8x8
# blocks and its blockiness, ringing and noise statistics move with the content more than with the degradation
# (a 44x36 stream made at CRF 28 fitted as CRF 18-24; docs/degradation_fit.md).
MIN_MEASURE_SIDE = 48


def measurable(frames, min_side=MIN_MEASURE_SIDE):
    """``(True, '')`` when the LQ ``frames`` are large enough to fit a degradation to, else ``(False, why)``."""
    if not frames:
        return False, 'no LQ frames'
    h, w = min((f.shape[:2] for f in frames), key=min)
    blocks = sum((f.shape[0] // 8) * (f.shape[1] // 8) for f in frames)
    if min(h, w) < min_side:
        return False, (f'the LQ frames are {w}x{h}, under {min_side} px on a side ({blocks} 8x8 blocks in '
                       f'{len(frames)} frames): too small to measure their blur, noise and compression')
    return True, ''


def shrink(frames, size):
    """``frames`` area-averaged to ``size`` = (width, height): the ideal downscale, the reference."""
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


# ------------------------------------------------------------------------------------------- streams
_STREAM = re.compile(r'Stream #\S+.*?: Video: (\w+)[^,]*, (\w+)(?:\(([^)]*)\))?')
_BITRATE = re.compile(r'(\d+(?:\.\d+)?) kb/s')


def stream_info(path):
    """``{codec, width, height, fps, duration, bitrate, bpp, pix_fmt, color_range}`` of a video's first
    video stream (``bitrate`` in bit/s and ``bpp`` None when unknown). ``media.ffmpeg.VideoProbeError``
    for an unreadable file."""
    info = probe_video(path)  # a FIFO, a manifest or a playlist is refused here
    out = {'codec': info['codec'], 'width': info['width'], 'height': info['height'], 'fps': info['fps'],
           'duration': info['duration'], 'bitrate': None, 'bpp': None, 'pix_fmt': None, 'color_range': None}
    with MediaInput(path, ffmpeg_exe(), fmt=info['format']) as inp:  # by descriptor: no name in the parsed log
        err = subprocess.run([ffmpeg_exe(), '-hide_banner', '-nostdin', *inp.args()], capture_output=True, text=True,
                             errors='replace', pass_fds=inp.pass_fds, timeout=60).stderr
    lines = video_streams(err)
    if lines:
        m = _STREAM.search(lines[0])
        if m:
            out['pix_fmt'] = m.group(2)
            flags = (m.group(3) or '').split(',')
            out['color_range'] = ('full' if 'pc' in flags or m.group(2).startswith('yuvj') else
                                  'limited' if 'tv' in flags or m.group(2).startswith('yuv') else None)
        b = _BITRATE.search(lines[0])
        if b:
            out['bitrate'] = float(b.group(1)) * 1000.0
    if out['bitrate'] and info['fps']:
        out['bpp'] = out['bitrate'] / (info['fps'] * info['width'] * info['height'])
    return out


def jpeg_quality(path):
    """The IJG quality (1-100) a JPEG file's luma quantisation table matches best, or None (not a JPEG)."""
    from realesrgan_paddle.data.degrade.jpeg import quality_tables
    data = open(path, 'rb').read()
    if data[:2] != b'\xff\xd8':
        return None
    table = _luma_dqt(data)
    if table is None:
        return None
    errs = []
    for q in range(1, 101):
        ref = np.asarray(quality_tables(q)[0], np.float64).reshape(-1)
        errs.append((float(np.abs(np.sort(ref) - np.sort(table)).sum()), q))
    return min(errs)[1]


def _luma_dqt(data):
    """The first (luma) 8x8 quantisation table of a JPEG byte string, as 64 numbers, or None."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], 'big')
        if marker == 0xDB:
            pq_tq = data[i + 4]
            wide = pq_tq >> 4
            n = 128 if wide else 64
            raw = data[i + 5:i + 5 + n]
            return np.frombuffer(raw, '>u2' if wide else np.uint8).astype(np.float64)
        if marker == 0xDA:
            return None
        i += 2 + length
    return None
