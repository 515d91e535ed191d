"""OSEDiff's logged LPIPS and DISTS reproduced: its shipped outputs scored by ``evaluation.iqa`` against its log.

    python benchmarks/osediff_iqa.py --data osediff/preset/datasets/benchmark_realsr --out realsr_iqa
    python benchmarks/osediff_iqa.py --data ... --out realsr_iqa --part 0/2 & \
        python benchmarks/osediff_iqa.py --data ... --out realsr_iqa --part 1/2     # both cores, then:
    python benchmarks/osediff_iqa.py --data ... --out realsr_iqa --table

``--data`` is a folder as the public ``cswry/OSEDiff`` repository ships it: ``test_HR``, ``results_osediff`` and
its pyiqa log ``results_osediff/metrics/*.log`` (one line per image: ``results_osediff/NAME | ...; LPIPS: x;
DISTS: y; ...``). Each output is scored against the GT of the same name (``test_HR``) on the whole image, as
pyiqa does; one JSON line per image in ``<out>/part_<k>of<n>.jsonl`` (a rerun skips the images done). The table:
the means of ours and the log's, the largest per-image difference and the image it is on, and whether torch or
jax was imported. The weights must be in the cache (``python tools/download_models.py --names vgg16 alexnet lpips
dists``).
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

LINE = re.compile(r'results_osediff/(?P<name>\S+) \|.*LPIPS: (?P<lpips>[\d.]+); DISTS: (?P<dists>[\d.]+)')
KEYS = ('lpips', 'dists')


def read_log(folder):
    """``{image name: {'lpips': x, 'dists': y}}`` from OSEDiff's metrics log."""
    logs = sorted((folder / 'results_osediff' / 'metrics').glob('*.log'))
    if not logs:
        sys.exit(f'{folder}: no results_osediff/metrics/*.log')
    out = {}
    for line in logs[0].read_text().splitlines():
        m = LINE.search(line)
        if m:
            out[m['name']] = {k: float(m[k]) for k in KEYS}
    return out


def done(out):
    return {r['image']: r for f in sorted(out.glob('part_*.jsonl')) for r in map(json.loads, f.read_text().splitlines())}


def score(args, names):
    from realesrgan_paddle.evaluation import iqa
    from realesrgan_paddle.media.image_io import imread
    metrics, notes = iqa.available()
    if notes:
        sys.exit('\n'.join(notes))
    k, n = map(int, args.part.split('/'))
    have = done(args.out)
    with open(args.out / f'part_{k}of{n}.jsonl', 'a') as f:
        for name in names[k::n]:
            if name in have:
                continue
            out, gt = imread(args.data / 'results_osediff' / name), imread(args.data / 'test_HR' / name)
            row = {'image': name, **{m: metrics[m].score(out, gt) for m in KEYS},
                   'torch': 'torch' in sys.modules, 'jax': 'jax' in sys.modules}
            f.write(json.dumps(row) + '\n')
            f.flush()


def table(args, names, log):
    have = done(args.out)
    rows = [have[n] for n in names if n in have]
    print(f'{args.data.name}: {len(rows)} of {len(names)} images scored; torch imported: '
          f'{any(r["torch"] for r in rows)}, jax imported: {any(r["jax"] for r in rows)}')
    for k in KEYS if rows else ():
        mean, ref = (sum(r[k] for r in rows) / len(rows)), sum(log[r['image']][k] for r in rows) / len(rows)
        worst = max((abs(r[k] - log[r['image']][k]), r['image']) for r in rows)
        print(f'{k.upper():6s} ours {mean:.5f}  log {ref:.5f}  |diff| {abs(mean - ref):.5f}  '
              f'largest per-image |diff| {worst[0]:.5f} ({worst[1]})')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, type=Path)
    ap.add_argument('--out', required=True, type=Path, help='folder of the per-image JSON lines')
    ap.add_argument('--limit', type=int, default=0, help='the first N images only (0: all)')
    ap.add_argument('--part', default='0/1', help='K/N: every N-th image from the K-th (run N at once)')
    ap.add_argument('--table', action='store_true', help='print the comparison only')
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = read_log(args.data)
    names = sorted(log)[:args.limit or None]
    if not args.table:
        score(args, names)
    table(args, names, log)


if __name__ == '__main__':
    main()
