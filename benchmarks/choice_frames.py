"""Does the export's choice hold with few frames? The rule on both axes (``pipeline/choice/winner.py``) re-run on random
subsets of one run's held-out frames, every checkpoint and DNI blend a point.

    python benchmarks/choice_frames.py --work runs/domain --frames 4 8 16 --draws 200 [--refs base]

``--work`` is a ``tools/finetune_domain.py`` work folder; its evaluate stage's ``metrics.json`` holds the per-image
rows of the frames that decide (the paired real LQ frames when the run has some, else the held-out pairs): bicubic,
the base, the ``--compare`` models, every checkpoint and every DNI blend of the sweep. For each subset size, ``--draws``
subsets of that many frames (without replacement, seeded) are judged as a run with only those frames would judge
them, over all the points together. Prints, per size, how often each kind of point is chosen (base, checkpoint,
blend, partner), how often the point chosen on every frame, how often the chosen point beats every reference on both
axes, and of those how often the rule says the frames are too few to be sure.
"""
import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)
from realesrgan_paddle.pipeline.inputs.crops import frame_of
from realesrgan_paddle.pipeline.choice.dni_sweep import blend_name
from realesrgan_paddle.pipeline.choice.winner import choose_point, merge_rows, sure


def deciding(res):
    """``(rows, points, refs, where)``: the frames that decide, every point in tie order, the references."""
    real, dni, sel = res.get('real') or {}, res['dni'], res['selection']
    paired = real.get('paired')
    rows = (merge_rows(real['rows'], dni['real']['rows']) if paired else merge_rows(sel['rows'], dni['rows']))
    partner = dni.get('other') == 'partner'
    blends = [blend_name(w) for w in dni['weights'] if w < 1.0 and (w > 0.0 or partner)]
    points = ['base', *sel['candidates'], *blends]
    refs = [m for m in res['models'] if m not in ('bicubic', 'base', 'finetuned')] + ['base']
    return rows, points, refs, 'on the real LQ frames' if paired else 'on the held-out pairs'


def kind(name, res):
    if name == 'base':
        return 'base'
    if name.startswith('iter_'):
        return 'checkpoint'
    return 'partner' if name == blend_name(0.0) and res['dni'].get('other') == 'partner' else 'blend'


def draw(rows, points, refs, where, frames, k, rng):
    """The rule on ``k`` frames drawn from ``frames``: ``(name, beats every reference, sure)``."""
    keep = set(rng.choice(frames, size=k, replace=False))
    sub = [r for r in rows if frame_of(r['image']) in keep]
    name, stats, _ = choose_point(sub, points, refs, where)
    return name, stats[name]['beats'], sure(stats[name])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--work', required=True)
    ap.add_argument('--frames', type=int, nargs='+', default=[4, 8, 16])
    ap.add_argument('--draws', type=int, default=200)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--refs', nargs='+', default=None, metavar='NAME',
                    help='the references (default: the run\'s --compare models and the base; "base" alone: as a run '
                         'with --compare none would judge)')
    args = ap.parse_args()
    res = json.loads((Path(args.work) / 'evaluate' / 'metrics.json').read_text())
    rows, points, refs, where = deciding(res)
    refs = args.refs or refs
    frames = sorted({frame_of(r['image']) for r in rows})
    full, stats, why = choose_point(rows, points, refs, where)
    print(f'all {len(frames)} frames {where}: {why}\n')
    print('| frames | draws | ' + ' | '.join(('base', 'checkpoint', 'blend', 'partner')) + ' | same point as on all '
          '| same kind | beats every reference | of those, "too few" |')
    print('|---' * 10 + '|')
    rng = np.random.default_rng(args.seed)
    for k in [k for k in args.frames if k < len(frames)]:
        got = [draw(rows, points, refs, where, frames, k, rng) for _ in range(args.draws)]
        kinds = Counter(kind(n, res) for n, _, _ in got)
        same = sum(n == full for n, _, _ in got) / len(got)
        same_kind = kinds[kind(full, res)] / len(got)
        wins = [ok for _, beats, ok in got if beats]
        few = f'{sum(not ok for ok in wins) / len(wins):.0%}' if wins else '-'
        print(f'| {k} | {len(got)} | ' + ' | '.join(f'{kinds[c] / len(got):.0%}' for c in
                                                    ('base', 'checkpoint', 'blend', 'partner'))
              + f' | {same:.0%} | {same_kind:.0%} | {len(wins) / len(got):.0%} | {few} |')


if __name__ == '__main__':
    main()
