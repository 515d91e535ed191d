"""Training options from careless or hostile YAML (issue 26): an alias bomb in an option value, an
experiment name that climbs out of experiments_root, an absurd total_iter. Each is one OptionsError
line with the key, before anything is built; the bomb is refused in bounded memory."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from realesrgan_paddle.training.option_file import OptionsError, load_options
from realesrgan_paddle.utils.yaml_bounded import MAX_YAML_NODES, YAMLTooLarge, safe_load_bounded

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / 'options' / 'tiny_smoke.yml'


def _bomb(levels=9, width=9):
    """``a0: &a0 [x, x, ...]``, each next level a list of ``width`` aliases of the one before: width^levels
    values (387 million here) from 0.4 KB of text."""
    lines = ['a0: &a0 [' + ', '.join(['x'] * width) + ']']
    for i in range(1, levels):
        lines.append(f'a{i}: &a{i} [' + ', '.join([f'*a{i - 1}'] * width) + ']')
    return '\n'.join(lines) + '\n'


def test_alias_bomb_is_refused_before_it_is_built():
    with pytest.raises(YAMLTooLarge, match=f'more than {MAX_YAML_NODES} values'):
        safe_load_bounded(_bomb())
    assert safe_load_bounded(_bomb(levels=3, width=4)) == yaml.safe_load(_bomb(levels=3, width=4))
    assert safe_load_bounded('') is None and safe_load_bounded('a: [1, 2]') == {'a': [1, 2]}


@pytest.mark.parametrize('key', ['manual_seed', 'name'])
def test_alias_bomb_in_an_option_is_one_line_in_bounded_memory(tmp_path, key):
    opt = yaml.safe_load(SMOKE.read_text())
    opt.pop(key, None)
    bomb = _bomb().replace('\n', '\n  ')
    path = tmp_path / 'bomb.yml'
    path.write_text(f'bombs:\n  {bomb}\n{key}: *a8\n' + yaml.safe_dump(opt, sort_keys=False))
    code = ('import json, sys\nfrom realesrgan_paddle.training.option_file import load_options\n'
            'try:\n    load_options(sys.argv[1]); out = {"msg": None}\n'
            'except Exception as e:\n    out = {"kind": type(e).__name__, "msg": str(e)}\n'
            'out["mb"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]) / 1024\n'
            'print(json.dumps(out))\n')
    res = subprocess.run([sys.executable, '-c', code, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)  # a guard against a hang only
    assert res.returncode == 0, res.stderr[-800:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out['kind'] == 'OptionsError' and 'alias' in out['msg'] and str(path) in out['msg'], out
    assert out['mb'] < 600, out  # out of memory before


def test_alias_bomb_in_a_command_line_override():
    with pytest.raises(OptionsError, match='override manual_seed: aliases expand it'):
        load_options(SMOKE, [f'manual_seed={_bomb()}'])


@pytest.mark.parametrize('name', ['../../x', 'a/b', '..', 'a\\b', 'two\nlines', ' '])
def test_experiment_name_must_be_one_folder_name(name):
    with pytest.raises(OptionsError, match='name: must be one folder name') as info:
        load_options(SMOKE, [f'name={json.dumps(name)}'])
    assert '\n' not in str(info.value).strip().splitlines()[0]


def test_absurd_total_iter_is_one_line():
    with pytest.raises(OptionsError, match=r'train.total_iter: must be between 1 and 1000000000'):
        load_options(SMOKE, ['train.total_iter=1e30'])


@pytest.mark.parametrize('override, words', [('network_g.num_feat=100000', 'network_g.num_feat: must be between 1 and 1024'),
                                             ('network_g.num_conv=100000', 'network_g.num_conv: must be between 0 and 512')])
def test_absurd_network_sizes_are_one_line_before_building(override, words):
    """num_feat 100000 reached Paddle's allocator (a C++ error wall) before."""
    with pytest.raises(OptionsError, match=words):
        load_options(SMOKE, [override])


@pytest.mark.parametrize('section', ['train.batch_size_per_gpu', 'real_lq.batch_size', 'real_lq_pairs.batch_size',
                                     'real_pairs.batch_size'])
def test_absurd_batch_size_is_one_line_before_building(tmp_path, section):
    """``batch_size: 1000000000`` went past 3 GiB in 23 s (issue 64, O07): refused with its key path, up front."""
    name, key = section.split('.')
    if name == 'train':
        override = f'datasets.train.{key}=1000000000'
    else:
        roots = {'dataroot_lq': str(tmp_path)} | ({'dataroot_gt': str(tmp_path)} if name == 'real_pairs' else {})
        override = f'datasets.{name}=' + json.dumps({**roots, key: 1000000000})
    with pytest.raises(OptionsError, match=rf'datasets.{section}: must be between 1 and 256, got 1000000000') as e:
        load_options(SMOKE, [override])
    assert '\n' not in str(e.value).strip()


def test_an_options_path_that_is_not_a_regular_file(tmp_path):
    """``-opt /dev/zero`` said "file not found" (issue 64): a device or a FIFO is said to be one, before any read."""
    import os
    fifo = tmp_path / 'opts.yml'
    os.mkfifo(fifo)
    for path in ('/dev/zero', fifo):
        with pytest.raises(OptionsError) as e:
            load_options(path)
        assert str(e.value) == f'{path}: not a regular file (a device, a FIFO or a socket), not an options file'
    with pytest.raises(OptionsError, match='file not found'):
        load_options(tmp_path / 'missing.yml')


@pytest.mark.parametrize('value, line', [
    ('{"type": "TemporalLoss", "loss_weight": -1}', 'train.temporal_opt.loss_weight: expected a finite number >= 0'),
    ('5', 'train.temporal_opt: expected dict, got int 5'),
    ('{"type": "Nope"}', "train.temporal_opt.type: 'Nope' is not one of ['TemporalLoss']"),
    ('{"type": "TemporalLoss", "bogus": 2}', 'train.temporal_opt.bogus: unknown key for TemporalLoss')])
def test_bad_temporal_opt_is_named_as_itself(tmp_path, value, line):
    """A bad train.temporal_opt beside datasets.real_lq_pairs was reported as "datasets.real_lq_pairs: no loss reads
    it", or as train.losses[1].weight, or twice (issue 64): one problem, named by its own key."""
    pairs = json.dumps({'dataroot_lq': str(tmp_path)})
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'train.temporal_opt={value}', f'datasets.real_lq_pairs={pairs}'])
    assert str(e.value).startswith(f'{SMOKE}: {line}') and ';' not in str(e.value), str(e.value)
