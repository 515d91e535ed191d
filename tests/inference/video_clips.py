"""Short real clips for the video tests (a frame-exact few, three scenes at variable rate), made with ffmpeg;
lavfi test sources stand in when ../shared is not beside the checkout."""
import subprocess

import numpy as np

from realesrgan_paddle.media.ffmpeg import ffmpeg_exe


def make_clip(shared_data, dst, fps, frames=5):
    """A few frames of a real clip (scaled down) plus a sine audio track."""
    exe = ffmpeg_exe()
    src = shared_data / 'video' / 'bikes.mp4' if shared_data else None
    video_in = ['-i', str(src)] if src and src.is_file() else ['-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=25']
    cmd = [exe, '-v', 'error', '-y', *video_in, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
           '-map', '0:v:0', '-map', '1:a:0', '-frames:v', str(frames), '-vf', 'scale=48:32', '-r', fps,
           '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-t', str(frames / eval(fps) + 0.5), str(dst)]
    subprocess.run(cmd, check=True, capture_output=True)
    return dst


def ff(*args):
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', *map(str, args)], check=True, capture_output=True)


def gray_frames(path, w, h, autorotate=False):
    """Every decoded frame of ``path`` as float gray ``h x w`` (stored orientation unless ``autorotate``)."""
    cmd = [ffmpeg_exe(), '-v', 'error', *([] if autorotate else ['-noautorotate']), '-i', str(path), '-map', '0:v:0',
           '-fps_mode', 'passthrough', '-vf', f'scale={w}:{h}:flags=area', '-f', 'rawvideo', '-pix_fmt', 'gray', '-']
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.float64)


def real_or_lavfi(shared_data, name, lavfi):
    src = shared_data / 'video' / name if shared_data else None
    return ['-i', src] if src and src.is_file() else ['-f', 'lavfi', '-i', f'{lavfi}=size=96x64:rate=30']


SEGMENTS = (('bikes.mp4', 'testsrc2', 0.8, 30), ('cup.mp4', 'smptebars', 1.0, 10), ('box.mp4', 'mandelbrot', 0.5, 30))


def vfr_clip(shared_data, dst):
    """Three real scenes at 30, 10 and 30 fps in one variable-rate mp4 with a sine track; scene start times."""
    inputs, chains, starts, t = [], [], [], 0.0
    for i, (name, lavfi, secs, fps) in enumerate(SEGMENTS):
        inputs += real_or_lavfi(shared_data, name, lavfi)
        chains.append(f'[{i}:v]trim=0:{secs},setpts=PTS-STARTPTS,fps={fps},scale=48:32,setsar=1[v{i}]')
        starts.append(t)
        t += secs
    graph = ';'.join(chains) + ';' + ''.join(f'[v{i}]' for i in range(len(SEGMENTS))) + 'concat=n=3:v=1:a=0[v]'
    ff(*inputs, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-filter_complex', graph,
        '-map', '[v]', '-map', f'{len(SEGMENTS)}:a', '-fps_mode', 'vfr', '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac', '-t', t, dst)
    return starts, t
