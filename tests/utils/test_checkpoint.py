"""checkpoint_io.state_file: the restricted reader (torch zip/legacy, safetensors, pdparams) and the writer."""
import importlib.util
import io
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.state_file import (
    CheckpointFormatError, UnsafeCheckpointError, load_state_file, pick_params,
    save_checkpoint, sha256_file)
from tests.skips import SAFETENSORS_SKIP

_spec = importlib.util.spec_from_file_location('crafted_checkpoints',
                                               Path(__file__).with_name('crafted_checkpoints.py'))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)


class _Payload:
    """Unpickling this would call ``func(*args)``."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    return {
        'os.system': _Payload(os.system, (f'touch {marker}',)),
        'builtins.open': _Payload(open, (str(marker), 'w')),
        'builtins.exec': _Payload(exec, (f'open({str(marker)!r}, "w")',)),
    }


@pytest.mark.parametrize('kind', ['os.system', 'builtins.open', 'builtins.exec'])
@pytest.mark.parametrize('container', ['zip', 'legacy', 'pdparams'])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, kind, container):
    marker = tmp_path / 'pwned'
    evil = {'params': {'conv.weight': np.zeros(3, np.float32), 'x': _payloads(marker)[kind]}}
    path = tmp_path / f'evil.{"pdparams" if container == "pdparams" else "pth"}'
    if container == 'zip':
        cc.torch_zip(path, pickle.dumps(evil, protocol=2))
    elif container == 'legacy':
        with open(path, 'wb') as f:  # magic, protocol, sys_info, then the payload pickle
            for obj in (0x1950a86a20f9469cfc6c, 1001, {'little_endian': True}, evil, []):
                pickle.dump(obj, f, protocol=2)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=4))
    with pytest.raises(UnsafeCheckpointError) as info:
        load_state_file(path)
    msg = str(info.value)
    assert msg.startswith(f'{path}: refused: the pickle references ')
    assert 'system' in msg or 'open' in msg or 'exec' in msg
    assert '\n' not in msg
    assert not marker.exists()


def test_refused_globals_inside_allowed_calls(tmp_path):
    # paddle's eval('data', ...) form is allowed, any other expression is not
    arr = np.arange(4, dtype=np.float32)
    ok = tmp_path / 'dense.pdparams'
    ok.write_bytes(pickle.dumps({'w': _Payload(eval, ('data', {'data': arr}))}, protocol=2))
    np.testing.assert_array_equal(load_state_file(ok)['w'], arr)
    bad = tmp_path / 'eval.pdparams'
    bad.write_bytes(pickle.dumps({'w': _Payload(eval, ('__import__("os")', {'data': arr}))}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match='builtins.eval'):
        load_state_file(bad)
    # numpy object arrays could smuggle objects: refused
    objs = tmp_path / 'objects.pdparams'
    objs.write_bytes(pickle.dumps({'w': np.array([1, 'a'], dtype=object)}, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match='object'):
        load_state_file(objs)


def test_whole_model_pickle_is_refused(tmp_path, torch):
    """torch.save(model) pickles the class; the reader names it and refuses."""
    path = tmp_path / 'model.pth'
    torch.save(torch.nn.Conv2d(1, 1, 1), path)
    with pytest.raises(UnsafeCheckpointError, match=r'torch\.nn\.modules\.conv\.Conv2d'):
        load_state_file(path)


@pytest.mark.parametrize('legacy', [False, True])
def test_torch_dtypes_views_and_parameters(tmp_path, legacy, torch):
    torch.manual_seed(0)
    base = torch.arange(24, dtype=torch.float32)
    data = {
        'f32': torch.randn(2, 3, 3, 3), 'f64': torch.randn(4, dtype=torch.float64),
        'f16': torch.randn(5).half(), 'bf16': torch.randn(2, 3).bfloat16(),
        'i64': torch.arange(6), 'i32': torch.arange(3, dtype=torch.int32), 'u8': torch.arange(4, dtype=torch.uint8),
        'bool': torch.tensor([True, False, True]), 'i8': torch.tensor([-3, 4], dtype=torch.int8),
        'transposed': base.reshape(4, 6).t(), 'view': base[5:11], 'shared': base.reshape(2, 12),
        'param': torch.nn.Parameter(torch.randn(3)), 'empty': torch.zeros(0, 4), 'scalar': torch.tensor(2.5),
    }
    path = tmp_path / 'dtypes.pth'
    torch.save({'params': data, 'epoch': 7}, path, _use_new_zipfile_serialization=not legacy)
    got = load_state_file(path)
    assert got['epoch'] == 7
    for k, v in data.items():
        v = v.detach()
        want = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        assert got['params'][k].dtype == want.dtype, k
        assert got['params'][k].shape == want.shape, k
        np.testing.assert_array_equal(got['params'][k], want, err_msg=k)


def _write_safetensors(path, tensors, dtype_names):
    header, blobs, offset = {'__metadata__': {'format': 'pt'}}, [], 0
    for name, arr in tensors.items():
        raw = arr.tobytes()
        header[name] = {'dtype': dtype_names[name], 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack('<Q', len(head)) + head + b''.join(blobs))
    return path


def test_safetensors_own_parser(tmp_path):
    f32 = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    bf16_bits = (f32.view(np.uint32) >> 16).astype(np.uint16)  # truncated bf16 of f32
    path = _write_safetensors(tmp_path / 'w.safetensors',
                              {'a': f32, 'b': bf16_bits, 'c': f32.astype(np.float16), 'd': np.arange(3)},
                              {'a': 'F32', 'b': 'BF16', 'c': 'F16', 'd': 'I64'})
    got = load_state_file(path)
    np.testing.assert_array_equal(got['a'], f32)
    np.testing.assert_array_equal(got['b'], (bf16_bits.astype(np.uint32) << 16).view(np.float32))
    assert got['c'].dtype == np.float16 and got['d'].dtype == np.int64
    assert '__metadata__' not in got
    # a header that points outside the file is a format error, not a crash
    bad = tmp_path / 'bad.safetensors'
    head = json.dumps({'a': {'dtype': 'F32', 'shape': [100], 'data_offsets': [0, 400]}}).encode()
    bad.write_bytes(struct.pack('<Q', len(head)) + head + b'\0' * 8)
    with pytest.raises(CheckpointFormatError, match=str(bad)):
        load_state_file(bad)


def test_safetensors_matches_the_library(tmp_path):
    st = pytest.importorskip('safetensors.numpy', reason=SAFETENSORS_SKIP)
    arrs = {'x.weight': np.random.default_rng(1).standard_normal((4, 2, 3, 3)).astype(np.float32),
            'x.bias': np.arange(4, dtype=np.float16)}
    st.save_file(arrs, str(tmp_path / 'lib.safetensors'))
    got = load_state_file(tmp_path / 'lib.safetensors')
    for k, v in arrs.items():
        np.testing.assert_array_equal(got[k], v)


def test_pdparams_written_by_paddle_save(tmp_path):
    import paddle
    layer = paddle.nn.Conv2D(3, 4, 3)
    path = tmp_path / 'paddle.pdparams'
    paddle.save(layer.state_dict(), str(path))
    got = load_state_file(path)
    assert set(got) == {'weight', 'bias'}
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(got[k], v.numpy())


def test_save_checkpoint_roundtrip_paddle_load_and_safe_reader(tmp_path):
    import paddle
    rng = np.random.default_rng(2)
    params = {'conv.weight': rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
              'conv.bias': paddle.to_tensor(rng.standard_normal(4).astype(np.float32))}
    ema = {'conv.weight': np.ones((4, 3, 3, 3), np.float32), 'conv.bias': np.zeros(4, np.float32)}
    arch = {'type': 'SRVGGNetCompact', 'num_feat': 4, 'act_type': 'prelu'}
    path = tmp_path / 'sub' / 'ck.pdparams'
    save_checkpoint(path, params=params, params_ema=ema, arch=arch, meta={'source': 'x.pth', 'iter': 3})
    assert [p.name for p in path.parent.iterdir()] == ['ck.pdparams']  # no temp files left
    by_paddle = paddle.load(str(path))
    assert by_paddle['arch'] == arch and by_paddle['meta']['iter'] == 3
    np.testing.assert_array_equal(by_paddle['params']['conv.weight'].numpy(), params['conv.weight'])
    np.testing.assert_array_equal(by_paddle['params_ema']['conv.weight'].numpy(), ema['conv.weight'])
    safe = load_state_file(path)
    np.testing.assert_array_equal(safe['params']['conv.bias'], params['conv.bias'].numpy())
    state, got_arch = pick_params(safe)
    assert got_arch == arch
    np.testing.assert_array_equal(state['conv.weight'], ema['conv.weight'])  # params_ema first


def test_save_checkpoint_meta_stays_readable(tmp_path):
    import paddle
    meta = {'best': {'psnr': {'val': np.float32(27.5), 'iter': np.int64(40)}}, 'dir': Path('/x/y'),
            'loss': paddle.to_tensor(0.25), 'shape': (3, 4)}
    path = save_checkpoint(tmp_path / 'm.pdparams', params={'w': np.zeros(2, np.float32)}, meta=meta)
    got = load_state_file(path)['meta']
    assert got == {'best': {'psnr': {'val': 27.5, 'iter': 40}}, 'dir': '/x/y', 'loss': 0.25, 'shape': (3, 4)}
    with pytest.raises(TypeError, match=r'meta.fn: a builtin_function_or_method cannot be stored'):
        save_checkpoint(tmp_path / 'bad.pdparams', params={'w': np.zeros(2, np.float32)}, meta={'fn': len})
    assert not (tmp_path / 'bad.pdparams').exists()


def test_pick_params_preference(tmp_path):
    a, b, c = (np.full(2, i, np.float32) for i in range(3))
    raw = {'params': {'w': a}, 'params_ema': {'w': b}, 'meta': {'x': 1}}
    assert pick_params(raw)[0]['w'] is b
    assert pick_params(raw, 'params')[0]['w'] is a
    assert pick_params({'params': {'w': a}})[0]['w'] is a  # no ema: params
    state, arch, used = pick_params({'module.w': c, 'module.v': a, 'step': 5}, with_key=True)
    assert set(state) == {'w', 'v'} and arch is None and used is None  # bare dict, DataParallel prefix gone
    with pytest.raises(ValueError, match='no tensors'):
        pick_params({'epoch': 3, 'optimizer': {}})


@pytest.mark.parametrize('legacy', [False, True])
def test_truncated_and_foreign_files(tmp_path, legacy, torch):
    full = tmp_path / 'full.pth'
    torch.save({'w': torch.randn(64, 64)}, full, _use_new_zipfile_serialization=not legacy)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(full.read_bytes()[: full.stat().st_size - 200])
    with pytest.raises(CheckpointFormatError) as info:
        load_state_file(cut)
    assert str(info.value).startswith(f'{cut}: ') and '\n' not in str(info.value)
    text = tmp_path / 'notes.pth'
    text.write_text('hello')
    with pytest.raises(CheckpointFormatError, match='not a .pth'):
        load_state_file(text)
    with pytest.raises(FileNotFoundError):
        load_state_file(tmp_path / 'missing.pth')


def test_sha256_file(tmp_path):
    p = tmp_path / 'x.bin'
    p.write_bytes(b'abc')
    assert sha256_file(p) == 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'


def test_reader_does_not_import_torch(tmp_path):
    import subprocess
    import sys
    path = tmp_path / 'z.pth'
    blob = np.arange(6, dtype='<f4').tobytes()
    # data.pkl referencing one FloatStorage, as torch writes it
    pkl = io.BytesIO()
    pkl.write(b'\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage'
              b'ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQK\x00K\x02K\x03\x86K\x03K\x01'
              b'\x86\x89ccollections\nOrderedDict\n)RtRs.')
    cc.torch_zip(path, pkl.getvalue(), {'0': blob})
    code = ('import sys; from realesrgan_paddle.checkpoint_io.state_file import load_state_file; '
            f'w = load_state_file({str(path)!r})["w"]; '
            'assert w.tolist() == [[0, 1, 2], [3, 4, 5]], w; assert "torch" not in sys.modules; print("ok")')
    out = subprocess.run([sys.executable, '-c', code], cwd=str(__import__('pathlib').Path(__file__).parents[2]),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == 'ok', out.stderr


def test_legacy_ordered_dict_of_list_pairs(tmp_path):
    """torch < 1.6 wrote ``OrderedDict([[key, tensor], ...])`` (lists, not tuples: the LPIPS v0.1 files in the lpips
    wheel); the reader takes 2-item lists as pairs, and still refuses anything else."""
    arr = pickle.dumps(np.arange(3, dtype=np.float32), protocol=2)[2:-1]  # the array's opcodes, no PROTO/STOP
    good = b'\x80\x02ccollections\nOrderedDict\n](](X\x01\x00\x00\x00w' + arr + b'ee\x85R.'
    p = tmp_path / 'legacy.pth'
    p.write_bytes(good)
    assert load_state_file(p)['w'].tolist() == [0, 1, 2]
    p.write_bytes(b'\x80\x02ccollections\nOrderedDict\n](](X\x01\x00\x00\x00wK\x01K\x02ee\x85R.')  # 3 items
    with pytest.raises(CheckpointFormatError, match='other than \\(key, value\\) pairs'):
        load_state_file(p)
