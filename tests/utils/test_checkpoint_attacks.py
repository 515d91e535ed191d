"""checkpoint_io.state_file against crafted hostile files: out-of-bounds reads, poisoned allow-list entries,
unbounded memory, deep nesting and malformed containers. Each gets a one-line refusal naming the file.
Files that crashed or exhausted memory before are read in a subprocess, so a crash fails the test."""
import importlib.util
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.state_file import CheckpointFormatError, UnsafeCheckpointError, load_state_file

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('crafted_checkpoints',
                                               Path(__file__).with_name('crafted_checkpoints.py'))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)

RSS_BOUND_MB = 400  # python + numpy + the reader; the attacks below took 1.4 to 2.1 GB before


def _refused(path, kind=CheckpointFormatError, match=None):
    with pytest.raises(kind, match=match) as info:
        load_state_file(path)
    msg = str(info.value)
    assert msg.startswith(f'{path}: ') and '\n' not in msg, msg
    return msg


def _load_isolated(path, env=None, timeout=180):
    """Read ``path`` in a fresh interpreter; return the outcome and the peak RSS (a crash fails the test)."""
    code = ('import json, resource, sys\n'
            'from realesrgan_paddle.checkpoint_io.state_file import load_state_file\n'
            'try:\n'
            '    load_state_file(sys.argv[1]); out = {"error": None}\n'
            'except Exception as e:\n'
            '    out = {"error": type(e).__name__, "msg": str(e)}\n'
            'try:  # this process\'s own peak (ru_maxrss keeps the parent\'s across exec on Linux)\n'
            '    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]\n'
            '    out["maxrss_mb"] = int(hwm.split()[1]) / 1024\n'
            'except OSError:\n'
            '    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n'
            'print(json.dumps(out))\n')
    res = subprocess.run([sys.executable, '-c', code, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert res.returncode == 0, f'the reader crashed (exit {res.returncode}): {res.stderr[-800:]}'
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if out['error']:
        assert out['msg'].startswith(f'{path}: ') and '\n' not in out['msg'], out['msg']
    return out


# ---------------------------------------------------------------- out-of-bounds reads (finding 1)
def test_fake_storage_claiming_2e28_elements_is_refused_without_a_crash(tmp_path):
    path = cc.make_oob_pdparams(tmp_path / 'oob.pdparams')
    assert path.stat().st_size < 250
    out = _load_isolated(path)
    assert out['error'] == 'UnsafeCheckpointError' and 'numpy.ndarray' in out['msg'], out


def test_fake_storage_cannot_copy_heap_memory_into_weights(tmp_path):
    _refused(cc.make_heap_leak_srvgg(tmp_path / 'leak.pth'), UnsafeCheckpointError, 'numpy.ndarray')


def test_ndarray_without_buffer_is_refused(tmp_path):
    _refused(cc.make_uninitialised_ndarray(tmp_path / 'uninit.pdparams'), UnsafeCheckpointError, 'numpy.ndarray')


def test_stride0_view_of_one_byte_is_refused(tmp_path):
    path = tmp_path / 'view.pdparams'
    path.write_bytes(cc.PROTO3 + cc.dict1('w', cc.raw_ndarray([1 << 20], 'f4', b'\0' * 4, [0])) + cc.STOP)
    _refused(path, UnsafeCheckpointError, 'numpy.ndarray')


def test_duck_typed_storage_is_refused_even_when_bounds_fit(tmp_path):
    """A dict with .data/.code attributes no longer passes for a storage, whatever its size."""
    fake = cc.odict_with(cc.dict1('code', cc.text('u1')))
    t = cc.call(cc.glob('torch._utils', '_rebuild_tensor_v2'), fake, cc.num(0), cc.tup(cc.num(1)),
                cc.tup(cc.num(1)), cc.FALSE, cc.call(cc.glob('collections', 'OrderedDict')))
    path = tmp_path / 'duck.pdparams'
    path.write_bytes(cc.PROTO2 + cc.dict1('w', t) + cc.STOP)
    _refused(path, match='instead of one of the file.s storages')


@pytest.mark.parametrize('size,stride,storage_numel', [
    ((4, 4), (4, 1), 15),          # one element short
    ((2, 3), (3, 1), 6),           # fits, but offset 1 pushes it out (below)
    ((3,), (-1,), 6),              # negative stride
    ((1 << 40,), (1,), 6),         # absurd size
    ((2, 3), (1, 1), 6),           # overlapping rows
    ((3, 2), (0, 1), 6),           # an expanded view
])
def test_tensor_bounds_are_checked_exactly(tmp_path, size, stride, storage_numel):
    pkl = cc.tensor_pickle('FloatStorage', '0', storage_numel, size, stride)
    if size == (2, 3):
        pkl = pkl.replace(cc.num(0) + cc.tup(*map(cc.num, size)), cc.num(1) + cc.tup(*map(cc.num, size)))
    path = cc.torch_zip(tmp_path / 'b.pth', pkl, {'0': bytes(4 * storage_numel)})
    _refused(path)


# ---------------------------------------------------------------- one file poisoning the next (finding 2)
def test_poisoned_file_does_not_change_how_the_next_is_read(tmp_path):
    _refused(cc.make_poison_zip(tmp_path / 'poison.pth'), UnsafeCheckpointError, 'sets the state of torch')
    got = load_state_file(cc.make_good_zip(tmp_path / 'good.pth'))['w']
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.arange(6, dtype=np.float32).reshape(2, 3))


def _reader_names():
    from realesrgan_paddle.checkpoint_io.objects import Budget
    from realesrgan_paddle.checkpoint_io.unpickler import _Reader
    return _Reader(io.BytesIO(b''), Budget(0)), sorted(_Reader(io.BytesIO(b''), Budget(0)).names)


@pytest.mark.parametrize('state', [cc.dict1('x', cc.num(1)), cc.tup(cc.NONE, cc.dict1('x', cc.num(1)))])
def test_no_allow_listed_name_can_be_given_state(tmp_path, state):
    reader, names = _reader_names()
    assert len(names) > 40
    for module, name in names:
        path = tmp_path / 'build.pdparams'
        path.write_bytes(cc.PROTO2 + cc.glob(module, name) + state + cc.BUILD + cc.STOP)
        _refused(path, UnsafeCheckpointError, 'refused: the pickle sets the state of')
    # and every file gets its own objects
    again, _ = _reader_names()
    assert all(again.names[k] is not reader.names[k] for k in names if k != ('numpy', 'dtype'))


@pytest.mark.parametrize('op', [b'\x81', b'\x92', b'i', b'o', b'\x82'])
def test_object_making_opcodes_are_refused(tmp_path, op):
    """NEWOBJ, NEWOBJ_EX, INST, OBJ, EXT1: nothing a tensor needs; refused before they run."""
    path = tmp_path / 'op.pdparams'
    tail = {b'i': b'collections\nOrderedDict\n', b'\x82': b'\x01'}.get(op, b'')
    path.write_bytes(cc.PROTO2 + cc.MARK + cc.glob('builtins', 'tuple') + cc.EMPTY_TUPLE + op + tail + cc.STOP)
    _refused(path, UnsafeCheckpointError, 'builds an object with')


def test_items_only_go_into_containers(tmp_path):
    path = tmp_path / 'setitem.pdparams'
    path.write_bytes(cc.PROTO2 + cc.glob('torch', 'FloatStorage') + cc.text('k') + cc.num(1) + cc.SETITEM + cc.STOP)
    _refused(path, match='adds items to a torch.FloatStorage')


# ---------------------------------------------------------------- unbounded memory (finding 6)
def test_stride0_16384_square_tensor_is_refused_with_bounded_memory(tmp_path):
    path = cc.make_stride0_zip(tmp_path / 'stride0.pth')
    out = _load_isolated(path)
    assert out['error'] == 'CheckpointFormatError' and '621' in out['msg'], out
    assert out['maxrss_mb'] < RSS_BOUND_MB, out


def test_many_views_of_one_storage_cannot_multiply_memory(tmp_path):
    """300 tensors over the same 1 MiB storage: 300 MiB of arrays from a 1 MiB file is refused."""
    n = 1 << 18
    pid = cc.tup(cc.text('storage'), cc.glob('torch', 'FloatStorage'), cc.text('0'), cc.text('cpu'), cc.num(n))
    view = cc.call(cc.glob('torch._utils', '_rebuild_tensor_v2'), pid + cc.BINPERSID, cc.num(0), cc.tup(cc.num(n)),
                   cc.tup(cc.num(1)), cc.FALSE, cc.call(cc.glob('collections', 'OrderedDict')))
    items = b''.join(cc.text(f't{i}') + view for i in range(300))
    path = cc.torch_zip(tmp_path / 'views.pth', cc.PROTO2 + cc.EMPTY_DICT + cc.MARK + items + cc.SETITEMS + cc.STOP,
                        {'0': bytes(4 * n)})
    out = _load_isolated(path)
    assert out['error'] == 'CheckpointFormatError' and 'far more than' in out['msg'], out
    assert out['maxrss_mb'] < RSS_BOUND_MB, out


def test_zip_bomb_is_refused_before_it_inflates(tmp_path):
    path = cc.make_zip_bomb(tmp_path / 'bomb.pth')
    assert path.stat().st_size < 2 << 20
    out = _load_isolated(path)
    assert out['error'] == 'CheckpointFormatError' and 'zip bomb' in out['msg'], out
    assert out['maxrss_mb'] < RSS_BOUND_MB, out


def test_lengths_declared_in_the_pickle_are_checked_before_allocating(tmp_path):
    import struct
    for op in (b'\x96', b'\x8e'):  # BYTEARRAY8, BINBYTES8 claiming 64 GiB
        path = tmp_path / 'len.pdparams'
        path.write_bytes(b'\x80\x05' + op + struct.pack('<Q', 1 << 36) + b'\0' * 16 + cc.STOP)
        _refused(path, match='declares 68719476736 bytes where 17 remain')
    legacy = tmp_path / 'legacy.pth'
    with open(legacy, 'wb') as f:  # a legacy storage header claiming 2^40 floats
        for obj in (0x1950a86a20f9469cfc6c, 1001, {'little_endian': True}):
            pickle.dump(obj, f, protocol=2)
        pid = cc.tup(cc.text('storage'), cc.glob('torch', 'FloatStorage'), cc.text('k'), cc.text('cpu'),
                     cc.num(1 << 40), cc.NONE) + cc.BINPERSID
        f.write(cc.PROTO2 + cc.dict1('w', cc.call(cc.glob('torch._utils', '_rebuild_tensor'), pid, cc.num(0),
                                                  cc.tup(cc.num(1)), cc.tup(cc.num(1)))) + cc.STOP)
        pickle.dump(['k'], f, protocol=2)
        f.write(struct.pack('<q', 1 << 40) + b'\0' * 64)
    _refused(legacy, match='over the 1073741824-byte limit')


def test_size_limit_is_configurable(tmp_path, monkeypatch):
    path = cc.torch_zip(tmp_path / 'ok.pth', cc.tensor_pickle('FloatStorage', '0', 4096, (64, 64), (64, 1)),
                        {'0': np.ones(4096, '<f4').tobytes()})
    assert load_state_file(path)['w'].shape == (64, 64)
    monkeypatch.setenv('REALESRGAN_PADDLE_MAX_TENSOR_BYTES', '10000')
    _refused(path, match='16384 bytes, over the 10000-byte limit .set REALESRGAN_PADDLE_MAX_TENSOR_BYTES')
    st = tmp_path / 'ok.safetensors'
    st.write_bytes(cc.safetensors_bytes({'a': {'dtype': 'F32', 'shape': [4096], 'data_offsets': [0, 16384]}},
                                        bytes(16384)))
    _refused(st, match='over the 10000-byte limit')
    pd = tmp_path / 'ok.pdparams'
    pd.write_bytes(pickle.dumps({'w': np.zeros(4096, np.float32)}, protocol=4))
    _refused(pd, match='over the 10000-byte limit')
    monkeypatch.setenv('REALESRGAN_PADDLE_MAX_TENSOR_BYTES', 'lots')
    _refused(path, match='is not a positive number of bytes')


# ---------------------------------------------------------------- tracebacks where one line was promised (finding 7)
def test_deeply_nested_pickle_is_one_line(tmp_path):
    path = tmp_path / 'deep.pdparams'
    path.write_bytes(cc.nested_lists_pickle(100_000))
    _refused(path, match='nests deeper than 64 levels')


def test_deep_tuple_used_as_a_key_is_refused_before_it_is_hashed(tmp_path):
    path = tmp_path / 'tuplekey.pdparams'
    path.write_bytes(cc.deep_tuple_key_pickle(1_000_000))
    out = _load_isolated(path)
    assert out['error'] == 'CheckpointFormatError' and 'nests deeper' in out['msg'], out


@pytest.mark.parametrize('header', [
    b'{"a": ' + b'[' * 100_000 + b']' * 100_000 + b'}',
    b'{"a": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 4]}}',
    b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}',
    b'{"a": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}}',
    b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, -Infinity]}}',
    b'{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
    b'{"a": {"dtype": "F32", "shape": [4611686018427387904, 0], "data_offsets": [0, 0]}}',
    b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
    b'[1, 2]',
    b'{"a": "F32"}',
], ids=['deep', 'inf', 'nan', '1e400', 'neg-inf-offset', 'neg-shape', 'huge-shape', 'past-end', 'list', 'str'])
def test_malformed_safetensors_headers_are_one_line(tmp_path, header):
    path = tmp_path / 'h.safetensors'
    path.write_bytes(cc.safetensors_bytes(header, b'\0' * 4))
    _refused(path)


@pytest.mark.parametrize('info', [
    {'w': {'slices': ['missing'], 'OriginShape': (2,)}},
    {'w': {'OriginShape': (2,)}},
    {'w': {'slices': ['w@@.0'], 'OriginShape': (5,)}},
    {'w': {'slices': ['w@@.0'], 'OriginShape': (float('inf'),)}},
    ['w@@.0'],
])
def test_malformed_paddle_big_param_info_is_one_line(tmp_path, info):
    path = tmp_path / 'big.pdparams'
    path.write_bytes(pickle.dumps({'w@@.0': np.arange(6, dtype=np.float32), 'UnpackBigParamInfor@@': info},
                                  protocol=2))
    _refused(path, match='UnpackBigParamInfor@@')


def test_paddle_big_param_parts_are_joined(tmp_path):
    """The layout paddle.save uses for arrays over 1 GiB (protocol 2/3), at a small size."""
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / 'split.pdparams'
    path.write_bytes(pickle.dumps({'w@@.0': arr.ravel()[:5], 'w@@.1': arr.ravel()[5:], 'b': np.ones(2, np.float32),
                                   'UnpackBigParamInfor@@': {'w': {'OriginShape': (3, 4),
                                                                   'slices': ['w@@.0', 'w@@.1']}}}, protocol=2))
    got = load_state_file(path)
    assert sorted(got) == ['b', 'w']
    np.testing.assert_array_equal(got['w'], arr)


def test_rebuild_tensor_v3_with_an_object_dtype_is_one_line(tmp_path):
    _refused(cc.make_v3_object_dtype(tmp_path / 'v3.pth'), match='_rebuild_tensor_v3 is given')


@pytest.mark.parametrize('method,flags,match', [(99, 0, 'compression method 99'), (None, 1, 'is encrypted'),
                                                (12, 0, 'compression method 12')])
def test_zip_methods_and_encryption_are_one_line(tmp_path, method, flags, match):
    path = cc.patch_zip_headers(cc.make_good_zip(tmp_path / 'z.pth'), method=method, flags_or=flags)
    _refused(path, match=match)


def test_non_numeric_numpy_dtypes_are_refused(tmp_path):
    for arr in (np.array(['ab', 'c']), np.zeros(2, dtype=[('a', 'f4')]), np.array([1], dtype='datetime64[s]')):
        path = tmp_path / 'dt.pdparams'
        path.write_bytes(pickle.dumps({'w': arr}, protocol=4))
        _refused(path, match='not a plain numeric type')


def test_numpy_pickles_of_every_protocol_and_order_read_exactly(tmp_path):
    rng = np.random.default_rng(0)
    arrs = {'f': np.asfortranarray(rng.standard_normal((3, 5)).astype(np.float32)),
            'be': rng.standard_normal(4).astype('>f8'), 'b': np.array([True, False]), 'c': np.arange(3) + 1j,
            'e': np.zeros((0, 3), np.int16), 's': np.float32(2.5), 'i': np.int64(-3)}
    for proto in (2, 3, 4, 5):
        path = tmp_path / f'p{proto}.pdparams'
        path.write_bytes(pickle.dumps(arrs, protocol=proto))
        got = load_state_file(path)
        for k, v in arrs.items():
            want = np.asarray(v)
            assert np.shape(got[k]) == want.shape and np.asarray(got[k]).dtype == want.dtype.newbyteorder('='), k
            np.testing.assert_array_equal(got[k], v)
        assert got['f'].flags.f_contiguous and got['f'].flags.writeable
