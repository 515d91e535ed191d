"""Resumable segmented video, measured end to end through ``tools/infer.py`` (issue 53's "must show").

    python benchmarks/segment_resume.py                          # 40 s at 10 fps from bikes.mp4, 160x90
    python benchmarks/segment_resume.py --runs killed,clean        # no Ray row
    python benchmarks/segment_resume.py --runs seam --seam-png docs/segment_seam.png

The clip: ``--seconds`` seconds of ``--clip`` (looped when shorter, default ../shared/data/video/bikes.mp4;
without it a real photo from scikit-image panned across the frame) at ``--fps``, scaled to ``--size``, with a
keyframe every ``--gop`` frames and a generated 440 Hz audio track (AAC), written once as H.264.

Runs, each ``tools/infer.py -n realesr-animevideov3 --segment_seconds S`` in its own process:

- clean: from nothing to the joined output;
- killed: the same command SIGKILLed (its process group, with its ffmpeg children, as a power cut would) once
  ``--kill-at`` of the frames are through (timed from the finished segments' pace), then run again; the re-run's
  time over the clean run's;
- ray: ``--ray local --workers N``.

Each output is decoded and compared with the clean run's: frame count, timestamps, audio stream, mean and lowest
PSNR, and the PSNR of the frames on both sides of every join. Wall time and CPU seconds (the process and its
waited-for children: Paddle and ffmpeg; Ray's workers are not children, so the ray row's CPU is the driver's
only). The load average before and after is printed: the machine may be shared.

``seam``: the first two segments of the clip, plain and ``--temporal``, segmented and one pass; the frame-to-frame
change (mean absolute difference of consecutive output frames) across the join against the other pairs, and with
``--seam-png`` a strip of crops of the frames on both sides of the join (rows: plain, temporal).
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

WORK = Path(os.environ.get('BENCH_DIR', '/tmp/realesrgan_bench')) / 'segments'
DEFAULT_CLIP = ROOT.parent / 'shared' / 'data' / 'video' / 'bikes.mp4'
MODEL = 'realesr-animevideov3'


def make_clip(src, seconds, fps, size, gop):
    """The benchmark clip (cached by its settings): a real video looped, or a panned photo, plus a sine track."""
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    WORK.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in size.split('x'))
    name = f'{Path(src).stem if src else "photo"}_{seconds:g}s_{fps:g}fps_{size}_g{gop}.mp4'
    out = WORK / name
    if out.is_file():
        return out
    if src and Path(src).is_file():
        video = ['-stream_loop', '-1', '-i', str(src)]
        vf = f'fps={fps},scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}'
    else:  # no footage: a real photo, panned left to right (a moving camera)
        from skimage import data
        import cv2
        photo = WORK / 'photo.png'
        cv2.imwrite(str(photo), data.astronaut()[:, :, ::-1])
        video = ['-loop', '1', '-framerate', str(fps), '-i', str(photo)]
        vf = f'scale={w * 3}:-2,crop={w}:{h}:x=\'(in_w-{w})*t/{seconds}\':y=(in_h-{h})/2'
    tmp = out.with_name('.tmp_' + out.name)
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', *video, '-f', 'lavfi', '-i',
                    'sine=frequency=440:sample_rate=44100', '-map', '0:v', '-map', '1:a', '-t', str(seconds),
                    '-vf', vf, '-c:v', 'libx264', '-crf', '12', '-g', str(gop), '-keyint_min', str(gop),
                    '-pix_fmt', 'yuv420p', '-c:a', 'aac', str(tmp)], check=True)
    os.replace(tmp, out)
    return out


def infer_cmd(clip, dst, segment_seconds, extra=('--temporal', 'off')):  # plain, as the numbers in docs/scale.md
    return [sys.executable, str(ROOT / 'tools' / 'infer.py'), '-i', str(clip), '-o', str(dst), '-n', MODEL,
            '--segment_seconds', f'{segment_seconds:g}', '--quiet', *extra]


def _cpu_children():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd, kill_after=None):
    """Run ``cmd`` (own process group); with ``kill_after`` seconds, SIGKILL the group then. Returns
    ``(wall, cpu, returncode, stderr)``."""
    env = dict(os.environ, MKL_DEBUG_CPU_TYPE='5', GLOG_minloglevel='2')
    c0, t0 = _cpu_children(), time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    return time.perf_counter() - t0, _cpu_children() - c0, proc.returncode, err


def decoded(path):
    from realesrgan_paddle.media.video_reader import FrameReader
    frames, pts = [], []
    for f, info in FrameReader(path):
        frames.append(f)
        pts.append(info['pts'])
    return frames, pts


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255 ** 2 / max(mse, 1e-10))


def has_audio(path):
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, stream_lines
    res = subprocess.run([ffmpeg_exe(), '-hide_banner', '-i', str(path)], capture_output=True, text=True)
    return 'Audio' in [kind for kind, _ in stream_lines(res.stderr)]


def join_slots(clip, segment_seconds):
    """The segment starts the runs use (the same plan as inference/video/segments/plan.py makes)."""
    from realesrgan_paddle.inference.video.segments import plan as sg
    from realesrgan_paddle.inference.video.one_pass import output_rate
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, probe_video
    info = probe_video(clip)
    rate = output_rate(info)
    total = int(round(info['duration'] * rate)) if info['duration'] else None
    return sg.make_plan(ffmpeg_exe(), clip, rate, total, segment_seconds)['starts'][1:]


def compare(path, ref, joins):
    """Frame count, same timestamps, audio, PSNR against ``ref`` = (frames, pts): mean, lowest, at joins."""
    frames, pts = decoded(path)
    n = min(len(frames), len(ref[0]))
    p = [psnr(frames[i], ref[0][i]) for i in range(n)]
    at = [p[i] for j in joins for i in (j - 1, j) if 0 <= i < n]
    return dict(frames=len(frames), same_pts=pts == ref[1], audio=has_audio(path), psnr_mean=float(np.mean(p)),
                psnr_min=float(np.min(p)), psnr_joins_min=float(np.min(at)) if at else None)


def run_clean(clip, a, name='clean.mp4'):
    dst = WORK / name
    wall, cpu, rc, err = timed(infer_cmd(clip, dst, a.segment_seconds))
    if rc != 0:
        raise SystemExit(f'clean run failed: {err.strip().splitlines()[-1:]}')
    return dict(run='clean', wall=wall, cpu=cpu, log=_last_line(err)), dst


def run_killed(clip, a, joins):
    """The command killed (SIGKILL to its process group) once ``--kill-at`` of the frames are through, then run
    again. The kill time: the segment holding that frame has started (the one before it is in the work folder)
    and the frames into it at the pace of the segment before."""
    dst = WORK / 'killed.mp4'
    for p in (dst, Path(str(dst) + '.parts')):
        subprocess.run(['rm', '-rf', str(p)], check=True)
    parts = Path(str(dst) + '.parts')
    total = int(round(a.seconds * a.fps))
    target = int(a.kill_at * total)
    starts = [0] + list(joins) + [total]
    k = max(i for i in range(len(starts) - 1) if starts[i] <= target)  # the segment holding the target frame
    cmd = infer_cmd(clip, dst, a.segment_seconds)
    env = dict(os.environ, MKL_DEBUG_CPU_TYPE='5', GLOG_minloglevel='2')
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    seen = {}
    while proc.poll() is None:
        n = len(list(parts.glob('seg_*')))
        seen.setdefault(n, time.perf_counter())
        if k >= 1 and n >= k and k - 1 in seen:
            pace = (seen[k] - seen[k - 1]) / (starts[k] - starts[k - 1])  # seconds per frame, the last segment
            time.sleep(max(0.0, seen[k] + pace * (target - starts[k]) - time.perf_counter()))
            break
        time.sleep(0.2)
    killed_after = time.perf_counter() - t0
    if proc.poll() is not None:
        raise SystemExit('the run to kill ended before the kill; nothing measured')
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(list(parts.glob('seg_*')))
    wall, cpu, rc, err = timed(cmd)
    if rc != 0:
        raise SystemExit(f're-run failed: {err.strip().splitlines()[-1:]}')
    return dict(run=f'killed at frame ~{target} of {total} after {killed_after:.0f} s ({kept} segments kept), '
                    f're-run', wall=wall, cpu=cpu, killed_after=killed_after, kept=kept, log=_last_line(err)), dst


def run_ray(clip, a):
    dst = WORK / 'ray.mp4'
    wall, cpu, rc, err = timed(infer_cmd(clip, dst, a.segment_seconds, ['--ray', 'local', '--workers',
                                                                         str(a.workers)]))
    if rc != 0:
        raise SystemExit(f'ray run failed: {err.strip().splitlines()[-1:]}')
    return dict(run=f'--ray local --workers {a.workers}', wall=wall, cpu=cpu, log=_last_line(err)), dst


def _last_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return lines[-1] if lines else ''


def measure(clip, a):
    joins = join_slots(clip, a.segment_seconds)
    runs = [r.strip() for r in a.runs.split(',')]
    rows = []
    row, clean = run_clean(clip, a)
    ref = decoded(clean)
    rows.append(dict(row, **compare(clean, ref, joins)))
    print(json.dumps(rows[-1]), flush=True)
    for name in runs:
        if name == 'killed':
            row, dst = run_killed(clip, a, joins)
        elif name == 'ray':
            row, dst = run_ray(clip, a)
        elif name == 'clean':  # once more: the reference is the mean of the clean runs around the others
            row, dst = run_clean(clip, a, 'clean2.mp4')
        else:
            continue
        rows.append(dict(row, **compare(dst, ref, joins)))
        print(json.dumps(rows[-1]), flush=True)
    print(f'\nclip: {clip.name}, {len(ref[0])} frames, joins at {joins}')
    print(f'| run | wall s | CPU s | time / clean (wall, CPU) | frames | same pts | audio | PSNR mean / min / '
          f'joins min (dB) |\n|---|---|---|---|---|---|---|---|')
    clean = [r for r in rows if r['run'] == 'clean']
    wall, cpu = np.mean([r['wall'] for r in clean]), np.mean([r['cpu'] for r in clean])
    print(f'clean runs: {len(clean)}, mean {wall:.1f} s wall, {cpu:.1f} s CPU (the reference of the ratios)')
    for r in rows:
        ratio = f'{r["wall"] / wall:.2f}, {r["cpu"] / cpu:.2f}' if r['run'] != 'clean' else '-'
        print(f'| {r["run"]} | {r["wall"]:.1f} | {r["cpu"]:.1f} | {ratio} | {r["frames"]} | {r["same_pts"]} | '
              f'{r["audio"]} | {r["psnr_mean"]:.1f} / {r["psnr_min"]:.1f} / {r["psnr_joins_min"]:.1f} |')
    return rows


def frame_changes(frames):
    """Mean absolute difference of each pair of consecutive frames."""
    return [float(np.mean(np.abs(b.astype(np.float64) - a.astype(np.float64)))) for a, b in zip(frames, frames[1:])]


def seam(clip, a):
    """The first two segments, plain and --temporal, segmented and one pass: the change across the join."""
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    short = WORK / f'{clip.stem}_seam.mp4'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-i', str(clip), '-t', f'{2 * a.segment_seconds:g}',
                    '-c', 'copy', str(short)], check=True)
    j = join_slots(short, a.segment_seconds)[0]
    strips = []
    print(f'seam: join at frame {j}; frame-to-frame mean |change| (0-255)')
    for mode in ('off', 'flow'):
        extra, t = ['--temporal', mode], '_t' if mode == 'flow' else ''
        seg, one = WORK / f'seam_seg{t}.mp4', WORK / f'seam_one{t}.mp4'
        for dst, s in ((seg, a.segment_seconds), (one, 0)):
            wall, _, rc, err = timed(infer_cmd(short, dst, s, extra))
            if rc != 0:
                raise SystemExit(f'seam run failed: {_last_line(err)}')
        fs, fo = decoded(seg)[0], decoded(one)[0]
        cs, co = frame_changes(fs), frame_changes(fo)
        others = [c for i, c in enumerate(cs) if i != j - 1]
        print(f'{"temporal" if t else "plain":>8}: across the join {cs[j - 1]:.2f} (one pass there '
              f'{co[j - 1]:.2f}); elsewhere median {np.median(others):.2f}, max {np.max(others):.2f}; PSNR of the '
              f'join frames against one pass {psnr(fs[j - 1], fo[j - 1]):.1f}, {psnr(fs[j], fo[j]):.1f} dB')
        strips.append(_strip([fs[i] for i in range(j - 2, j + 2)]))
    if a.seam_png:
        import cv2
        img = np.concatenate(strips, axis=0)
        Path(a.seam_png).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(a.seam_png), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f'seam strip: {a.seam_png} ({img.shape[1]}x{img.shape[0]}; columns: frames {j - 2} to {j + 1}, '
              f'the join between the 2nd and 3rd; rows: plain, --temporal)')


def _strip(frames, crop=160):
    """The same centre crop of each frame side by side, a 2-pixel white gap between."""
    h, w = frames[0].shape[:2]
    y, x = (h - crop * 9 // 16) // 2, (w - crop) // 2
    gap = np.full((crop * 9 // 16, 2, 3), 255, np.uint8)
    parts = []
    for f in frames:
        parts += [f[y:y + crop * 9 // 16, x:x + crop], gap]
    return np.concatenate(parts[:-1], axis=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--clip', default=str(DEFAULT_CLIP), help='a real video (default: ../shared/data/video/bikes.mp4)')
    p.add_argument('--seconds', type=float, default=40)
    p.add_argument('--fps', type=float, default=10)
    p.add_argument('--size', default='160x90')
    p.add_argument('--gop', type=int, default=20, help='keyframe every GOP frames in the clip')
    p.add_argument('--segment_seconds', type=float, default=4)
    p.add_argument('--kill-at', type=float, default=0.6, help='kill once this share of the frames is through')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--runs', default='killed,ray,clean', help='comma list of: killed, ray, clean (a second clean '
                   'run, after the others), seam; a first clean run always comes first')
    p.add_argument('--seam-png', help='with seam: write the crop strip here')
    a = p.parse_args()
    clip = make_clip(a.clip if Path(a.clip).is_file() else None, a.seconds, a.fps, a.size, a.gop)
    load = os.getloadavg()
    if 'seam' in a.runs:
        seam(clip, a)
    if any(r in a.runs for r in ('clean', 'killed', 'ray')):
        measure(clip, a)
    print(f'load average: {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs')


if __name__ == '__main__':
    main()
