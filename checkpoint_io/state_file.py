"""Safe checkpoint reading and writing, without torch.

``load_state_file(path)`` reads PyTorch ``.pth`` files (the zip format of
torch >= 1.6 and the legacy pickle-plus-raw-storages format of older files),
``.safetensors`` and Paddle ``.pdparams`` pickles. Every pickle goes through the
restricted unpickler of ``checkpoint_io.unpickler``: it hands out only the
tensor-rebuild functions (re-implemented on numpy); any other global
(``os.system``, ``builtins.open``, a model class, ...) raises
``UnsafeCheckpointError`` before anything from the file runs.

Memory safety is a property of the reader: arrays are only copied from bytes the
file holds, after exact bounds checks; every declared size is checked against
the bytes that remain and against ``REALESRGAN_PADDLE_MAX_TENSOR_BYTES``
(default 1 GiB per array; see ``checkpoint_io.objects.Budget``); zip members
are checked for method, encryption and compression ratio before they are read.
Whatever is wrong with a file, ``load_state_file`` raises ``FileNotFoundError``,
``UnsafeCheckpointError`` or ``CheckpointFormatError`` with one line that starts
with the path.
"""
import json
import math
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

from realesrgan_paddle.checkpoint_io.objects import (  # noqa: F401
    DEFAULT_MAX_TENSOR_BYTES, MAX_TENSOR_BYTES_ENV, Budget,
    NumpyDType, Storage, StorageView, check_shape, clean, error_text, fail,
    finish_array, quote, raw_dtype, storage_code)
from realesrgan_paddle.utils.fileio import require_regular_file, sha256_file  # noqa: F401  (sha256_file: re-exported)
from realesrgan_paddle.utils.fileio import atomic_write
from realesrgan_paddle.checkpoint_io.unpickler import (  # noqa: F401
    TORCH_LEGACY_MAGIC, TORCH_LEGACY_PROTOCOL, CheckpointFormatError,
    UnsafeCheckpointError, materialize, restricted_load)

_SAFETENSORS_DTYPES = {
    'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'BF16': 'bf16', 'I64': '<i8', 'I32': '<i4',
    'I16': '<i2', 'I8': 'i1', 'U8': 'u1', 'BOOL': '?', 'U16': '<u2', 'U32': '<u4', 'U64': '<u8',
}
MAX_SAFETENSORS_HEADER = 100 << 20  # the limit the safetensors format itself sets
MAX_ZIP_RATIO = 200                 # float weights deflate by about 1.1x; deflate itself tops out near 1032x


# ---------------------------------------------------------------- formats
def _read_member(zf, info, budget):
    """A zip member's bytes, after checking what its header declares (zip bombs, encryption, methods)."""
    what = f'zip member {clean(info.filename)}'
    if info.flag_bits & 0x1:
        fail(f'{what} is encrypted')
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        fail(f'{what} uses compression method {info.compress_type} (torch.save stores members uncompressed)')
    if info.file_size > 1 << 20 and info.file_size > MAX_ZIP_RATIO * info.compress_size:
        fail(f'{what} declares {info.file_size} bytes from {info.compress_size} compressed (a zip bomb?)')
    budget.inflate(info.file_size, what)
    with zf.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        fail(f'{what} holds {len(data)} bytes, its header says {info.file_size}')
    return data


def _load_torch_zip(path, budget):
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: i for i in zf.infolist()}
        pkl = sorted((n for n in members if n.endswith('data.pkl') and n.count('/') == 1), key=len)
        if not pkl:
            hint = ' (a TorchScript archive: save the state_dict instead)' if any(
                n.endswith('constants.pkl') for n in members) else ''
            fail(f'zip file without data.pkl, not a torch checkpoint{hint}')
        prefix = pkl[0][:-len('data.pkl')]
        little = True
        if prefix + 'byteorder' in members:
            little = _read_member(zf, members[prefix + 'byteorder'], budget)[:16] != b'big'
        storages = {}

        def load_storage(pid):
            if len(pid) < 5 or type(pid[2]) is not str or type(pid[4]) is not int or pid[4] < 0:
                fail('malformed storage id')
            _, storage_type, key, _location, numel = pid[:5]
            code = storage_code(storage_type)
            if key not in storages:
                info = members.get(f'{prefix}data/{key}')
                if info is None:
                    fail(f'storage {clean(key)} is missing from the archive')
                raw = _read_member(zf, info, budget)
                if len(raw) != numel * raw_dtype(code).itemsize:
                    fail(f'storage {clean(key)} holds {len(raw)} bytes, its header says {quote(numel, 40)} elements')
                storages[key] = Storage(code, key, numel, little)
                storages[key].raw = memoryview(raw)
            elif storages[key].code != code:
                fail(f'storage {clean(key)} is used with two element types')
            return storages[key]

        obj = restricted_load(_read_member(zf, members[pkl[0]], budget), budget, load_storage)
    return materialize(obj, budget)


def _load_torch_legacy(f, budget):
    """Legacy torch.save: magic, protocol, sys_info, the pickle, storage keys, raw storages."""
    protocol = restricted_load(f, budget)
    if type(protocol) is not int or protocol != TORCH_LEGACY_PROTOCOL:
        fail(f'unsupported legacy torch protocol {quote(protocol, 40)}')
    sys_info = restricted_load(f, budget)
    little = sys_info.get('little_endian', True) is not False if isinstance(sys_info, dict) else True
    storages = {}

    def load_storage(pid):
        if len(pid) < 6 or type(pid[2]) is not str or type(pid[4]) is not int or pid[4] < 0:
            fail('malformed legacy storage id')
        _, storage_type, root_key, _location, numel, view = pid[:6]
        code = storage_code(storage_type)
        st = storages.setdefault(root_key, Storage(code, root_key, numel, little))
        if st.code != code or st.numel != numel:
            fail(f'storage {clean(root_key)} is declared twice, differently')
        if view is None:
            return st
        if type(view) is not tuple or len(view) != 3:
            fail('malformed legacy storage view')
        return StorageView(st, view[1], view[2])

    obj = restricted_load(f, budget, load_storage)
    keys = restricted_load(f, budget)
    if type(keys) is not list or any(type(k) is not str for k in keys) or len(set(keys)) != len(keys):
        fail('damaged legacy file (no list of distinct storage keys)')
    start, end = f.tell(), f.seek(0, 2)
    f.seek(start)
    missing = [k for k in keys if k not in storages]
    if missing:
        fail(f'storage {clean(str(missing[0]))} is not used by the pickle')
    for key in keys:
        st = storages[key]
        head = f.read(8)
        if len(head) != 8:
            fail(f'file ends before storage {clean(key)}')
        numel = struct.unpack('<q' if little else '>q', head)[0]
        nbytes = numel * raw_dtype(st.code).itemsize
        if numel != st.numel:
            fail(f'storage {clean(key)} holds {numel} elements, the pickle says {quote(st.numel, 40)}')
        budget.check(nbytes, f'storage {clean(key)}')
        if nbytes > end - f.tell():
            fail(f'file ends inside storage {clean(key)} (truncated download?)')
        st.raw = memoryview(f.read(nbytes))
    return materialize(obj, budget)


def _no_constant(name):
    fail(f'the safetensors header holds {name}, not a number')


def _load_safetensors(path, budget):
    size = path.stat().st_size
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        if n > min(size - 8, MAX_SAFETENSORS_HEADER):
            fail(f'safetensors header length {n} exceeds the file or the {MAX_SAFETENSORS_HEADER}-byte limit')
        try:
            header = json.loads(f.read(n).decode('utf-8'), parse_constant=_no_constant)
        except RecursionError:
            fail('the safetensors header nests too deeply')
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            fail(f'bad safetensors header ({clean(str(e))})')
        if type(header) is not dict:
            fail('the safetensors header is not a JSON object')
        body, out = size - 8 - n, {}
        for name, info in header.items():
            if name == '__metadata__':
                continue
            what = f'tensor {clean(name)}'
            if (type(info) is not dict or info.get('dtype') not in _SAFETENSORS_DTYPES
                    or type(info.get('data_offsets')) is not list or len(info['data_offsets']) != 2):
                fail(f'{what} has an unsupported dtype or a bad header entry')
            code = _SAFETENSORS_DTYPES[info['dtype']]
            shape = check_shape(info.get('shape'), f'{what} shape')
            begin, end = (_offset(x, what) for x in info['data_offsets'])
            dt = raw_dtype(code)
            if not begin <= end <= body or end - begin != math.prod(shape) * dt.itemsize:
                fail(f'{what} has offsets that do not fit its shape or the file')
            budget.spend((end - begin) * (2 if code == 'bf16' else 1), what)
            f.seek(8 + n + begin)
            arr = np.frombuffer(f.read(end - begin), dtype=dt).reshape(shape)
            out[name] = finish_array(arr.copy(), code)
    return out


def _offset(x, what):
    if type(x) is not int or x < 0:
        fail(f'{what} has a bad data offset')
    return x


def _pack_paddle_big_params(obj, budget):
    """Undo paddle.save's splitting of >1 GiB arrays (protocol 2/3), checking every part."""
    if not isinstance(obj, dict):
        return obj
    obj.pop('StructuredToParameterName@@', None)
    if 'UnpackBigParamInfor@@' not in obj:
        return obj
    info = obj.pop('UnpackBigParamInfor@@')
    bad = 'malformed UnpackBigParamInfor@@ (the list of arrays paddle.save split)'
    if type(info) is not dict:
        fail(bad)
    for key, value in info.items():
        slices = value.get('slices') if type(value) is dict else None
        if type(slices) not in (list, tuple) or not slices or any(
                type(p) is not str or not isinstance(obj.get(p), np.ndarray) or obj[p].ndim != 1 for p in slices):
            fail(f'{bad}: {clean(str(key))} names parts that are missing or not flat arrays')
        parts = [obj[p] for p in slices]
        shape = check_shape(value.get('OriginShape'), f'{bad}: the shape of {clean(str(key))}')
        if len({p.dtype for p in parts}) != 1 or sum(p.size for p in parts) != math.prod(shape):
            fail(f'{bad}: the parts of {clean(str(key))} do not add up to its shape')
        budget.spend(sum(p.nbytes for p in parts), f'array {clean(str(key))}')
        obj[key] = np.concatenate(parts).reshape(shape)
        for p in slices:
            obj.pop(p, None)
    return obj


def _load(path, budget):
    with open(path, 'rb') as f:
        head = f.read(512)
    if head[:4] == b'PK\x03\x04':
        return _load_torch_zip(path, budget)
    if len(head) > 262 and head[257:262] == b'ustar':
        fail('the pre-2018 torch tar format is not supported; re-save it with torch.save(state_dict)')
    if len(head) >= 9 and head[8:9] == b'{' and struct.unpack('<Q', head[:8])[0] <= budget.file_size - 8:
        return _load_safetensors(path, budget)
    if not head[:1] == b'\x80':
        fail('not a .pth, .pdparams or .safetensors checkpoint')
    with open(path, 'rb') as f:
        first = restricted_load(f, budget)
        if type(first) is int and first == TORCH_LEGACY_MAGIC:
            return _load_torch_legacy(f, budget)
    return _pack_paddle_big_params(materialize(first, budget), budget)


def load_state_file(path):
    """Read a checkpoint into nested dicts of numpy arrays without running code from it.

    Raises ``UnsafeCheckpointError`` for a pickle that references anything but
    tensor-rebuild globals, ``CheckpointFormatError`` for anything else wrong
    with the file (damaged, truncated, too large, too deeply nested, unreadable)
    and ``FileNotFoundError`` for a missing one. Every message is one line that
    starts with the path. Nothing else escapes.
    """
    path = Path(path)
    where = str(path)
    st = require_regular_file(path, CheckpointFormatError)  # a FIFO or /dev/zero: one line, never opened
    try:
        return _load(path, Budget(st.st_size))
    except (UnsafeCheckpointError, CheckpointFormatError) as e:
        msg = ' '.join(str(e).split())
        raise type(e)(msg if msg.startswith(f'{where}: ') else f'{where}: {msg}') from None
    except RecursionError:
        raise CheckpointFormatError(f'{where}: the checkpoint nests too deeply') from None
    except MemoryError:
        raise CheckpointFormatError(f'{where}: not enough memory to read this checkpoint') from None
    except Exception as e:  # zip, struct and OS oddities: still one line, still a format error
        raise CheckpointFormatError(
            f'{where}: damaged or unreadable checkpoint ({type(e).__name__}: {error_text(e)})') from None


# ---------------------------------------------------------------- picking and writing
def _is_array(v):
    return isinstance(v, np.ndarray)


def _strip_module(state):
    if state and all(k.startswith('module.') for k in state):
        return {k[len('module.'):]: v for k, v in state.items()}
    return state


# wrappers of released files after params_ema, params and state_dict, in the order spandrel unwraps them
WRAPPER_KEYS = ('params-ema', 'model_state_dict', 'model', 'net')


def pick_params(raw, param_key='params_ema', with_key=False):
    """``(flat state dict, arch or None)`` from a loaded checkpoint.

    Prefers ``param_key``, then ``params_ema``, ``params`` and ``state_dict``, then the other wrappers released
    files use (``WRAPPER_KEYS``: Swift-SRGAN's release stores ``model`` beside its optimizer), then the bare dict
    itself, then the one dict a single-entry file holds; ``module.`` prefixes (DataParallel) are removed.
    ``with_key=True`` appends the key that was used (None for a bare dict).
    """
    if not isinstance(raw, dict):
        raise ValueError(f'expected a dict of tensors, found {type(raw).__name__}')
    arch = raw.get('arch') if isinstance(raw.get('arch'), dict) else None
    used, state = None, None
    for key in dict.fromkeys([param_key, 'params_ema', 'params', 'state_dict', *WRAPPER_KEYS]):
        if key and isinstance(raw.get(key), dict):
            state = {k: v for k, v in raw[key].items() if _is_array(v)}
            if state:
                used = key
                break
    if not state:
        state = {k: v for k, v in raw.items() if _is_array(v)}
    if not state and len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        used = next(iter(raw))
        state = {k: v for k, v in raw[used].items() if _is_array(v)}
    if not state:
        shown = ', '.join(sorted(quote(k, 40) for k in raw)[:8])
        raise ValueError(f'no tensors found; top-level keys: [{shown}{", ..." if len(raw) > 8 else ""}]')
    odd = next((k for k in state if type(k) is not str), None)
    if odd is not None:
        raise ValueError(f'a tensor is stored under the key {quote(odd, 40)}, a {type(odd).__name__}: '
                         'state dicts name their tensors')
    state = _strip_module(state)
    return (state, arch, used) if with_key else (state, arch)


def _to_numpy(state):
    out = {}
    for k, v in state.items():
        arr = v.numpy() if hasattr(v, 'numpy') and not isinstance(v, np.ndarray) else v
        out[str(k)] = np.ascontiguousarray(arr)
    return out


def _plain(obj, where):
    """Plain Python/numpy values only, so that the safe reader can read the file back."""
    if obj is None or isinstance(obj, (str, bool, int, float, np.ndarray)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v, f'{where}.{k}') for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_plain(v, f'{where}[{i}]') for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    if hasattr(obj, 'numpy'):  # paddle/torch tensors
        arr = np.asarray(obj.numpy())
        return arr.item() if arr.ndim == 0 else arr
    raise TypeError(f'{where}: a {type(obj).__name__} cannot be stored in a checkpoint '
                    '(use str, numbers, lists, dicts or arrays)')


def save_checkpoint(path, params, params_ema=None, arch=None, meta=None):
    """Atomically write ``{'params', 'params_ema'?, 'arch'?, 'meta'?}`` as a pickle of numpy arrays.

    The file uses pickle protocol 4 with numpy's own reconstruction, which
    ``paddle.load`` reads (arrays become Tensors) and ``load_state_file`` reads safely.
    """
    obj = {'params': _to_numpy(params)}
    if params_ema is not None:
        obj['params_ema'] = _to_numpy(params_ema)
    if arch is not None:
        obj['arch'] = _plain(dict(arch), 'arch')
    if meta is not None:
        obj['meta'] = _plain(dict(meta), 'meta')
    with atomic_write(path, 'wb') as f:
        pickle.dump(obj, f, protocol=4)
    return Path(path)


if __name__ == '__main__':  # pragma: no cover - quick inspection helper
    for p in sys.argv[1:]:
        st, a = pick_params(load_state_file(p))
        print(p, a, len(st), 'tensors')
