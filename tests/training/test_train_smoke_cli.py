"""tiny_smoke.yml through the real CLI: trains (on-the-fly degradation of real photo crops),
checkpoints, validates, and resumes with --auto_resume; a SIGKILLed run resumes at the saved
iteration with the saved LR."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from realesrgan_paddle.models import load_network
from realesrgan_paddle.training.state_io import load_state
from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
SMOKE = 'options/tiny_smoke.yml'


def _cmd(exp_root, *extra):
    return [sys.executable, 'train.py', '--yml_path', SMOKE, '-o', f'path.experiments_root={exp_root}', *extra]


def _run(cmd, timeout=150):
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stderr


def test_smoke_trains_checkpoints_validates_and_resumes(tmp_path):
    log = _run(_cmd(tmp_path, '-o', 'train.total_iter=6', '-o', 'logger.save_checkpoint_freq=3',
                    '-o', 'val.val_freq=3', '-o', 'logger.keep_last=1'))
    exp = tmp_path / 'tiny_smoke'
    assert (exp / 'options.yml').is_file() and list(exp.glob('train_tiny_smoke_*.log'))
    # keep_last=1: only iteration 6 remains
    assert sorted(p.name for p in (exp / 'models').glob('net_[gd]_[0-9]*.pdparams')) == \
        ['net_d_6.pdparams', 'net_g_6.pdparams']
    assert [p.name for p in (exp / 'training_states').iterdir()] == ['6.pdstates']
    ckpt = load_state_file(exp / 'models' / 'net_g_6.pdparams')
    assert {'params', 'params_ema', 'arch'} <= set(ckpt) and ckpt['arch']['type'] == 'SRVGGNetCompact'
    assert not all(np.array_equal(ckpt['params'][k], ckpt['params_ema'][k]) for k in ckpt['params'])
    net, arch = load_network(exp / 'models' / 'net_g_6.pdparams')  # the inference loader reads it
    assert arch['num_feat'] == 8
    # validation ran at 3 and 6 on both pairs, wrote images and tracked the best
    assert len(re.findall(r'validation iter \d+ on 2 images: psnr [\d.]+', log)) == 2
    assert sorted(p.name for p in (exp / 'visualization' / 'rocket_crop').iterdir()) == \
        ['rocket_crop_3.png', 'rocket_crop_6.png']
    best = json.loads((exp / 'best.json').read_text())
    assert set(best) == {'psnr', 'ssim'} and 10 < best['psnr']['val'] < 60
    assert (exp / 'models' / 'net_g_best.pdparams').is_file()
    s1 = json.loads((exp / 'summary_rank0.json').read_text())
    assert s1['iter'] == 6 and s1['skipped_steps'] == 0
    # resume: continues at 7 with the saved schedule (milestone 6 -> lr halved)
    log2 = _run(_cmd(tmp_path, '--auto_resume', '-o', 'train.total_iter=8', '-o', 'val.val_freq=100',
                     '-o', 'logger.print_freq=1'))
    assert 'resumed from iter 6' in log2
    assert re.search(r'iter\s+7/8\] lr:\(5\.000e-05,5\.000e-05\)', log2), log2[-2000:]
    assert not list(tmp_path.glob('tiny_smoke_archived_*'))
    s2 = json.loads((exp / 'summary_rank0.json').read_text())
    assert s2['iter'] == 8 and s2['start_iter'] == 6


def test_killed_run_resumes_with_same_iteration_and_lr(tmp_path):
    cmd = _cmd(tmp_path, '-o', 'train.total_iter=200', '-o', 'logger.save_checkpoint_freq=2',
               '-o', 'train.scheduler.milestones=[3, 5]', '-o', 'val=null', '-o', 'datasets.val=null',
               '-o', 'logger.keep_last=2')
    states = tmp_path / 'tiny_smoke' / 'training_states'
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (states / '6.pdstates').exists():
            time.sleep(0.2)
        assert (states / '6.pdstates').exists(), 'no checkpoint appeared'
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = max(int(p.stem) for p in states.glob('*.pdstates'))
    assert saved < 200  # really killed mid-run
    st = load_state(states / f'{saved}.pdstates')
    assert st['iter'] == saved and st['sched_g']['last_epoch'] == saved
    lr_saved = st['sched_g']['last_lr']
    assert lr_saved == 2.5e-5  # both milestones passed
    log = _run(_cmd(tmp_path, '--auto_resume', '-o', f'train.total_iter={saved + 2}', '-o', 'val=null',
                    '-o', 'datasets.val=null', '-o', 'train.scheduler.milestones=[3, 5]', '-o', 'logger.print_freq=1'))
    m = re.search(r'resumed from iter (\d+) \(epoch \d+\), lr \[([\d.e-]+), ([\d.e-]+)\]', log)
    assert m and int(m.group(1)) == saved, log[-2000:]
    assert float(m.group(2)) == lr_saved
    assert re.search(rf'iter\s+{saved + 1}/{saved + 2}\] lr:\(2\.500e-05,2\.500e-05\)', log), log[-2000:]
    s = json.loads((tmp_path / 'tiny_smoke' / 'summary_rank0.json').read_text())
    assert s['start_iter'] == saved and s['iter'] == saved + 2


def test_paired_data_with_perceptual_loss(tmp_path):
    """The pairdata recipe (PairedImageDataset, no on-the-fly degradation) with the VGG perceptual
    loss switched on. No ImageNet VGG19 is available offline: random weights written to a file
    exercise the loading and loss path."""
    import paddle
    from realesrgan_paddle.models.feature_nets.vgg import VGG19FeatureExtractor
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    paddle.seed(0)
    ext = VGG19FeatureExtractor(['conv2_2'])
    vgg = tmp_path / 'vgg19_random.pdparams'
    save_checkpoint(vgg, params={k: v for k, v in ext.state_dict().items() if k not in ('mean', 'std')})
    log = _run(_cmd(tmp_path, '-o', 'high_order_degradation=false', '-o', 'datasets.train.type=PairedImageDataset',
                    '-o', 'datasets.train.dataroot_gt=tests/data/images/val/gt',
                    '-o', 'datasets.train.dataroot_lq=tests/data/images/val/lq',
                    '-o', 'datasets.train.crop_pad_size=null', '-o', 'datasets.train.gt_size=64',
                    '-o', 'train.perceptual_opt.type=PerceptualLoss',
                    '-o', 'train.perceptual_opt.layer_weights={conv1_2: 0.1, conv2_2: 0.1}',
                    '-o', f'train.perceptual_opt.vgg_weights={vgg}', '-o', 'train.total_iter=3',
                    '-o', 'logger.print_freq=1', '-o', 'val.val_freq=3'))
    assert 'perceptual loss on' in log
    assert len(re.findall(r'l_g_percep: [\d.]+e[+-]\d+', log)) == 3
    a_line(log, 'validation', 'iter 3', '2 images')
    # without the file: one clear error line and exit status 2 (bad input), before anything is built
    res = subprocess.run(_cmd(tmp_path / 'b', '-o', 'train.perceptual_opt.type=PerceptualLoss',
                              '-o', f'train.perceptual_opt.vgg_weights={tmp_path / "missing.pdparams"}'),
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    assert not (tmp_path / 'b').exists()
    err = [l for l in res.stderr.splitlines() if l.startswith('error:')]
    assert len(err) == 1 and 'download_models.py --names vgg19' in err[0] and 'missing.pdparams' in err[0]


def test_debug_mode_logs_every_iteration_and_amp_is_gpu_only(tmp_path):
    log = _run(_cmd(tmp_path, '--debug', '-o', 'train.total_iter=1000', '-o', 'train.use_amp=true',
                    '-o', 'val=null', '-o', 'datasets.val=null'))
    assert 'AMP works on GPU only' in log
    its = [int(m) for m in re.findall(r'iter\s+(\d+)/8\]', log)]
    assert its == list(range(1, 9))
    exp = tmp_path / 'debug_tiny_smoke'
    assert json.loads((exp / 'summary_rank0.json').read_text())['iter'] == 8


def test_visualdl_scalars_are_written(tmp_path):
    _run(_cmd(tmp_path, '-o', 'train.total_iter=2', '-o', 'val.val_freq=2', '-o', 'logger.print_freq=1'))
    files = [p for p in (tmp_path / 'tiny_smoke' / 'vdl').rglob('*') if p.is_file()]
    assert files and sum(p.stat().st_size for p in files) > 0
    from visualdl import LogReader
    reader = LogReader(file_path=str(files[0]))
    tags = set(reader.get_tags().get('scalar', []))
    assert {'losses/l_g_pix', 'metrics/psnr', 'lr/0'} <= tags, tags


def test_bad_data_and_mismatched_weights_are_one_line_errors(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    for extra in (['-o', f'datasets.train.dataroot_gt={empty}'],
                  ['-o', 'path.pretrain_network_g=realesr-animevideov3']):  # 64-feature weights, 8-feature net
        res = subprocess.run(_cmd(tmp_path / 'exp', *extra), cwd=ROOT, capture_output=True, text=True, timeout=120)
        err = [l for l in res.stderr.splitlines() if l.startswith('error:')]
        assert res.returncode == 1 and len(err) == 1 and 'Traceback' not in res.stderr, res.stderr[-1500:]


def test_sigterm_ends_like_ctrl_c_and_the_run_resumes(tmp_path):
    """SIGTERM (kill PID, a scheduler) used to end train.py with no message (or Paddle's C++ stack); now it is
    a KeyboardInterrupt: one line, exit status 130, and --auto_resume continues from the saved state."""
    cmd = _cmd(tmp_path, '-o', 'train.total_iter=100000', '-o', 'logger.save_checkpoint_freq=2')
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    states = tmp_path / 'tiny_smoke' / 'training_states'
    deadline = time.time() + 180
    while time.time() < deadline and not list(states.glob('*.pdstates')):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == 'interrupted: continue with the same command plus --auto_resume'
    assert 'Traceback' not in err and 'FatalError' not in err
    saved = max(int(p.stem) for p in states.glob('*.pdstates'))
    log = _run(_cmd(tmp_path, '-o', f'train.total_iter={saved + 1}', '--auto_resume'))
    assert 'resum' in log.lower() and str(saved) in log, log[-2000:]
