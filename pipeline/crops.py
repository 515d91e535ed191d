"""Large held-out frames are judged on stated crops: the evaluate stage's cost stays bounded on 1080p footage.

Every model of the evaluate stage (the base, each checkpoint, each DNI blend, bicubic, the --compare models)
runs on each held-out frame; an RRDBNet pass over a 1080p frame costs tens of CPU seconds, and the stage
makes about nine of them per frame. A frame with more than ``WHOLE_MAX`` HR pixels is therefore cut, before
any model sees it, to one ``SIZE`` x ``SIZE`` HR window (``SIZE / 4`` LQ pixels): the window of the HR frame
(of the bicubic upscale of the LQ frame when there is no HR frame) with the most Laplacian energy, on the
x4 grid (``evaluation.sheet.detail_window``, first maximum: deterministic). The same windows serve every
model, in the selection, the final comparison and the DNI sweep, because the stage scores the cropped
folders only. Smaller frames (the demo's 640x480, the 768x576 street camera) stay whole.

``crop_pairs`` and ``crop_frames`` write the cropped folders (same file names) and return what ``line``
reports: the crop size, how many frames were cut, and the HR pixels scored out of the frames' pixels.
"""
from pathlib import Path

from utils.fileio import link_or_copy

SIZE = 512  # HR pixels: 1/8 of a 1080p frame, 25 NIQE blocks of 96 px
WHOLE_MAX = 2 * SIZE * SIZE  # HR pixels: frames up to this size (about 720x720) are scored whole
SCALE = 4


def window(ref, size=SIZE, scale=SCALE):
    """``(y0, x0, h, w)`` in ``ref``'s pixels: the ``size`` x ``size`` window with the most Laplacian energy, its
    corner and sides on multiples of ``scale`` (so that the LQ window is ``y0 / scale ...``)."""
    from evaluation.sheet import detail_window
    if ref.ndim == 2:  # a grey frame
        ref = ref[..., None].repeat(3, axis=2)
    h, w = ref.shape[0] // scale * scale, ref.shape[1] // scale * scale
    size = max(scale, size // scale * scale)
    y0, x0, ch, cw = detail_window(ref[:h, :w], size)
    ch, cw = ch // scale * scale, cw // scale * scale
    return y0 // scale * scale, x0 // scale * scale, ch, cw


def _info(size, whole_max, ref):
    return {'size': size, 'whole_max': whole_max, 'ref': ref, 'frames': 0, 'cropped': 0, 'pixels': 0, 'total': 0,
            'windows': {}}


def _record(info, name, h, w, win=None):
    """Count one frame of ``h`` x ``w`` HR pixels in ``info``, scored whole (``win`` None) or on ``win``."""
    info['frames'] += 1
    info['total'] += h * w
    if win is None:
        info['pixels'] += h * w
    else:
        info['cropped'] += 1
        info['pixels'] += win[2] * win[3]
        info['windows'][name] = list(win)


def _write(path, img):
    from utils.img_io import imwrite
    imwrite(path, img)


def crop_pairs(gt_dir, lq_dir, out, size=SIZE, whole_max=WHOLE_MAX, scale=SCALE):
    """``(gt folder, lq folder, info)``: the pairs of ``gt_dir``/``lq_dir`` (equal names), each frame of more than
    ``whole_max`` HR pixels cut to its window (``window`` on the HR frame), the others whole, under ``out``."""
    from evaluation.evaluator import list_images
    from utils.img_io import imread
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
        y0, x0, ch, cw = win = window(gt[:h, :w], size, scale)
        _write(gdst / gp.name, gt[y0:y0 + ch, x0:x0 + cw])
        _write(ldst / gp.name, lq[y0 // scale:(y0 + ch) // scale, x0 // scale:(x0 + cw) // scale])
        _record(info, gp.name, h, w, win)
    return str(gdst), str(ldst), info


def crop_frames(lq_dir, out, size=SIZE, whole_max=WHOLE_MAX, scale=SCALE):
    """``(lq folder, info)``: real LQ frames without HR frames, cut like ``crop_pairs`` (the window of each frame's
    bicubic x``scale`` upscale), under ``out``."""
    import cv2

    from evaluation.evaluator import list_images
    from utils.img_io import imread
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
        y0, x0, ch, cw = win = window(ref, size, scale)
        _write(dst / lp.name, lq[y0 // scale:(y0 + ch) // scale, x0 // scale:(x0 + cw) // scale])
        _record(info, lp.name, h, w, win)
    return str(dst), info


def line(info, what='held-out frames'):
    """The report's sentence on how the ``what`` were scored (``info``: ``crop_pairs``'s or ``crop_frames``')."""
    n, k = info['frames'], info['cropped']
    share = info['pixels'] / info['total'] if info['total'] else 1.0
    if not k:
        return f'The {n} {what} were scored whole ({info["pixels"]:,} HR pixels).'
    return (f'{k} of the {n} {what} (those above {info["whole_max"]:,} HR pixels) were scored on one '
            f'{info["size"]}x{info["size"]} HR crop each, the window with the most detail in '
            f'{info["ref"]}, the '
            f'same for every model; {n - k} whole. Scored: {info["pixels"]:,} of {info["total"]:,} HR pixels '
            f'({100 * share:.1f} %).')


def lines(cropped):
    """The report's sentences for the evaluate stage's ``crops`` record ({'pairs': info, 'real': info}; None for
    an older metrics.json: none)."""
    cropped = cropped or {}
    out = [line(cropped['pairs'])] if cropped.get('pairs') else []
    return out + ([line(cropped['real'], 'real LQ frames')] if cropped.get('real') else [])
