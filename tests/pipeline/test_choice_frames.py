"""benchmarks/choice_frames.py: the rule on both axes re-run on subsets of a run's held-out real frames, on a
constructed metrics.json (a broadcast soccer run's numbers, 30 frames): the table's rows add up and the point chosen on
every frame is named."""
import json
import subprocess
import sys

from realesrgan_paddle.pipeline.choice.dni_sweep import blend_name
from tests.pipeline.winner_rows import SOCCER, metrics_of, rows_of
from tests.user_path import ROOT


def test_choice_on_subsets_of_the_frames(tmp_path):
    pts = dict(SOCCER, **{blend_name(0.0): (23.99, 0.290), blend_name(0.4): (23.97, 0.263),
                          blend_name(1.0): SOCCER['iter_450']})
    res = metrics_of(pts, 30, 1.0)
    cands = {'iter_150': 150, 'iter_300': 300, 'iter_450': 450, 'iter_600': 600}
    res['real']['rows'] = [dict(r, **{k: v for k, v in full.items() if k.startswith('iter_')})
                           for r, full in zip(res['real']['rows'], rows_of(pts, 30))]
    res['selection'].update(candidates=cands)
    res['dni'].update(weights=[0.0, 0.4, 1.0])
    (tmp_path / 'evaluate').mkdir()
    (tmp_path / 'evaluate' / 'metrics.json').write_text(json.dumps(res))
    out = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'choice_frames.py'), '--work', str(tmp_path),
                          '--frames', '4', '16', '--draws', '20'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith('all 30 frames on the real LQ frames: iter_') and 'beats x4plus and base' in lines[0]
    rows = [ln for ln in lines if ln.startswith(('| 4 |', '| 16 |'))]
    assert len(rows) == 2
    for ln in rows:
        cells = [c.strip() for c in ln.strip('|').split('|')]
        shares = [int(c.rstrip('%')) for c in cells[2:6]]
        assert 99 <= sum(shares) <= 101 and len(cells) == 10  # every draw is one kind of point
