"""tools/finetune_domain.py --lq-videos: the degradation is fitted to the LQ footage and used for the held-out
pairs and the training (codec mode), on a clip the test makes from a scikit-image photo."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from realesrgan_paddle.data.degrade.codec import codec_exe
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'finetune_domain.py'


@pytest.fixture(scope='module')
def footage(tmp_path_factory):
    """HR: a 6 s pan over a photo at 320x240; LQ: the same, area x4 and x264 CRF 28 (as a stream)."""
    import cv2
    from skimage import data as skdata
    root = tmp_path_factory.mktemp('lqfoot')
    src = root / 'photo.png'
    cv2.imwrite(str(src), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    (root / 'hr').mkdir()
    (root / 'lq').mkdir()
    pan = "scale=1024:1024,crop=320:240:x='t*60':y='t*40',fps=10,format=yuv420p"
    run = [codec_exe(), '-v', 'error', '-loop', '1', '-t', '6', '-i', str(src)]
    subprocess.run([*run, '-vf', pan, '-c:v', 'libx264', '-crf', '12', str(root / 'hr' / 'pan.mp4')], check=True)
    subprocess.run([*run, '-vf', pan + ',scale=iw/4:ih/4:flags=area', '-c:v', 'libx264', '-crf', '28',
                    str(root / 'lq' / 'pan.mp4')], check=True)
    return root


def _run(footage, work, *extra):
    cmd = [sys.executable, str(TOOL), '--videos', str(footage / 'hr'), '--work', str(work), *map(str, extra),
           '--force-export', *([] if '--compare' in map(str, extra) else ['--compare', 'none'])]  # a tiny base loses to bicubic on both axes: exported only when forced
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope='module')
def fitted(footage, tiny_base, tmp_path_factory):
    """``(work, result)``: the run to its finetune on the footage with --lq-videos; the temporal test starts from a
    copy of its work folder, whose fitted degradation it reuses (only the finetune's settings differ)."""
    work = tmp_path_factory.mktemp('fitted') / 'work'
    res = _run(footage, work, '--lq-videos', footage / 'lq', '--base', tiny_base, '--iters', 3, '--gap', '0.5',
               '--fit-frames', 3, '-o', 'gt_size=32', '-o', 'datasets.train.crop_pad_size=64', '-o', 'queue_size=4',
               '--stop-after', 'finetune', '-q')
    assert res.returncode == 0, res.stderr[-2000:]
    return work, res


@pytest.mark.slow(seconds=20)
def test_lq_videos_fit_feeds_heldout_and_training(fitted):
    work, res = fitted
    assert 'fit: fitted: blur sigma' in res.stdout + res.stderr
    assert 'fit: LQ: 3 frames ' in res.stderr and ', HR: 3 frames ' in res.stderr  # --fit-frames 3
    frag = yaml.safe_load((work / 'degrade' / 'fitted.yml').read_text())
    assert frag['degradation']['codec_prob'] == 1.0 and frag['scale'] == 4
    opt = yaml.safe_load((work / 'finetune' / 'options.yml').read_text())
    assert opt['degradation']['codec_prob'] == 1.0
    assert opt['degradation']['codec_crf_range'] == frag['degradation']['codec_crf_range']
    assert opt['degradation']['second_blur_prob'] == 0.0
    assert list((work / 'degrade' / 'val_lq').glob('*.png'))
    from realesrgan_paddle.pipeline.train.recipes import FITTED_CONSISTENCY, loss_entry, official_assets, pick_template
    template = pick_template('compact', 'cpu', official_assets())[0]
    if template.name in FITTED_CONSISTENCY:  # the offline CPU compact recipe: L1 and the consistency loss
        assert loss_entry(opt['train'], 'l_g_pix')['weight'] == 1.0
        lo, hi = frag['degradation']['blur_sigma']
        assert loss_entry(opt['train'], 'l_g_cons')['sigma'] == pytest.approx((lo + hi) / 2, abs=1e-3)
        assert Path(opt['datasets']['real_lq']['dataroot_lq']).name == 'real_lq_train'
        real = work / 'finetune' / 'real_lq_train'  # the stage's folder, renamed from finetune.partial when done
        assert len(list(real.glob('*.png'))) >= 2
    from realesrgan_paddle.pipeline.train.recipes import FITTED_GENERIC
    if template.name in FITTED_GENERIC:  # the training frames and the six generic photos, which trained too
        generic = FITTED_GENERIC[template.name]
        assert opt['datasets']['train']['dataroot_gt'] == [str(work / 'split' / 'train_hr'), str(generic)]
        a_line(res.stderr, 'finetune:', '6 generic', str(generic))
        log = next((work / 'finetune' / 'experiments').glob('*/train_*.log')).read_text()
        assert 'images' in log and 'done: iter 3' in log


def test_lq_videos_missing_one_line(footage, tmp_path):
    res = _run(footage, tmp_path / 'w', '--lq-videos', tmp_path / 'nothing')
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and 'nothing' in lines[0] and 'no such' in lines[0]


@pytest.mark.slow(seconds=22)
def test_temporal_term_gets_consecutive_pairs(footage, fitted, tiny_base, tmp_path):
    """--stable with --lq-videos: both stability terms (the user's own -o train.temporal_opt wins over the flag's),
    consecutive LQ pairs cut from the training part, datasets.real_lq_pairs set, and the terms train (the log line
    counts the pairs and the moving pixels of the pan)."""
    import shutil
    work = tmp_path / 'work'
    shutil.copytree(fitted[0], work, symlinks=True)
    res = _run(footage, work, '--lq-videos', footage / 'lq', '--base', tiny_base, '--iters', 2, '--gap', '0.5',
               '--fit-frames', 3, '-o', 'gt_size=32', '-o', 'datasets.train.crop_pad_size=64', '-o', 'queue_size=4',
               '--stable', '-o', 'train.temporal_opt={"type": "TemporalLoss", "loss_weight": 1.0}',
               '--stop-after', 'finetune', '-q')
    assert res.returncode == 0, res.stderr[-2000:]
    a_line(res.stderr, 'temporal loss:', 'pairs of consecutive real LQ frames')
    a_line(res.stderr, '[degrade]', 'skipped')  # the same fit: only the finetune's settings changed
    a_line(res.stderr, '[finetune] settings changed')
    opt = yaml.safe_load((work / 'finetune' / 'options.yml').read_text())
    from realesrgan_paddle.pipeline.train.recipes import loss_entry
    assert loss_entry(opt['train'], 'l_g_temp')['weight'] == 1.0 and 'temporal_opt' not in opt['train']
    assert loss_entry(opt['train'], 'l_g_stab') == {'type': 'StabilityLoss', 'weight': 10.0, 'name': 'l_g_stab'}
    assert Path(opt['datasets']['real_lq_pairs']['dataroot_lq']).name == 'real_lq_pairs'
    pairs = sorted((work / 'finetune' / 'real_lq_pairs').glob('*_t0.png'))
    assert pairs and all(p.with_name(p.name.replace('_t0', '_t1')).is_file() for p in pairs)
    log = next((work / 'finetune' / 'experiments').glob('*/train_*.log')).read_text()
    assert f'real LQ pairs: {len(pairs)} pairs' in log and 'l_g_temp' in log and 'l_g_stab' in log


def test_stable_without_lq_videos_one_line(footage, tmp_path):
    res = _run(footage, tmp_path / 'w', '--stable')
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and '--stable needs --lq-videos' in lines[0], res.stderr
    assert not (tmp_path / 'w').exists()
