"""Video throughput on a real clip: the overlapped pipeline end to end, the model alone, and a reference loop.

    python benchmarks/video_speed.py                       # bikes.mp4, 12 frames, both models
    python benchmarks/video_speed.py --frames 6 --width 320 --rounds 2
    python benchmarks/video_speed.py --clip my.mp4 --models animevideov3
    python benchmarks/video_speed.py --models animevideov3 --width 640 --frames 30 --temporal   # --temporal's cost
    python benchmarks/video_speed.py --models animevideov3 --modes e2e --frames 1200 --fps 10 --width 160 \
        --segmented 10 --rounds 2        # a 2-minute clip: the segmented path against one pass

For each model (realesr-animevideov3 x4 and realesrgan-x4plus) it prints:

- end to end: ``inference.video.one_pass.upscale_video`` with the ``Upscaler`` as the
  tools build it (default precision: bf16 where the CPU has it and the model
  passes its check), frames per second over the whole call;
- model only: the same ``Upscaler.upscale`` on the same decoded frames, in
  memory (no decoding or encoding);
- overhead: end-to-end time minus model time, as a share of the model time;
- reference: a loop built the way the official Real-ESRGAN video script
  works: an ffmpeg reader pipe, PyTorch eager (reference/torch_networks.py, fp32
  as on a CPU) one frame at a time, an ffmpeg writer pipe, all sequential.

With ``--segmented S`` each round also runs the resumable segmented path (inference/video/segments/resumable.py, segments of
about S seconds, joined with ``-c copy``) next to the one-pass end-to-end run (the order alternates by round), and
the ratios of their wall times and of their CPU seconds (the process and its ffmpeg children) are printed per
round and as medians: on a shared machine the ratio of two runs side by side is the measurement, not the times.
``--modes`` limits the other measurements (``--modes e2e`` for the segmented comparison alone).

The clip is the first ``--frames`` frames of ``--clip`` (with its audio; looped when shorter, resampled to
``--fps`` when given), scaled to ``--width`` pixels wide, written once as H.264. Every measurement
runs in its own process; rounds are interleaved so that load changes hit all
of them alike. Medians over rounds.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

MODELS = {'animevideov3': 'realesr-animevideov3', 'x4plus': 'realesrgan-x4plus'}
MODES = ('e2e', 'model', 'ref', 'temporal')
WORK = Path(os.environ.get('BENCH_DIR', '/tmp/realesrgan_bench')) / 'video'
DEFAULT_CLIP = ROOT.parent / 'shared' / 'data' / 'video' / 'bikes.mp4'


def make_clip(src, frames, width, fps=None):
    """The first ``frames`` frames of ``src`` (looped when shorter; at ``fps`` when given) and its audio at
    ``width`` px wide, H.264, cached."""
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / f'{Path(src).stem}_{frames}f_{width}w{f"_{fps:g}fps" if fps else ""}.mp4'
    if not out.is_file():
        tmp = out.with_name('.tmp_' + out.name)
        vf = (f'fps={fps},' if fps else '') + f'scale={width}:-2'
        span = ['-t', f'{frames / fps:g}'] if fps else ['-shortest']
        subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-stream_loop', '-1', '-i', str(src), '-frames:v',
                        str(frames), '-vf', vf, '-c:v', 'libx264', '-crf', '12', '-pix_fmt', 'yuv420p',
                        '-c:a', 'aac', *span, str(tmp)], check=True)
        os.replace(tmp, out)
    return out


def _cpu_seconds():
    """CPU seconds of this process and its waited-for children (ffmpeg) so far."""
    import resource
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def decode_all(clip):
    """Every frame of ``clip`` as HxWx3 BGR uint8 arrays (in memory)."""
    import numpy as np
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, probe_video
    info = probe_video(clip)
    w, h = info['width'], info['height']
    raw = subprocess.run([ffmpeg_exe(), '-v', 'error', '-i', str(clip), '-map', '0:v:0', '-fps_mode', 'passthrough',
                          '-f', 'rawvideo', '-pix_fmt', 'bgr24', 'pipe:'], check=True, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)), info


def reference_loop(weights, clip, dst, crf=18):
    """Reader pipe -> torch eager, one frame at a time -> writer pipe (audio copied), as the official script."""
    import numpy as np
    import torch
    from infer_speed import _torch_net
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe, probe_video
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
    net = _torch_net(weights)
    scale = int(net.upscale if hasattr(net, 'upscale') else net.scale)
    info = probe_video(clip)
    w, h, exe = info['width'], info['height'], ffmpeg_exe()
    with torch.no_grad():
        net(torch.zeros(1, 3, h, w))  # warm-up at the frame size, as the other two are warmed up
    t0 = time.perf_counter()
    reader = subprocess.Popen([exe, '-v', 'error', '-i', str(clip), '-f', 'rawvideo', '-pix_fmt', 'bgr24', 'pipe:'],
                              stdout=subprocess.PIPE)
    audio = ['-i', str(clip), '-map', '0:v', '-map', '1:a?', '-c:a', 'copy'] if info['has_audio'] else []
    writer = subprocess.Popen([exe, '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s',
                               f'{w * scale}x{h * scale}', '-framerate', info['fps_str'], '-i', 'pipe:', *audio,
                               '-c:v', 'libx264', '-crf', str(crf), '-pix_fmt', 'yuv420p', str(dst)],
                              stdin=subprocess.PIPE)
    n, model_s = 0, 0.0
    while True:
        buf = reader.stdout.read(w * h * 3)
        if len(buf) < w * h * 3:
            break
        img = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        t = time.perf_counter()
        x = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)).astype(np.float32) / 255.0)
        with torch.no_grad():
            y = net(x[None])[0].clamp_(0, 1)
        out = (y.numpy().transpose(1, 2, 0)[:, :, ::-1] * 255.0).round().astype(np.uint8)
        model_s += time.perf_counter() - t
        writer.stdin.write(np.ascontiguousarray(out).tobytes())
        n += 1
    reader.wait()
    writer.stdin.close()
    if writer.wait() != 0:
        raise SystemExit('reference writer failed')
    return n, time.perf_counter() - t0, model_s


def worker(mode, model, clip):
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup()
    from realesrgan_paddle.models import zoo
    weights = zoo.resolve(model)
    out = WORK / f'out_{mode}_{model}.mp4'
    res = {}
    if mode == 'ref':
        n, seconds, model_s = reference_loop(weights, clip, out)
        res = dict(frames=n, seconds=seconds, model_seconds=model_s, precision='fp32 (torch)')
    else:
        from realesrgan_paddle.inference import Upscaler
        up = Upscaler(model)
        res['precision'] = f'{up.backend.precision} ({getattr(up.backend, "engine", "")})'
        frames, _ = decode_all(clip)
        up.upscale(frames[0])  # the first call at a new shape pays the engine's set-up: warm both alike
        if mode.startswith('seg'):  # seg:S, the segmented path with segments of about S seconds
            c0 = _cpu_seconds()
            r = up.upscale_video(clip, out, progress=False, segment_seconds=float(mode[4:]), temporal=False)
            res.update(frames=r['frames'], seconds=r['seconds'], segments=r['segments'], cpu=_cpu_seconds() - c0)
        elif mode in ('e2e', 'temporal'):
            import resource
            from realesrgan_paddle.inference.video.one_pass import upscale_video
            from realesrgan_paddle.inference.video.options import VideoOptions
            ru0, c0 = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_seconds()
            r = upscale_video(up, clip, out, progress=False, options=VideoOptions(temporal=mode == 'temporal'))
            ru1, c1 = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_seconds()
            ffmpeg_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)  # decoder + encoder
            res.update(frames=r['upscaled'], seconds=r['seconds'], model_seconds=r['model_seconds'],
                       ffmpeg_cpu=ffmpeg_cpu, temporal_seconds=r['temporal_seconds'], cpu=c1 - c0)
        else:
            t0 = time.perf_counter()
            for f in frames:
                up.upscale(f)
            res.update(frames=len(frames), seconds=time.perf_counter() - t0)
    print('RESULT ' + json.dumps(res))


def run_worker(mode, model, clip, timeout):
    env = dict(os.environ, MKL_DEBUG_CPU_TYPE='5', GLOG_minloglevel='2', RESR_NO_REEXEC='1',
               MALLOC_MMAP_MAX_='0', MALLOC_TRIM_THRESHOLD_='100000000000')
    try:
        p = subprocess.run([sys.executable, __file__, '--worker', mode, '--model', model, '--clip', str(clip)],
                           env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {'error': f'gave up after {timeout} s'}
    for line in p.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[7:])
    return {'error': (p.stderr.strip().splitlines() or ['no output'])[-1]}


def _temporal_rows(models, res, rows):
    """The stabiliser's cost: its seconds over the model's in the same end-to-end runs (side by side, frame by
    frame), and the end-to-end rate with it against without it."""
    import numpy as np
    print(f'\n{"model":<14}{"temporal / model time":>23}{"e2e fps with":>14}{"e2e fps without":>17}')
    for m, row in zip(models, rows):
        runs = res.get((m, 'temporal'), [])
        if not runs:
            continue
        share = float(np.median([r['temporal_seconds'] / r['model_seconds'] for r in runs]))
        fps = float(np.median([r['frames'] / r['seconds'] for r in runs]))
        e2e = row['e2e_fps']
        print(f'{m:<14}{share * 100:>22.1f}%{fps:>14.3f}{e2e if e2e is None else format(e2e, ".3f"):>17}')
        row.update(temporal_share=share, temporal_e2e_fps=fps)
    print('temporal / model time: the stabiliser\'s seconds over the model\'s, both inside the same run.')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--clip', default=str(DEFAULT_CLIP), help='a real video (default: ../shared/data/video/bikes.mp4)')
    p.add_argument('--frames', type=int, default=12, help='frames of the clip to use')
    p.add_argument('--fps', type=float, default=None, help='resample the clip to this frame rate first')
    p.add_argument('--width', type=int, default=320, help='scale the clip to this width first (0: keep)')
    p.add_argument('--models', default=','.join(MODELS), help='comma list of: ' + ', '.join(MODELS))
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--timeout', type=float, default=3600)
    p.add_argument('--temporal', action='store_true',
                   help='also end to end with --temporal (inference/video/stabiliser.py): its time against the model\'s '
                        'own in the same run, frame by frame')
    p.add_argument('--modes', default=None, help='comma list of: ' + ', '.join(MODES) + ' (default: all but '
                   'temporal, which --temporal adds)')
    p.add_argument('--segmented', type=float, default=0, metavar='S',
                   help='also time the segmented path with segments of about S seconds against one pass')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--model', help=argparse.SUPPRESS)
    return p.parse_args()


def checked_choices(a):
    """``(models, modes)`` of the arguments, each checked (one-line exit on an unknown name)."""
    models = [m.strip() for m in a.models.split(',')]
    for m in models:
        if m not in MODELS:
            raise SystemExit(f'error: unknown model {m!r}; known: {", ".join(MODELS)}')
    modes = MODES if a.temporal else MODES[:3]
    if a.modes:
        modes = tuple(x.strip() for x in a.modes.split(',') if x.strip())
        if any(x not in MODES for x in modes):
            raise SystemExit(f'error: --modes takes {", ".join(MODES)}')
    modes += (f'seg:{a.segmented:g}',) if a.segmented else ()
    return models, modes


def run_jobs(a, models, modes, clip):
    """Every (round, model, mode) in its own worker process, the modes' order rotating by round:
    ``{(model, mode): [result]}``."""
    from tqdm import tqdm
    jobs = [(r, m, mode) for r in range(a.rounds) for m in models
            for mode in modes[r % len(modes):] + modes[:r % len(modes)]]
    res = {}
    for r, m, mode in tqdm(jobs, desc='video benchmark', unit='proc'):
        out = run_worker(mode, MODELS[m], clip, a.timeout)
        if 'error' in out:
            tqdm.write(f'{m} {mode}: failed: {out["error"]}')
            continue
        out.update(round=r, load=os.getloadavg()[0])
        tqdm.write(f'round {r} {m} {mode}: {json.dumps(out)}')
        res.setdefault((m, mode), []).append(out)
    return res


def model_rows(models, res):
    """The table of medians, one line per model, printed; its rows as dicts."""
    import numpy as np
    print(f'{"model":<14}{"precision":<18}{"end-to-end fps":>15}{"model-only fps":>15}{"overhead":>10}'
          f'{"reference fps":>15}{"e2e / ref":>10}{"model busy":>11}{"ffmpeg CPU":>11}')
    rows = []
    for m in models:
        def med_fps(mode):
            runs = res.get((m, mode))
            return (float(np.median([r['frames'] / r['seconds'] for r in runs])), runs[0]['precision']) \
                if runs else (None, '-')
        e2e, prec = med_fps('e2e')
        mod, _ = med_fps('model')
        ref, _ = med_fps('ref')
        over = (mod / e2e - 1) if e2e and mod else None  # (t_e2e - t_model) / t_model per frame
        ratio = e2e / ref if e2e and ref else None
        e2e_runs = res.get((m, 'e2e'), [])
        busy = float(np.median([r['model_seconds'] / r['seconds'] for r in e2e_runs])) if e2e_runs else None
        cpu = float(np.median([r['ffmpeg_cpu'] / r['frames'] for r in e2e_runs])) if e2e_runs else None
        f = (lambda v, fmt: format(v, fmt) if v is not None else '-')
        print(f'{m:<14}{prec:<18}{f(e2e, ".3f"):>15}{f(mod, ".3f"):>15}{f(over and over * 100, ".1f") + " %":>10}'
              f'{f(ref, ".3f"):>15}{f(ratio, ".2f") + "x":>10}{f(busy and busy * 100, ".0f") + " %":>11}'
              f'{f(cpu, ".3f") + " s":>11}')
        rows.append(dict(model=m, precision=prec, e2e_fps=e2e, model_fps=mod, overhead=over, ref_fps=ref,
                         e2e_vs_ref=ratio, model_busy=busy, ffmpeg_cpu_per_frame=cpu))
    return rows


def main():
    a = parse_args()
    if a.worker:
        return worker(a.worker, a.model, Path(a.clip))
    if not Path(a.clip).is_file():
        raise SystemExit(f'error: {a.clip}: no such video')
    clip = make_clip(a.clip, a.frames, a.width, a.fps) if a.width else Path(a.clip)
    models, modes = checked_choices(a)
    load_before = os.getloadavg()
    res = run_jobs(a, models, modes, clip)
    load_after = os.getloadavg()
    from realesrgan_paddle.media.ffmpeg import probe_video
    info = probe_video(clip)
    print(f'\nclip: {clip.name} ({info["width"]}x{info["height"]}, {a.frames} frames from {Path(a.clip).name}), '
          f'{a.rounds} rounds, medians')
    rows = model_rows(models, res)
    if a.temporal:
        _temporal_rows(models, res, rows)
    print('\noverhead = end-to-end time / model-only time - 1 (decode, encode, queues; negative = noise).')
    print('model busy = share of the end-to-end time spent in the model; ffmpeg CPU = decoder + encoder CPU '
          'seconds per frame, taken from the same cores the model uses.')
    if a.segmented:
        segmented_lines(res, models)
    print(f'load average: {load_before[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} CPUs')
    return rows


def segmented_lines(res, models):
    """The segmented path against the one-pass end-to-end run of the same round: wall and CPU ratios."""
    import numpy as np
    for m in models:
        seg = {r['round']: r for (mm, mode), runs in res.items() if mm == m and mode.startswith('seg') for r in runs}
        one = {r['round']: r for r in res.get((m, 'e2e'), [])}
        pairs = [(one[k], seg[k]) for k in sorted(seg) if k in one]
        for o, s in pairs:
            print(f'{m} round {o["round"]}: one pass {o["seconds"]:.1f} s wall, {o["cpu"]:.1f} s CPU; segmented '
                  f'({s["segments"]} segments, {s["frames"]} frames) {s["seconds"]:.1f} s wall, {s["cpu"]:.1f} s CPU: '
                  f'{(s["seconds"] / o["seconds"] - 1) * 100:+.1f} % wall, {(s["cpu"] / o["cpu"] - 1) * 100:+.1f} % CPU'
                  f' (load {o["load"]:.1f}, {s["load"]:.1f})')
        if pairs:
            wall = float(np.median([s['seconds'] / o['seconds'] for o, s in pairs]))
            cpu = float(np.median([s['cpu'] / o['cpu'] for o, s in pairs]))
            print(f'{m}: segmented against one pass, median over {len(pairs)} rounds: {(wall - 1) * 100:+.1f} % wall, '
                  f'{(cpu - 1) * 100:+.1f} % CPU')


if __name__ == '__main__':
    main()
