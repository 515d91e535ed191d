"""Keyframe extraction: decode, filter, dedupe and save frames of many videos.

``extract(inputs, out_dir, ...)`` is the whole job behind
``tools/extract_keyframes.py``. Frames come from one ffmpeg pipe per video
(``decode.FrameReader``); the filters run in the main thread while ffmpeg
decodes ahead and a small thread pool encodes the PNGs (OpenCV releases the
GIL), so each frame is decoded once and encoded once.
"""
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
from tqdm import tqdm

from realesrgan_paddle.data.builder.config import SettingsMismatch  # noqa: F401  (re-exported)
from realesrgan_paddle.data.builder.decode import FrameReader
from realesrgan_paddle.data.builder.frame_filters import REASONS, FilterConfig, FrameFilter
from realesrgan_paddle.data.builder.manifest import Manifest, frame_key, video_key
from realesrgan_paddle.data.builder.sources import find_videos
from realesrgan_paddle.utils.fileio import atomic_write_bytes
from realesrgan_paddle.media.video_reader import VideoError


def frame_name(prefix, info):
    if info.get('time') is not None and info['time'] >= 0:
        return f"{prefix}_{info['time']:010.3f}.png"
    return f"{prefix}_n{info['n']:06d}.png"


def write_png(path, img, level):
    """Encode and place a PNG atomically (temp file beside it, then rename)."""
    # zlib level 1 with the 'up' row filter: ~5x faster than ffmpeg's PNG encoder at a similar size
    ok, buf = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, int(level),
                                         cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    if not ok:
        raise OSError(f'{path}: PNG encoding failed')
    atomic_write_bytes(path, buf, fsync=False)


def _clean_temps(out_dir):
    for t in out_dir.glob('.*.png.*.tmp'):
        t.unlink()


def new_summary():
    return Counter({k: 0 for k in ('videos', 'videos_done', 'videos_skipped', 'videos_failed', 'frames',
                                   'frames_resumed', 'kept', 'bars_cropped', 'overlay_cropped', *REASONS)})


def _settings(mode, threshold, every, cfg):
    s = dict(mode=mode, filters=cfg.as_dict())
    if mode == 'scene':
        s['threshold'] = float(threshold)
    if mode == 'interval':
        s['every'] = float(every)
    return s


def extract(inputs, out_dir, mode='key', threshold=0.3, every=1.0, cfg=None, png_level=1, workers=2,
            progress=True, log=None, early=None):
    """Extract frames of all videos in ``inputs`` into ``out_dir``; returns the summary Counter.

    ``log(line)`` receives one line per failed video (default: tqdm.write).
    Raises ``SettingsMismatch`` when ``out_dir`` was built with other settings,
    ``FileNotFoundError`` for a missing input, ``FFmpegNotFound`` without ffmpeg.
    ``early``: an already started ``FrameReader`` of the first video (used when
    that video is still to do, else stopped).
    """
    try:
        return _extract(inputs, out_dir, mode, threshold, every, cfg, png_level, workers, progress, log, early)
    finally:
        if early is not None:
            early.close()  # no-op when it was consumed


class _NoBar:
    """What the loops need of a tqdm bar, for --quiet runs: they then never import tqdm (70 ms)."""
    total = None
    n = 0

    def refresh(self):
        pass

    def update(self, k=1):
        pass

    def close(self):
        pass


def _bar(progress, **kw):
    if not progress:
        return _NoBar()
    return tqdm(**kw, disable=None)


def _write_line(line):
    tqdm.write(line)


def _extract(inputs, out_dir, mode, threshold, every, cfg, png_level, workers, progress, log, early):
    cfg = cfg or FilterConfig()
    log = log or _write_line
    out_dir = Path(out_dir)
    videos = find_videos(inputs, out_dir)
    if not videos:
        raise FileNotFoundError(f'no video files in {", ".join(map(str, inputs))}')
    settings = _settings(mode, threshold, every, cfg)
    manifest = Manifest(out_dir)
    if manifest.settings is not None and manifest.settings != settings:
        raise SettingsMismatch(f'{out_dir} was built with other settings ({manifest.settings}); '
                               f'use the same options or a new --output')
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_temps(out_dir)
    if manifest.settings is None:
        manifest.append(dict(type='settings', settings=settings))
    ffilter = FrameFilter(cfg)
    for rec in manifest.kept:
        if rec.get('phash'):
            ffilter.keep(rec, rec['file'])
    summary = new_summary()
    summary['videos'] = len(videos)
    summary['failed'] = []
    todo = []
    for path in videos:
        try:
            key = video_key(path)
        except OSError as e:
            _fail(summary, log, f'{path}: cannot read ({e.strerror})')
            continue
        if key in manifest.done_videos:
            summary['videos_skipped'] += 1
        else:
            todo.append((path, key))

    def reader_for(path):
        # started one video ahead: ffmpeg starts up and decodes while the previous video is filtered
        if early is not None and Path(early.path).resolve() == Path(path).resolve() and early.count == 0:
            return early
        return FrameReader(path, mode=mode, threshold=threshold, every=every, prefetch=4).start()

    nxt = None
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            nxt = reader_for(todo[0][0]) if todo else None
            videos_bar = _bar(progress and len(todo) > 1, total=len(todo), desc='videos', unit='video')
            for i, (path, key) in enumerate(todo):
                reader = nxt
                nxt = reader_for(todo[i + 1][0]) if i + 1 < len(todo) else None
                _process_video(path, key, reader, out_dir, mode, manifest, ffilter, pool, png_level, workers,
                               summary, progress, log)
                videos_bar.update(1)
            videos_bar.close()
    finally:
        if nxt is not None:
            nxt.close()
        manifest.close()
    return summary


def _fail(summary, log, line):
    summary['videos_failed'] += 1
    summary['failed'].append(line)
    log(f'error: {line}')


def _process_video(path, key, reader, out_dir, mode, manifest, ffilter, pool, png_level, workers, summary,
                   progress, log):
    source = str(Path(path).resolve())
    prefix = manifest.prefix_for(source)
    counts = Counter()
    used = set()
    pending = deque()
    t0 = time.perf_counter()
    bar = _bar(progress, desc=prefix, unit='s', leave=False)

    def finish(fut, rec):
        fut.result()
        manifest.append(rec)
        counts['kept'] += 1

    error = None
    try:
        for frame, info in reader:
            if bar.total is None and reader.duration:
                bar.total = round(reader.duration, 2)
            if info['time'] is not None:
                bar.n = round(min(info['time'], bar.total or info['time']), 2)
                bar.refresh()
            counts['frames'] += 1
            fk = frame_key(info)
            if (source, fk) in manifest.frames:
                counts['frames_resumed'] += 1
                continue
            res = ffilter(frame)
            x, y, w, h = res['crop']
            rec = dict(type='frame', source=source, video=prefix, frame_key=fk, time=info['time'],
                       frame_index=info['frame_index'], pts=info['pts'], pict_type=info['pict_type'],
                       src_size=[info['width'], info['height']], crop=res['crop'], size=[w, h],
                       blur=res.get('blur'), mean=res.get('mean'), std=res.get('std'), phash=res.get('phash'),
                       kept=res['reason'] is None, reason=res['reason'])
            if res['reason'] is not None:
                if 'dup_of' in res:
                    rec.update(dup_of=res['dup_of'], dup_dist=res['dup_dist'])
                counts[res['reason']] += 1
                manifest.append(rec)
                continue
            name = frame_name(prefix, info)
            if name in used:
                name = name[:-4] + f"_{info['n']}.png"
            used.add(name)
            rec['file'] = name
            counts['bars_cropped'] += bool(res['bars'])
            counts['overlay_cropped'] += bool(res['overlay'])
            ffilter.keep(res, name)
            pending.append((pool.submit(write_png, out_dir / name, frame[y:y + h, x:x + w], png_level), rec))
            while pending and (len(pending) > 2 * workers or pending[0][0].done()):
                finish(*pending.popleft())
    except VideoError as e:
        error = str(e)
    finally:
        while pending:
            finish(*pending.popleft())
        if bar.total:
            bar.n = bar.total
            bar.refresh()
        bar.close()
    if counts['frames'] == 0 and error is None and mode == 'key':
        error = f'{path}: no decodable keyframe'
    status = 'failed' if error else 'done'
    manifest.append(dict(type='video', source=source, video=prefix, key=key, status=status, error=error,
                         seconds=round(time.perf_counter() - t0, 3), duration=reader.duration,
                         **{k: counts[k] for k in ('frames', 'frames_resumed', 'kept', *REASONS)}))
    summary.update(counts)
    if error:
        _fail(summary, log, error)
    else:
        summary['videos_done'] += 1


def format_summary(s, out_dir):
    rej = ', '.join(f'{k} {s[k]}' for k in REASONS)
    return '\n'.join([
        f"videos: {s['videos']} found, {s['videos_done']} extracted, {s['videos_skipped']} already done, "
        f"{s['videos_failed']} failed",
        f"frames: {s['frames']} selected, {s['kept']} kept in {out_dir}, {s['frames_resumed']} already done",
        f"rejected: {rej}",
        f"cropped: letterbox/pillarbox {s['bars_cropped']}, overlay box {s['overlay_cropped']}",
    ])
