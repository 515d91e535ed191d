"""Video upscaling by streaming frames through two ffmpeg pipes (decoder -> Upscaler -> encoder).

Only one frame is in memory at a time. The output keeps the input's frame
rate as the exact rational ffprobe reports (e.g. 30000/1001), every decoded
frame (``-fps_mode passthrough``, so no ``nb_frames`` is needed) and the audio
streams (re-encoded to AAC, which every target container accepts). The file is
written under a temporary name and renamed when complete.
"""
import os
import subprocess
import tempfile
from pathlib import Path

import ffmpeg
import numpy as np

from utils.ffmpeg import ffmpeg_exe, probe_video
from utils.fileio import temp_beside


class VideoError(RuntimeError):
    """One-line reason why a video could not be processed."""


def _last_line(path):
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors='replace').splitlines() if ln.strip()]
    except OSError:
        return 'ffmpeg failed'
    return lines[-1] if lines else 'ffmpeg failed'


def _read_exact(stream, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def output_container(src, dst=None):
    """Keep .mkv/.mov/.mp4; everything else (avi, webm, ...) becomes .mp4 (H.264 + AAC)."""
    ext = Path(dst).suffix.lower() if dst else Path(src).suffix.lower()
    return ext if ext in ('.mp4', '.mkv', '.mov') else '.mp4'


def upscale_video(upscaler, src, dst, outscale=None, crf=18, preset='medium', progress=True):
    """Upscale ``src`` into ``dst``. Returns ``dict(frames, fps, width, height, audio)``."""
    src, dst = Path(src), Path(dst)
    exe = ffmpeg_exe()
    try:
        info = probe_video(src)
    except Exception as e:  # VideoProbeError: already one line naming the file
        raise VideoError(str(e)) from None
    w, h = info['width'], info['height']
    fps_str = info['fps_str'] or '25'
    scale = outscale or upscaler.scale
    ow, oh = int(round(w * scale)), int(round(h * scale))
    fd, tmp = temp_beside(dst, suffix=dst.suffix)  # ffmpeg picks the container from the suffix
    os.close(fd)
    dec_log = tempfile.TemporaryFile()
    enc_log_path = tmp + '.log'
    dec_args = (ffmpeg.input(str(src), noautorotate=None)
                .output('pipe:', format='rawvideo', pix_fmt='bgr24', map='0:v:0', fps_mode='passthrough')
                .global_args('-nostdin', '-loglevel', 'error').compile(cmd=exe))
    video = ffmpeg.input('pipe:', format='rawvideo', pix_fmt='bgr24', s=f'{ow}x{oh}', framerate=fps_str)
    streams = [video.filter('pad', 'ceil(iw/2)*2', 'ceil(ih/2)*2')]  # yuv420p needs even sizes
    audio = {}
    if info['has_audio']:
        streams.append(ffmpeg.input(str(src)).audio)
        audio = {'acodec': 'aac', 'audio_bitrate': '192k'}
    enc_args = (ffmpeg.output(*streams, tmp, vcodec='libx264', pix_fmt='yuv420p', crf=crf, preset=preset,
                              r=fps_str, **audio)
                .global_args('-nostdin', '-loglevel', 'error', '-y').compile(cmd=exe))
    total = info['nb_frames'] or (int(round(info['duration'] * info['fps'])) if info['duration'] and info['fps'] else None)
    frames = 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=src.name, unit='frame', leave=False)
    with open(enc_log_path, 'wb') as enc_log:
        dec = subprocess.Popen(dec_args, stdout=subprocess.PIPE, stderr=dec_log)
        enc = subprocess.Popen(enc_args, stdin=subprocess.PIPE, stderr=enc_log)
        try:
            nbytes = w * h * 3
            while True:
                buf = _read_exact(dec.stdout, nbytes)
                if len(buf) < nbytes:
                    break
                frame = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
                out = upscaler.upscale(frame, outscale)
                if out.shape[:2] != (oh, ow):
                    raise VideoError(f'{src}: frame {frames} came out {out.shape[1]}x{out.shape[0]}, expected {ow}x{oh}')
                try:
                    enc.stdin.write(np.ascontiguousarray(out).tobytes())
                except BrokenPipeError:
                    enc.wait()
                    raise VideoError(f'{src}: the encoder stopped ({_last_line(enc_log_path)})') from None
                frames += 1
                if bar is not None:
                    bar.update(1)
            enc.stdin.close()
            dec_rc, enc_rc = dec.wait(), enc.wait()
            if dec_rc != 0 or frames == 0:
                dec_log.seek(0)
                msg = (dec_log.read().decode(errors='replace').strip().splitlines() or ['no frames decoded'])[-1]
                raise VideoError(f'{src}: cannot decode the video ({msg})')
            if enc_rc != 0:
                raise VideoError(f'{dst}: the encoder failed ({_last_line(enc_log_path)})')
            os.replace(tmp, dst)
        except BaseException:
            for p in (dec, enc):
                if p.poll() is None:
                    p.kill()
                    p.wait()
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        finally:
            if bar is not None:
                bar.close()
            dec_log.close()
            if dec.stdout:
                dec.stdout.close()
            if os.path.exists(enc_log_path):
                os.unlink(enc_log_path)
    return dict(frames=frames, fps=fps_str, width=ow + ow % 2, height=oh + oh % 2, audio=bool(info['has_audio']))
