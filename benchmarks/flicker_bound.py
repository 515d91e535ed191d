"""What any stabiliser could reach on a clip: the flicker of an oracle that knows the HD video and its motion.

    python benchmarks/flicker_bound.py --gt-video bikes.mp4 --lq-video bikes_lq.mp4 --frames 30
    python benchmarks/flicker_bound.py --gt-video bikes.mp4 --lq-video bikes_lq.mp4 --start 150 --k 1 0.8

Each oracle video is the HD video's low band (a Gaussian blur of sigma scale/2: what the LR carries, without
its codec noise) plus ``k`` times the model's high band (its output minus the same blur of it: the edges and the
texture it draws), for each ``--k``; at k = 1 its detail is about the model's own. The high band of a pixel is
drawn once and then carried along from frame to frame (composed, so it is resampled once, cubic), and redrawn
from the current frame's output only where the HD shows new content (its own warping error over 6 levels: a car
uncovering the road). How it is carried:

- **frozen**: not moved (the ideal of a stabiliser that holds the texture where the scene is still);
- **glued**: moved with the scene, along the HD video's own optical flow (the flow the FLICKER warp ratio uses);
- **hybrid**: glued where the HD moves by ``--hybrid-flow`` pixels or more in a frame step, frozen elsewhere (the
  ideal of ``--temporal``'s design, which holds the texture where the LR flow is under a quarter LR pixel);
- **still-mask**: glued, but frozen on the pixels the static ratio counts as still (it knows the metric's mask).

The model's plain per-frame output and ``--temporal``'s are scored beside them. ``--outputs DIR`` reads the
model's per-frame outputs (PNG, sorted, one per LR frame) instead of running it.

All are scored with the evaluator's definitions (``evaluation/flicker.py``: FLICKER static and warp against the
HD video, 0.25-level floor), after an x264 round trip at ``--crf`` as ``tools/infer.py`` writes (0: none). Each
oracle knows what no stabiliser can (the HD picture, its motion, where content is new), so a target of static
<= S and warp <= W that no oracle meets at texture ``k`` is not a matter of tuning a stabiliser at that much
texture. On a camera
that drifts by a fraction of a pixel per frame the two ratios pull apart: a still texture fails the warp ratio,
and a moving one changes the pixels the static ratio counts as still (the HD is flat there, the texture is not).
"""
import argparse
import subprocess
import sys
from pathlib import Path

import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)
import cv2  # noqa: E402
import numpy as np  # noqa: E402


def read_frames(path, start, count):
    """Frames ``start`` .. ``start + count - 1`` of a video (BGR uint8)."""
    from realesrgan_paddle.media.video_reader import FrameReader
    frames = []
    for frame, _ in FrameReader(path, filters=[f'trim=start_frame={start}:end_frame={start + count}',
                                               'setpts=PTS-STARTPTS']):
        frames.append(frame)
    if len(frames) < 2:
        sys.exit(f'{path}: {len(frames)} frame(s) from frame {start}; the bound needs at least two')
    return frames


def x264_round_trip(frames, crf):
    """The frames encoded as tools/infer.py writes them (libx264, veryfast, me=dia, yuv420p) and decoded back."""
    if not crf:
        return frames
    from realesrgan_paddle.inference.video.one_pass import CPU_X264_PARAMS
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    h, w = frames[0].shape[:2]
    raw_in = b''.join(np.ascontiguousarray(f).tobytes() for f in frames)
    enc = subprocess.run([ffmpeg_exe(), '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', f'{w}x{h}',
                          '-r', '25', '-i', '-', '-c:v', 'libx264', '-preset', 'veryfast',
                          '-x264-params', CPU_X264_PARAMS, '-crf', str(crf), '-pix_fmt', 'yuv420p', '-f', 'mp4',
                          '-movflags', 'frag_keyframe+empty_moov', '-'], input=raw_in,
                         capture_output=True, check=True).stdout
    raw = subprocess.run([ffmpeg_exe(), '-v', 'error', '-f', 'mp4', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'bgr24',
                          '-'], input=enc, capture_output=True, check=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))


OCCLUDED = 6.0  # grey levels of the HD's own warping error (3x3 blur) above which a pixel shows new content


def step_maps(gt, mode, hybrid_flow=1.0):
    """Per frame step t-1 -> t: the sampling maps that carry the texture along (``mode``: frozen, glued, hybrid,
    still-mask) and where the HD shows new content (its own error after that move over ``OCCLUDED`` levels)."""
    from realesrgan_paddle.evaluation.flicker import _flow_back, luma, still_mask
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = gt[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    steps = []
    for t in range(1, len(gt)):
        y0, y1 = luma(gt[t - 1]), luma(gt[t])
        mx, my, _ = _flow_back(y0, y1, dis)
        hold = np.full(y0.shape, mode == 'frozen')
        if mode == 'hybrid':
            hold = np.hypot(mx - gx, my - gy) < hybrid_flow
        elif mode == 'still-mask':
            hold = still_mask(y0, y1)
        mx, my = np.where(hold, gx, mx), np.where(hold, gy, my)
        err = cv2.GaussianBlur(np.abs(y1 - cv2.remap(y0, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)),
                               (3, 3), 0)
        steps.append((mx, my, err > OCCLUDED))
    return steps


def place(textures, steps):
    """Per frame, the texture carried along ``steps`` from where it was last drawn: each pixel keeps a source
    frame and a position in it (composed step to step, so the texture is resampled once, not once a frame), and
    takes the current frame's own texture where the HD shows new content."""
    h, w = textures[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my, src = gx, gy, np.zeros((h, w), np.float32)
    out = [textures[0]]
    for t, (sx, sy, new) in enumerate(steps, start=1):
        mx, my, src = (cv2.remap(a, sx, sy, interp, borderMode=cv2.BORDER_REPLICATE)
                       for a, interp in ((mx, cv2.INTER_LINEAR), (my, cv2.INTER_LINEAR), (src, cv2.INTER_NEAREST)))
        mx, my, src = np.where(new, gx, mx), np.where(new, gy, my), np.where(new, np.float32(t), src)
        tex = np.empty_like(textures[0])
        for s in np.unique(src).astype(int):
            pick = src == s
            tex[pick] = cv2.remap(textures[s], mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)[pick]
        out.append(tex)
    return out


def score(gt, out):
    from realesrgan_paddle.evaluation.flicker import flicker_ratios
    from realesrgan_paddle.evaluation.metrics import detail_ratio, psnr
    r = flicker_ratios(gt, out)
    return dict(static=r['static'], warp=r['warp'],
                psnr=float(np.mean([psnr(o, g, 4, True) for o, g in zip(out, gt)])),
                detail=float(np.exp(np.mean([np.log(detail_ratio(o, g)) for o, g in zip(out, gt)]))))


def model_outputs(model, lq, size, folder=None):
    """The model's output on each LR frame (BGR uint8, the HD size), or the first ``len(lq)`` PNGs of ``folder``."""
    if folder:
        files = sorted(Path(folder).glob('*.png'))[:len(lq)]
        outs = [cv2.imread(str(f)) for f in files]
        if len(outs) < len(lq) or any(o is None for o in outs):
            sys.exit(f'{folder}: {len(lq)} readable PNG outputs needed, found {len(outs)}')
    else:
        from tqdm import tqdm
        from realesrgan_paddle import Upscaler
        up = Upscaler(model)
        outs = [up.upscale(f) for f in tqdm(lq, desc=f'{model} on the LR frames', unit='frame')]
    return [o if o.shape[:2] == size[::-1] else cv2.resize(o, size, interpolation=cv2.INTER_AREA) for o in outs]


def low_band(img, sigma):
    return cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gt-video', required=True, help='the HD video')
    ap.add_argument('--lq-video', required=True, help='its low-resolution stream')
    ap.add_argument('--model', default='realesrgan-x4plus', help='the model whose texture is measured')
    ap.add_argument('--start', type=int, default=0, help='first frame')
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--crf', type=int, default=10, help='x264 round trip of the oracle videos (0: none)')
    ap.add_argument('--k', type=float, nargs='+', default=[1.0, 0.8, 0.6, 0.4], help='texture amounts')
    ap.add_argument('--outputs', help="a folder of the model's per-frame outputs (PNG) instead of running it")
    ap.add_argument('--hybrid-flow', type=float, default=1.0, help='HD px per frame under which hybrid holds still')
    ap.add_argument('--static-target', type=float, default=1.3)
    ap.add_argument('--warp-target', type=float, default=1.2)
    a = ap.parse_args(argv)
    gt, lq = read_frames(a.gt_video, a.start, a.frames), read_frames(a.lq_video, a.start, a.frames)
    size = (gt[0].shape[1], gt[0].shape[0])
    outs = model_outputs(a.model, lq, size, a.outputs)
    sigma = 0.5 * size[0] / lq[0].shape[1]
    low = [low_band(g, sigma) for g in gt]
    high = [o.astype(np.float32) - low_band(o, sigma) for o in outs]
    oracles = {m: place(high, step_maps(gt, m, a.hybrid_flow)) for m in ('frozen', 'glued', 'hybrid', 'still-mask')}
    print(f'{a.gt_video} frames {a.start}-{a.start + len(gt) - 1}, {a.model}, low band sigma {sigma:.2f} px, '
          f'x264 crf {a.crf or "none"}')
    print('| high band k | video | static | warp | PSNR | detail | meets both |')
    print('|---|---|---|---|---|---|---|')
    from realesrgan_paddle.inference.video.stabiliser import stabilise_frames
    rows = [('', 'the HD video itself', gt), ('', f'{a.model}', outs),
            ('', f'{a.model} --temporal', stabilise_frames(lq, outs))]
    rows += [(f'{k:g}', name, [np.clip(lo + k * hi, 0, 255).astype(np.uint8) for lo, hi in zip(low, texs)])
             for k in a.k for name, texs in oracles.items()]
    for k, name, frames in rows:
        s = score(gt, x264_round_trip(frames, a.crf))
        ok = s['static'] <= a.static_target and s['warp'] <= a.warp_target
        print(f'| {k} | {name} | {s["static"]:.2f} | {s["warp"]:.2f} | {s["psnr"]:.2f} | {s["detail"]:.2f} | '
              f'{"yes" if ok else "no"} |', flush=True)


if __name__ == '__main__':
    main()
