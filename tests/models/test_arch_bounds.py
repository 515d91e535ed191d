"""Stored arch values and tensor shapes are bounded before anything is allocated (issue 73): windows, splits,
overlap, kernels, depths, heads and widths within the ranges real models use (several times over), consistent
with each other, and every number finite; weights holding NaN or Inf, and index buffers stored as floats or out
of range, are refused at load. Each refusal is one line naming the file (or the option's key path), the key and
its range. Files are written with the project's own writer (tests/models/hostile_archs.py); no torch."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models import loading
from realesrgan_paddle.models.loading import CheckpointError, load_network, read_checkpoint
from tests.models.hostile_archs import TINY, save, tiny_state, with_blocks, with_kernel, with_split, with_window


def _refused(fn, path, *words):
    with pytest.raises(ValueError) as e:
        fn(path)
    msg = str(e.value)
    assert msg.startswith(f'{path}: ') and '\n' not in msg and len(msg) < 400, msg
    assert all(w in msg for w in words), msg
    return msg


@pytest.fixture(scope='module')
def states():
    return {name: tiny_state(arch) for name, arch in TINY.items()}


# ---------------------------------------------------------------- every bound: just inside passes, just outside not
EDGES = [  # (type, key, last value inside, first value outside)
    ('SwinIR', 'window_size', 32, 33), ('SwinIR', 'embed_dim', 512, 513), ('SwinIR', 'depths', [64], [65]),
    ('SwinIR', 'num_heads', [12], [0]), ('SwinIR', 'mlp_ratio', 16, 16.5), ('SwinIR', 'upscale', 8, 9),
    ('SwinIR', 'start_unshuffle', 8, 9), ('SwinIR', 'img_range', 65535, 0),
    ('HAT', 'window_size', 32, 33), ('HAT', 'overlap_ratio', 1.0, 1.01), ('HAT', 'conv_scale', 1.0, 1e30),
    ('HAT', 'compress_ratio', 12, 513), ('HAT', 'squeeze_factor', 12, 513), ('HAT', 'num_heads', [1], [0]),
    ('HAT', 'img_range', 1, 0),
    ('DAT', 'split_size', [64, 64], [8, 65]), ('DAT', 'depth', [64], [65]), ('DAT', 'num_heads', [2], [1]),
    ('DAT', 'embed_dim', 512, 513), ('DAT', 'expansion_factor', 16, 17),
    ('OmniSR', 'window_size', 32, 33), ('OmniSR', 'num_feat', 512, 516), ('OmniSR', 'block_num', 64, 65),
    ('OmniSR', 'res_num', 64, 65),
    ('RealPLKSR', 'kernel_size', 51, 53), ('RealPLKSR', 'dim', 512, 100000), ('RealPLKSR', 'n_blocks', 128, 129),
    ('RealPLKSR', 'split_ratio', 1.0, 1.5), ('RealPLKSR', 'norm_groups', 8, 513),
    ('SPAN', 'feature_channels', 512, 50000), ('SPAN', 'img_range', 255.0, 0.0),
    ('SPAN', 'rgb_mean', [0.0, 1.0, 0.5], [0.4, 0.4, float('nan')]),
    ('SRVGGNetCompact', 'num_conv', 512, 513), ('SRVGGNetCompact', 'num_feat', 1024, 1025),
    ('RRDBNet', 'num_block', 368, 369), ('RRDBNet', 'num_grow_ch', 512, 513), ('RRDBNet', 'scale', 8, 16),
]


@pytest.mark.parametrize('kind, key, inside, outside', EDGES, ids=[f'{e[0]}-{e[1]}' for e in EDGES])
def test_each_bound_accepts_its_edge_and_refuses_past_it(kind, key, inside, outside):
    spec = models.get_spec(kind)
    arch = {k: v for k, v in TINY[kind].items() if k != 'type'}
    if kind == 'SwinIR' and key == 'embed_dim':
        arch['num_heads'] = [2]
    assert spec.value_problems({**arch, key: inside}) == [], (key, inside)
    problems = spec.value_problems({**arch, key: outside})
    assert problems and problems[0][0].split('[')[0] == key, problems
    with pytest.raises(ValueError) as e:
        spec.build({**arch, key: outside}, where='net.pdparams')
    msg = str(e.value)
    assert msg.startswith(f'net.pdparams: {kind} {key}') and '\n' not in msg, msg


@pytest.mark.parametrize('kind, arch, key, words', [
    ('SwinIR', {'embed_dim': 12, 'num_heads': [24]}, 'num_heads', 'must divide embed_dim 12'),
    ('SwinIR', {'embed_dim': 0}, 'embed_dim', 'between 1 and 512'),
    ('SwinIR', {'depths': [2, 2], 'num_heads': [2]}, 'num_heads', 'one entry per residual group'),
    ('SwinIR', {'mlp_ratio': 0.01}, 'mlp_ratio', 'leaves the MLP no width'),
    ('HAT', {'num_heads': [0]}, 'num_heads', 'between 1 and 64'),
    ('HAT', {'embed_dim': 12, 'compress_ratio': 24}, 'compress_ratio', 'at most embed_dim 12'),
    ('DAT', {'embed_dim': 12, 'num_heads': [2]}, 'embed_dim', 'at least 32'),
    ('DAT', {'split_size': [8, 0]}, 'split_size', 'between 1 and 64'),
    ('DAT', {'embed_dim': 36, 'num_heads': [8]}, 'num_heads', 'must divide embed_dim 36'),
    ('RealPLKSR', {'kernel_size': 16}, 'kernel_size', 'must be odd'),
    ('RealPLKSR', {'dim': 12, 'norm_groups': 5}, 'norm_groups', 'must divide dim 12'),
    ('RealPLKSR', {'dim': 2, 'split_ratio': 0.25}, 'split_ratio', 'no channel'),
    ('OmniSR', {'num_feat': 18}, 'num_feat', 'multiple of 4'),
    ('SPAN', {'rgb_mean': [0.5, 0.5]}, 'rgb_mean', 'one value per input channel'),
    ('SwinIR', {'window_size': 8.0}, 'window_size', 'expected a whole number, got 8.0'),
    ('DAT', {'split_size': [8, True]}, 'split_size', 'expected a whole number, got True'),
])
def test_values_that_do_not_fit_each_other_are_one_line(kind, arch, key, words):
    spec = models.get_spec(kind)
    base = {k: v for k, v in TINY[kind].items() if k != 'type'}
    problems = spec.value_problems({**base, **arch})
    assert problems and problems[0][0].split('[')[0] == key and words in problems[0][1], problems


def test_every_registered_network_passes_at_its_defaults_and_tiny_config():
    """The bounds are generous: every network's constructor defaults (the released models' values) pass."""
    from tests.models.tiny_archs import TINY_ARCHS
    for spec in models.all_specs():
        assert spec.value_problems({}) == [], spec.name
    for name, arch in TINY_ARCHS.items():
        assert models.get_spec(name).value_problems(arch) == [], name


# ---------------------------------------------------------------- files: refused at read, before any build
def test_attention_files_at_every_bound(tmp_path, states):
    """Windows, splits, overlap and kernels read from the weights: the last value inside reads and builds, the
    first outside is one line naming the file, the key and the range."""
    s, h, o, d, p = (states[k] for k in ('SwinIR', 'HAT', 'OmniSR', 'DAT', 'RealPLKSR'))
    inside = {'swin32': with_window(s, TINY['SwinIR'], 32), 'omni32': with_window(o, TINY['OmniSR'], 32),
              'hat32': with_window(h, TINY['HAT'], 32, overlap=64), 'dat64': with_split(d, (64, 8)),
              'plk51': with_kernel(p, 51)}
    for name, state in inside.items():
        path = save(tmp_path / f'{name}.pdparams', state)
        net, arch = load_network(path)
        assert net is not None, arch
    outside = {'swin33': (with_window(s, TINY['SwinIR'], 33), 'SwinIR window_size: must be between 1 and 32, got 33'),
               'omni33': (with_window(o, TINY['OmniSR'], 33), 'OmniSR window_size: must be between 1 and 32'),
               'hat_overlap': (with_window(h, TINY['HAT'], 4, overlap=9), 'HAT overlap_ratio: must be between 0 and 1'),
               'dat65': (with_split(d, (65, 8)), 'DAT split_size[0]: must be between 1 and 64, got 65'),
               'plk53': (with_kernel(p, 53), 'RealPLKSR kernel_size: must be between 1 and 51, got 53'),
               'swin_depth65': (with_blocks(s, 0, 65), 'SwinIR depths[0]: must be between 1 and 64, got 65')}
    for name, (state, words) in outside.items():
        _refused(read_checkpoint, save(tmp_path / f'{name}.pdparams', state), words)


def test_a_stored_arch_is_bounded_as_a_detected_one(tmp_path, states):
    path = save(tmp_path / 'w128.pdparams', with_window(states['SwinIR'], TINY['SwinIR'], 128),
                {**TINY['SwinIR'], 'window_size': 128})
    _refused(read_checkpoint, path, 'SwinIR window_size: must be between 1 and 32, got 128')
    heads = dict(states['SwinIR'])
    heads['layers.0.residual_group.blocks.0.attn.relative_position_bias_table'] = np.zeros((49, 24), np.float32)
    heads['layers.0.residual_group.blocks.1.attn.relative_position_bias_table'] = np.zeros((49, 24), np.float32)
    _refused(read_checkpoint, save(tmp_path / 'heads.pdparams', heads), 'num_heads: each must divide embed_dim 12')


def test_a_zero_width_is_one_line(tmp_path, states):
    s = dict(states['SwinIR'])
    s['conv_first.weight'] = np.zeros((0, 3, 3, 3), np.float32)
    _refused(read_checkpoint, save(tmp_path / 'embed0.pdparams', s), 'conv_first.weight has shape (0, 3, 3, 3)')


@pytest.mark.parametrize('stored, words', [
    ({'type': 'HAT', 'img_range': 0}, 'HAT img_range: must be between 1 and 65535, got 0'),
    ({'type': 'HAT', 'conv_scale': 1e30}, 'HAT conv_scale: must be between 0 and 1, got 1e+30'),
    ({'type': 'SPAN', 'rgb_mean': [float('nan')] * 3}, 'SPAN rgb_mean: expected finite numbers'),
    ({'type': 'SPAN', 'img_range': float('inf')}, 'img_range=inf'),
])
def test_stored_values_that_make_a_network_non_finite_are_refused(tmp_path, states, stored, words):
    kind = stored['type']
    path = save(tmp_path / f'{kind}.pdparams', states[kind], {**TINY[kind], **stored})
    _refused(read_checkpoint, path, words)
    _refused(load_network, path, words)


@pytest.mark.parametrize('kind', sorted(TINY))
@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf], ids=['nan', 'inf', '-inf'])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, states, kind, bad):
    state = dict(states[kind])
    key = [k for k, v in state.items() if v.dtype.kind == 'f' and v.size > 1][-1]
    state[key] = state[key].copy()
    state[key].reshape(-1)[state[key].size // 2] = bad
    path = save(tmp_path / f'{kind}.pdparams', state)
    _refused(read_checkpoint, path, key, 'NaN or Inf')


def test_dat_tables_and_indices(tmp_path, states):
    """A DAT relative-position table of Inf, an index stored as float, an index out of range: one line each
    naming the file and the tensor (a traceback and Paddle's raw message before)."""
    d = states['DAT']
    table = next(k for k in d if k.endswith('rpe_biases'))
    index = next(k for k in d if k.endswith('relative_position_index'))
    inf = {**d, table: np.full_like(d[table], np.inf)}
    _refused(read_checkpoint, save(tmp_path / 'inf.pdparams', inf), table, 'NaN or Inf')
    as_float = {**d, index: d[index].astype(np.float32)}
    _refused(load_network, save(tmp_path / 'float.pdparams', as_float), index, 'float32', 'integer index')
    far = {**d, index: d[index] + 1000}
    _refused(load_network, save(tmp_path / 'far.pdparams', far), index, 'not the index the network computes')
    net, _ = load_network(save(tmp_path / 'same.pdparams', d))  # the file's own index: loads
    assert net is not None


def test_a_file_whose_shapes_ask_for_more_than_it_holds_is_refused_before_allocating(tmp_path, states, monkeypatch):
    """conv_first says 500 features, every other tensor 12: built shapes-only first, the mismatch is found
    before the network is allocated (the real build is never called)."""
    s = dict(states['SwinIR'])
    s['conv_first.weight'] = np.zeros((500, 3, 3, 3), np.float32)
    s['conv_first.bias'] = np.zeros(500, np.float32)
    path = save(tmp_path / 'wide.pdparams', s)
    built, lazy = [], []
    real = models.specs.ArchSpec.build
    monkeypatch.setattr(models.specs.ArchSpec, 'build', lambda self, arch, where='network': (
        built.append(self.name), real(self, arch, where))[1])
    real_lazy = loading.shapes_only
    monkeypatch.setattr(loading, 'shapes_only', lambda arch, where='network': (
        lazy.append(arch['type']), real_lazy(arch, where))[1])
    _refused(load_network, path, 'has shape', 'the network expects')
    assert lazy == ['SwinIR'] and built == ['SwinIR'], (lazy, built)  # the shapes-only build, never the real one


def test_parameters_that_cannot_fit_in_memory_are_refused_before_allocating(tmp_path, states, monkeypatch):
    monkeypatch.setattr(loading, 'available_memory', lambda: 1 << 10)
    path = save(tmp_path / 's.pdparams', states['SwinIR'])
    with pytest.raises(loading.NetworkTooLarge) as e:
        load_network(path)
    assert str(e.value).startswith(f'{path}: this SwinIR has') and 'this process can still take' in str(e.value)


def test_read_checkpoint_refusals_are_checkpoint_errors(tmp_path, states):
    path = save(tmp_path / 'w.pdparams', with_window(states['OmniSR'], TINY['OmniSR'], 64))
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
