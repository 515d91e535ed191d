"""tools/finetune_domain.py on footage shaped like a user's: a static camera (a fixed real photo with two
objects crossing it, made here with ffmpeg), its low-resolution copy as a stream would carry it (area x4,
x264 CRF 28), and bad --lq-videos input (one line naming the file and the problem, exit 2)."""
import json
import subprocess
import sys

import pytest

from tests.pipeline.finetune_run import ROOT, TOOL, run_here
from tests.pipeline.finetune_run import ffmpeg as _ffmpeg
from tests.cli_checks import a_line

TINY = ['-o', 'gt_size=32', '-o', 'datasets.train.crop_pad_size=64', '-o', 'queue_size=4']


def ffmpeg(*args):
    _ffmpeg(*args, timeout=300)


def static_camera(photo, out, secs=50, size='264:200'):
    """A static camera: ``photo`` fixed, two test patterns crossing it at different speeds, 5 fps, x264."""
    w = int(size.split(':')[0])
    graph = (f"[0]scale={size},fps=5[bg];[bg][1]overlay=x='mod(t*29\\,{w + 48})-48':y=60[a];"
             f"[a][2]overlay=x='{w}-mod(t*41\\,{w + 40})':y=140,format=yuv420p")
    ffmpeg('-loop', 1, '-t', secs, '-i', photo, '-f', 'lavfi', '-i', 'testsrc=size=48x36:rate=5', '-f', 'lavfi',
           '-i', 'testsrc2=size=40x40:rate=5', '-filter_complex', graph, '-t', secs, '-c:v', 'libx264', '-crf', 18,
           out)
    return out


@pytest.fixture(scope='module')
def footage(tmp_path_factory):
    import cv2
    from skimage import data as skdata
    root = tmp_path_factory.mktemp('static')
    photo = root / 'coffee.png'
    cv2.imwrite(str(photo), cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR))
    for d in ('hr', 'lq', 'lq_big', 'lq_x2', 'lq_crop', 'lq_bad', 'lq_empty'):
        (root / d).mkdir()
    static_camera(photo, root / 'hr' / 'cam.mp4')
    ffmpeg('-i', root / 'hr' / 'cam.mp4', '-vf', 'scale=iw/4:ih/4:flags=area', '-c:v', 'libx264', '-crf', 28,
           root / 'lq' / 'cam.mp4')
    for name, scale in (('lq_big', 'scale=iw*2:ih*2'), ('lq_x2', 'scale=iw/2:ih/2'),
                        ('lq_crop', 'crop=242:184,scale=iw/4:ih/4')):  # another framing: 4.4x
        ffmpeg('-i', root / 'hr' / 'cam.mp4', '-t', 2, '-vf', scale, '-c:v', 'libx264', root / name / 'cam.mp4')
    (root / 'lq_bad' / 'cam.mp4').write_bytes(bytes(range(256)) * 40)
    return root


def run(*args, timeout=900):
    # --force-export: a tiny base loses to bicubic on both axes and is exported only when forced; --compare none
    # unless the test compares: the default x4plus comparison is test_compare_default.py's
    args = [str(a) for a in args]
    none = [] if '--compare' in args else ['--compare', 'none']
    return subprocess.run([sys.executable, str(TOOL), *args, *none, '--force-export'], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def one_line(res):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-2000:]
    return lines[0]


def test_a_static_camera_gives_dozens_of_train_frames(footage, tmp_path):
    """50 s of a static camera every 0.4 s: 125 keyframes (the builder's hash dedupe would keep a handful),
    dozens of train frames and at least 12 held-out, and the log states the counts."""
    work = tmp_path / 'w'
    res = run('--videos', footage / 'hr', '--work', work, '--stop-after', 'split', '-q')
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((work / 'split' / 'split.json').read_text())
    n_train = sum(r['set'] == 'train' for r in rows)
    n_held = sum(r['set'] == 'heldout' for r in rows)
    assert len(rows) == 125 and n_train >= 36 and n_held >= 12
    a_line(res.stderr, 'split:', f'{n_train} train', f'{n_held} held-out')


@pytest.mark.slow(seconds=82)
def test_lq_videos_real_footage_is_scored_and_is_the_first_picture(footage, tiny_base, tmp_path):
    """The held-out real LQ frames (the end of the LQ clip, which the fit did not sample) go through bicubic,
    the base, the finetuned model, every checkpoint and --compare; their sheet is the report's first picture.
    This LQ clip is the HR clip made smaller, so each frame is paired with its HR keyframe; then, without
    those pairs (any other footage), the same frames are scored without a reference."""
    work = tmp_path / 'w'
    # a keyframe every 0.8 s (63, 13 held out) and 3 frames a side for the fit: the same paths at half the time
    args = ['--videos', footage / 'hr', '--lq-videos', footage / 'lq', '--work', work, '--base', tiny_base,
            '--iters', 4, '--every', 0.8, '--fit-frames', 3, *TINY, '-q']
    res = run(*args, '--compare', f'other={tiny_base}')
    assert res.returncode == 0, res.stderr[-3000:]
    real = sorted(p.name for p in (work / 'degrade' / 'real_lq').glob('*.png'))
    info = json.loads((work / 'state.json').read_text())['stages']['degrade']['info']
    assert info['fit']['lq_span'] == [0.0, 0.8]
    assert info['fit']['hr_span'] == [0.0, 0.8] and info['fit']['hr']  # HR sampled clip by clip, same span
    # held out from the fit: the LQ frames shown at the held-out HR frames' moments (the last 20 %), named so
    held = sorted(p.name for p in (work / 'split' / 'val_hr').iterdir())
    assert 12 <= len(real) <= 30 and set(real) <= set(held) and all(float(n[len('cam_'):-4]) >= 40.0 for n in real)
    assert info['real_lq']['paired'] == len(real)
    # no template trains on the training span's real pairs (recipes.FITTED_PAIRS): the finetune is as before
    import yaml
    assert 'real_pairs' not in yaml.safe_load((work / 'finetune' / 'options.yml').read_text())['datasets']
    assert not (work / 'finetune' / 'real_pairs').exists() and 'real pairs:' not in res.stderr
    assert sorted(p.name for p in (work / 'degrade' / 'real_gt').iterdir()) == real
    summary = res.stdout.strip().splitlines()[-1]
    assert f'on the real LQ footage ({len(real)} frames, ' in summary and '): PSNR ' in summary
    m = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    r = m['real']
    assert r['frames'] == len(real) and r['models'] == ['bicubic', 'base', 'finetuned', 'other'] and r['paired']
    ckpts = [c for c in m['selection']['candidates'] if c != m['selection']['shown']]
    assert r['checkpoints'] == ckpts
    assert all(0 < r['summary'][c]['psnr'] < 60 and 0 < r['summary'][c]['niqe'] < 100 for c in r['models'] + ckpts)
    assert r['summary']['bicubic']['psnr'] > 20  # the tiny base is untrained, bicubic is not
    assert r['summary']['other']['psnr'] == pytest.approx(r['summary']['base']['psnr'])
    assert (work / 'evaluate' / 'real_sheet.png').is_file()
    # the real frames vote: every checkpoint was judged on them, and every blend was run on them too
    assert {t['by'] for t in m['selection']['table'].values()} == {'the real LQ frames'}
    assert all(t['by'] == 'the real LQ frames' for t in m['dni']['table'].values())
    blends = m['dni']['real']['summary']
    assert set(blends) == {f'dni_{w:.2f}' for w in m['dni']['weights']} and m['dni']['real']['paired']
    assert blends['dni_1.00'] == r['summary'][m['dni']['finetune']] and 0 < blends['dni_0.60']['psnr'] < 60
    # the knob's partner (pipeline/train/partner.py): trained after the finetune without the energy term, half as long;
    # the other end of the knob when a checkpoint was chosen
    part = yaml.safe_load((work / 'finetune' / 'partner' / 'options.yml').read_text())
    from realesrgan_paddle.pipeline.train.recipes import loss_entry
    assert loss_entry(part['train'], 'l_g_anchor')['energy_weight'] == 0.0 and part['train']['total_iter'] == 2
    pinfo = json.loads((work / 'state.json').read_text())['stages']['finetune']['info']['partner']
    assert pinfo['iters'] == 2 and (work / 'finetune' / pinfo['checkpoint']).is_file()
    chose = m['exported']['name'] != 'base'
    assert m['dni']['other'] == ('partner' if chose else 'base') and ('dni_0.00' in m['dni']['table']) == chose
    md = (work / 'report.md').read_text()
    assert '### The same points on the real LQ footage' in md and 'report/frontier_real.png' in md
    first = md.index('report/real_sheet.png')
    assert first < md.index('## Exported model') and md.index('report/sheet.png') > first
    assert '## What you will see: the real low-resolution footage' in md and 'Data: 63 keyframes -> ' in md
    # the compact CPU recipe trained the six generic photos beside the frames (pipeline/recipes.FITTED_GENERIC)
    assert json.loads((work / 'state.json').read_text())['stages']['finetune']['info']['generic'] == 6
    assert 'training used these frames and 6 generic photos (assets/generic; --no-generic leaves them out)' in md
    assert '| model | PSNR | SSIM | detail | NIQE |' in md
    for line in m['losses']:
        assert f'evaluate: NOTE: {line}' in res.stderr and line in md

    # pairing is exact or nothing: one LQ frame of another moment and no frame is paired
    from realesrgan_paddle.pipeline.inputs.real_lq import find_pairs
    lq = tmp_path / 'lq_frames'
    lq.mkdir()
    for name in real:
        (lq / name).write_bytes((work / 'degrade' / 'real_lq' / name).read_bytes())
    (lq / real[0]).write_bytes((work / 'degrade' / 'real_lq' / real[-1]).read_bytes())
    n, why = find_pairs(lq, work / 'split' / 'val_hr', tmp_path / 'gt')
    assert n == 0 and why.startswith(f'{real[0]}: the HR frame shrunk x4 is ') and not (tmp_path / 'gt').exists()
    assert find_pairs(work / 'degrade' / 'real_lq', work / 'split' / 'val_hr', tmp_path / 'gt')[0] == len(real)

    # unpaired (the normal case): the same frames without ground truth, NIQE and detail against bicubic
    import shutil
    shutil.rmtree(work / 'degrade' / 'real_gt')
    res = run(*args)  # --compare changed: evaluate, export and report run again
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.loads((work / 'evaluate' / 'metrics.json').read_text())['real']
    assert not r['paired'] and r['models'] == ['bicubic', 'base', 'finetuned']
    assert r['summary']['bicubic']['detail_vs_bicubic'] == pytest.approx(1.0)
    assert all(0 < r['summary'][c]['niqe'] < 100 for c in r['models'])
    assert '| model | NIQE | detail vs bicubic |' in (work / 'report.md').read_text()
    m = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    assert {t['by'] for t in m['selection']['table'].values()} == {'the held-out pairs and the real LQ frames'}
    assert all(0 < b['niqe'] < 100 and b['detail_vs_bicubic'] > 0 for b in m['dni']['real']['summary'].values())
    assert '| point | kind | iteration / weight | NIQE | detail vs bicubic | exported |' in (work / 'report.md').read_text()


@pytest.mark.parametrize('case, expect', [
    ('lq_empty', 'no videos or images in this folder'),
    ('lq_big', 'are larger than the HR frames (264x200)'),
    ('lq_bad', 'not a readable video'),
    ('lq_x2', 'scale 2 (HR 264x200, LQ 132x100) is not supported'),
    ('lq_crop', 'ratio 4.40 is not a whole scale; the pipeline needs LQ footage 4x smaller than the --videos '
                'footage (HR 264x200, LQ 60x46)'),
])
def test_bad_lq_videos_one_line_naming_the_file(footage, tmp_path, case, expect, capsys):
    args = ['--lq-videos', footage / case]
    if case == 'lq_bad':  # in a process of its own: nothing but the line
        line = one_line(run('--videos', footage / 'hr', *args, '--work', tmp_path / 'w'))
    else:  # main() in this process, without an interpreter start
        code, lines = run_here(capsys, footage / 'hr', tmp_path / 'w', *args)
        assert code == 2 and len(lines) == 1, lines
        line = lines[0]
    assert line.startswith('error: --lq-videos') and expect in line and str(footage / case) in line, line
    assert not (tmp_path / 'w' / 'keyframes').exists()  # before any stage


def test_interval_keyframes_are_every_step_apart(tmp_path):
    """Every 0.4 s on a 10 fps clip is every 4th frame: the select expression has 1 ms of slack, since
    t - prev_selected_t can be 0.39999..., which took the frame after (0.5 s steps: 102 frames in 50 s)."""
    from realesrgan_paddle.data.builder.decode import FrameReader
    clip = tmp_path / 'ten.mp4'
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=20', '-c:v', 'libx264', clip)
    times = [info['time'] for _, info in FrameReader(clip, mode='interval', every=0.4).start()]
    assert len(times) == 50 and times == pytest.approx([0.4 * k for k in range(50)])
