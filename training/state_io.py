"""Training-state files (``.pdstates``): a zip of ``.npy`` arrays plus one JSON tree.

No pickle anywhere: arrays are read with ``allow_pickle=False`` and the rest is
JSON, so a state file cannot run code when loaded. Writes are atomic.
"""
import io
import json
import zipfile

import numpy as np

from realesrgan_paddle.utils.fileio import atomic_write

_TREE = '__tree__.json'


def _pack(obj, arrays):
    if isinstance(obj, dict):
        return {'__dict__': [[str(k), _pack(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {'__list__': [_pack(v, arrays) for v in obj], 'tuple': isinstance(obj, tuple)}
    if hasattr(obj, 'numpy') and not isinstance(obj, np.ndarray):
        obj = obj.numpy()
    if isinstance(obj, (np.ndarray, np.generic)):
        name = f'a{len(arrays)}.npy'
        arrays[name] = np.asarray(obj)
        return {'__array__': name}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f'cannot store {type(obj).__name__} in a training state')


def _unpack(node, zf):
    if isinstance(node, dict):
        if '__dict__' in node:
            return {k: _unpack(v, zf) for k, v in node['__dict__']}
        if '__list__' in node:
            items = [_unpack(v, zf) for v in node['__list__']]
            return tuple(items) if node.get('tuple') else items
        if '__array__' in node:
            with zf.open(node['__array__']) as f:
                return np.load(io.BytesIO(f.read()), allow_pickle=False)
        raise ValueError(f'bad node {sorted(node)}')
    return node


def save_state(path, state):
    arrays = {}
    tree = _pack(state, arrays)
    with atomic_write(path, 'wb') as f:
        with zipfile.ZipFile(f, 'w', zipfile.ZIP_STORED) as zf:
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                zf.writestr(name, buf.getvalue())
            zf.writestr(_TREE, json.dumps(tree))


def load_state(path):
    """Read a ``.pdstates`` file; raises ValueError naming the file when it is not one."""
    try:
        with zipfile.ZipFile(path, 'r') as zf:
            tree = json.loads(zf.read(_TREE))
            return _unpack(tree, zf)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, ValueError, EOFError) as exc:
        raise ValueError(f'{path}: not a readable training state ({exc})') from None
