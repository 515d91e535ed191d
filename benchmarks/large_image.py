"""Peak memory and time of large photos through the default model: the path before memory budgets
against the path now, side by side.

    python benchmarks/large_image.py                                   # 4 MP twice each way, 12 MP once each way
    python benchmarks/large_image.py --photo my.jpg --sizes 2592x1456 --repeats 3
    python benchmarks/large_image.py --model realesr-animevideov3 --sizes 1280x720   # a quick look

Each run is a child process set up the way ``tools/infer.py`` sets itself up (CPU environment, malloc
settings, the default predictor and model): it reads the photo, upscales it on the default settings,
writes the PNG and reports its own peak RSS (``VmHWM``) and times. The two ways:

- ``before``: square tiles sized from half of the free memory and one float32 accumulator for the whole
  output (``Upscaler(max_memory='free', stream=False)``: the code path of ``--tile 0`` before this change);
- ``now``: the defaults: tiles planned for ``--max_memory`` (2 GiB) and blended into the output band by band.

Runs alternate (before, now, now, before, ...) so that the load of other processes hits both ways alike; each
run also reports its CPU seconds (all threads), which other processes' load changes far less than the wall time.
The outputs of the two ways are compared pixel by pixel (max abs difference; 0 means bit-identical).
The photo (default: scikit-image's ``coffee``) is resized to each size with bicubic interpolation.
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

WAYS = {'before': {'max_memory': 'free', 'stream': False}, 'now': {}, 'infer': None}  # infer: tools/infer.py itself


def _peak_rss():
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmHWM:'))


def _cpu_s():
    """CPU seconds of this process, all threads (user + system): less sensitive to other processes' load
    than the wall time."""
    t = os.times()
    return t.user + t.system


def child(args):
    """One run, in this process: set up like tools/infer.py, upscale ``args.src`` into ``args.dst``."""
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup(threads=args.threads, reexec=True)
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.media.image_io import imread, imwrite
    t0 = time.perf_counter()
    c0 = _cpu_s()
    kw = dict(WAYS[args.child])
    if args.max_memory and args.child == 'now':
        kw['max_memory'] = args.max_memory
    up = Upscaler(args.model, progress=False, **kw)
    t1 = time.perf_counter()
    c1 = _cpu_s()
    img = imread(args.src)
    out = up.upscale(img)
    t2 = time.perf_counter()
    imwrite(args.dst, out)
    t3 = time.perf_counter()
    c3 = _cpu_s()
    plan = up.last_plan
    tile = plan.describe() if plan is not None else str(up.last_tile)
    print('RESULT ' + json.dumps({'setup_s': t1 - t0, 'upscale_s': t2 - t1, 'write_s': t3 - t2,
                                  'cpu_s': c3 - c1, 'setup_cpu_s': c1 - c0,
                                  'peak_rss': _peak_rss(), 'base_rss': up.base_rss, 'tile': tile,
                                  'planned_peak': plan.peak if plan is not None else None}), flush=True)


def make_photo(photo, size, dst):
    import cv2

    from realesrgan_paddle.media.image_io import imread, imwrite
    if photo:
        img = imread(photo)
    else:
        from skimage import data
        img = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    w, h = size
    imwrite(dst, cv2.resize(img[:, :, :3] if img.ndim == 3 else img, (w, h), interpolation=cv2.INTER_CUBIC))
    return dst


def run_child(way, src, dst, args):
    """One child run; its peak RSS measured from outside (``os.wait4``'s ``ru_maxrss`` taken by the small launcher
    ``benchmarks/peak_rss.py``, so this process's own memory is not folded in: the whole child, setup, upscale and
    PNG encoding, whatever it reports itself) goes beside the child's own figures."""
    import tempfile
    import threading
    if way == 'infer':
        cmd = [sys.executable, 'tools/infer.py', '-i', str(src), '-o', str(dst)]
        cmd += ['-m', args.model] if args.model else []
        cmd += ['--max_memory', args.max_memory] if args.max_memory else []
    else:
        cmd = [sys.executable, __file__, '--child', way, '--src', str(src), '--dst', str(dst)]
        cmd += ['--model', args.model] if args.model else []
        cmd += ['--max-memory', args.max_memory] if args.max_memory else []
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    t = time.perf_counter()
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err, \
            tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / 'peak.json'
        launch = [sys.executable, str(ROOT / 'benchmarks' / 'peak_rss.py'), str(peak_file), '--']
        proc = subprocess.Popen(launch + cmd, cwd=ROOT, stdout=out, stderr=err, text=True, env=env)
        timer = threading.Timer(args.timeout, proc.terminate)  # the launcher kills its child on SIGTERM
        timer.start()
        proc.wait()
        timer.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        usage = json.loads(peak_file.read_text()) if peak_file.is_file() else {'peak_rss': 0, 'cpu_s': 0.0}
    wall = time.perf_counter() - t
    measured = usage['peak_rss']
    if way == 'infer':
        if proc.returncode != 0:
            return {'error': f'exit {proc.returncode}: {(stderr.strip().splitlines() or ["no output"])[-1]}',
                    'wall_s': wall}
        return {'peak_rss': measured, 'measured_peak': measured, 'wall_s': wall, 'upscale_s': wall, 'write_s': 0.0,
                'cpu_s': usage['cpu_s'], 'base_rss': 0, 'planned_peak': None,
                'tile': next((ln.split(': auto tiles ')[1] for ln in stderr.splitlines() if ': auto tiles ' in ln), '')}
    lines = [ln for ln in stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or ['no output'])[-1]
        return {'error': f'exit {proc.returncode}: {tail}', 'wall_s': wall}
    res = json.loads(lines[-1][len('RESULT '):])
    res['wall_s'], res['measured_peak'] = wall, measured
    return res


def max_difference(a, b):
    import numpy as np

    from realesrgan_paddle.media.image_io import imread
    x, y = imread(a), imread(b)
    if x.shape != y.shape:
        return f'shapes differ: {x.shape} vs {y.shape}'
    return int(np.abs(x.astype(np.int32) - y.astype(np.int32)).max())


def _row(size, way, r):
    gib = 1 << 30
    if 'error' in r:
        return f'{size:>10}  {way:<6}  failed: {r["error"]}'
    planned = f'{r["planned_peak"] / gib:5.2f}' if r.get('planned_peak') else '    -'
    budget = f'{r["budget"] / gib:6.2f}' if r.get('budget') else '     -'
    over = '' if not r.get('budget') else ('  WITHIN' if r['measured_peak'] <= r['budget'] else '  OVER')
    return (f'{size:>10}  {way:<6}  {r["measured_peak"] / gib:6.2f}{over:<7}  {budget}  {planned}  '
            f'{r["base_rss"] / gib:5.2f}  '
            f'{r["upscale_s"]:8.1f}  {r["write_s"]:6.1f}  {r["wall_s"]:7.1f}  {r["cpu_s"]:7.1f}  {r["tile"]}')


def parse_size(text):
    w, h = (int(v) for v in text.lower().split('x'))
    return w, h


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--photo', help='source photo (default: scikit-image coffee), resized to each size')
    p.add_argument('--sizes', default='2592x1456,4000x3000', help='input sizes WxH, comma-separated')
    p.add_argument('--repeats', default='2,1', help='runs per way for each size (one number, or one per size)')
    p.add_argument('--model', default=None, help='model (default: the default zoo model, realesrgan-x4plus)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--work', default=None, help='folder for inputs and outputs (default: a temp folder)')
    p.add_argument('--timeout', type=float, default=6 * 3600, help='seconds per run')
    p.add_argument('--ways', default='before,now',
                   help='which ways to run: before,now (side by side) or one of them (e.g. now for a size the old '
                        'path cannot hold); infer: tools/infer.py itself')
    p.add_argument('--max-memory', '--max_memory', dest='max_memory', default=None,
                   help='the budget of "now" and "infer" (default: the default, 2G)')
    p.add_argument('--child', choices=sorted(WAYS), help=argparse.SUPPRESS)
    p.add_argument('--src', help=argparse.SUPPRESS)
    p.add_argument('--dst', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    import tempfile
    work = Path(args.work or tempfile.mkdtemp(prefix='large_image_'))
    work.mkdir(parents=True, exist_ok=True)
    ways = [w for w in args.ways.split(',') if w]
    if not ways or any(w not in WAYS for w in ways):
        p.error(f'--ways: choose from {", ".join(WAYS)}')
    sizes = [parse_size(s) for s in args.sizes.split(',')]
    repeats = [int(r) for r in args.repeats.split(',')]
    repeats += [repeats[-1]] * (len(sizes) - len(repeats))
    print(f'load average at start: {os.getloadavg()[0]:.1f}; work folder {work}', flush=True)
    from realesrgan_paddle.inference.memory import DEFAULT_MAX_MEMORY, parse_memory
    budget = parse_memory(args.max_memory) if args.max_memory else DEFAULT_MAX_MEMORY
    print(f'peak: the whole child process as measured by the parent (wait4 ru_maxrss), PNG encoding included; '
          f'budget of "now" and "infer": {budget / (1 << 30):.2f} GiB', flush=True)
    print(f'{"input":>10}  {"way":<6}  {"peak":>6}  {"":<7}  {"budget":>6}  {"plan":>5}  {"base":>5}  {"upscale":>8}  {"write":>6}  '
          f'{"wall":>7}  {"cpu":>7}  tiles     (GiB, s)', flush=True)
    for (w, h), n in zip(sizes, repeats):
        size = f'{w}x{h}'
        src = make_photo(args.photo, (w, h), work / f'in_{size}.png')
        results = {way: [] for way in ways}
        for i in range(n):
            for way in (ways if i % 2 == 0 else reversed(ways)):
                r = run_child(way, src, work / f'out_{size}_{way}.png', args)
                r['load'] = os.getloadavg()[0]
                if way != 'before' and 'error' not in r:
                    r['budget'] = budget
                results[way].append(r)
                print(_row(size, way, r) + f'  (load {r["load"]:.1f})', flush=True)
        ok = all('error' not in r for rs in results.values() for r in rs)
        if ok and len(ways) == 1:
            r = results[ways[0]]
            print(f'{size:>10}  {ways[0]}: peak RSS {max(x["measured_peak"] for x in r) / (1 << 30):.2f} GiB, '
                  f'upscale+write {min(x["upscale_s"] + x["write_s"] for x in r):.0f} s, '
                  f'CPU {min(x["cpu_s"] for x in r):.0f} s', flush=True)
        elif ok and {'before', 'now'} <= set(ways):
            diff = max_difference(work / f'out_{size}_before.png', work / f'out_{size}_now.png')
            med = {way: sorted(r['upscale_s'] + r['write_s'] for r in rs)[len(rs) // 2] for way, rs in results.items()}
            cpu = {way: sorted(r['cpu_s'] for r in rs)[len(rs) // 2] for way, rs in results.items()}
            peak = {way: max(r['measured_peak'] for r in rs) for way, rs in results.items()}
            print(f'{size:>10}  now/before: peak RSS {peak["now"] / peak["before"]:.2f}x '
                  f'({peak["before"] / (1 << 30):.2f} -> {peak["now"] / (1 << 30):.2f} GiB), '
                  f'upscale+write time {med["now"] / med["before"]:.3f}x '
                  f'({med["before"]:.0f} -> {med["now"]:.0f} s, median), CPU time {cpu["now"] / cpu["before"]:.3f}x '
                  f'({cpu["before"]:.1f} -> {cpu["now"]:.1f} s); outputs differ by at most {diff}',
                  flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
