"""``--lq-videos``: the real low-resolution footage, checked before anything heavy, split like the HR footage
(the fit sees the first part of each clip, the evaluation its end), and scored without a reference.

- ``check_lq_footage(videos, lq_paths)``: one line naming the file and the problem for a missing path, a
  folder without videos or images, an unreadable video or image, LQ frames larger than the HR frames, or a
  scale other than the pipeline's x4.
- ``fit_span(holdout)``: the part of each LQ clip the degradation fit samples, ``[0, 1 - holdout)``.
- ``extract_heldout(...)``: frames of the last ``holdout`` of each LQ video (of each image folder's sorted
  files), one every ``every`` seconds, near-duplicates removed on what moves in the clip
  (``data.builder.motion``), at most ``FRAMES`` spread evenly, written as PNGs: the frames the user will
  upscale, never seen by the fit or the training.
"""
from collections import Counter
from pathlib import Path

import numpy as np

from .context import DomainError

FRAMES = 30
SCALE = 4


def _size_of(kind, src):
    """``(name, (width, height))`` of a video's stream or an image folder's first image."""
    from utils.ffmpeg import VideoProbeError, probe_video
    from utils.img_io import ImageReadError, imread
    if kind == 'video':
        try:
            info = probe_video(src)
        except VideoProbeError as exc:
            raise DomainError(f'--lq-videos: {exc}') from None
        return src, (info['width'], info['height'])
    try:
        img = imread(src[0])
    except (ImageReadError, OSError, ValueError) as exc:
        raise DomainError(f'--lq-videos: {src[0]}: not a readable image ({exc})') from None
    return src[0], (img.shape[1], img.shape[0])


def _hr_sizes(videos):
    from utils.ffmpeg import VideoProbeError, probe_video
    sizes = {}
    for v in videos:
        try:
            info = probe_video(v)
        except VideoProbeError:
            continue  # the keyframes stage names it
        sizes[Path(v).stem] = (info['width'], info['height'])
    return sizes


def check_lq_footage(videos, lq_paths):
    """Raise a one-line ``DomainError`` (exit 2) when the LQ footage cannot be used with these HR videos."""
    from data.fit_footage import infer_scale
    from data.lq_source import FootageError, list_sources
    for p in lq_paths:
        if not Path(p).exists():
            raise DomainError(f'--lq-videos {p}: no such file or folder')
    try:
        sources = list_sources(lq_paths)
    except FootageError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    hr = _hr_sizes(videos)
    if not hr:
        return
    common = Counter(hr.values()).most_common(1)[0][0]
    for kind, src in sources:
        name, size = _size_of(kind, src)
        ref = hr.get(Path(name).stem, common)
        try:
            scale = infer_scale(ref, size, name)
        except ValueError as exc:
            raise DomainError(f'--lq-videos: {exc}') from None
        if scale != SCALE:
            raise DomainError(f'--lq-videos: {name}: scale {scale} (HR {ref[0]}x{ref[1]}, LQ {size[0]}x{size[1]}) is '
                              f'not supported: the pipeline finetunes x{SCALE} models; give LQ footage {SCALE}x '
                              f'smaller than the --videos footage')


def fit_span(holdout):
    return (0.0, round(1.0 - holdout, 6))


def _dedupe(named):
    """Near-duplicates of one clip removed (``[(name, frame)]`` in time order)."""
    from data.builder.motion import MovingRegion, dedupe, thumbnail
    if len(named) < 2:
        return named
    w = named[0][1].shape[1]
    thumbs = [thumbnail(f, width=min(128, w)) for _, f in named]
    region = MovingRegion(thumbs)
    kept, _ = dedupe(list(range(len(named))), lambda i, j: region.distance(thumbs[i], thumbs[j]))
    return [named[i] for i in kept]


def _video_tail(path, holdout, every):
    """Frames of the last ``holdout`` of ``path``, selected like the HR keyframes (``data.builder.decode``,
    interval mode): the same clip made smaller gives the same source frames at the same times."""
    from data.builder.decode import FrameReader
    from utils.ffmpeg import probe_video
    from utils.video_reader import VideoError
    dur = probe_video(path)['duration']
    cut = dur * (1.0 - holdout) if dur else None  # unknown duration: every frame is kept until the end is known
    frames, last = [], None
    reader = FrameReader(path, mode='interval', every=every).start()
    try:
        for frame, info in reader:
            last = info['time'] or 0.0
            if cut is None or last >= cut:
                frames.append((last, frame))
    except VideoError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    finally:
        reader.close()
    if last is None:
        raise DomainError(f'--lq-videos: {path}: no frames could be decoded')
    cut = last * (1.0 - holdout) if cut is None else cut
    return [(f'{Path(path).stem.replace(" ", "_")}_{t:010.3f}', f) for t, f in frames if t >= cut]


def _image_tail(files, holdout):
    from utils.img_io import ImageReadError, imread
    tail = files[min(len(files) - 1, int(len(files) * (1.0 - holdout))):]
    out = []
    for f in tail:
        try:
            out.append((Path(f).stem, imread(f)))
        except (ImageReadError, OSError, ValueError) as exc:
            raise DomainError(f'--lq-videos: {f}: not a readable image ({exc})') from None
    return out


def extract_heldout(lq_paths, out_dir, holdout, every, limit=FRAMES):
    """Write the held-out real LQ frames into ``out_dir``; returns ``{'frames', 'candidates', 'sources'}``."""
    from data.lq_source import list_sources
    from utils.img_io import imwrite
    sources = list_sources(lq_paths)
    named = []
    for kind, src in sources:
        named += _dedupe(_video_tail(src, holdout, every) if kind == 'video' else _image_tail(src, holdout))
    pick = sorted(set(np.linspace(0, len(named) - 1, min(limit, len(named))).round().astype(int).tolist())) \
        if named else []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in pick:
        name, frame = named[i]
        imwrite(out / f'{name}.png', frame)
    return {'frames': len(pick), 'candidates': len(named), 'sources': len(sources)}


PAIR_PSNR = 30.0  # dB (Y): an LQ frame this close to its HR frame shrunk x4 (area) is that frame made smaller


def _y_psnr(a, b):
    from evaluation.metrics import psnr
    return psnr(a, b, 0, test_y=True)


def find_pairs(real_dir, keyframes_dir, gt_dir):
    """When the LQ footage is the HR footage made smaller (the demo's case), the held-out real LQ frames have
    ground truth: an HR keyframe of the same name (video stem and time), uncropped, whose x4 area shrink is
    within ``PAIR_PSNR`` dB of the LQ frame. Exact or nothing: only when every real LQ frame has such a
    keyframe are the keyframes linked into ``gt_dir`` and ``(pairs, min PSNR)`` returned, else ``(0, why)``."""
    import os
    import shutil

    import cv2

    from data.builder.manifest import read_manifest
    from evaluation.evaluator import list_images
    from utils.img_io import imread
    full = {r['file']: r for r in read_manifest(keyframes_dir)
            if r.get('type') == 'frame' and r.get('kept') and r.get('file')}
    lqs = list_images(real_dir)
    worst = float('inf')
    for lp in lqs:
        rec = full.get(lp.name)
        if rec is None or list(rec['crop'][2:]) != list(rec['src_size']):
            return 0, f'{lp.name}: no uncropped HR keyframe of the same clip and time'
        lq, hr = imread(lp)[..., :3], imread(Path(keyframes_dir) / lp.name)[..., :3]
        if hr.shape[0] != SCALE * lq.shape[0] or hr.shape[1] != SCALE * lq.shape[1]:
            return 0, f'{lp.name}: the HR keyframe is not x{SCALE} of the LQ frame'
        worst = min(worst, _y_psnr(cv2.resize(hr, lq.shape[1::-1], interpolation=cv2.INTER_AREA), lq))
        if worst < PAIR_PSNR:
            return 0, f'{lp.name}: the HR keyframe shrunk x{SCALE} is {worst:.1f} dB from the LQ frame'
    if not lqs:
        return 0, 'no real LQ frames'
    Path(gt_dir).mkdir(parents=True, exist_ok=True)
    for lp in lqs:
        try:
            os.link(Path(keyframes_dir) / lp.name, Path(gt_dir) / lp.name)
        except OSError:
            shutil.copy2(Path(keyframes_dir) / lp.name, Path(gt_dir) / lp.name)
    return len(lqs), worst
