"""Short clips with audio and subtitles, and decoded-frame comparisons, for the segment tests."""
import subprocess

import numpy as np

from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, stream_lines


def make_clip(dst, seconds=5, fps=10, gop=10, size='48x32'):
    """testsrc2 at ``fps`` with a keyframe every ``gop`` frames, a sine audio track and an SRT subtitle (mkv)."""
    srt = dst.with_suffix('.srt')
    srt.write_text('1\n00:00:00,500 --> 00:00:02,000\nkick-off\n\n2\n00:00:03,000 --> 00:00:04,000\ngoal\n')
    cmd = [ffmpeg_exe(), '-v', 'error', '-y', '-f', 'lavfi', '-i', f'testsrc2=size={size}:rate={fps}', '-f', 'lavfi',
           '-i', 'sine=frequency=440:sample_rate=44100', '-i', str(srt), '-map', '0:v', '-map', '1:a', '-map', '2:s',
           '-t', str(seconds), '-c:v', 'libx264', '-g', str(gop), '-keyint_min', str(gop), '-pix_fmt', 'yuv420p',
           '-c:a', 'aac', '-c:s', 'srt', str(dst)]
    subprocess.run(cmd, check=True, capture_output=True)
    return dst


def decoded(path):
    """``(frames as float arrays, pts list)`` of the first video stream."""
    from realesrgan_paddle.media.video_reader import FrameReader
    frames, pts = [], []
    for f, info in FrameReader(path):
        frames.append(f.astype(np.float64))
        pts.append(info['pts'])
    return frames, pts


def mean_psnr(a, b):
    return float(np.mean([10 * np.log10(255 ** 2 / max(np.mean((x - y) ** 2), 1e-10)) for x, y in zip(a, b)]))


def stream_kinds(path):
    res = subprocess.run([ffmpeg_exe(), '-hide_banner', '-i', str(path)], capture_output=True, text=True)
    return [kind for kind, _ in stream_lines(res.stderr)]


def framemd5(path):
    """The MD5 of every decoded frame of the first video stream (a bit-for-bit comparison)."""
    res = subprocess.run([ffmpeg_exe(), '-v', 'error', '-i', str(path), '-map', '0:v:0', '-f', 'framemd5', '-'],
                         capture_output=True, text=True, check=True)
    return [ln.rsplit(',', 1)[1].strip() for ln in res.stdout.splitlines() if ln and not ln.startswith('#')]
