"""tools/extract_keyframes.py (filters on) against bare ffmpeg on the same clips.

    python benchmarks/keyframes_speed.py [--clips A.mp4 B.mp4 ...] [--repeats 7] [--hd]

Bare ffmpeg: one ``ffmpeg -skip_frame nokey -i CLIP -fps_mode passthrough
out/%06d.png`` per clip. The tool: one ``python tools/extract_keyframes.py
--input DIR --output OUT`` over the folder of the same clips, with the
default filters (bars, min size, black/flat, blur, dedupe), as a user runs
both. Also timed: the tool's ``extract()`` called in-process (the same work
without the Python start-up). Runs are interleaved, each into a fresh folder;
medians and ratios are printed. ``--hd`` adds a 1920x1080 H.264 clip made
from the first clip (upscaled, a keyframe every second) to show the cost at
broadcast resolution.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.media.ffmpeg import ffmpeg_exe  # noqa: E402

DEFAULT_CLIPS = [ROOT.parent / 'shared' / 'data' / 'video' / n for n in ('cup.mp4', 'box.mp4', 'bikes.mp4')]


def cpu_seconds():
    """CPU time (user + system) of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bare(exe, clips, out):
    for c in clips:
        d = out / c.stem
        d.mkdir(parents=True)
        subprocess.run([exe, '-nostdin', '-loglevel', 'error', '-skip_frame', 'nokey', '-i', str(c),
                        '-fps_mode', 'passthrough', str(d / '%06d.png')], check=True)
    return sum(1 for _ in out.rglob('*.png'))


def tool_cli(clip_dir, out):
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'extract_keyframes.py'), '--input', str(clip_dir),
                    '--output', str(out), '--quiet'], check=True, stdout=subprocess.DEVNULL)
    return sum(1 for _ in out.glob('*.png'))


def tool_inproc(clip_dir, out):
    from realesrgan_paddle.data.builder.extract import extract
    return extract([clip_dir], out, progress=False)['kept']


def make_hd(exe, photos, dst, secs=1):
    """A 1920x1080 H.264 clip of real photos, ``secs`` seconds and one keyframe each: the photos resized first
    (OpenCV, Lanczos), then read by ffmpeg as an image sequence at one picture per ``secs``."""
    import cv2
    stills = dst.parent / f'{dst.stem}_stills'
    stills.mkdir()
    for i, p in enumerate(photos):
        cv2.imwrite(str(stills / f'{i:04d}.png'), cv2.resize(cv2.imread(str(p)), (1920, 1080),
                                                             interpolation=cv2.INTER_LANCZOS4))
    subprocess.run([exe, '-nostdin', '-loglevel', 'error', '-y', '-framerate', f'1/{secs}', '-i',
                    str(stills / '%04d.png'), '-vf', 'fps=25,format=yuv420p', '-c:v', 'libx264', '-preset',
                    'veryfast', '-crf', '18', '-force_key_frames', f'expr:gte(t,n_forced*{secs})', '-sc_threshold',
                    '0', str(dst)], check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--clips', nargs='+', type=Path, default=DEFAULT_CLIPS)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--hd', action='store_true', help='also a 1080p clip made from the real photos in --photos')
    p.add_argument('--photos', type=Path, default=ROOT.parent / 'shared' / 'data' / 'hr')
    args = p.parse_args()
    exe = ffmpeg_exe()
    missing = [c for c in args.clips if not c.is_file()]
    if missing:
        print(f'error: {missing[0]}: no such clip (pass --clips)', file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix='kfbench_'))
    try:
        sets = {'clips': list(args.clips)}
        if args.hd:
            hd = work / 'hd1080.mp4'
            photos = sorted(args.photos.glob('*.png'))
            if len(photos) < 4:
                print(f'error: --hd needs at least 4 photos in {args.photos}', file=sys.stderr)
                return 2
            make_hd(exe, photos, hd)
            sets['hd1080'] = [hd]
        for label, clips in sets.items():
            clip_dir = work / f'in_{label}'
            clip_dir.mkdir()
            for c in clips:
                os.symlink(c.resolve(), clip_dir / c.name)
            runs = {'bare ffmpeg': [], 'tool (CLI)': [], 'tool (in-process)': []}
            cpu = {k: [] for k in runs}
            counts = {}
            tool_inproc(clip_dir, work / 'warm')  # imports and page cache, not timed
            shutil.rmtree(work / 'warm')
            for r in range(args.repeats):
                for name, fn in (('bare ffmpeg', lambda o: bare(exe, clips, o)),
                                 ('tool (CLI)', lambda o: tool_cli(clip_dir, o)),
                                 ('tool (in-process)', lambda o: tool_inproc(clip_dir, o))):
                    out = work / f'out_{r}_{len(runs[name])}_{name.split()[0]}'
                    c0, t0 = cpu_seconds(), time.perf_counter()
                    counts[name] = fn(out)
                    runs[name].append(time.perf_counter() - t0)
                    cpu[name].append(cpu_seconds() - c0)
                    shutil.rmtree(out)
            base = statistics.median(runs['bare ffmpeg'])
            cbase = statistics.median(cpu['bare ffmpeg'])
            print(f'== {label}: {", ".join(c.name for c in clips)}; {args.repeats} interleaved repeats; '
                  f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores')
            for name, ts in runs.items():
                med, cmed = statistics.median(ts), statistics.median(cpu[name])
                print(f'{name:18s} wall median {med:6.3f} s (min {min(ts):.3f}) ratio {med / base:5.2f}x | '
                      f'CPU median {cmed:6.3f} s ratio {cmed / cbase:5.2f}x | frames {counts[name]:3d}')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
