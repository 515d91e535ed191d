"""Finding and probing ffmpeg: the system binary, else imageio-ffmpeg's bundled one."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

FIX = 'install it with `apt-get install ffmpeg` or `pip install imageio-ffmpeg`'


class FFmpegNotFound(RuntimeError):
    def __init__(self):
        super().__init__(f'ffmpeg was not found: {FIX}')


class VideoProbeError(RuntimeError):
    pass


def ffmpeg_exe():
    exe = shutil.which('ffmpeg')
    if exe:
        return exe
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or its binary is missing
        raise FFmpegNotFound() from None
    # IMAGEIO_FFMPEG_EXE is returned unchecked: make sure it can run
    if not exe or not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        raise FFmpegNotFound()
    return exe


def ffprobe_exe():
    """ffprobe next to the system ffmpeg, or None (imageio-ffmpeg ships none)."""
    return shutil.which('ffprobe')


def _parse_rate(text):
    if not text or text in ('0/0', 'N/A'):
        return None
    if '/' in text:
        num, den = text.split('/')
        return float(num) / float(den) if float(den) else None
    return float(text)


def probe_video(path):
    """Return ``dict(width, height, fps, fps_str, duration, nb_frames, has_audio, codec)``.

    Uses ffprobe when present, else parses ``ffmpeg -i``. ``nb_frames`` and
    ``duration`` may be None (containers without them). Raises VideoProbeError
    with a one-line reason for unreadable files or files without a video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoProbeError(f'{path}: no such file')
    probe = ffprobe_exe()
    if probe:
        res = subprocess.run([probe, '-v', 'error', '-print_format', 'json', '-show_streams', '-show_format',
                              str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            msg = (res.stderr.strip().splitlines() or ['unreadable'])[-1]
            raise VideoProbeError(f'{path}: not a readable video ({msg})')
        info = json.loads(res.stdout or '{}')
        streams = info.get('streams', [])
        video = [s for s in streams if s.get('codec_type') == 'video' and
                 not s.get('disposition', {}).get('attached_pic')]
        if not video:
            raise VideoProbeError(f'{path}: has no video stream')
        v = video[0]
        fps_str = v.get('avg_frame_rate') if _parse_rate(v.get('avg_frame_rate')) else v.get('r_frame_rate')
        dur = v.get('duration') or info.get('format', {}).get('duration')
        nb = v.get('nb_frames')
        return dict(width=int(v['width']), height=int(v['height']), fps=_parse_rate(fps_str), fps_str=fps_str,
                    duration=float(dur) if dur not in (None, 'N/A') else None,
                    nb_frames=int(nb) if nb and nb.isdigit() else None,
                    has_audio=any(s.get('codec_type') == 'audio' for s in streams), codec=v.get('codec_name'))
    res = subprocess.run([ffmpeg_exe(), '-hide_banner', '-i', str(path)], capture_output=True, text=True)
    err = res.stderr
    m = re.search(r'Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})', err)
    if not m:
        if 'Invalid data' in err or 'could not find codec' in err.lower() or 'moov atom' in err:
            raise VideoProbeError(f'{path}: not a readable video')
        raise VideoProbeError(f'{path}: has no video stream')
    fps_m = re.search(r'(\d+(?:\.\d+)?) fps', err) or re.search(r'(\d+(?:\.\d+)?) tbr', err)
    dur_m = re.search(r'Duration: (\d+):(\d+):(\d+(?:\.\d+)?)', err)
    duration = None
    if dur_m:
        h, mi, s = dur_m.groups()
        duration = int(h) * 3600 + int(mi) * 60 + float(s)
    fps = float(fps_m.group(1)) if fps_m else None
    return dict(width=int(m.group(2)), height=int(m.group(3)), fps=fps, fps_str=str(fps) if fps else None,
                duration=duration, nb_frames=None, has_audio=bool(re.search(r'Stream #\S+.*?: Audio:', err)),
                codec=m.group(1))
