"""Weights named in the options are at hand before anything is built: offline, a zoo name that is
not cached and the VGG19 a perceptual loss names each get one line naming the option and the fix; a perceptual loss
on ``network: auto`` with no VGG cached is left out with one line naming the fetch."""
import os
import subprocess
import sys
from pathlib import Path

from realesrgan_paddle.training.steps import check_pretrained_weights
from realesrgan_paddle.training.option_file import load_options
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
DATA = 'tests/data/images'
SOCCER = ['-o', f'datasets.train.dataroot_gt={DATA}/train_hr', '-o', 'datasets.train.meta_info=~',
          '-o', f'datasets.val.dataroot_gt={DATA}/val/gt', '-o', f'datasets.val.dataroot_lq={DATA}/val/lq']


def _offline_env(tmp_path):
    # every HTTP(S) request goes to a closed local port: connection refused, as on a machine without network (not
    # the offline switch the suite sets: this is the message of a network that fails)
    env = {k: v for k, v in os.environ.items() if k != 'REALESRGAN_PADDLE_OFFLINE'}
    return dict(env, REALESRGAN_PADDLE_HOME=str(tmp_path / 'cache'), http_proxy='http://127.0.0.1:9',
                https_proxy='http://127.0.0.1:9', HTTP_PROXY='http://127.0.0.1:9', HTTPS_PROXY='http://127.0.0.1:9',
                no_proxy='', NO_PROXY='')


def test_offline_train_names_each_missing_weight_and_builds_nothing(tmp_path):
    cmd = [sys.executable, 'train.py', '--yml_path', 'options/finetune_soccer_x4plus.yml', *SOCCER,
           '-o', 'path.pretrain_network_g=~', '-o', f'path.experiments_root={tmp_path / "exp"}']
    res = subprocess.run(cmd, cwd=ROOT, env=_offline_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert 'Traceback' not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith('error: ')]
    assert len(lines) == 1, res.stderr
    a_line(lines[:1], 'path.pretrain_network_d', 'RealESRGAN_x4plus_netD')
    assert 'python tools/download_models.py --names RealESRGAN_x4plus_netD' in lines[0]
    assert 'cannot connect' in lines[0]
    # the perceptual loss (network: auto) with neither VGG19 nor VGG16 cached: left out, one line naming the fetch
    (off,) = [ln for ln in res.stderr.splitlines() if 'perceptual loss off' in ln]
    assert '--names vgg16' in off and '--names vgg19' in off
    assert not (tmp_path / 'exp').exists()  # nothing built, no experiment folder


def test_check_passes_for_local_files_and_disabled_losses(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    opt = load_options(ROOT / 'options' / 'tiny_smoke.yml', [f'path.experiments_root={tmp_path}'])
    assert check_pretrained_weights(opt, progress=False) == []
    percep = {'type': 'PerceptualLoss', 'from': 'train.perceptual_opt', 'perceptual_weight': 1.0,
              'style_weight': 0.0, 'vgg_weights': str(tmp_path / 'missing_vgg.pdparams')}
    opt['train']['losses'].append(percep)
    (problem,) = check_pretrained_weights(opt, progress=False)
    assert problem.startswith('train.perceptual_opt.vgg_weights: VGG19 weights for the perceptual loss not found')
    del percep['from']  # an entry of train.losses: its key path
    (problem,) = check_pretrained_weights(opt, progress=False)
    assert problem.startswith(f'train.losses[{len(opt["train"]["losses"]) - 1}].vgg_weights: VGG19 weights')
    percep['perceptual_weight'] = 0.0
    assert check_pretrained_weights(opt, progress=False) == []


def test_the_official_file_without_its_datasets_lists_the_weights_in_the_same_pass(tmp_path):
    """The official finetune file on a machine with neither DF2K nor the netD/VGG19: one run names all six
    things to fetch (an earlier version named the datasets, and the weights only once those were fixed)."""
    cmd = [sys.executable, 'train.py', '--yml_path', str(ROOT / 'options' / 'finetune_realesrgan_x4plus.yml'),
           '-o', f'path.experiments_root={tmp_path / "exp"}']
    cmd[1] = str(ROOT / 'train.py')  # from an empty folder: datasets/DF2K is relative
    res = subprocess.run(cmd, cwd=tmp_path, env=_offline_env(tmp_path), capture_output=True, text=True, timeout=300)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith('error: ')]
    assert res.returncode == 2 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    keys = [ln.split(': ')[2] for ln in lines]
    assert keys == ['datasets.train.dataroot_gt', 'datasets.train.meta_info', 'datasets.val.dataroot_gt',
                    'datasets.val.dataroot_lq', 'path.pretrain_network_d'], res.stderr
    assert 'perceptual loss off' in res.stderr  # network: auto, no VGG cached: one line, not an error
    assert not (tmp_path / 'exp').exists()


def test_options_that_do_not_parse_are_not_checked_for_weights(tmp_path):
    p = tmp_path / 'o.yml'
    p.write_text('name: x\nmodel_type: NoSuchModel\n')
    res = subprocess.run([sys.executable, 'train.py', '--yml_path', str(p)], cwd=ROOT, env=_offline_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and 'Traceback' not in res.stderr and 'error: ' in res.stderr, res.stderr[-2000:]
