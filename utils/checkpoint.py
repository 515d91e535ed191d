"""Safe checkpoint reading and writing, without torch.

``load_state_file(path)`` reads PyTorch ``.pth`` files (the zip format of
torch >= 1.6 and the legacy pickle-plus-raw-storages format of older files),
``.safetensors`` and Paddle ``.pdparams`` pickles. Every pickle goes through the
restricted unpickler of ``utils.safe_unpickle``: it hands out only the
tensor-rebuild functions (re-implemented on numpy); any other global
(``os.system``, ``builtins.open``, a model class, ...) raises
``UnsafeCheckpointError`` before anything from the file runs.
"""
import json
import pickle
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from utils.fileio import sha256_file  # noqa: F401  (re-exported: callers use checkpoint.sha256_file)
from utils.safe_unpickle import (TORCH_LEGACY_MAGIC, TORCH_LEGACY_PROTOCOL, CheckpointFormatError,  # noqa: F401
                                 Storage, StorageView, UnsafeCheckpointError, finish_array, materialize, raw_dtype,
                                 restricted_load, storage_code)

_SAFETENSORS_DTYPES = {
    'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'BF16': 'bf16', 'I64': '<i8', 'I32': '<i4',
    'I16': '<i2', 'I8': 'i1', 'U8': 'u1', 'BOOL': '?', 'U16': '<u2', 'U32': '<u4', 'U64': '<u8',
}


# ---------------------------------------------------------------- formats
def _load_torch_zip(path, where):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = sorted((n for n in names if n.endswith('data.pkl') and n.count('/') == 1), key=len)
        if not pkl:
            hint = ' (a TorchScript archive: save the state_dict instead)' if any(
                n.endswith('constants.pkl') for n in names) else ''
            raise CheckpointFormatError(f'{where}: zip file without data.pkl, not a torch checkpoint{hint}')
        prefix = pkl[0][:-len('data.pkl')]
        little = True
        if prefix + 'byteorder' in names:
            little = zf.read(prefix + 'byteorder').decode('ascii', 'replace').strip() != 'big'
        storages = {}

        def load_storage(pid):
            if len(pid) < 5:
                raise CheckpointFormatError(f'{where}: malformed storage id')
            _, storage_type, key, _location, _numel = pid[:5]
            if key not in storages:
                code = storage_code(storage_type, where)
                member = f'{prefix}data/{key}'
                if member not in names:
                    raise CheckpointFormatError(f'{where}: storage {key} is missing from the archive')
                raw = zf.read(member)
                dt = raw_dtype(code, little)
                st = Storage(code, key)
                st.data = np.frombuffer(raw, dtype=dt, count=len(raw) // dt.itemsize)
                storages[key] = st
            return storages[key]

        obj = restricted_load(zf.read(pkl[0]), where, load_storage)
    return materialize(obj, where)


def _load_torch_legacy(f, where):
    """Legacy torch.save: magic, protocol, sys_info, the pickle, storage keys, raw storages."""
    protocol = restricted_load(f, where)
    if protocol != TORCH_LEGACY_PROTOCOL:
        raise CheckpointFormatError(f'{where}: unsupported legacy torch protocol {protocol!r}')
    sys_info = restricted_load(f, where)
    little = bool(sys_info.get('little_endian', True)) if isinstance(sys_info, dict) else True
    storages = {}

    def load_storage(pid):
        if len(pid) < 6:
            raise CheckpointFormatError(f'{where}: malformed legacy storage id')
        _, storage_type, root_key, _location, numel, view = pid[:6]
        if root_key not in storages:
            storages[root_key] = Storage(storage_code(storage_type, where), root_key, int(numel))
        st = storages[root_key]
        if view is not None:
            _view_key, offset, size = view
            return StorageView(st, int(offset), int(size))
        return st

    obj = restricted_load(f, where, load_storage)
    keys = restricted_load(f, where)
    if not isinstance(keys, list):
        raise CheckpointFormatError(f'{where}: damaged legacy file (no storage key list)')
    for key in keys:
        st = storages.get(key)
        if st is None:
            raise CheckpointFormatError(f'{where}: storage {key!r} is not used by the pickle')
        head = f.read(8)
        if len(head) != 8:
            raise CheckpointFormatError(f'{where}: file ends before storage {key!r}')
        numel = struct.unpack('<q' if little else '>q', head)[0]
        dt = raw_dtype(st.code, little)
        raw = f.read(numel * dt.itemsize)
        if numel < 0 or len(raw) != numel * dt.itemsize:
            raise CheckpointFormatError(f'{where}: file ends inside storage {key!r} (truncated download?)')
        st.data = np.frombuffer(raw, dtype=dt)
    return materialize(obj, where)


def _load_safetensors(path, where):
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise CheckpointFormatError(f'{where}: too short for a safetensors file')
    n = struct.unpack('<Q', data[:8])[0]
    if n > len(data) - 8:
        raise CheckpointFormatError(f'{where}: safetensors header length {n} exceeds the file')
    try:
        header = json.loads(data[8:8 + n].decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointFormatError(f'{where}: bad safetensors header ({e})') from None
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        try:
            code = _SAFETENSORS_DTYPES[info['dtype']]
            shape = tuple(int(s) for s in info['shape'])
            begin, end = (int(x) for x in info['data_offsets'])
        except (KeyError, TypeError, ValueError):
            raise CheckpointFormatError(
                f'{where}: tensor {name!r} has an unsupported dtype or a bad header entry') from None
        dt = raw_dtype(code)
        if not 0 <= begin <= end <= len(body) or end - begin != int(np.prod(shape)) * dt.itemsize:
            raise CheckpointFormatError(f'{where}: tensor {name!r} has offsets that do not fit the file')
        arr = np.frombuffer(body[begin:end], dtype=dt).reshape(shape)
        out[name] = finish_array(arr.copy(), code)
    return out


def _pack_paddle_big_params(obj):
    """Undo paddle.save's splitting of >1 GiB arrays (protocol 2/3)."""
    if isinstance(obj, dict):
        info = obj.pop('UnpackBigParamInfor@@', None)
        if isinstance(info, dict):
            for key, value in info.items():
                parts = [obj.pop(p) for p in value['slices']]
                obj[key] = np.concatenate(parts).reshape(value['OriginShape'])
        obj.pop('StructuredToParameterName@@', None)
    return obj


def load_state_file(path):
    """Read a checkpoint into nested dicts of numpy arrays without running code from it.

    Raises ``UnsafeCheckpointError`` for a pickle that references anything but
    tensor-rebuild globals, ``CheckpointFormatError`` for unreadable files and
    ``FileNotFoundError`` for missing ones. Every message starts with the path.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f'{where}: no such file')
    with open(path, 'rb') as f:
        head = f.read(512)
    if head[:4] == b'PK\x03\x04':
        try:
            return _load_torch_zip(path, where)
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise CheckpointFormatError(f'{where}: damaged zip archive ({e}; truncated download?)') from None
    if len(head) > 262 and head[257:262] == b'ustar':
        raise CheckpointFormatError(f'{where}: the pre-2018 torch tar format is not supported; '
                                    're-save it with torch.save(state_dict)')
    if len(head) >= 9 and head[8:9] == b'{' and struct.unpack('<Q', head[:8])[0] <= path.stat().st_size - 8:
        return _load_safetensors(path, where)
    if not head[:1] == b'\x80':
        raise CheckpointFormatError(f'{where}: not a .pth, .pdparams or .safetensors checkpoint')
    with open(path, 'rb') as f:
        first = restricted_load(f, where)
        if isinstance(first, int) and first == TORCH_LEGACY_MAGIC:
            return _load_torch_legacy(f, where)
    return materialize(_pack_paddle_big_params(first), where)


# ---------------------------------------------------------------- picking and writing
def _is_array(v):
    return isinstance(v, np.ndarray)


def _strip_module(state):
    if state and all(k.startswith('module.') for k in state):
        return {k[len('module.'):]: v for k, v in state.items()}
    return state


def pick_params(raw, param_key='params_ema', with_key=False):
    """``(flat state dict, arch or None)`` from a loaded checkpoint.

    Prefers ``param_key``, then ``params_ema``, ``params`` and ``state_dict``,
    then the bare dict itself; ``module.`` prefixes (DataParallel) are removed.
    ``with_key=True`` appends the key that was used (None for a bare dict).
    """
    if not isinstance(raw, dict):
        raise ValueError(f'expected a dict of tensors, found {type(raw).__name__}')
    arch = raw.get('arch') if isinstance(raw.get('arch'), dict) else None
    used, state = None, None
    for key in dict.fromkeys([param_key, 'params_ema', 'params', 'state_dict']):
        if key and isinstance(raw.get(key), dict):
            state = {k: v for k, v in raw[key].items() if _is_array(v)}
            if state:
                used = key
                break
    if not state:
        state = {k: v for k, v in raw.items() if _is_array(v)}
    if not state:
        raise ValueError(f'no tensors found; top-level keys: {sorted(map(str, raw))[:8]}')
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
    from utils.fileio import atomic_write

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
