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
- ``match_clips(lq_paths, videos)``: which HR clip an LQ clip named like none of them is a copy of (by duration).
- ``find_pairs(...)``: ground truth for them when the LQ footage is the HR footage made smaller.
- ``extract_consecutive(lq_paths, out_dir, holdout)``: ``FLICKER_FRAMES`` consecutive frames from the start of the
  held-out tail of the first LQ source, cut to their centre ``FLICKER_CROP`` window: what FLICKER is measured on.
- ``score_frames(nets, lq, gt)``: the models on them, against that ground truth (PSNR, SSIM, detail, NIQE) or
  without one (NIQE, detail against bicubic).
"""
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.data.builder.decode import FrameReader
from realesrgan_paddle.data.builder.motion import MovingRegion, dedupe, thumbnail
from realesrgan_paddle.data.fit.footage_fit import infer_scale
from realesrgan_paddle.data.fit.lq_source import FootageError, list_sources
from realesrgan_paddle.evaluation import model_cache as MT
from realesrgan_paddle.evaluation.evaluator import evaluate_noref, list_images
from realesrgan_paddle.evaluation.flicker import BicubicFlickerMeter
from realesrgan_paddle.evaluation.metrics import psnr
from realesrgan_paddle.media.ffmpeg import VideoProbeError, probe_video
from realesrgan_paddle.media import video_reader
from realesrgan_paddle.media.image_io import ImageReadError, imread, imwrite, to_bgr
from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils.fileio import link_or_copy

from ..context import DomainError

FRAMES = 30
SCALE = 4
FLICKER_FRAMES = 8  # consecutive held-out LQ frames the flicker is measured on (7 pairs)
FLICKER_CROP = 96   # LQ px: their centre window (384 px at x4), so that every candidate runs on it in seconds


def footage_size(kind, src):
    """``(name, (width, height))`` of a video's stream or an image folder's first image."""
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
        name, size = footage_size(kind, src)
        ref = hr.get(Path(name).stem, common)
        try:
            scale = infer_scale(ref, size, name, fix=f'the pipeline needs LQ footage {SCALE}x smaller than the '
                                f'--videos footage (HR {ref[0]}x{ref[1]}, LQ {size[0]}x{size[1]})')
        except ValueError as exc:
            raise DomainError(f'--lq-videos: {exc}') from None
        if scale != SCALE:
            raise DomainError(f'--lq-videos: {name}: scale {scale} (HR {ref[0]}x{ref[1]}, LQ {size[0]}x{size[1]}) is '
                              f'not supported: the pipeline finetunes x{SCALE} models; give LQ footage {SCALE}x '
                              f'smaller than the --videos footage')


DURATION_TOL = (0.5, 0.02)  # seconds, fraction of the HR clip: an LQ clip this close in duration may be its copy


def clip_stem(path):
    return Path(path).stem.replace(' ', '_')


def match_clips(lq_paths, videos):
    """``({LQ clip stem: HR clip stem}, [notes])``: the HR clip each LQ video that is named like none of them is
    taken to be a copy of, when it is the only HR clip, not named like an LQ clip, whose duration is within
    ``DURATION_TOL`` of the LQ clip's (a recording in HD and in SD under two names: ``match_1080p.mp4`` and
    ``match_360p.mp4``). Only a hint: ``find_pairs`` then checks every frame. The notes say which LQ clips found
    none, and why."""
    def duration(path):
        try:
            return probe_video(path).get('duration') or None
        except VideoProbeError:
            return None
    lq = [src for kind, src in list_sources(lq_paths) if kind == 'video']
    hr = {clip_stem(v): v for v in videos}
    free = {s: duration(v) for s, v in hr.items() if s not in {clip_stem(x) for x in lq}}
    alias, notes = {}, []
    for src in lq:
        if clip_stem(src) in hr:
            continue
        d = duration(src)
        near = [s for s, hd in free.items() if d and hd and abs(d - hd) <= max(DURATION_TOL[0], DURATION_TOL[1] * hd)]
        if len(near) == 1:
            alias[clip_stem(src)] = near[0]
            free.pop(near[0])
        else:
            notes.append(f'{Path(src).name}: named like no HR clip, and ' + (
                f'{len(near)} HR clips last as long ({", ".join(sorted(near))})' if near else
                f'no HR clip lasts as long ({d:.1f} s)' if d else 'its duration is unknown'))
    return alias, notes


def fit_span(holdout):
    return (0.0, round(1.0 - holdout, 6))


def _dedupe(named):
    """Near-duplicates of one clip removed (``[(name, frame)]`` in time order)."""
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
    return [(f'{clip_stem(path)}_{t:010.3f}', f) for t, f in frames if t >= cut]


def _image_tail(files, holdout):
    tail = files[min(len(files) - 1, int(len(files) * (1.0 - holdout))):]
    out = []
    for f in tail:
        try:
            out.append((Path(f).stem, imread(f)))
        except (ImageReadError, OSError, ValueError) as exc:
            raise DomainError(f'--lq-videos: {f}: not a readable image ({exc})') from None
    return out


def frames_shown_at(path, names, eps=0.002):
    """``[(name, frame)]``: for each ``(time, name)`` of ``names``, the frame of ``path`` a player shows at that
    time (the last one whose time is at most ``time + eps``): the same moments as the HR frames."""
    names = sorted(names)
    out, k, prev = [], 0, None
    reader = video_reader.FrameReader(path, filters=[f'select=gte(t\\,{max(0.0, names[0][0] - 1.0):.3f})'])
    try:
        for frame, info in reader:
            t = info['time'] or 0.0
            while k < len(names) and t > names[k][0] + eps:
                if prev is not None:
                    out.append((names[k][1], prev))
                k += 1
            if k >= len(names):
                break
            prev = frame
    except VideoError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    finally:
        reader.close()
    out += [(n, prev) for _, n in names[k:]] if prev is not None else []
    return out


def extract_heldout(lq_paths, out_dir, holdout, every, hr_heldout=None, limit=FRAMES, alias=None):
    """Write the held-out real LQ frames into ``out_dir``; returns ``{'frames', 'candidates', 'sources'}``.

    ``hr_heldout``: {video name prefix: [(time, file stem)]} of the held-out HR frames. An LQ video of the same
    name (or the HR clip ``alias`` maps its name to: ``match_clips``) gives the frames shown at those moments,
    under those names (so that ``find_pairs`` can check whether they are the HR frames made smaller); any other
    LQ source gives its tail, near-duplicates removed."""
    sources = list_sources(lq_paths)
    hr_heldout, alias = hr_heldout or {}, alias or {}
    named = []
    for kind, src in sources:
        stem = alias.get(clip_stem(src), clip_stem(src)) if kind == 'video' else None
        if stem in hr_heldout and hr_heldout[stem]:
            named += frames_shown_at(src, hr_heldout[stem])
        else:
            named += _dedupe(_video_tail(src, holdout, every) if kind == 'video' else _image_tail(src, holdout))
    pick = sorted(set(np.linspace(0, len(named) - 1, min(limit, len(named))).round().astype(int).tolist())) \
        if named else []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in pick:
        name, frame = named[i]
        imwrite(out / f'{name}.png', frame)
    return {'frames': len(pick), 'candidates': len(named), 'sources': len(sources)}


def _consecutive(kind, src, holdout, count):
    """The first ``count`` frames of the last ``holdout`` of one LQ source (a video, or an image folder's files)."""
    if kind != 'video':
        return [f for _, f in _image_tail(src, holdout)[:count]]
    dur = probe_video(src)['duration'] or 0.0
    frames = []
    try:
        for frame, _ in video_reader.FrameReader(src, filters=[f'select=gte(t\\,{dur * (1.0 - holdout):.3f})']):
            frames.append(frame)
            if len(frames) >= count:
                break
    except VideoError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    return frames


def extract_consecutive(lq_paths, out_dir, holdout, count=FLICKER_FRAMES, crop=FLICKER_CROP, videos_only=False):
    """Write ``count`` consecutive held-out frames (``0000.png``...) of the first LQ source that has as many into
    ``out_dir``, each cut to its centre ``crop`` x ``crop`` window; returns ``{'frames', 'source'}`` (0 frames
    when no source has two). ``videos_only``: image folders are photos (a photo run), not frame sequences."""
    for kind, src in list_sources(lq_paths):
        if videos_only and kind != 'video':
            continue
        frames = _consecutive(kind, src, holdout, count)
        if len(frames) < 2 or any(f.shape != frames[0].shape for f in frames):
            continue
        h, w = frames[0].shape[:2]
        y, x = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            imwrite(out / f'{i:04d}.png', f[y:y + crop, x:x + crop, :3])
        return {'frames': len(frames), 'source': str(src if kind == 'video' else src[0])}
    return {'frames': 0, 'source': None}


PAIR_PSNR = 30.0  # dB (Y): an LQ frame this close to its HR frame shrunk x4 (area) is that frame made smaller


def _y_psnr(a, b):
    return psnr(a, b, 0, test_y=True)


def find_pairs(real_dir, hr_dir, gt_dir):
    """When the LQ footage is the HR footage made smaller (the demo's case), the held-out real LQ frames have
    ground truth: the HR frame of the same name (``extract_heldout`` names them so), exactly x4 its size, whose
    x4 area shrink scores at least ``PAIR_PSNR`` dB (Y PSNR) against the LQ frame. Exact or nothing: only when
    every real LQ frame has one are they linked into ``gt_dir`` and ``(pairs, lowest PSNR)`` returned, else
    ``(0, why)``."""
    lqs = list_images(real_dir)
    if not lqs:
        return 0, 'no real LQ frames'
    worst = float('inf')
    for lp in lqs:
        hp = Path(hr_dir) / lp.name
        if not hp.is_file():
            return 0, f'{lp.name}: no held-out HR frame of the same clip and time'
        lq, hr = imread(lp)[..., :3], imread(hp)[..., :3]
        if hr.shape[0] != SCALE * lq.shape[0] or hr.shape[1] != SCALE * lq.shape[1]:
            return 0, f'{lp.name}: the HR frame is not x{SCALE} of the LQ frame'
        worst = min(worst, _y_psnr(cv2.resize(hr, lq.shape[1::-1], interpolation=cv2.INTER_AREA), lq))
        if worst < PAIR_PSNR:
            return 0, f'{lp.name}: the HR frame shrunk x{SCALE} is {worst:.1f} dB from the LQ frame'
    Path(gt_dir).mkdir(parents=True, exist_ok=True)
    for lp in lqs:
        link_or_copy(Path(hr_dir) / lp.name, Path(gt_dir) / lp.name)
    return len(lqs), worst


def score_frames(nets, lq_dir, gt_dir=None, progress=True, iqa=None, **sheet):
    """Rows of ``nets`` (name -> upscaler) on the real LQ frames in ``lq_dir``: against the HR frames in
    ``gt_dir`` (``find_pairs``; PSNR, SSIM, detail, NIQE, and ``iqa``'s LPIPS/DISTS), or without them (NIQE,
    detail against bicubic)."""
    if gt_dir:
        return MT.evaluate(nets, gt_dir, lq_dir, iqa=iqa, progress=progress, **sheet)
    return evaluate_noref(nets, lq_dir, scale=MT.SCALE, crop_border=MT.CROP_BORDER, progress=progress, **sheet)


def score_flicker(nets, lq_dir):
    """``{name: evaluation.flicker ratios}`` of ``nets`` on the consecutive frames in ``lq_dir``
    (``extract_consecutive``), against bicubic (no reference), one frame in memory at a time."""
    files = list_images(lq_dir)
    out = {}
    for name, net in nets.items():
        meter = BicubicFlickerMeter(SCALE)
        for f in files:
            lq = to_bgr(imread(f))
            meter.add(lq, net.upscale(lq))
        out[name] = meter.result()
    return out
