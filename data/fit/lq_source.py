"""Frames of footage for the degradation fit: videos and image folders, sampled evenly in time.

``load_footage(paths, frames)`` -> ``Footage``: up to ``frames`` uint8 BGR frames spread over the clips
(each video sampled with ffmpeg's ``fps`` filter, each image folder evenly by name), their names
(``<stem>_<index>``, which keep the frames of one clip together for the codec's clips), and the stream
statistics of every video (``data.fit.lq_stats.stream_info``). Errors are ``FootageError``, one line naming the
file and the problem (an empty folder, an unreadable video or image, frames of different sizes).
"""
from collections import Counter
from pathlib import Path

from realesrgan_paddle.data.fit.lq_stats import jpeg_quality, stream_info
from realesrgan_paddle.media.ffmpeg import VideoProbeError
from realesrgan_paddle.media.image_io import ImageReadError, imread, to_bgr8
from realesrgan_paddle.media.video_reader import FrameReader, VideoError
from realesrgan_paddle.utils.fileio import is_regular_file, require_regular_file
from realesrgan_paddle.media.kinds import IMAGE_EXTS, VIDEO_EXTS


class FootageError(ValueError):
    """Footage that cannot be used; the message is one line naming the file and the problem."""


class Footage:
    def __init__(self):
        self.frames, self.names, self.streams, self.jpeg_q = [], [], {}, []

    @property
    def size(self):
        """``(width, height)`` of the frames (the most common one)."""
        return Counter((f.shape[1], f.shape[0]) for f in self.frames).most_common(1)[0][0]


def _sources(paths):
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.iterdir()  # a FIFO or a link to a device with a video's name: skipped
                           if f.suffix.lower() in VIDEO_EXTS + IMAGE_EXTS and is_regular_file(f))
            videos = [f for f in files if f.suffix.lower() in VIDEO_EXTS]
            images = [f for f in files if f.suffix.lower() in IMAGE_EXTS]
            if not files:
                raise FootageError(f'{p}: no videos or images in this folder')
            out += [('video', v) for v in videos] + ([('images', images)] if images else [])
        elif p.exists() and not is_regular_file(p):
            require_regular_file(p, FootageError)  # one line: a FIFO, a device
        elif p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            out.append(('video', p))
        elif p.is_file() and p.suffix.lower() in IMAGE_EXTS:
            out.append(('images', [p]))
        elif p.exists():
            raise FootageError(f'{p}: not a video or an image ({p.suffix or "no extension"})')
        else:
            raise FootageError(f'{p}: no such file or folder')
    return out


def list_sources(paths):
    """``[('video', path) | ('images', [paths])]`` of ``paths``; ``FootageError`` for a missing path, an empty
    folder or a file of another kind."""
    return _sources(paths)


def _video_frames(path, count, span=(0.0, 1.0)):
    try:
        info = stream_info(path)
    except VideoProbeError as exc:
        raise FootageError(str(exc)) from None
    dur = info['duration'] or 1.0
    t0, t1 = span[0] * dur, span[1] * dur
    trim = [f'trim=start={t0:.3f}:end={t1:.3f}', 'setpts=PTS-STARTPTS'] if tuple(span) != (0.0, 1.0) else []
    reader = FrameReader(path, filters=[*trim, f'fps={count / max(t1 - t0, 1e-3):.6f}'])
    frames = []
    try:
        for frame, _ in reader:
            frames.append(frame)
            if len(frames) >= count:
                break
    except VideoError as exc:
        raise FootageError(f'{path}: not a readable video ({exc})') from None
    finally:
        reader.close()
    if not frames:
        raise FootageError(f'{path}: no frames could be decoded')
    return frames, info


def _image_frames(files, count, foot):
    step = max(1, len(files) // max(1, count))
    frames = []
    for f in files[::step][:count]:
        try:
            frames.append(to_bgr8(imread(f)))
        except (ImageReadError, OSError, ValueError) as exc:
            raise FootageError(f'{f}: not a readable image ({exc})') from None
        q = jpeg_quality(f) if f.suffix.lower() in ('.jpg', '.jpeg') else None
        if q:
            foot.jpeg_q.append(q)
    return frames


def load_footage(paths, frames=8, span=(0.0, 1.0)):
    """Up to ``frames`` frames spread over ``paths`` (videos, image files, folders of them); ``span``: the part
    of each video's duration (and of each image folder's sorted files) to sample, as fractions."""
    sources = _sources(paths)
    if not sources:
        raise FootageError(f'{", ".join(map(str, paths))}: no videos or images')
    per = max(1, -(-frames // len(sources)))
    foot = Footage()
    for kind, src in sources:
        if kind == 'video':
            got, info = _video_frames(src, per, span)
            foot.streams[str(src)] = info
            stem = src.stem
        else:
            n = len(src)
            got = _image_frames(src[int(span[0] * n):max(int(span[1] * n), int(span[0] * n) + 1)], per, foot)
            stem = 'images'
        foot.frames += got
        foot.names += [f'{stem}_{i:05d}' for i in range(len(got))]
    return foot
