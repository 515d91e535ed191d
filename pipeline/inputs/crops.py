"""Large held-out frames are judged on stated crops: the evaluate stage's cost stays bounded on 1080p footage.

Every model of the evaluate stage (the base, each checkpoint, each DNI blend, bicubic, the --compare models)
runs on each held-out frame; an RRDBNet pass over a 1080p frame costs tens of CPU seconds, and the stage
makes about nine of them per frame. A frame with more than ``WHOLE_MAX`` HR pixels is therefore cut, before
any model sees it, to ``WINDOWS`` windows of ``SIZE`` x ``SIZE`` HR pixels (``SIZE / 4`` LQ pixels), all on the
x4 grid and chosen in the HR frame (in the bicubic upscale of the LQ frame when there is no HR frame):

1. the window with the most Laplacian energy (``evaluation.sheet.detail_window``, first maximum): texture,
   where the detail statistics speak;
2. then, of the frame's grid of ``SIZE`` tiles (centred) that do not overlap the windows already taken, the
   tile of median Laplacian energy (then evenly spaced quantiles, for more windows): the frame's typical part,
   often smooth, where a gain in tone or in noise shows and the first window would miss it.

Window 1 keeps the frame's file name; window k > 1 is written as ``<name>~w<k-1>.png`` and scored as a frame of
its own (``pipeline.report.page.scene_of`` knows its clip). The same windows serve every model, in the selection,
the final comparison and the DNI sweep, because the stage scores the cropped folders only. Smaller frames
(the demo's 640x480, the 768x576 street camera) stay whole.

``crop_pairs`` and ``crop_frames`` write the cropped folders and return what ``line`` reports: the crop size,
how many frames were cut into how many windows, and the HR pixels scored out of the frames' pixels.
"""
import re
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.evaluation.evaluator import list_images
from realesrgan_paddle.evaluation.sheet import detail_window, laplacian_energy
from realesrgan_paddle.media.image_io import imread, imwrite
from realesrgan_paddle.utils.fileio import link_or_copy

SIZE = 512  # HR pixels: 1/8 of a 1080p frame, 25 NIQE blocks of 96 px
WHOLE_MAX = 2 * SIZE * SIZE  # HR pixels: frames up to this size (about 720x720) are scored whole
WINDOWS = 2  # windows per cut frame: as many HR pixels as the largest frame scored whole
SCALE = 4
WINDOW_TAG = '~w'  # window k > 1 of frame.png is frame~w<k-1>.png


def window(ref, size=SIZE, scale=SCALE):
    """``(y0, x0, h, w)`` in ``ref``'s pixels: the ``size`` x ``size`` window with the most Laplacian energy, its
    corner and sides on multiples of ``scale`` (so that the LQ window is ``y0 / scale ...``)."""
    if ref.ndim == 2:  # a grey frame
        ref = ref[..., None].repeat(3, axis=2)
    h, w = ref.shape[0] // scale * scale, ref.shape[1] // scale * scale
    size = max(scale, size // scale * scale)
    y0, x0, ch, cw = detail_window(ref[:h, :w], size)
    ch, cw = ch // scale * scale, cw // scale * scale
    return y0 // scale * scale, x0 // scale * scale, ch, cw


def windows(ref, size=SIZE, scale=SCALE, count=WINDOWS):
    """Up to ``count`` ``(y0, x0, h, w)`` windows of ``ref`` (module docstring): the most detailed, then tiles of
    the centred ``size`` grid that overlap no window taken, at evenly spaced quantiles of their energy."""
    first = window(ref, size, scale)
    _, _, ch, cw = first
    h, w = ref.shape[0] // scale * scale, ref.shape[1] // scale * scale
    oy, ox = (h % ch) // 2 // scale * scale, (w % cw) // 2 // scale * scale
    grid = [(y, x, ch, cw) for y in range(oy, h - ch + 1, ch) for x in range(ox, w - cw + 1, cw)]
    free = [t for t in grid if not _overlap(t, first)]
    if count < 2 or not free:
        return [first]
    energy = laplacian_energy(ref[..., None].repeat(3, axis=2) if ref.ndim == 2 else ref)
    free.sort(key=lambda t: (float(np.mean(energy[t[0]:t[0] + ch, t[1]:t[1] + cw])), t))
    picks = sorted({int((k + 0.5) * len(free) / (count - 1)) for k in range(count - 1)})
    return [first] + [free[i] for i in picks]


def _overlap(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def window_name(name, k):
    """The file name of window ``k`` (0-based) of frame ``name``: the name itself for the first."""
    if not k:
        return name
    stem, dot, ext = name.rpartition('.')
    return f'{stem}{WINDOW_TAG}{k}.{ext}' if dot else f'{name}{WINDOW_TAG}{k}'


def frame_of(name):
    """The frame a window's file name comes from (``window_name``'s inverse; other names unchanged)."""
    return re.sub(re.escape(WINDOW_TAG) + r'\d+(?=\.[^.]*$|$)', '', name)


def _info(size, whole_max, ref):
    return {'size': size, 'whole_max': whole_max, 'ref': ref, 'frames': 0, 'cropped': 0, 'crops': 0,
            'pixels': 0, 'total': 0, 'windows': {}}


def _record(info, name, h, w, wins=()):
    """Count one frame of ``h`` x ``w`` HR pixels in ``info``, scored whole (no ``wins``) or on ``wins``."""
    info['frames'] += 1
    info['total'] += h * w
    if not wins:
        info['pixels'] += h * w
        return
    info['cropped'] += 1
    for k, win in enumerate(wins):
        info['crops'] += 1
        info['pixels'] += win[2] * win[3]
        info['windows'][window_name(name, k)] = list(win)


def _lq_window(lq, win, scale):
    y0, x0, ch, cw = win
    return lq[y0 // scale:(y0 + ch) // scale, x0 // scale:(x0 + cw) // scale]


def _write(path, img):
    imwrite(path, img)


def crop_pairs(gt_dir, lq_dir, out, size=SIZE, whole_max=WHOLE_MAX, scale=SCALE):
    """``(gt folder, lq folder, info)``: the pairs of ``gt_dir``/``lq_dir`` (equal names), each frame of more than
    ``whole_max`` HR pixels cut to its windows (``windows`` on the HR frame), the others whole, under ``out``."""
    gdst, ldst = Path(out) / 'gt', Path(out) / 'lq'
    gdst.mkdir(parents=True, exist_ok=True)
    ldst.mkdir(parents=True, exist_ok=True)
    info = _info(size, whole_max, 'the HR frame')
    for gp in list_images(gt_dir):
        lp = Path(lq_dir) / gp.name
        if not lp.is_file():
            continue
        gt, lq = imread(gp), imread(lp)
        h, w = lq.shape[0] * scale, lq.shape[1] * scale
        if h * w <= whole_max:
            link_or_copy(gp, gdst / gp.name)
            link_or_copy(lp, ldst / gp.name)
            _record(info, gp.name, h, w)
            continue
        wins = windows(gt[:h, :w], size, scale)
        for k, (y0, x0, ch, cw) in enumerate(wins):
            _write(gdst / window_name(gp.name, k), gt[y0:y0 + ch, x0:x0 + cw])
            _write(ldst / window_name(gp.name, k), _lq_window(lq, (y0, x0, ch, cw), scale))
        _record(info, gp.name, h, w, wins)
    return str(gdst), str(ldst), info


def crop_frames(lq_dir, out, size=SIZE, whole_max=WHOLE_MAX, scale=SCALE):
    """``(lq folder, info)``: real LQ frames without HR frames, cut like ``crop_pairs`` (the window of each frame's
    bicubic x``scale`` upscale), under ``out``."""
    dst = Path(out) / 'lq'
    dst.mkdir(parents=True, exist_ok=True)
    info = _info(size, whole_max, "the LQ frame's bicubic upscale")
    for lp in list_images(lq_dir):
        lq = imread(lp)
        h, w = lq.shape[0] * scale, lq.shape[1] * scale
        if h * w <= whole_max:
            link_or_copy(lp, dst / lp.name)
            _record(info, lp.name, h, w)
            continue
        ref = cv2.resize(lq[..., :3] if lq.ndim == 3 else lq, (w, h), interpolation=cv2.INTER_CUBIC)
        wins = windows(ref, size, scale)
        for k, win in enumerate(wins):
            _write(dst / window_name(lp.name, k), _lq_window(lq, win, scale))
        _record(info, lp.name, h, w, wins)
    return str(dst), info


def line(info, what='held-out frames'):
    """The report's sentence on how the ``what`` were scored (``info``: ``crop_pairs``'s or ``crop_frames``')."""
    n, k = info['frames'], info['cropped']
    share = info['pixels'] / info['total'] if info['total'] else 1.0
    if not k:
        return f'The {n} {what} were scored whole ({info["pixels"]:,} HR pixels).'
    c = info.get('crops', k)  # an older metrics.json: one window per frame
    return (f'{k} of the {n} {what} (those above {info["whole_max"]:,} HR pixels) were scored on {c} '
            f'{info["size"]}x{info["size"]} HR crops ({_how(info)}, in {info["ref"]}), each scored as a frame, '
            f'the same for every model; {n - k} whole. Scored: {info["pixels"]:,} of {info["total"]:,} HR pixels '
            f'({100 * share:.1f} %).')


def _how(info):
    if info.get('crops', info['cropped']) == info['cropped']:
        return 'per frame the window with the most detail'
    return 'per frame the window with the most detail and the grid tile of median detail'


def lines(cropped):
    """The report's sentences for the evaluate stage's ``crops`` record ({'pairs': info, 'real': info}; None for
    an older metrics.json: none)."""
    cropped = cropped or {}
    out = [line(cropped['pairs'])] if cropped.get('pairs') else []
    return out + ([line(cropped['real'], 'real LQ frames')] if cropped.get('real') else [])
