"""Video upscaling by streaming frames through two ffmpeg pipes (decoder -> Upscaler -> encoder).

The three stages overlap: a decoder thread, the model on the calling thread
and an encoder thread, joined by bounded queues (``queue_frames`` frames each,
2 by default), so the model does not wait for decoding or encoding. Paddle's
predictor and the pipe reads and writes release the GIL. An error in any
stage stops the others and reaches the caller as a one-line ``VideoError``.
Small frames go through the predictor a few at a time (one forward; rules and
measurements in ``inference/video_stages.py``).

Orientation: the decoder turns the picture the way a player would (display
matrix or legacy ``rotate`` tag, multiples of 90 degrees, read by
``probe_video``), with an explicit ``transpose``/``hflip,vflip`` after
``-noautorotate`` so the decoded size is known exactly with any ffmpeg
version. The pixels are upscaled upright and the output carries no rotation.
Non-square source pixels keep their aspect ratio (``setsar``), so the output
displays with the source's proportions.

Timing: the output is constant-rate at the source's base rate
(``r_frame_rate``, e.g. exactly 30000/1001; the average rate if the base rate
is implausibly high). Every decoded frame's timestamp (from the ``showinfo``
filter on the decoder's log) picks its output slot, so a variable-rate source
stays in sync with its audio to within half a frame: gaps repeat the previous
upscaled frame, and a frame that lands in an already filled slot is dropped
before it reaches the model. A constant-rate source maps one frame to one
slot (same frame count; no ``nb_frames`` needed); the last picture is held
to the end of the video stream when ffprobe reports it and the decoder logged
no error (AVI files whose skipped frames are empty packets; not truncated
files). Byte-identical consecutive
frames are upscaled once. Audio streams are re-encoded to AAC, which every
target container accepts. The file is written under a temporary name and
renamed when complete.
"""
import math
import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

from utils.ffmpeg import ffmpeg_exe, probe_video, widen_pipe
from utils.fileio import temp_beside
from utils.video_reader import FrameReader, VideoError

from .video_stages import _END, _Pipeline, _batch_size, _one_line, _run_model

_TURN = {90: 'transpose=clock', 180: 'hflip,vflip', 270: 'transpose=cclock'}  # clockwise display rotation


def _last_line(path):
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors='replace').splitlines() if ln.strip()]
    except OSError:
        return 'ffmpeg failed'
    return lines[-1] if lines else 'ffmpeg failed'


def _fraction(text):
    try:
        f = Fraction(text)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


def output_container(src, dst=None):
    """Keep .mkv/.mov/.mp4; everything else (avi, webm, ...) becomes .mp4 (H.264 + AAC)."""
    ext = Path(dst).suffix.lower() if dst else Path(src).suffix.lower()
    return ext if ext in ('.mp4', '.mkv', '.mov') else '.mp4'


def output_rate(info):
    """The constant output rate: the base rate unless it is implausibly high next to the average (1 kHz tbr)."""
    base, avg = _fraction(info.get('r_fps_str')), _fraction(info.get('fps_str'))
    if base and (base <= 120 or not avg or base <= 4 * avg):
        return base
    return avg or Fraction(25)


class _Decoder(FrameReader):
    """ffmpeg decoding ``src`` to upright BGR frames of ``width`` x ``height``, each with its presentation
    time in seconds (None when unknown). The display rotation is applied by an explicit filter after
    ``-noautorotate``, so the decoded size is known with any ffmpeg version."""

    def __init__(self, exe, src, rotation, width, height):
        turn = [_TURN[rotation]] if rotation in _TURN else []
        super().__init__(src, filters=turn, input_args=['-noautorotate'], exe=exe, prefetch=1, size=(width, height))
        self.start()

    def frames(self):
        """Yield ``(frame, seconds or None)``; a failed decode ends with ``VideoError``."""
        w, h = self.size
        for frame, info in self:
            if frame.shape[:2] != (h, w):
                raise VideoError(f'{self.path}: frame {self.count - 1} is {frame.shape[1]}x{frame.shape[0]}, '
                                 f'the video started at {w}x{h}; a size change inside a video is not supported')
            yield frame, info['time']


def _encoder_args(exe, src, tmp, ow, oh, rate, has_audio, crf, preset, sar=None, x264_params=None):
    """The encoder's command: I420 frames of ``ow`` x ``oh`` (even sizes, see :func:`_to_i420`) on stdin."""
    video = ffmpeg.input('pipe:', format='rawvideo', pix_fmt='yuv420p', s=f'{ow}x{oh}', framerate=rate)
    if sar:  # non-square source pixels: the output displays with the source's aspect
        video = video.filter('setsar', f'{sar[0]}/{sar[1]}')
    streams = [video]
    audio = {}
    if has_audio:
        streams.append(ffmpeg.input(str(src)).audio)
        audio = {'acodec': 'aac', 'audio_bitrate': '192k'}
    if x264_params:
        audio['x264-params'] = x264_params
    return (ffmpeg.output(*streams, tmp, vcodec='libx264', pix_fmt='yuv420p', crf=crf, preset=preset, r=rate, **audio)
            .global_args('-nostdin', '-loglevel', 'error', '-y').compile(cmd=exe))


def _to_i420(img, ow, oh):
    """A BGR frame as the encoder's I420 bytes: padded with black to the even ``ow`` x ``oh``, then BT.601
    limited range, the conversion ffmpeg itself applies to RGB input. Done here (OpenCV, about 0.4 ms for
    1280x544) it costs a tenth of ffmpeg's own conversion and halves the bytes through the pipe."""
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if (h, w) != (oh, ow):
        img = cv2.copyMakeBorder(img, 0, oh - h, 0, ow - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)


def _model_on_gpu(upscaler):
    return getattr(upscaler, 'device', 'cpu').startswith('gpu')


def pick_preset(upscaler, preset=None):
    """The x264 preset: ``preset`` when given, else 'veryfast' when the model runs on the CPU and 'medium'
    on a GPU. On the CPU ffmpeg shares the cores with the model: decoding and encoding at 'medium' took about
    a fifth of a compact model's CPU time per frame, at 'veryfast' about half of that, for a somewhat larger
    file at the same ``crf``."""
    if preset is not None:  # tools/infer.py offers X264_PRESETS; anything else is the encoder's one-line error
        return preset
    return 'medium' if _model_on_gpu(upscaler) else 'veryfast'


# On the CPU, the default 'veryfast' also searches motion with x264's diamond pattern (as its 'superfast'
# does) instead of the hexagon: 6-14 % less encoder CPU on upscaled bikes/cup/box frames at the same crf,
# with the same file size (within 0.5 %) and the same PSNR (within 0.01 dB)
CPU_X264_PARAMS = 'me=dia'


def pick_x264_params(upscaler, preset=None):
    """Extra x264 settings: :data:`CPU_X264_PARAMS` with the preset chosen for a CPU model, else None (an
    explicit preset is used as x264 defines it)."""
    if preset is not None or _model_on_gpu(upscaler):
        return None
    return CPU_X264_PARAMS


def upscale_video(upscaler, src, dst, outscale=None, crf=18, preset=None, progress=True, queue_frames=2):
    """Upscale ``src`` into ``dst``.

    ``preset``: the x264 preset, None for :func:`pick_preset`'s choice.

    Decoding, the model and encoding overlap: a decoder thread fills a queue of
    at most ``queue_frames`` frames, the calling thread runs the model, an
    encoder thread empties a second queue of the same size into ffmpeg. An
    error in any stage stops the others and is raised here as one line.

    Returns ``dict(frames, upscaled, fps, width, height, audio, seconds, model_seconds)``: ``frames``
    written at ``fps``, of which ``upscaled`` went through the model (the rest repeat their
    predecessor); ``seconds`` end to end, ``model_seconds`` of it in ``upscaler.upscale``.
    """
    t_start = time.perf_counter()
    x264_params = pick_x264_params(upscaler, preset)
    preset = pick_preset(upscaler, preset)
    src, dst = Path(src), Path(dst)
    exe = ffmpeg_exe()
    try:
        info = probe_video(src)
    except Exception as e:  # VideoProbeError: already one line naming the file
        raise VideoError(str(e)) from None
    turn = info.get('rotation', 0) if info.get('rotation', 0) in _TURN else 0
    w, h = (info['height'], info['width']) if turn in (90, 270) else (info['width'], info['height'])
    from utils.img_io import max_pixels
    if max_pixels() and w * h > max_pixels():  # refused before a frame is decoded (1.5 GB for 10240^2)
        raise VideoError(f'{src}: its frames are {w}x{h} pixels, more than the limit of {max_pixels() / 1e6:g} MP '
                         '(raise RESR_MAX_PIXELS to allow it)')
    rate = output_rate(info)
    rate_str = f'{rate.numerator}/{rate.denominator}'
    scale = outscale or getattr(upscaler, 'outscale', None) or upscaler.scale
    ow, oh = int(round(w * scale)), int(round(h * scale))
    ew, eh = ow + ow % 2, oh + oh % 2  # yuv420p needs even sizes: black pad at the right and bottom
    fd, tmp = temp_beside(dst, suffix=dst.suffix)  # ffmpeg picks the container from the suffix
    os.close(fd)
    enc_log_path = tmp + '.log'
    sar = info.get('sar')
    if sar and turn in (90, 270):
        sar = (sar[1], sar[0])
    enc_args = _encoder_args(exe, src, tmp, ew, eh, rate_str, info['has_audio'], crf, preset, sar, x264_params)
    total = int(round(info['duration'] * rate)) if info['duration'] else None
    frames = upscaled = 0  # frames handed to the encoder; frames through the model
    model_seconds = 0.0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=src.name, unit='frame', leave=False, disable=None)
    pipe = _Pipeline(max(1, int(queue_frames)))
    with open(enc_log_path, 'wb') as enc_log:
        dec = _Decoder(exe, src, turn, w, h)
        enc = subprocess.Popen(enc_args, stdin=subprocess.PIPE, stderr=enc_log)
        widen_pipe(enc.stdin)

        def decode():
            for item in dec.frames():
                if not pipe.put(pipe.decoded, item):
                    return
            pipe.put(pipe.decoded, _END)

        def encode():
            while True:
                item = pipe.get(pipe.upscaled)
                if item is _END:
                    return
                data, times = item
                data = _to_i420(data, ew, eh)
                try:
                    for _ in range(times):
                        enc.stdin.write(data)
                except (BrokenPipeError, ValueError):  # ValueError: stdin closed by a failing main thread
                    enc.wait()
                    raise VideoError(f'{src}: the encoder stopped ({_last_line(enc_log_path)})') from None

        def write(data, times):
            nonlocal frames
            times = max(times, 0)
            if times == 0:
                return
            if not pipe.put(pipe.upscaled, (data, times)):
                pipe.check()
                raise VideoError(f'{src}: the video pipeline stopped')
            frames += times
            if bar is not None:
                bar.update(times)

        try:
            pipe.start('video-decode', decode)
            pipe.start('video-encode', encode)
            first = last = None  # timestamps (s) of the first and the latest decoded frame
            lead = 0  # whole output slots before the first frame (video starting after the audio)
            prev_in = prev_out = None
            sched = 0  # output slots decided so far (``frames`` once they are written)
            batch, pending = [], []  # LR frames for the model; (index in batch or None = repeat, gap) in order
            batch_n = _batch_size(upscaler, h, w, outscale)

            def flush():
                nonlocal prev_out, upscaled, model_seconds
                if batch:
                    t0 = time.perf_counter()
                    outs = _run_model(upscaler, batch, outscale, src, upscaled)
                    model_seconds += time.perf_counter() - t0
                    for out in outs:
                        if out.shape[:2] != (oh, ow):
                            raise VideoError(f'{src}: frame {upscaled} came out {out.shape[1]}x{out.shape[0]}, '
                                             f'expected {ow}x{oh}')
                    upscaled += len(outs)
                    batch.clear()
                    if bar is not None:
                        bar.set_postfix_str(f'model {upscaled / max(model_seconds, 1e-9):.2f} fps', refresh=False)
                for idx, gap in pending:
                    out = prev_out if idx is None else outs[idx]
                    write(prev_out if prev_out is not None else out, gap)  # gap: hold the last picture
                    write(out, 1)
                    prev_out = out
                pending.clear()

            while True:
                item = pipe.get(pipe.decoded)
                if item is _END:
                    break
                frame, t = item
                if t is None:
                    t = 0.0 if last is None else last + 1 / float(rate)
                if first is None:
                    first, lead = t, max(math.floor(t * float(rate) + 1e-3), 0)
                last = t
                slot = lead + int(round((t - first) * float(rate)))
                if slot < sched:  # this slot is already shown: drop the frame before the model
                    continue
                if prev_in is None or not np.array_equal(frame, prev_in):
                    pending.append((len(batch), slot - sched))
                    batch.append(frame)
                    prev_in = frame
                else:  # byte-identical to the previous frame: its picture again
                    pending.append((None, slot - sched))
                sched = slot + 1
                if len(batch) >= batch_n or not batch:
                    flush()
            flush()
            pipe.check()
            dec_rc = dec.close(kill=False)
            if prev_out is not None and info.get('video_duration') and not dec.errors:
                write(prev_out, int(round(info['video_duration'] * rate)) - frames)  # hold it to the stream's end
            if not pipe.put(pipe.upscaled, _END):
                pipe.check()
            pipe.join()
            pipe.check()
            enc.stdin.close()
            enc_rc = enc.wait()
            if dec_rc != 0 or frames == 0:
                raise VideoError(dec.failure())
            if enc_rc != 0:
                raise VideoError(f'{dst}: the encoder failed ({_last_line(enc_log_path)})')
            os.replace(tmp, dst)
        except BaseException as e:
            pipe.stop.set()
            dec.close(kill=True)
            if enc.poll() is None:
                enc.kill()
                enc.wait()
            pipe.join(timeout=5)
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(e, (VideoError, MemoryError, KeyboardInterrupt)):
                raise
            raise VideoError(f'{src}: {_one_line(e)}') from None  # a decoder/encoder thread's unexpected error
        finally:
            if bar is not None:
                bar.close()
            if os.path.exists(enc_log_path):
                os.unlink(enc_log_path)
    return dict(frames=frames, upscaled=upscaled, fps=str(rate), width=ew, height=eh,
                audio=bool(info['has_audio']), seconds=time.perf_counter() - t_start, model_seconds=model_seconds)
