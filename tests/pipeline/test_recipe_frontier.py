"""benchmarks/recipe_frontier.py: every run's checkpoints and blends a point of one LPIPS-against-PSNR table and plot,
the front starred, each export checked against the goal, a run evaluated without LPIPS named and left out."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _s(psnr, lpips):
    return {'psnr': psnr, 'ssim': 0.7, 'niqe': 7.0, 'lpips': lpips}


def _work(tmp_path, name, ckpts, blends, chosen, other='partner'):
    """A work folder whose evaluate stage's metrics.json holds ``ckpts`` and ``blends`` on the real frames."""
    refs = {'bicubic': _s(27.6, 0.47), 'base': _s(27.4, 0.39), 'x4plus': _s(26.9, 0.26)}
    real = dict(refs, **ckpts, finetuned=list(ckpts.values())[-1])
    weights = sorted(float(k.split('_')[1]) for k in blends)
    res = {'summary': real, 'real': {'summary': real, 'paired': True},
           'models': {'bicubic': 'bicubic', 'base': 'b.pdparams', 'finetuned': 'x', 'x4plus': 'realesrgan-x4plus'},
           'selection': {'summary': real, 'candidates': {k: int(k.split('_')[1]) for k in ckpts}},
           'dni': {'finetune': list(ckpts)[-1], 'other': other, 'chosen': chosen, 'summary': blends, 'weights': weights,
                   'real': {'summary': dict(blends, bicubic=refs['bicubic'], base=refs['base'])}}}
    work = tmp_path / name
    (work / 'evaluate').mkdir(parents=True)
    (work / 'evaluate' / 'metrics.json').write_text(json.dumps(res))
    return work


def _run(tmp_path, *runs):
    out = tmp_path / 'frontier.png'
    p = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'recipe_frontier.py'), '--runs', *runs,
                        '--out', str(out)], capture_output=True, text=True, cwd=tmp_path)
    return p, out


def test_every_point_the_front_and_the_goal(tmp_path):
    a = _work(tmp_path, 'a', {'iter_2': _s(27.8, 0.36), 'iter_4': _s(27.9, 0.33)},
              {'dni_0.00': _s(27.7, 0.38), 'dni_0.50': _s(28.0, 0.35), 'dni_1.00': _s(27.9, 0.33)}, 1.0)
    b = _work(tmp_path, 'b', {'iter_4': _s(28.0, 0.25)}, {'dni_0.00': _s(27.5, 0.39), 'dni_0.50': _s(27.7, 0.3),
                                                          'dni_1.00': _s(28.0, 0.25)}, 0.5, other='base')
    p, out = _run(tmp_path, f'one={a}', f'two={b}')
    assert p.returncode == 0, p.stderr
    rows = {line.split(' | ')[0].lstrip('| '): line for line in p.stdout.splitlines() if line.startswith('| ')}
    assert 'one dni_0.00 (iter_4 with partner)' in rows  # the partner is a point of its own
    assert not any(k.startswith('two dni_0.00') for k in rows)  # weight 0 with the base is the base's row
    assert rows['two iter_4'].rstrip(' |').endswith('*')  # beats every other point on both axes
    assert '*' not in rows['one iter_4'].split(' | ')[5]
    assert rows['two dni_0.50 (iter_4 with base)'].rstrip().endswith('yes |')
    assert 'goal: PSNR >= 27.90 dB and LPIPS <= 0.2600' in p.stdout
    assert '- one: export one iter_4: 27.90 dB, LPIPS 0.3300: misses the goal' in p.stdout
    assert '- two: export two dni_0.50 (iter_4 with base): 27.70 dB, LPIPS 0.3000: misses the goal' in p.stdout
    assert out.stat().st_size > 10_000


def test_a_run_without_lpips_is_named_and_left_out(tmp_path):
    a = _work(tmp_path, 'a', {'iter_4': _s(27.9, 0.33)}, {'dni_0.50': _s(28.0, 0.35)}, 1.0)
    blind = _work(tmp_path, 'blind', {'iter_4': {'psnr': 28.0}}, {'dni_0.50': {'psnr': 28.0}}, 1.0)
    p, _ = _run(tmp_path, f'one={a}', f'blind={blind}')
    assert p.returncode == 0, p.stderr
    assert f'blind: left out: {blind} was evaluated without LPIPS' in p.stdout
    assert 'blind iter_4' not in p.stdout


def test_checkpoints_scored_by_evaluate_are_more_groups(tmp_path):
    """--evals: a tools/evaluate.py --json on the same frames; its models that are not references are points of
    their own group (a lever's train.py run), the references stay the runs', a model without LPIPS is left out."""
    a = _work(tmp_path, 'a', {'iter_4': _s(27.9, 0.33)}, {'dni_0.50': _s(28.0, 0.35)}, 1.0)
    ev = tmp_path / 'lever.json'
    ev.write_text(json.dumps({'summary': {'bicubic': _s(27.0, 0.5), 'iter_300': _s(28.2, 0.25),
                                          'blind': {'psnr': 29.0}}, 'rows': []}))
    p, out = _run(tmp_path, f'one={a}', '--evals', f'gan={ev}')
    assert p.returncode == 0, p.stderr
    rows = {line.split(' | ')[0].lstrip('| '): line for line in p.stdout.splitlines() if line.startswith('| ')}
    assert rows['gan iter_300'].rstrip(' |').endswith('*') and 'gan blind' not in rows and 'gan bicubic' not in rows
    assert rows['bicubic'].split(' | ')[1] == '27.60'  # the runs' reference, not the file's
    assert out.stat().st_size > 10_000


def test_every_run_gets_a_style_of_its_own():
    """Runs past the eighth were dropped from the plot (the colours zipped with the runs): each run now has a
    (colour, marker) of its own."""
    code = 'import recipe_frontier as m; print([m.style(i) for i in range(12)])'
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT / 'benchmarks')
    assert p.returncode == 0, p.stderr[-2000:]
    styles = ast.literal_eval(p.stdout)
    assert len(set(styles)) == 12 and styles[0] == ('tab:blue', 'o') and styles[8] == ('tab:blue', '^')
