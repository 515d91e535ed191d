"""tools/finetune_domain.py through its command line on a 4 s real clip with a tiny recipe:
all seven stages, the report, skipping finished stages, redoing changed ones, a SIGKILL in the
middle of training then a resume, and one-line errors for bad inputs."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.finetune_run import ROOT, TINY, cmd, errors, ffmpeg, make_clip, run, run_here
from tests.cli_checks import a_line


def exported_weights(work):
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    return pick_params(load_state_file(work / 'export' / 'model.pdparams'))[0]['body.0.weight']


def dni_weights(work, base, w):
    """``body.0.weight`` of the blend ``w`` x the DNI sweep's checkpoint + (1 - w) x the base."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    dni = json.loads((work / 'evaluate' / 'metrics.json').read_text())['dni']
    ft = work / 'finetune' / 'experiments' / 'finetune' / 'models' / f'net_g_{dni["iteration"]}.pdparams'
    a, b = (pick_params(load_state_file(f))[0]['body.0.weight'] for f in (ft, base))
    return w * a + (1 - w) * b


@pytest.mark.slow(seconds=29)
def test_end_to_end_then_skip_then_redo_changed_stages(clips, tiny_base, tmp_path):
    work = tmp_path / 'work'
    res = run(clips, work, '--base', tiny_base, '--iters', 8, *TINY)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = res.stdout.strip().splitlines()[-1]
    assert summary.startswith('done: exported ') and 'inference.pdmodel' in summary and 'PSNR' in summary
    state = json.loads((work / 'state.json').read_text())['stages']
    assert set(state) == {'keyframes', 'split', 'degrade', 'finetune', 'evaluate', 'export', 'report'}
    assert not list(work.glob('*.partial'))
    # split: per video by time, no near-duplicate across, files where the split says
    rows = json.loads((work / 'split' / 'split.json').read_text())
    train = [r for r in rows if r['set'] == 'train']
    held = [r for r in rows if r['set'] == 'heldout']
    assert len(train) >= 4 and len(held) >= 2
    assert max(r['time'] for r in train) <= min(r['time'] for r in held) - 0.5
    assert all(r['reason'].startswith(('gap', 'near-duplicate of')) for r in rows if r['set'] == 'dropped')
    assert sorted(p.name for p in (work / 'split' / 'val_hr').iterdir()) == sorted(r['file'] for r in held)
    assert sorted(p.stem for p in (work / 'degrade' / 'val_lq').glob('*.png')) == \
        sorted(Path(r['file']).stem for r in held)
    # finetune: 4 checkpoints (every iters/4), options that reproduce the run
    ft = state['finetune']['info']
    assert ft['checkpoints'] == [2, 4, 6, 8] and ft['template'] == 'finetune_domain_compact_cpu.yml'
    assert (work / 'finetune' / 'options.yml').is_file()
    # evaluate: the criterion's choice, and the export is exactly that model
    metrics = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    assert set(metrics['summary']) == {'bicubic', 'base', 'finetuned'}
    assert all(metrics['summary'][m]['detail'] > 0 and metrics['summary'][m]['texture'] > 0 for m in metrics['summary'])
    # evaluation.evaluator's metrics: NIQE measured (264x200 frames) and used by the criterion, artefact present
    assert all(0 < metrics['summary'][m]['niqe'] < 100 and metrics['summary'][m]['artefact'] >= 0
               for m in metrics['summary'])
    assert all(t['dniqe'] is not None for t in metrics['selection']['table'].values())
    assert set(metrics['backends'].values()) == {'bicubic', 'dynamic'}  # compact checkpoints: no export each
    assert [ln.split(':')[0] for ln in metrics['verdicts']['finetuned']] == ['distortion', 'perception']
    # the export is the DNI rule's blend of the base and the sweep's checkpoint (0: the base, 1: the checkpoint)
    assert exported_weights(work) == pytest.approx(dni_weights(work, tiny_base, metrics['dni']['chosen']), abs=1e-6)
    assert (work / 'export' / 'inference.pdmodel').is_file() and (work / 'export' / 'inference.pdiparams').is_file()
    # report: md with the tables, html self-contained
    md = (work / 'report.md').read_text()
    for part in ('## Held-out metrics', '## Checkpoint choice', '## Per image', 'report/curves.png',
                 'report/sheet.png', 'python train.py --yml_path', 'make_lq_data.py', 'extract_keyframes.py',
                 '| model | PSNR | SSIM | NIQE | detail | texture | ARTEFACT', 'texture = the power in the octave', '- base vs finetuned, distortion: ',
                 '- base vs finetuned, perception: ', '- all models, perception'):
        assert part in md, part
    assert 'NIQE' in summary
    # per scene: one row per video with held-out frames, built from the per-image rows and the split
    assert '### Per scene' in md and '| scene | frames | input detail |' in md and 'Input detail (how much' in md
    assert 'PSNR at detail 0.7 with invented texture' in md and all(f'{n} ' in md for n in metrics['models'])
    assert all(math.isfinite(r['finetuned_psnr_at_detail']) for r in metrics['rows'])
    from realesrgan_paddle.pipeline.report.page import scene_rows
    scenes = scene_rows(metrics['rows'], {r['file']: r['video'] for r in rows}, list(metrics['models']))
    assert sorted(r[0] for r in scenes) == sorted({r['video'] for r in held})
    assert sum(r[1] for r in scenes) == len(held) and all(r[2] > 0 for r in scenes)
    html = (work / 'report.html').read_text()
    assert html.count('<img ') == html.count('src="data:image/png;base64,') == 3
    # the fidelity knob: blends swept on the held-out frames (0 and 1 are the base's and the checkpoint's rows)
    dni, sel = metrics['dni'], metrics['selection']
    assert dni['weights'] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and dni['finetune'] in sel['candidates']
    # no --lq-videos: no partner (pipeline/train/partner.py) although the template's anchor has an energy term
    assert dni['other'] == 'base' and not (work / 'finetune' / 'partner').exists()
    assert dni['summary']['dni_0.00'] == sel['summary']['base']
    assert dni['summary']['dni_1.00'] == sel['summary'][dni['finetune']]
    assert '## Fidelity knob (DNI) and the perception-distortion frontier' in md and 'report/frontier.png' in md
    assert all(f'| dni_{w:.2f} | blend |' in md for w in (0.2, 0.4, 0.6, 0.8))
    head = '| point | kind | iteration / weight | PSNR | SSIM | NIQE | detail | texture | '
    # LPIPS and DISTS columns only when their weights were in the cache (another test may have fetched them)
    assert any(ln.startswith(head) and ln.endswith(' exported |') for ln in md.splitlines()), md[:3000]
    assert all(dni['summary'][f'dni_{w:.2f}']['texture'] > 0 for w in (0.2, 0.4, 0.6, 0.8))

    # the same command again, on videos touched since (same bytes, new times): every stage skipped
    for v in clips.iterdir():
        os.utime(v)
    res2 = run(clips, work, '--base', tiny_base, '--iters', 8, *TINY)
    assert res2.returncode == 0, res2.stderr[-2000:]
    assert res2.stderr.count('done earlier with the same settings: skipped') == 7

    # a changed evaluation setting: evaluate, export and report run again, the earlier stages not
    res3 = run(clips, work, '--base', tiny_base, '--iters', 8, *TINY, '--compare', f'other={tiny_base}')
    assert res3.returncode == 0, res3.stderr[-2000:]
    for s in ('keyframes', 'split', 'degrade', 'finetune'):
        assert f'[{s}] done earlier with the same settings: skipped' in res3.stderr
    for s in ('evaluate', 'export', 'report'):
        assert f'[{s}] running' in res3.stderr
    assert '[evaluate] settings changed' in res3.stderr
    metrics = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    assert set(metrics['summary']) == {'bicubic', 'base', 'finetuned', 'other'}
    assert metrics['summary']['other']['psnr'] == pytest.approx(metrics['summary']['base']['psnr'])

    # --dni-weight: another point of the sweep is exported; only the export and the report run again
    res4 = run(clips, work, '--base', tiny_base, '--iters', 8, *TINY, '--compare', f'other={tiny_base}',
               '--dni-weight', 0.4)
    assert res4.returncode == 0, res4.stderr[-2000:]
    for s in ('keyframes', 'split', 'degrade', 'finetune', 'evaluate'):
        assert f'[{s}] done earlier with the same settings: skipped' in res4.stderr
    assert '[export] settings changed' in res4.stderr and '[report] running' in res4.stderr
    assert exported_weights(work) == pytest.approx(dni_weights(work, tiny_base, 0.4), abs=1e-6)
    blend = json.loads((work / 'evaluate' / 'metrics.json').read_text())['dni']['summary']['dni_0.40']
    line = res4.stdout.strip().splitlines()[-1]
    assert 'the DNI blend 0.4 x ' in line and f'PSNR {blend["psnr"]:.2f} dB' in line
    md = (work / 'report.md').read_text()
    assert '--dni-weight 0.4 overrides the rule' in md and '| dni_0.40 | blend | 0.4 |' in md
    assert md.split('| dni_0.40 | blend | 0.4 |')[1].split('\n')[0].rstrip().endswith('| yes |')
    assert '**Exported with --force-export although dni_0.40 loses to bicubic on both axes' in md

    # without --force-export the same point is refused: only the export runs again, and stops in one line
    res5 = run(clips, work, '--base', tiny_base, '--iters', 8, *TINY, '--compare', f'other={tiny_base}',
               '--dni-weight', 0.4, force=False)
    assert res5.returncode == 1 and '[export] settings changed' in res5.stderr, res5.stderr[-2000:]
    last = errors(res5)[-1]
    assert last.startswith('error: export refused: dni_0.40 loses to bicubic on both axes on the held-out pairs: '
                           'PSNR ') and '--force-export exports it anyway); ' in last, last
    assert last.endswith(f'the report says why and what to try: {work / "report.html"}'), last  # written first
    assert '## Nothing exported' in (work / 'report.md').read_text()


@pytest.mark.slow(seconds=24)
def test_sigkill_in_training_then_resume(clips, tiny_base, tmp_path):
    work = tmp_path / 'work'
    states = work / 'finetune.partial' / 'experiments' / 'finetune' / 'training_states'
    proc = subprocess.Popen(cmd(clips, work, '--base', tiny_base, '--iters', 20, *TINY), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (states.is_dir() and any(states.glob('*.pdstates'))):
            time.sleep(0.2)
        assert states.is_dir() and any(states.glob('*.pdstates')), 'no training state appeared'
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = json.loads((work / 'state.json').read_text())['stages']
    assert set(done) == {'keyframes', 'split', 'degrade'}
    # to the end of the training (the later stages are the end-to-end test's)
    res = run(clips, work, '--base', tiny_base, '--iters', 20, *TINY, '--stop-after', 'finetune')
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1].startswith('stopped after finetune')
    for s in ('keyframes', 'split', 'degrade'):
        a_line(res.stderr, f'[{s}]', 'skipped')
    assert 'resumed from iter' in res.stderr
    assert json.loads((work / 'state.json').read_text())['stages']['finetune']['info']['checkpoints'][-1] == 20


@pytest.mark.slow(seconds=23)
def test_bad_inputs_one_line_exit_2(clips, shared_data, hr_photos, tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    res = run(empty, tmp_path / 'w0')
    assert res.returncode == 2 and errors(res) == [f'error: no video files in {empty}']

    black = tmp_path / 'black'
    black.mkdir()
    ffmpeg('-f', 'lavfi', '-i', 'color=c=black:s=320x240:d=2:r=10', '-c:v', 'mpeg4', black / 'black.mp4')
    code, lines = run_here(capsys, black, tmp_path / 'w1')  # in this process: no interpreter start
    assert code == 2 and lines[-1].startswith('error: nothing kept by the frame filters') \
        and 'black' in lines[-1], lines[-20:]
    assert not any('Traceback' in ln for ln in lines)

    short = make_clip(shared_data, hr_photos, tmp_path / 'short' / 'short.mp4', secs=1.2).parent
    code, lines = run_here(capsys, short, tmp_path / 'w2')
    assert code == 2 and lines[-1].startswith('error: too few frames for a split'), lines[-20:]
    assert not any('Traceback' in ln for ln in lines)

    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    code, lines = run_here(capsys, clips, blocker / 'work')
    assert code == 2 and len(lines) == 1 and 'work folder' in lines[0], lines

    code, lines = run_here(capsys, clips, tmp_path / 'w3', '--compare', f'x={tmp_path / "missing.pdparams"}')
    assert code == 2 and lines == [f'error: --compare x={tmp_path / "missing.pdparams"}: no such file']

    # the work folder never goes into, onto or around the footage
    for work in (clips / 'run', clips, clips.parent):
        code, lines = run_here(capsys, clips, work)
        assert code == 2 and len(lines) == 1 and lines[0].startswith(
            f'error: refusing to write into {work}: the --work folder'), lines
    assert sorted(p.name for p in clips.iterdir()) == ['cup4.mp4']

    # a --base that is neither a zoo base nor a file is refused before any stage runs (the first in a process of
    # its own: the zoo lookup loads paddle first)
    for i, base in enumerate((tmp_path / 'missing_base.pdparams', tmp_path, 'RealESRGAN_x2plus', 'vgg19')):  # x2
        if i == 0:
            res = run(clips, tmp_path / 'w4', '--base', str(base))
            code, lines = res.returncode, errors(res)
        else:
            code, lines = run_here(capsys, clips, tmp_path / 'w4', '--base', str(base))
        assert code == 2 and lines == [
            f'error: --base {base}: not realesr-animevideov3, realesrgan-x4plus, another x4 zoo upscaler '
            '(download_models.py --list) or a weights file'], lines
        assert not (tmp_path / 'w4' / 'keyframes').exists()

    # --device gpu on a Paddle without CUDA: one line before any stage (it was a traceback at the training stage)
    from realesrgan_paddle.training.dist import gpu_available
    if not gpu_available():
        res = run(clips, tmp_path / 'w5', '--device', 'gpu')
        assert res.returncode == 2 and errors(res) == [
            'error: --device gpu: this Paddle build has no CUDA GPU (the GPU build: README, "NVIDIA GPU"); '
            'use --device cpu'], res.stderr[-2000:]
        assert not (tmp_path / 'w5' / 'keyframes').exists()

    res = run(clips, tmp_path / 'w3', '--budget', 'soon')  # before paddle loads
    assert res.returncode == 2 and errors(res) == ["error: --budget 'soon': expected a duration such as 30m, "
                                                   "1h30m or 90s"]
    for w in ('1.5', 'nan', '-0.1'):
        assert run_here(capsys, clips, tmp_path / 'w3', '--dni-weight', w) == (
            2, [f'error: --dni-weight must be in [0, 1], got {float(w)}'])
    for n in ('1', '65'):
        assert run_here(capsys, clips, tmp_path / 'w3', '--fit-frames', n) == (
            2, [f'error: --fit-frames must be in [2, 64], got {n}'])


@pytest.mark.slow(seconds=31)
def test_budget_is_turned_into_iterations_by_a_timed_warmup(clips, tiny_base, tmp_path):
    work = tmp_path / 'work'
    res = run(clips, work, '--base', tiny_base, '--budget', '15s', *TINY, '--stop-after', 'finetune')
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1].startswith('stopped after finetune')
    plan = json.loads((work / 'finetune' / 'plan.json').read_text())
    assert plan['how'] == '--budget 15s' and plan['warmup_iters'] == 6 and plan['s_per_iter'] > 0
    # iters = floor(0.9 * (budget - warm-up wall) / s_per_iter), at least 1 (plan.json keeps 6 decimals)
    assert abs(plan['iters'] - max(1.0, 0.9 * (15 - plan['warmup_wall_s']) / plan['s_per_iter'])) <= 1
    info = json.loads((work / 'state.json').read_text())['stages']['finetune']['info']
    assert info['iters'] == plan['iters'] and info['checkpoints'][-1] == plan['iters']
    assert not (work / 'finetune' / 'warmup').exists()
    said = re.search(r'([\d.]+) s/iteration measured -> (\d+) iterations', res.stderr)
    assert said and int(said.group(2)) == plan['iters'] and float(said.group(1)) == pytest.approx(plan['s_per_iter'],
                                                                                               abs=0.01)


def _trainers(work):
    """PIDs of train.py processes working in ``work`` (from /proc)."""
    found = []
    for d in Path('/proc').iterdir():
        try:
            args = (d / 'cmdline').read_bytes().split(b'\0')
        except (OSError, ValueError):
            continue
        if any(a.endswith(b'train.py') for a in args) and any(str(work).encode() in a for a in args):
            found.append(int(d.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='the parent-death signal is Linux only')
@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGKILL'])
def test_killing_the_pipeline_alone_stops_its_trainer(clips, tiny_base, tmp_path, sig):
    """A signal to the pipeline's process only (not its group, as a scheduler or `kill PID` sends it) used to
    leave train.py running, and a re-run then started a second trainer on the same folder."""
    work = tmp_path / 'work'
    proc = subprocess.Popen(cmd(clips, work, '--base', tiny_base, '--iters', 100000, *TINY), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not _trainers(work):
            time.sleep(0.2)
        trainers = _trainers(work)
        assert trainers, 'the trainer did not start'
        os.kill(proc.pid, getattr(signal, sig))
        err = proc.communicate(timeout=60)[1]
        deadline = time.time() + 30
        while time.time() < deadline and _trainers(work):
            time.sleep(0.2)
        assert not _trainers(work), f'train.py still running after {sig} to the pipeline'
        if sig == 'SIGTERM':
            assert proc.returncode == 130 and err.strip().splitlines()[-1] == \
                'interrupted: re-run the same command to resume', err[-2000:]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in _trainers(work):
            os.kill(pid, signal.SIGKILL)
