"""LPIPS against PSNR of several one-command runs on the same held-out frames: every recipe's checkpoints and DNI
blends a point, bicubic, the base and the ``--compare`` models as references, the goal's corner shaded.

    python benchmarks/recipe_frontier.py --runs plain=runs/e0 perceptual=runs/e1 --out frontier.png
    python benchmarks/recipe_frontier.py --runs d2=runs/d2 --evals gan0.3=gan.json --out levers.png

Each ``--runs`` entry is a ``tools/finetune_domain.py`` work folder; its evaluate stage's ``metrics.json`` gives the
numbers (``--on real``: the held-out real LQ frames of ``--lq-videos`` or ``--lq`` pairs, else the held-out
synthetic pairs). A run evaluated without the LPIPS weights has no LPIPS and is named and left out. The goal
(issue 70): LPIPS at most the reference's (``--goal-ref``, default x4plus) and PSNR at least its + 1 dB and at least
bicubic's. ``--evals``: checkpoints trained outside the one command, scored by ``tools/evaluate.py --json`` on
the same frames, as more groups of points. Prints one markdown table (every point, the lower-left front starred)
and the goal check of each export.
"""
import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)
from realesrgan_paddle.pipeline.report.frontier import COL, frontier_rows
from realesrgan_paddle.utils.plotting import pyplot

METRICS = ('PSNR', 'LPIPS', 'DISTS', 'NIQE')


def run_points(name, work, on):
    """``(references, points, exported)`` of one work folder, from the report's own frontier table
    (``pipeline.report.frontier.frontier_rows``: which blends are points of their own is decided there):
    ``{label: summary}`` of bicubic, the base and the compare models; ``[(label, summary)]`` of every checkpoint and
    DNI blend; the exported point's label."""
    res = json.loads((Path(work) / 'evaluate' / 'metrics.json').read_text())
    dni = res['dni']
    refs, points, exported = {}, [], None
    for row in frontier_rows(res, {'weight': float(dni['chosen'])}, on):
        point, kind = row[COL['point']], row[COL['kind']]
        summary = {m.lower(): row[COL[m]] for m in METRICS}
        if kind in ('reference', 'base', 'compare'):
            refs[point] = summary
            continue
        label = f'{name} {point}' + (f' ({dni["finetune"]} with {dni.get("other", "base")})' if kind == 'blend' else '')
        points.append((label, summary))
        exported = label if row[COL['exported']] else exported
    return refs, points, exported  # exported None: the base was exported (a reference row)


def eval_points(name, path, refs):
    """``(name, points, None)`` of a ``tools/evaluate.py --json`` file scored on the runs' held-out frames: each of
    its models that is not a reference a point (checkpoints trained outside the one command, e.g. a lever's
    ``train.py -o`` run); models without LPIPS are left out."""
    summary = json.loads(Path(path).read_text())['summary']
    points = [(f'{name} {model}', {m.lower(): s.get(m.lower()) for m in METRICS}) for model, s in summary.items()
              if model not in refs and s.get('lpips') is not None]
    return name, points, None


def front(points):
    """Labels of the points no other point beats on both PSNR (higher) and LPIPS (lower)."""
    return {a for a, s in points if not any(t['psnr'] > s['psnr'] and t['lpips'] < s['lpips'] for _, t in points)}


def goal(refs, goal_ref):
    """``(psnr_floor, lpips_ceiling)`` of the goal, or None without the reference's numbers."""
    g = refs.get(goal_ref)
    if not g or g.get('lpips') is None:
        return None
    return max(g['psnr'] + 1.0, refs['bicubic']['psnr']), g['lpips']


COLOURS = ('tab:blue', 'tab:orange', 'tab:red', 'tab:purple', 'tab:brown', 'tab:olive', 'tab:pink', 'tab:cyan')
MARKERS = ('o', '^', 'D', 'v', 'P')


def style(i):
    """The ``i``-th run's ``(colour, marker)``: the colours first, then again with the next marker (no run is
    dropped and no two of the first 40 look alike)."""
    return COLOURS[i % len(COLOURS)], MARKERS[i // len(COLOURS) % len(MARKERS)]


def plot(refs, runs, corner, out):
    """PSNR (x) against LPIPS (y, lower is better): references as squares, each run's points in one colour, its
    export ringed, the goal's corner shaded."""
    fig, ax = pyplot().subplots(figsize=(7.5, 5.5))
    if corner:
        ax.fill_between([corner[0], corner[0] + 3], 0, corner[1], color='tab:green', alpha=0.12, label='goal')
    for label, s in refs.items():
        ax.scatter(s['psnr'], s['lpips'], marker='s', color='tab:gray')
        ax.annotate(label, (s['psnr'], s['lpips']), fontsize=8, xytext=(4, 2), textcoords='offset points')
    for i, (name, points, exported) in enumerate(runs):
        colour, marker = style(i)
        xs, ys = [s['psnr'] for _, s in points], [s['lpips'] for _, s in points]
        ax.scatter(xs, ys, color=colour, marker=marker, s=18, label=name)
        for label, s in points:
            if label == exported:
                ax.scatter(s['psnr'], s['lpips'], s=120, facecolors='none', edgecolors=colour, linewidths=1.5)
    every = [s for _, pts, _ in runs for _, s in pts] + list(refs.values())
    ax.set_xlim(min(s['psnr'] for s in every) - 0.2, max(s['psnr'] for s in every) + 0.3)
    ax.set_ylim(min(s['lpips'] for s in every) - 0.02, max(s['lpips'] for s in every) + 0.02)
    ax.set_xlabel('PSNR (dB, Y), higher is better')
    ax.set_ylabel('LPIPS (AlexNet), lower is better')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def table(refs, runs, corner):
    """The markdown table of every point (the front starred) and the goal check of each run's export."""
    everything = list(refs.items()) + [p for _, pts, _ in runs for p in pts]
    best = front(everything)
    fmt = lambda v: '' if v is None else f'{v:.3f}' if abs(v) < 10 else f'{v:.2f}'  # noqa: E731
    lines = ['| point | PSNR | LPIPS | DISTS | NIQE | front | exported |', '|---|---|---|---|---|---|---|']
    exported = {e for _, _, e in runs}
    for label, s in everything:
        lines.append(f'| {label} | {fmt(s["psnr"])} | {fmt(s["lpips"])} | {fmt(s.get("dists"))} | '
                     f'{fmt(s.get("niqe"))} | {"*" if label in best else ""} | {"yes" if label in exported else ""} |')
    if corner:
        lines.append(f'\ngoal: PSNR >= {corner[0]:.2f} dB and LPIPS <= {corner[1]:.4f}')
        for name, points, e in runs:
            s = dict(points).get(e)
            if s:
                ok = s['psnr'] >= corner[0] and s['lpips'] <= corner[1]
                lines.append(f'- {name}: export {e}: {s["psnr"]:.2f} dB, LPIPS {s["lpips"]:.4f}: '
                             f'{"meets the goal" if ok else "misses the goal"}')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', nargs='+', required=True, metavar='NAME=WORK', help='one-command work folders')
    ap.add_argument('--evals', nargs='*', default=[], metavar='NAME=JSON',
                    help='tools/evaluate.py --json files on the same held-out frames (e.g. --gt WORK/evaluate/crops/'
                         'real/gt --lq .../lq): each a group of points, its models that are not references')
    ap.add_argument('--on', choices=('real', 'pairs'), default='real')
    ap.add_argument('--goal-ref', default='x4plus', help='the --compare model the goal is measured against')
    ap.add_argument('--out', help='the plot (PNG)')
    args = ap.parse_args()
    refs, runs = {}, []
    for entry in args.runs:
        name, _, work = entry.partition('=')
        r, points, exported = run_points(name, work, args.on)
        if any(s.get('lpips') is None for _, s in points):
            print(f'{name}: left out: {work} was evaluated without LPIPS (its weights not cached)')
            continue
        refs = refs or {k: v for k, v in r.items() if v.get('lpips') is not None}
        runs.append((name, points, exported))
    if not runs:
        raise SystemExit('recipe_frontier: no run has LPIPS')
    runs += [eval_points(*e.split('=', 1), refs) for e in args.evals]
    corner = goal(refs, args.goal_ref)
    print(table(refs, runs, corner))
    if args.out:
        plot(refs, runs, corner, args.out)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
