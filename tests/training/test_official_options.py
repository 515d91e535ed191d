"""The official Real-ESRGAN option files (tests/training/official_options/, copied unchanged from
xinntao/Real-ESRGAN options/) load here: every key is either used with the file's value or dropped
with one warning line naming it. Their dataset and weight paths do not exist here, so they are
pointed at the committed tiny data with -o overrides. The x2plus files are covered too."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from realesrgan_paddle.training.option_file import IGNORED, OptionsError, force_yml_overrides, load_options
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = ROOT / 'tests' / 'training' / 'official_options'
DATA = 'tests/data/images'
# every leaf key path of each file (lists are leaves): the files are held as they are
KEY_COUNTS = {'train_realesrnet_x4plus.yml': 81, 'train_realesrgan_x4plus.yml': 110,
              'finetune_realesrgan_x4plus.yml': 113, 'finetune_realesrgan_x4plus_pairdata.yml': 83,
              'train_realesrnet_x2plus.yml': 82, 'train_realesrgan_x2plus.yml': 111}
WARNED = {'num_gpu', 'dist_params', 'logger.wandb', 'datasets.train.io_backend', 'datasets.train.prefetch_mode'}


def _overrides(name):
    o = ['path.pretrain_network_g=~', 'path.pretrain_network_d=~', 'datasets.train.meta_info=~']
    if 'pairdata' in name:
        return o + [f'datasets.train.dataroot_gt={DATA}/val/gt', f'datasets.train.dataroot_lq={DATA}/val/lq']
    return o + [f'datasets.train.dataroot_gt={DATA}/train_hr']


def _leaves(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, prefix + (k,))
    else:
        yield prefix, node


def _get(opt, path):
    for k in path:
        if isinstance(opt, list) and isinstance(k, int) and k < len(opt):
            opt = opt[k]
            continue
        if not isinstance(opt, dict) or k not in opt:
            raise KeyError('.'.join(map(str, path)))
        opt = opt[k]
    return opt


def _in_losses(opt, path):
    """A key of an official ``train.<slot>`` section: where it is in the ``train.losses`` entry made from it
    (training/loss_terms.py; ``loss_weight`` is the entry's ``weight``)."""
    if len(path) < 3 or path[0] != 'train' or not path[1].endswith('_opt'):
        return path
    (i,) = [i for i, e in enumerate(opt['train']['losses']) if e.get('from') == f'train.{path[1]}']
    return ('train', 'losses', i, 'weight' if path[2] == 'loss_weight' else path[2], *path[3:])


def _where_used(path, deg_keys):
    """The key path an official key has after loading."""
    if len(path) == 1 and path[0] in deg_keys and not path[0].endswith('_gt_usm'):
        return ('degradation', path[0])
    if path == ('gt_usm',):
        return ('l1_gt_usm',)
    return path


@pytest.fixture
def vgg19_cached(tmp_path, monkeypatch):
    """A model cache holding a VGG19 file, as a user who ran ``download_models.py --names vgg19`` has: an official
    ``perceptual_opt`` (``network: auto``) is then an entry of ``train.losses`` (with no VGG on disk it is left out
    with one line, tests/training/test_weights_check.py). The options check reads only that the file is there."""
    from realesrgan_paddle.loss.perceptual import default_vgg_path
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    path = default_vgg_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'not read by the options check')
    return path


@pytest.mark.parametrize('name', sorted(KEY_COUNTS))
def test_official_file_loads_and_every_key_is_accounted_for(name, vgg19_cached):
    from realesrgan_paddle.data.degrade.second_order import DEFAULT_DEGRADATION
    raw = yaml.safe_load((OFFICIAL / name).read_text())
    leaves = list(_leaves(raw))
    assert len(leaves) == KEY_COUNTS[name]
    warnings = []
    opt = load_options(OFFICIAL / name, _overrides(name), warnings)
    warned = {w.split(':', 1)[0] for w in warnings}
    assert warned == WARNED and len(warnings) == len(WARNED)  # one line each
    assert all('has no effect here' in w for w in warnings)
    overridden = {tuple(o.split('=')[0].split('.')) for o in _overrides(name)}
    for path, value in leaves:
        dotted = '.'.join(path)
        if any(dotted == w or dotted.startswith(w + '.') for w in WARNED):
            continue
        if path in overridden:
            continue
        got = _get(opt, _in_losses(opt, _where_used(path, DEFAULT_DEGRADATION)))
        if path[-1] == 'type' and value == 'RealESRGANPairedDataset':
            value = 'PairedImageDataset'
        assert got == value, (dotted, got, value)
    # `!!float 5e3` written for a count is an int
    assert opt['logger']['save_checkpoint_freq'] == 5000 and type(opt['logger']['save_checkpoint_freq']) is int
    assert 'dist_params' not in opt and 'num_gpu' not in opt


def test_ignored_table_covers_the_warned_keys():
    for key in WARNED:
        assert key in IGNORED or key.replace('datasets.train.', 'datasets.*.') in IGNORED


def _write(tmp_path, mutate, name='finetune_realesrgan_x4plus.yml'):
    raw = yaml.safe_load((OFFICIAL / name).read_text())
    mutate(raw)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw))
    return p


def test_truly_unknown_keys_are_still_reported_with_their_path(tmp_path):
    def mutate(raw):
        raw['datasets']['train']['blur_sigma_typo'] = [0.2, 3]
        raw['nois_range'] = [1, 30]
        raw['datasets']['train']['io_backend'] = {'type': 'lmdb'}
    with pytest.raises(OptionsError) as e:
        load_options(_write(tmp_path, mutate), _overrides('x'))
    text = '\n'.join(e.value.problems)
    a_line(text, 'datasets.train.blur_sigma_typo')
    assert 'nois_range: unknown key' in text
    assert "datasets.train.io_backend.type: 'lmdb' is not supported" in text


def test_degradation_key_given_twice_with_different_values_is_an_error(tmp_path):
    def mutate(raw):
        raw['degradation'] = {'noise_range': [1, 10]}
    with pytest.raises(OptionsError, match='noise_range: set both at the top level and in degradation'):
        load_options(_write(tmp_path, mutate), _overrides('x'))


def test_force_yml_spelling():
    assert force_yml_overrides(['train:total_iter=8', 'datasets:train:gt_size=64', 'a.b=c:d']) == \
        ['train.total_iter=8', 'datasets.train.gt_size=64', 'a.b=c:d']


def test_official_finetune_file_trains_with_o_and_force_yml(tmp_path):
    """train.py on the unchanged official finetune file, made tiny from the command line."""
    cmd = [sys.executable, 'train.py', '--yml_path', str(OFFICIAL / 'finetune_realesrgan_x4plus.yml'),
           *[a for o in _overrides('x') for a in ('-o', o)],
           '-o', f'path.experiments_root={tmp_path}', '-o', 'train.perceptual_opt=~',
           '-o', 'network_g.num_feat=4', '-o', 'network_g.num_grow_ch=4', '-o', 'network_g.num_block=1',
           '--force_yml', 'network_d:num_feat=4', 'train:total_iter=2', 'queue_size=2', 'gt_size=64',
           'datasets:train:batch_size_per_gpu=2', 'datasets:train:num_worker_per_gpu=0',
           'datasets:train:crop_pad_size=128', 'logger:save_checkpoint_freq=2', 'logger:use_tb_logger=false']
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    warned = [ln for ln in res.stderr.splitlines() if ln.startswith('warning: ') and 'has no effect here' in ln]
    assert len(warned) == len(WARNED), warned
    exp = tmp_path / 'finetune_RealESRGANx4plus_400k'
    assert (exp / 'models' / 'net_g_2.pdparams').is_file() and (exp / 'models' / 'net_d_2.pdparams').is_file()


def test_missing_official_weight_paths_point_to_the_zoo():
    with pytest.raises(OptionsError) as e:
        load_options(OFFICIAL / 'finetune_realesrgan_x4plus.yml',
                     [f'datasets.train.dataroot_gt={DATA}/train_hr', 'datasets.train.meta_info=~'], [])
    assert e.value.problems == [
        'path.pretrain_network_g: file (or model-zoo name) not found: experiments/pretrained_models/'
        'RealESRNet_x4plus.pth; the model zoo has it: write `pretrain_network_g: RealESRNet_x4plus` '
        '(fetched into the cache on first use)',
        'path.pretrain_network_d: file (or model-zoo name) not found: experiments/pretrained_models/'
        'RealESRGAN_x4plus_netD.pth; the model zoo has it: write `pretrain_network_d: RealESRGAN_x4plus_netD` '
        '(fetched into the cache on first use)']
