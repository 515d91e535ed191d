"""Small weights files and options that asked for more than 3 GiB (issue 73: the cgroup killed convert, predict,
train.py and the domain finetune's --base) are refused in one line each, with the whole command's peak memory
under 1 GiB (paddle's import included), measured from outside by benchmarks/peak_rss.py (a child's ru_maxrss
read by this large process would hold this process's memory too)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle.models.loading import read_checkpoint
from tests.models.hostile_archs import TINY, save, tiny_state, with_blocks, with_kernel, with_split, with_window

ROOT = Path(__file__).resolve().parents[2]
PEAK_BOUND = 1 << 30
SMOKE = ROOT / 'options' / 'tiny_smoke.yml'


def _peak_run(tmp_path, *cmd, timeout=600):
    """``(returncode, stderr lines without warnings, peak RSS in bytes)`` of ``cmd`` run in ROOT."""
    peak = tmp_path / 'peak.json'
    proc = subprocess.run([sys.executable, 'benchmarks/peak_rss.py', str(peak), '--', *map(str, cmd)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and 'warn' not in ln.lower()]
    return proc.returncode, lines, json.loads(peak.read_text())['peak_rss']


@pytest.fixture(scope='module')
def hostile(tmp_path_factory):
    """{name: path} of the issue's files: windows and splits of 128, an overlap of 1000, a kernel of 1001,
    5000 blocks, an embed of 30000, and a SwinIR within every bound whose blocks are names only."""
    folder = tmp_path_factory.mktemp('hostile')
    s, h, o, d, p = (tiny_state(TINY[k]) for k in ('SwinIR', 'HAT', 'OmniSR', 'DAT', 'RealPLKSR'))
    wide = dict(s)
    wide['conv_first.weight'] = np.zeros((30000, 3, 3, 3), np.float32)
    lie = dict(s)  # 16 groups of 64 blocks of 512 features: 1.1 billion parameters, from a 4 MB file
    lie['conv_first.weight'] = np.zeros((512, 3, 3, 3), np.float32)
    for g in range(16):
        for b in range(64):
            lie.setdefault(f'layers.{g}.residual_group.blocks.{b}.norm1.weight', np.ones(12, np.float32))
        lie[f'layers.{g}.residual_group.blocks.0.attn.relative_position_bias_table'] = np.zeros((49, 2), np.float32)
    files = {'swin_window128': with_window(s, TINY['SwinIR'], 128), 'omnisr_window128': with_window(o, TINY['OmniSR'], 128),
             'dat_split128': with_split(d, (8, 128)), 'hat_overlap1000': with_window(h, TINY['HAT'], 4, overlap=1000),
             'realplksr_kernel1001': with_kernel(p, 1001), 'swin_depth5000': with_blocks(s, 0, 5000),
             'swin_embed30000': wide, 'swin_names_only': lie}
    return {name: save(folder / f'{name}.pdparams', state) for name, state in files.items()}


CONVERT = {'swin_window128': 'SwinIR window_size: must be between 1 and 32, got 128',
           'omnisr_window128': 'OmniSR window_size: must be between 1 and 32, got 128',
           'dat_split128': 'DAT split_size[1]: must be between 1 and 64, got 128',
           'hat_overlap1000': 'HAT overlap_ratio: must be between 0 and 1',
           'realplksr_kernel1001': 'RealPLKSR kernel_size: must be between 1 and 51, got 1001'}


def test_convert_refuses_attention_files_in_one_line_each_under_1_gib(tmp_path, hostile):
    src = tmp_path / 'in'
    src.mkdir()
    for name in CONVERT:
        (src / f'{name}.pth').write_bytes(Path(hostile[name]).read_bytes())
    code, lines, peak = _peak_run(tmp_path, sys.executable, 'tools/convert_torch.py', '-i', src, '-o', tmp_path / 'out')
    assert code == 2, lines
    for name, words in CONVERT.items():
        hit = [ln for ln in lines if f'{name}.pth: ' in ln]
        assert len(hit) == 1 and words in hit[0], (name, lines)
    assert not any('Traceback' in ln for ln in lines) and peak < PEAK_BOUND, (peak >> 20, lines)
    assert not list((tmp_path / 'out').glob('*.pdparams')) if (tmp_path / 'out').is_dir() else True


UPSCALE = {'realplksr_kernel1001': 'RealPLKSR kernel_size: must be between 1 and 51, got 1001',
           'swin_depth5000': 'SwinIR depths[0]: must be between 1 and 64, got 5000',
           'swin_embed30000': 'SwinIR embed_dim: must be between 1 and 512, got 30000',
           'swin_names_only': 'the weights do not fit SwinIR: missing'}
_UPSCALERS = '''import sys
from realesrgan_paddle.inference import Upscaler
for path in sys.argv[1:]:
    try:
        Upscaler(path, backend='dynamic')
        print('built', path)
    except ValueError as e:
        print(str(e), file=sys.stderr)
'''


def test_upscaler_refuses_files_that_imply_huge_networks_under_1_gib(tmp_path, hostile):
    """The path of predict.py, infer.py, the API and the web UI (``Upscaler`` -> ``load_network``): one line
    each, the network never allocated (the last file's 1.1 billion parameters would take 4.4 GB)."""
    paths = [hostile[name] for name in UPSCALE]
    code, lines, peak = _peak_run(tmp_path, sys.executable, '-c', _UPSCALERS, *paths)
    assert code == 0, lines
    for name, words in UPSCALE.items():
        hit = [ln for ln in lines if ln.startswith(f'{hostile[name]}: ')]
        assert len(hit) == 1 and words in hit[0], (name, lines)
    assert peak < PEAK_BOUND, (peak >> 20, lines)


def test_predict_tool_refuses_a_kernel_of_1001(tmp_path, hostile, photo):
    import cv2
    cv2.imwrite(str(tmp_path / 'a.png'), photo[:24, :32])
    code, lines, peak = _peak_run(tmp_path, sys.executable, 'tools/predict.py', '-i', tmp_path / 'a.png', '-o',
                                  tmp_path / 'out', '-m', hostile['realplksr_kernel1001'])
    assert code == 2 and lines[-1].endswith(UPSCALE['realplksr_kernel1001']), lines
    assert peak < PEAK_BOUND and not (tmp_path / 'out' / 'a_out.png').exists(), peak >> 20


TRAIN = {'network_g={type: SwinIR, upscale: 4, window_size: 128}': 'network_g.window_size: must be between 1 and 32',
         'network_g={type: SwinIR, upscale: 4, window_size: 4096}': 'network_g.window_size: must be between 1 and 32',
         'network_g={type: DAT, upscale: 4, split_size: [8, 1024]}': 'network_g.split_size[1]: must be between 1 and 64',
         'network_g={type: RealPLKSR, upscaling_factor: 4, dim: 100000}': 'network_g.dim: must be between 1 and 512',
         'network_g={type: SPAN, upscale: 4, feature_channels: 50000}':
             'network_g.feature_channels: must be between 1 and 512',
         'network_g={type: SwinIR, upscale: 4, depths: ' + str([368] * 64) + ', num_heads: ' + str([6] * 64) + '}':
             'network_g.depths: must have 1 to 16 entries, got 64',
         'network_g={type: HAT, upscale: 4, num_heads: [0, 0, 0, 0, 0, 0]}':
             'network_g.num_heads[0]: must be between 1 and 64, got 0'}


def test_train_options_with_huge_values_are_refused_before_any_network_is_built(monkeypatch):
    from realesrgan_paddle import models
    from realesrgan_paddle.training.option_file import OptionsError, load_options
    built = []
    real = models.specs.ArchSpec.build
    monkeypatch.setattr(models.specs.ArchSpec, 'build', lambda self, *a, **k: (built.append(self.name),
                                                                               real(self, *a, **k))[1])
    for override, words in TRAIN.items():
        with pytest.raises(OptionsError) as e:
            load_options(SMOKE, [override])
        assert words in str(e.value), (override, str(e.value))
    assert built == []


def test_train_py_refuses_a_window_of_128_in_one_line_under_1_gib(tmp_path):
    code, lines, peak = _peak_run(tmp_path, sys.executable, 'train.py', '-opt', SMOKE, '-o',
                                  'network_g={type: SwinIR, upscale: 4, window_size: 128}', '-o',
                                  f'path.experiments_root={tmp_path / "exp"}')
    assert code == 2 and len(lines) == 1 and 'network_g.window_size: must be between 1 and 32, got 128' in lines[0]
    assert peak < PEAK_BOUND, peak >> 20


def test_trainer_refuses_parameters_that_cannot_fit_before_allocating(monkeypatch):
    """Within every bound, 16 groups of 64 blocks of 512 features are 9.7 billion parameters to train: refused
    from a shapes-only build (parameters, gradients, Adam's moments, the EMA copy counted)."""
    from realesrgan_paddle.models import loading
    from realesrgan_paddle.training import steps
    monkeypatch.setattr(loading, 'available_memory', lambda: 8 << 30)
    arch = {'type': 'SwinIR', 'upscale': 4, 'embed_dim': 512, 'depths': [64] * 16, 'num_heads': [8] * 16,
            'mlp_ratio': 16}
    opt = {'network_g': arch, 'path': {}}
    monkeypatch.setattr(steps, 'build', lambda *a, **k: pytest.fail('the network was built'))
    with pytest.raises(loading.NetworkTooLarge, match=r'network_g: this SwinIR has \d+\.\d M parameters, '
                                                      r'[\d.]+ GiB for training it, more than the 8.00 GiB'):
        steps._network(opt, 'g', None)


def test_finetune_base_of_a_window_128_swinir_is_one_line(hostile):
    """--base reads the weights through read_checkpoint (the domain finetune's train.py ran out of memory)."""
    from realesrgan_paddle.pipeline.train.recipes import RecipeError, resolve_base
    with pytest.raises(RecipeError) as e:
        resolve_base(str(hostile['swin_window128']))
    msg = str(e.value)
    assert '\n' not in msg and 'cannot read the weights' in msg and 'window_size: must be between 1 and 32' in msg


def test_read_checkpoint_names_a_missing_table_instead_of_a_key_error(tmp_path):
    s = with_blocks(tiny_state(TINY['SwinIR']), 1, 2)  # a second group without its bias table
    path = save(tmp_path / 'half.pdparams', s)
    with pytest.raises(ValueError) as e:
        read_checkpoint(path)
    msg = str(e.value)  # the closest family and the tensor it lacks (models.detect's near miss), in one line
    assert msg.startswith(f'{path}: cannot detect the architecture') and '\n' not in msg
    assert 'closest: SwinIR' in msg and 'relative_position_bias_table' in msg
