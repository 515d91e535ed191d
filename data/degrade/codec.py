"""A video-codec degradation: frames through libx264 / libx265 and back, with the ffmpeg the project finds.

``codec_roundtrip(frames, codec, crf)`` encodes a sequence of equal-size BGR uint8 frames as one clip (raw
BGR24 on ffmpeg's stdin, a raw H.264/HEVC bitstream on its stdout), decodes that bitstream with a second
ffmpeg process and returns the decoded frames and the size of the stream. Frames go through the same
conversion as a camera file: BGR -> YUV 4:2:0 (BT.601, limited range, ffmpeg's default scaler), the
encoder, then YUV -> BGR. An odd width or height is padded by repeating the last column/row (4:2:0
needs even sizes) and cropped again after decoding.

``threads=1`` by default: the output then depends only on the frames and the settings, and a
background cache does not grab both cores. The binary is ``codec_exe()``: imageio-ffmpeg's static
ffmpeg when it is installed (it starts in about 25 ms, Debian's dynamically linked one in about 90 ms),
else the ffmpeg ``media.ffmpeg`` finds.

``roundtrip_many(jobs)`` gives the same bytes for many clips with two ffmpeg processes per batch of clips
instead of two per clip (each clip keeps its own encoder and decoder inside the process): the training
cache and the degradation fit code hundreds of small clips, where starting ffmpeg is most of the cost.
"""
import functools
import os
import subprocess
import tempfile

import cv2
import numpy as np

from realesrgan_paddle.media.ffmpeg import FFmpegNotFound, error_reason, ffmpeg_exe

CODECS = {'libx264': 'h264', 'libx265': 'hevc'}  # encoder -> raw bitstream muxer/demuxer
PRESETS = ('ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow')
CRF_RANGE = (0, 51)
# Encoders that corrupt the heap when several instances run in one ffmpeg process (libx265 4.x: 8 one-frame
# clips in one process abort with "corrupted size vs. prev_size", measured with imageio-ffmpeg's 9.0 build):
# ``roundtrip_many`` gives each of their clips its own encoding process (decoding is still shared).
SOLO_ENCODERS = ('libx265',)


class CodecError(RuntimeError):
    """The encoder or decoder failed (one line, with ffmpeg's reason)."""


@functools.lru_cache(maxsize=1)
def codec_exe():
    """The ffmpeg binary of the codec step (see the module docstring); ``FFmpegNotFound`` without one."""
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        if exe and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    except Exception:  # not installed, or its binary is missing: the system's
        pass
    return ffmpeg_exe()


def _check(frames, codec, crf, preset):
    if codec not in CODECS:
        raise ValueError(f'codec must be one of {", ".join(CODECS)}, got {codec!r}')
    if not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
        raise ValueError(f'crf must be in [{CRF_RANGE[0]}, {CRF_RANGE[1]}], got {crf!r}')
    if preset not in PRESETS:
        raise ValueError(f'preset must be one of {", ".join(PRESETS)}, got {preset!r}')
    if not frames:
        raise ValueError('no frames to encode')
    shape = frames[0].shape
    for f in frames:
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3 or f.shape != shape:
            raise ValueError(f'frames must be equal-size HxWx3 uint8 arrays, got {f.dtype} {f.shape} after {shape}')


def _pad_even(frame):
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode='edge')


def _run(cmd, data, what):
    try:
        res = subprocess.run(cmd, input=data, capture_output=True)
    except (FileNotFoundError, PermissionError):
        raise FFmpegNotFound() from None
    if res.returncode != 0:
        raise CodecError(f'{what} failed (ffmpeg exit {res.returncode}): '
                         f'{error_reason(res.stderr.decode("utf-8", "replace"))}')
    return res.stdout


def encode_args(codec='libx264', crf=28, preset='medium', threads=1):
    """The encoder options of ``codec_roundtrip`` (also what a user gives ffmpeg to reproduce it)."""
    args = ['-c:v', codec, '-crf', f'{crf:g}', '-preset', preset, '-pix_fmt', 'yuv420p', '-threads', str(threads)]
    if codec == 'libx265':
        args += ['-x265-params', f'log-level=error:pools={threads}:frame-threads={threads}']
    return args


def encode(frames, codec='libx264', crf=28, preset='medium', fps=25, threads=1, exe=None):
    """The raw bitstream of ``frames`` (equal-size BGR uint8) encoded as one clip."""
    _check(frames, codec, crf, preset)
    padded = [_pad_even(np.ascontiguousarray(f)) for f in frames]
    h, w = padded[0].shape[:2]
    cmd = [exe or codec_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'rawvideo',
           '-pix_fmt', 'bgr24', '-s', f'{w}x{h}', '-r', f'{fps:g}', '-i', 'pipe:0',
           *encode_args(codec, crf, preset, threads), '-f', CODECS[codec], 'pipe:1']
    return _run(cmd, b''.join(f.tobytes() for f in padded), f'{codec} encoding')


def decode(stream, codec, width, height, exe=None):
    """BGR uint8 frames of a raw bitstream from :func:`encode` (``width`` x ``height`` before padding)."""
    pw, ph = width + width % 2, height + height % 2
    cmd = [exe or codec_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1',
           '-f', CODECS[codec], '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'bgr24', 'pipe:1']
    raw = _run(cmd, stream, f'{codec} decoding')
    size = pw * ph * 3
    if not raw or len(raw) % size:
        raise CodecError(f'{codec} decoding gave {len(raw)} bytes, not a whole number of {pw}x{ph} frames')
    arr = np.frombuffer(raw, np.uint8).reshape(-1, ph, pw, 3)
    return [np.ascontiguousarray(a[:height, :width]) for a in arr]


def codec_roundtrip(frames, codec='libx264', crf=28, preset='medium', fps=25, threads=1, exe=None):
    """``(decoded frames, stream bytes)``: ``frames`` through the encoder and the decoder as one clip."""
    frames = list(frames)
    exe = exe or codec_exe()
    stream = encode(frames, codec, crf, preset, fps, threads, exe)
    h, w = frames[0].shape[:2]
    out = decode(stream, codec, w, h, exe)
    if len(out) != len(frames):
        raise CodecError(f'{codec}: {len(frames)} frames encoded, {len(out)} decoded')
    return out, len(stream)


def _many_cmd(exe, inputs, outputs):
    """One ffmpeg command with ``inputs`` (lists of input options ending in the path) mapped one-to-one onto
    ``outputs`` (lists of output options ending in the path): each output has its own encoder or decoder."""
    cmd = [exe, '-hide_banner', '-nostdin', '-loglevel', 'error']
    for args in inputs:
        cmd += [*args[:-1], '-i', args[-1]]
    for i, args in enumerate(outputs):
        cmd += ['-map', f'{i}:v', *args]
    return cmd


def _roundtrip_batch(jobs, tmp, exe, fps):
    """``codec_roundtrip`` of each job in ``jobs`` with one encoding and one decoding ffmpeg process."""
    enc_in, enc_out, dec_in, dec_out, shapes = [], [], [], [], []
    for i, (frames, codec, crf, preset) in enumerate(jobs):
        _check(frames, codec, crf, preset)
        padded = [_pad_even(np.ascontiguousarray(f)) for f in frames]
        (ph, pw), base = padded[0].shape[:2], os.path.join(tmp, str(i))
        with open(base + '.bgr', 'wb') as fh:
            for f in padded:
                fh.write(f.tobytes())
        enc_in.append(['-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', f'{pw}x{ph}', '-r', f'{fps:g}', base + '.bgr'])
        enc_out.append([*encode_args(codec, crf, preset, 1), '-f', CODECS[codec], base + '.bit'])
        dec_in.append(['-threads', '1', '-f', CODECS[codec], base + '.bit'])
        dec_out.append(['-f', 'rawvideo', '-pix_fmt', 'bgr24', base + '.out'])
        shapes.append((len(frames), frames[0].shape[0], frames[0].shape[1], ph, pw, codec))
    shared = [i for i, job in enumerate(jobs) if job[1] not in SOLO_ENCODERS]
    groups = [shared] * bool(shared) + [[i] for i, job in enumerate(jobs) if job[1] in SOLO_ENCODERS]
    for g in groups:
        _run(_many_cmd(exe, [enc_in[i] for i in g], [enc_out[i] for i in g]), None, 'batched encoding')
    _run(_many_cmd(exe, dec_in, dec_out), None, 'batched decoding')
    out = []
    for i, (n, h, w, ph, pw, codec) in enumerate(shapes):
        base = os.path.join(tmp, str(i))
        raw = np.fromfile(base + '.out', np.uint8)
        if raw.size != n * ph * pw * 3:
            raise CodecError(f'{codec}: {n} frames of {pw}x{ph} encoded, {raw.size} bytes decoded')
        arr = raw.reshape(n, ph, pw, 3)
        out.append(([np.ascontiguousarray(a[:h, :w]) for a in arr], os.path.getsize(base + '.bit')))
    return out


def roundtrip_many(jobs, fps=25, batch=16, exe=None):
    """``[codec_roundtrip(frames, codec, crf, preset, fps)]`` for each ``(frames, codec, crf, preset)`` of
    ``jobs``, byte for byte (each clip has its own encoder and decoder, one thread each), with two ffmpeg
    processes per ``batch`` jobs instead of two per job: the fit and the training cache code hundreds of
    one-frame clips, and starting ffmpeg is most of a small clip's cost. The frames pass through files in a
    temporary directory, removed afterwards."""
    jobs = list(jobs)
    exe = exe or codec_exe()
    out = []
    for k in range(0, len(jobs), max(1, int(batch))):
        with tempfile.TemporaryDirectory(prefix='codec-') as tmp:
            out += _roundtrip_batch(jobs[k:k + batch], tmp, exe, fps)
    return out


def bits_per_pixel(nbytes, frames):
    """Stream bits per pixel per frame: ``8 * bytes / (frames * width * height)``."""
    n = len(frames)
    h, w = frames[0].shape[:2]
    return 8.0 * nbytes / float(n * h * w)


def check_options(opt):
    """Validate the codec keys of resolved degradation options (``data.degrade.second_order``); ValueError names the key."""
    codecs = opt['codec_list']
    if not isinstance(codecs, list) or not codecs or any(c not in CODECS for c in codecs):
        raise ValueError(f'degradation option \'codec_list\' must list encoders from {list(CODECS)}, got {codecs!r}')
    if opt['codec_preset'] not in PRESETS:
        raise ValueError(f'degradation option \'codec_preset\' must be one of {", ".join(PRESETS)}, '
                         f'got {opt["codec_preset"]!r}')
    for key, low in (('codec_clip', 1), ('codec_reuse', 1), ('codec_pan', 0)):
        v = opt[key]
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise ValueError(f'degradation option {key!r} must be an integer >= {low}, got {v!r}')
    px = opt['codec_pan_px']
    if isinstance(px, bool) or not isinstance(px, (int, float, np.integer, np.floating)) or not 0 < px <= 16:
        raise ValueError(f'degradation option \'codec_pan_px\' must be a number in (0, 16], got {px!r}')
    if opt['codec_pan'] > 0 and opt['codec_clip'] != 1:
        raise ValueError('degradation options \'codec_pan\' and \'codec_clip\' > 1 exclude each other: '
                         'a pan codes each image as its own clip')


def sample_codec(opt, rng):
    """One draw of the codec step: None (skipped, probability ``1 - codec_prob``) or ``{'codec', 'crf'}``.

    Nothing is drawn when ``codec_prob`` is 0, so options without the codec keep their random stream."""
    if opt['codec_prob'] <= 0 or rng.uniform() >= opt['codec_prob']:
        return None
    codec = str(opt['codec_list'][int(rng.integers(len(opt['codec_list'])))])
    lo, hi = opt['codec_crf_range']
    draw = {'codec': codec, 'crf': round(float(rng.uniform(lo, hi)), 1)}
    if opt.get('codec_pan', 0) > 0:  # drawn only with a pan: options without one keep their random stream
        draw['pan_angle'] = round(float(rng.uniform(0.0, 360.0)), 1)
    return draw


def pan_clip(frame, frames, px, angle):
    """``frames + 1`` frames of a camera pan ending on ``frame`` itself: frame ``t`` is ``frame`` shifted by
    ``(frames - t) * px`` pixels along ``angle`` degrees (bilinear, reflected borders)."""
    h, w = frame.shape[:2]
    dx, dy = np.cos(np.radians(angle)) * px, np.sin(np.radians(angle)) * px
    out = []
    for t in range(frames):
        k = frames - t
        m = np.float32([[1, 0, k * dx], [0, 1, k * dy]])
        out.append(cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101))
    return out + [frame]


def apply_codec(clips, draws, opts):
    """Each clip of ``clips`` (lists of frames) through its codec draw (``sample_codec``) and options as one
    clip; a clip whose draw is None is unchanged. Two ffmpeg processes code all the clips
    (``roundtrip_many``).

    With ``codec_pan`` > 0 each frame is instead coded alone as the last (P) frame of ``pan_clip``: what a
    stream's inter frames do to a picture, which its intra frames (a clip of one) do not."""
    out, jobs, owners = [list(c) for c in clips], [], []
    for ci, (frames, draw, opt) in enumerate(zip(clips, draws, opts)):
        if draw is None:
            continue
        job, pan = (draw['codec'], draw['crf'], opt['codec_preset']), int(opt.get('codec_pan', 0))
        if pan > 0:
            for fi, f in enumerate(frames):
                jobs.append((pan_clip(f, pan, float(opt['codec_pan_px']), draw['pan_angle']), *job))
                owners.append((ci, fi))
        else:
            jobs.append((list(frames), *job))
            owners.append((ci, None))
    for (ci, fi), (decoded, _) in zip(owners, roundtrip_many(jobs, batch=max(1, len(jobs)))):
        if fi is None:
            out[ci] = decoded
        else:
            out[ci][fi] = decoded[-1]
    return out
