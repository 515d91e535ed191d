"""OSEDiff's logged LPIPS and DISTS reproduced: its shipped outputs scored by ``evaluation.iqa`` against its log.

    python benchmarks/osediff_iqa.py --data osediff/preset/datasets/benchmark_realsr
    python benchmarks/osediff_iqa.py --data .../benchmark_drealsr --limit 10

``--data`` is a folder as the public ``cswry/OSEDiff`` repository ships it: ``test_HR``, ``results_osediff`` and
its pyiqa log ``results_osediff/metrics/*.log`` (one line per image: ``results_osediff/NAME | ...; LPIPS: x;
DISTS: y; ...``). Each output is scored against the GT of the same name (``test_HR``) on the whole image, as
pyiqa does; printed: the means of ours and the log's, the largest per-image difference and the image it is on.
The weights must be in the cache (``python tools/download_models.py --names vgg16 alexnet lpips dists``).
"""
import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LINE = re.compile(r'results_osediff/(?P<name>\S+) \|.*LPIPS: (?P<lpips>[\d.]+); DISTS: (?P<dists>[\d.]+)')


def read_log(folder):
    """``{image name: {'lpips': x, 'dists': y}}`` from OSEDiff's metrics log."""
    logs = sorted((folder / 'results_osediff' / 'metrics').glob('*.log'))
    if not logs:
        sys.exit(f'{folder}: no results_osediff/metrics/*.log')
    out = {}
    for line in logs[0].read_text().splitlines():
        m = LINE.search(line)
        if m:
            out[m['name']] = {'lpips': float(m['lpips']), 'dists': float(m['dists'])}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, type=Path)
    ap.add_argument('--limit', type=int, default=0, help='the first N images only (0: all)')
    args = ap.parse_args()
    from realesrgan_paddle.evaluation import iqa
    from realesrgan_paddle.media.image_io import imread
    log = read_log(args.data)
    metrics, notes = iqa.available()
    if notes:
        sys.exit('\n'.join(notes))
    names = sorted(log)[:args.limit or None]
    ours = {k: [] for k in ('lpips', 'dists')}
    worst = {k: (0.0, '') for k in ours}
    for name in names:
        out, gt = imread(args.data / 'results_osediff' / name), imread(args.data / 'test_HR' / name)
        for k in ours:
            v = metrics[k].score(out, gt)
            ours[k].append(v)
            worst[k] = max(worst[k], (abs(v - log[name][k]), name))
    print(f'{args.data.name}: {len(names)} images; torch imported: {"torch" in sys.modules}, '
          f'jax imported: {"jax" in sys.modules}')
    for k, vals in ours.items():
        ref = sum(log[n][k] for n in names) / len(names)
        mean = sum(vals) / len(vals)
        print(f'{k.upper():6s} ours {mean:.5f}  log {ref:.5f}  |diff| {abs(mean - ref):.5f}  '
              f'largest per-image |diff| {worst[k][0]:.5f} ({worst[k][1]})')


if __name__ == '__main__':
    main()
