"""Restricted unpickling of tensor checkpoints, without torch.

``_RestrictedUnpickler.find_class`` hands out only the tensor-rebuild globals
that torch.save and paddle.save emit, each re-implemented here on numpy; any
other global raises ``UnsafeCheckpointError`` before anything from the file
runs. Used by ``utils.checkpoint``; torch tensors come back as
``_PendingTensor`` placeholders that ``materialize`` turns into arrays once
their storages are read.
"""
import _compat_pickle
import collections
import io
import pickle

import numpy as np

TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
TORCH_LEGACY_PROTOCOL = 1001


class UnsafeCheckpointError(Exception):
    """The file's pickle references something that is not a tensor-rebuild function."""


class CheckpointFormatError(ValueError):
    """The file is not a checkpoint this reader understands (or it is damaged)."""


# ---------------------------------------------------------------- dtypes
_STORAGE_DTYPES = {
    'FloatStorage': '<f4', 'DoubleStorage': '<f8', 'HalfStorage': '<f2', 'BFloat16Storage': 'bf16',
    'LongStorage': '<i8', 'IntStorage': '<i4', 'ShortStorage': '<i2', 'CharStorage': 'i1',
    'ByteStorage': 'u1', 'BoolStorage': '?', 'ComplexFloatStorage': '<c8',
    'ComplexDoubleStorage': '<c16', 'UntypedStorage': 'u1',
}
_TORCH_DTYPES = {
    'float32': '<f4', 'float': '<f4', 'float64': '<f8', 'double': '<f8', 'float16': '<f2',
    'half': '<f2', 'bfloat16': 'bf16', 'int64': '<i8', 'long': '<i8', 'int32': '<i4', 'int': '<i4',
    'int16': '<i2', 'short': '<i2', 'int8': 'i1', 'uint8': 'u1', 'bool': '?',
    'complex64': '<c8', 'complex128': '<c16',
}


class _DType:
    """Stands for a torch dtype (``torch.float32`` ...) inside the pickle."""

    def __init__(self, code):
        self.code = code


def raw_dtype(code, little=True):
    """numpy dtype of the stored bytes (bf16 is read as uint16 and widened later)."""
    dt = np.dtype('<u2' if code == 'bf16' else code)
    return dt if little else dt.newbyteorder('>')


def finish_array(arr, code):
    """Native byte order; bf16 bits widened to float32 exactly."""
    if code == 'bf16':
        return (arr.astype('<u4') << 16).view('<f4').astype(np.float32)
    return arr.astype(arr.dtype.newbyteorder('='), copy=False)


# ---------------------------------------------------------------- torch rebuild stand-ins
class Storage:
    """A torch storage: its dtype code and (once read) its flat array of raw values."""

    def __init__(self, code, key, numel=None):
        self.code, self.key, self.numel = code, key, numel
        self.data = None  # 1-D numpy array of raw_dtype(code)


class StorageView:
    def __init__(self, base, offset, size):
        self.base, self.offset, self.size = base, offset, size
        self.code = base.code

    @property
    def data(self):
        return None if self.base.data is None else self.base.data[self.offset:self.offset + self.size]


class _PendingTensor:
    """A tensor whose storage may be filled after the pickle (legacy format)."""

    def __init__(self, storage, offset, size, stride, code=None):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        self.code = code or storage.code

    def materialize(self):
        flat = self.storage.data
        if flat is None:
            raise CheckpointFormatError('a tensor refers to a storage that the file does not contain')
        if self.code != self.storage.code:  # _rebuild_tensor_v3 over an untyped (byte) storage
            flat = flat.view(raw_dtype(self.code, flat.dtype.byteorder != '>'))
        if 0 in self.size:
            return finish_array(np.zeros(self.size, flat.dtype), self.code)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= flat.size:
            raise CheckpointFormatError('a tensor reaches past the end of its storage (damaged file?)')
        isz = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.size, [s * isz for s in self.stride])
        return finish_array(np.array(view), self.code)


class _TypeMarker:
    def __init__(self, name):
        self.name = name


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride, code=dtype.code)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter):
        raise UnsafeCheckpointError('refused: _rebuild_from_type_v2 is used with a non-tensor function')
    return func(*args)


def _safe_dtype(*args, **kwargs):
    dt = np.dtype(*args, **kwargs)
    if dt.hasobject:
        raise UnsafeCheckpointError('refused: numpy object arrays can carry arbitrary objects')
    return dt


def _paddle_eval(expr, namespace):
    """paddle.save pickles a DenseTensor as ``eval('data', {'data': array})``; nothing else is allowed."""
    if expr != 'data' or not isinstance(namespace, dict) or not isinstance(namespace.get('data'), np.ndarray):
        raise UnsafeCheckpointError(f'refused: the pickle calls builtins.eval on {str(expr)[:40]!r}')
    return namespace['data']


def _safe_codecs_encode(obj, encoding='utf-8', errors='strict'):
    if not isinstance(obj, str):
        raise UnsafeCheckpointError('refused: _codecs.encode of a non-string')
    return obj.encode(encoding, errors)


def _np_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    return _reconstruct, scalar


_RECONSTRUCT, _SCALAR = _np_reconstruct()

_ALLOWED = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_tensor_v3'): _rebuild_tensor_v3,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
    ('torch', 'Tensor'): _TypeMarker('Tensor'),
    ('torch._tensor', 'Tensor'): _TypeMarker('Tensor'),
    ('torch.nn.parameter', 'Parameter'): _TypeMarker('Parameter'),
    ('builtins', 'tuple'): tuple,           # paddle.save: Tensor -> tuple((name, ndarray))
    ('builtins', 'eval'): _paddle_eval,     # paddle.save: DenseTensor -> eval('data', {...}) only
    ('_codecs', 'encode'): _safe_codecs_encode,
}
for _mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    _ALLOWED[(_mod, '_reconstruct')] = _RECONSTRUCT
    _ALLOWED[(_mod, 'scalar')] = _SCALAR
_ALLOWED[('numpy', 'ndarray')] = np.ndarray
_ALLOWED[('numpy', 'dtype')] = _safe_dtype
for _name in _STORAGE_DTYPES:
    _ALLOWED[('torch', _name)] = _TypeMarker(_name)
    _ALLOWED[('torch.storage', _name)] = _TypeMarker(_name)
for _name, _code in _TORCH_DTYPES.items():
    _ALLOWED[('torch', _name)] = _DType(_code)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_ALLOWED``; storages come from ``storage_loader``."""

    def __init__(self, file, where, storage_loader=None):
        super().__init__(file, encoding='latin1')
        self.where = where
        self.storage_loader = storage_loader

    def find_class(self, module, name):
        # protocol-2 pickles written by Python 3 name builtins '__builtin__' (as pickle's own find_class maps)
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafeCheckpointError(
                f'refused: the pickle references {module}.{name}, which is not a tensor-rebuild function')
        return obj

    def persistent_load(self, pid):
        if self.storage_loader is None or not isinstance(pid, tuple) or not pid or pid[0] != 'storage':
            raise CheckpointFormatError(f'{self.where}: unexpected persistent id {str(pid)[:60]}')
        return self.storage_loader(pid)


def storage_code(storage_type, where):
    if not isinstance(storage_type, _TypeMarker) or storage_type.name not in _STORAGE_DTYPES:
        raise CheckpointFormatError(f'{where}: unknown storage type {storage_type!r}')
    return _STORAGE_DTYPES[storage_type.name]


def restricted_load(data_or_file, where, storage_loader=None):
    f = io.BytesIO(data_or_file) if isinstance(data_or_file, (bytes, bytearray, memoryview)) else data_or_file
    try:
        return _RestrictedUnpickler(f, where, storage_loader).load()
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(f'{where}: {e}') from None
    except (CheckpointFormatError, MemoryError):
        raise
    except Exception as e:  # truncated or damaged pickles raise anything from EOFError to TypeError
        raise CheckpointFormatError(f'{where}: damaged or unsupported pickle ({type(e).__name__}: {e})') from None


def materialize(obj, where):
    """Replace pending tensors by arrays and containers by plain dicts/lists."""
    if isinstance(obj, _PendingTensor):
        try:
            return obj.materialize()
        except CheckpointFormatError as e:
            raise CheckpointFormatError(f'{where}: {e}') from None
    if isinstance(obj, dict):
        return {k: materialize(v, where) for k, v in obj.items()}
    if isinstance(obj, list):
        return [materialize(v, where) for v in obj]
    if isinstance(obj, tuple):
        items = [materialize(v, where) for v in obj]
        # paddle.save stores a Tensor as (name, ndarray)
        if len(items) == 2 and isinstance(items[0], str) and isinstance(items[1], np.ndarray):
            return items[1]
        return tuple(items)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise UnsafeCheckpointError(f'{where}: refused: numpy object arrays can carry arbitrary objects')
    return obj
