"""The checkpoint reader's own objects, limits and errors (used by ``checkpoint_io.unpickler``).

Everything a pickle can get hold of while it is read is made here, fresh for
each file: markers for names it may mention, a dict type, stand-ins for numpy
arrays and dtypes being rebuilt, torch storages and pending tensors. Arrays are
only ever copied from bytes the file really holds, after exact size and bounds
checks in Python integers, and each counts against a ``Budget``.
"""
import math
import os
import reprlib

import numpy as np

TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
TORCH_LEGACY_PROTOCOL = 1001
DEFAULT_MAX_TENSOR_BYTES = 1 << 30  # the largest SR-related checkpoint, VGG19, is 548 MiB in all
MAX_TENSOR_BYTES_ENV = 'REALESRGAN_PADDLE_MAX_TENSOR_BYTES'
MAX_DEPTH = 64                       # container nesting; real checkpoints stay below 10
MAX_PICKLE_OPS = 2_000_000           # opcodes per pickle; an x4plus training state uses about 100k
MAX_NODES = 1_000_000                # objects in the result once shared parts are counted each time they occur
MAX_DIMS = 32
MAX_KEY_INT = 1 << 61                # int keys below this hash to themselves (no crafted collisions)


class UnsafeCheckpointError(Exception):
    """The file's pickle references something that is not a tensor-rebuild function."""


class CheckpointFormatError(ValueError):
    """The file is not a checkpoint this reader understands (or it is damaged)."""


def fail(msg):
    raise CheckpointFormatError(msg)


def clean(text, limit=80):
    """A printable one-line excerpt of a string that came from the file."""
    s = ''.join(c if c.isprintable() else '?' for c in text[:limit + 1])
    return s if len(s) <= limit else s[:limit] + '...'


class _Quote(reprlib.Repr):
    """``reprlib`` with small limits: a few levels and items, no huge int conversion, bytes cut first."""

    def __init__(self, limit):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, limit, limit, 40
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 4

    def repr_int(self, x, level):
        return repr(x) if x.bit_length() <= 128 else f'<a {x.bit_length()}-bit integer>'

    def repr_bytes(self, x, level):
        return repr(x[:self.maxstring]) + ('...' if len(x) > self.maxstring else '')

    repr_bytearray = repr_bytes


def quote(obj, limit=80):
    """A printable one-line excerpt of any value that came from a file (its ``repr``), at most ``limit``
    characters, built in bounded time: a tuple shared a million times, a 1 GB string or a 2^20-bit integer
    give a short line at once."""
    return clean(_Quote(limit).repr(obj), limit)


def error_text(exc, limit=120):
    """``str(exc)`` cut to one printable line, without formatting objects an exception may carry from the file."""
    safe = all(type(a) in (str, int, float) and not (type(a) is int and a.bit_length() > 128) for a in exc.args)
    return clean(' '.join(str(exc).split()), limit) if safe and not isinstance(exc, KeyError) else type(exc).__name__


def key_ok(key):
    """True for a dict key or set item a checkpoint may hold: a name or a number whose hash cannot be made to
    collide or to cost more than one pass (str, bytes, None, bool, int below 2^61). Tuples, floats and
    anything else are refused before they are hashed: tuples and floats hash predictably, so a file could
    collide thousands of keys, and a tuple shared at every level hashes 2^depth times."""
    kind = type(key)
    return kind in (str, bytes, bool) or key is None or (kind is int and -MAX_KEY_INT < key < MAX_KEY_INT)


def max_tensor_bytes():
    raw = os.environ.get(MAX_TENSOR_BYTES_ENV, '').strip()
    if not raw:
        return DEFAULT_MAX_TENSOR_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        fail(f'{MAX_TENSOR_BYTES_ENV}={clean(raw)} is not a positive number of bytes')
    return int(raw)


class Budget:
    """What one file may make.

    Each array, storage or zip member: at most ``per_item`` bytes. Everything the
    pickle makes (arrays, strings, containers, the result's objects) together:
    twice the file plus 64 MiB (views may share a storage, but nothing large is
    conjured from a small file). Zip members read: four times the file plus 64 MiB.
    """
    SLACK = 64 << 20

    def __init__(self, file_size, per_item=None):
        self.file_size = int(file_size)
        self.per_item = max_tensor_bytes() if per_item is None else per_item
        self.made = self.read = 0
        self.claimed = []

    def claim(self, buffer):
        """True the first time a large buffer the reader read is handed to an array (never twice)."""
        if any(b is buffer for b in self.claimed):
            return False
        self.claimed.append(buffer)
        return True

    def check(self, nbytes, what):
        if nbytes > self.per_item:
            fail(f'{what} declares {nbytes} bytes, over the {self.per_item}-byte limit '
                 f'(set {MAX_TENSOR_BYTES_ENV} to raise it)')

    def spend(self, nbytes, what):
        self.check(nbytes, what)
        self.objects(nbytes, f'{what}: the arrays')

    def objects(self, nbytes, subject='the objects the pickle makes'):
        """Objects the pickle makes (strings, containers, their copies) and arrays: one budget."""
        self.made += nbytes
        if self.made > 2 * self.file_size + self.SLACK:
            fail(f'{subject} would take {self.made} bytes, far more than a {self.file_size}-byte file holds')

    def inflate(self, nbytes, what):
        self.check(nbytes, what)
        self.read += nbytes
        if self.read > 4 * self.file_size + self.SLACK:
            fail(f'{what}: the archive expands to over {self.read} bytes from a {self.file_size}-byte file')


# ---------------------------------------------------------------- dtypes
STORAGE_DTYPES = {
    'FloatStorage': '<f4', 'DoubleStorage': '<f8', 'HalfStorage': '<f2', 'BFloat16Storage': 'bf16',
    'LongStorage': '<i8', 'IntStorage': '<i4', 'ShortStorage': '<i2', 'CharStorage': 'i1',
    'ByteStorage': 'u1', 'BoolStorage': '?', 'ComplexFloatStorage': '<c8',
    'ComplexDoubleStorage': '<c16', 'UntypedStorage': 'u1',
}
TORCH_DTYPES = {
    'float32': '<f4', 'float': '<f4', 'float64': '<f8', 'double': '<f8', 'float16': '<f2',
    'half': '<f2', 'bfloat16': 'bf16', 'int64': '<i8', 'long': '<i8', 'int32': '<i4', 'int': '<i4',
    'int16': '<i2', 'short': '<i2', 'int8': 'i1', 'uint8': 'u1', 'bool': '?',
    'complex64': '<c8', 'complex128': '<c16',
}
_NUMPY_CODES = frozenset('b1 i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 c8 c16'.split())


def raw_dtype(code, little=True):
    """numpy dtype of the stored bytes (bf16 is read as uint16 and widened later)."""
    dt = np.dtype('<u2' if code == 'bf16' else code)
    return dt if little else dt.newbyteorder('>')


def finish_array(arr, code):
    """Native byte order; bf16 bits widened to float32 exactly."""
    if code == 'bf16':
        return (arr.astype('<u4') << 16).view('<f4').astype(np.float32)
    return arr.astype(arr.dtype.newbyteorder('='), copy=False)


def _int(v, what):
    if type(v) is not int:
        fail(f'{what} is a {type(v).__name__}, not an integer')
    return v


def check_shape(shape, what='a shape'):
    if type(shape) not in (tuple, list) or len(shape) > MAX_DIMS:
        fail(f'{what} is not a tuple of at most {MAX_DIMS} sizes')
    out = tuple(_int(s, what) for s in shape)
    if any(s < 0 or s >= 1 << 48 for s in out):
        fail(f'{what} {quote(out)} has a negative or absurd size')
    return out


# ---------------------------------------------------------------- the reader's own objects
class Marker:
    """A name a pickle may mention but never call or change (torch.Tensor, torch.FloatStorage, numpy.ndarray)."""
    __slots__ = ('kind', 'name', 'code')

    def __init__(self, kind, name, code=None):
        self.kind, self.name, self.code = kind, name, code


class ReaderDict(dict):
    """What ``collections.OrderedDict()`` gives inside a checkpoint: a dict the reader made."""
    __slots__ = ()


class NumpyDType:
    """``numpy.dtype(spec)`` being rebuilt: plain numeric types only; BUILD sets the byte order."""
    __slots__ = ('dtype',)

    def __init__(self, spec, align=False, copy=True):
        if type(spec) is str and spec[:1] == 'O':
            raise UnsafeCheckpointError('refused: numpy object arrays can carry arbitrary objects')
        if type(spec) is not str or spec not in _NUMPY_CODES or type(align) is not bool or type(copy) is not bool:
            shown = clean(spec) if type(spec) is str else type(spec).__name__
            fail(f'numpy dtype {shown!r} is not a plain numeric type')
        self.dtype = np.dtype(spec)

    def setstate(self, state):
        ok = (type(state) is tuple and (len(state), state[0]) in ((8, 3), (9, 4))
              and state[1] in ('<', '>', '|', '=') and state[2:7] == (None, None, None, -1, -1)
              and type(state[7]) is int and (len(state) == 8 or state[8] is None or type(state[8]) is dict))
        if not ok:
            fail('a numpy dtype has a state this reader does not know')
        if state[1] in '<>' and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(state[1])


def build_array(raw, dtype, shape, order, budget, what='a numpy array'):
    """A fresh native-order array copied from ``raw``, which must hold exactly ``shape`` x itemsize bytes."""
    if type(dtype) is not NumpyDType:
        fail(f'{what} has a {type(dtype).__name__} as dtype')
    dt = dtype.dtype
    shape = check_shape(shape, f'{what} shape')
    if type(raw) is str:  # Python 2 pickles
        raw = raw.encode('latin1')
    if type(raw) not in (bytes, bytearray, memoryview):
        fail(f'{what} holds a {type(raw).__name__} instead of bytes (object arrays are refused)')
    mv = memoryview(raw)
    if mv.format != 'B' or mv.ndim != 1:
        fail(f'{what} holds a buffer that is not plain bytes')
    need = math.prod(shape) * dt.itemsize
    if mv.nbytes != need:
        fail(f'{what} of shape {shape} needs {need} bytes, the file holds {mv.nbytes}')
    budget.spend(need, what)
    native = dt.newbyteorder('=')
    if need == 0:
        return np.zeros(shape, native, order=order)
    arr = np.frombuffer(mv, dtype=dt).reshape(shape, order=order)
    if type(raw) is bytearray and dt == native and budget.claim(raw):
        return arr  # the reader read this buffer for this array alone: no second copy
    return arr.astype(native, order='K')  # a fresh copy


class NumpyArray:
    """``numpy.ndarray`` being rebuilt by ``_reconstruct`` + BUILD: filled once, from the file's bytes."""
    __slots__ = ('array', 'budget')

    def __init__(self, budget, array=None):
        self.budget, self.array = budget, array

    def setstate(self, state):
        if self.array is not None or type(state) is not tuple or len(state) not in (4, 5):
            fail('a numpy array is rebuilt twice or from a state this reader does not know')
        if len(state) == 5:
            if state[0] != 1:
                fail(f'numpy array state version {quote(state[0])} is not supported')
            state = state[1:]
        shape, dtype, fortran, raw = state
        if type(fortran) is not bool:
            fail('a numpy array has a bad memory-order flag')
        self.array = build_array(raw, dtype, shape, 'F' if fortran else 'C', self.budget)


class Storage:
    """A torch storage made by the reader: its dtype code, byte order and (once read) the file's bytes."""
    __slots__ = ('code', 'key', 'numel', 'raw', 'little')

    def __init__(self, code, key, numel, little=True):
        self.code, self.key, self.numel, self.little = code, key, numel, little
        self.raw = None  # memoryview of bytes


class StorageView:
    """A legacy-format view into a storage, in elements of that storage."""
    __slots__ = ('base', 'offset', 'size')

    def __init__(self, base, offset, size):
        self.base, self.offset, self.size = base, _int(offset, 'a storage view offset'), _int(size, 'a view size')
        if offset < 0 or size < 0:
            fail('a storage view has a negative offset or size')


def storage_bytes(storage):
    """The bytes a storage (or a view of one) really holds, and its Storage."""
    base = storage if type(storage) is Storage else storage.base
    if base.raw is None:
        fail('a tensor refers to a storage that the file does not contain')
    if type(storage) is Storage:
        return base.raw, base
    isz = raw_dtype(base.code).itemsize
    begin, end = storage.offset * isz, (storage.offset + storage.size) * isz
    if end > len(base.raw):
        fail('a storage view reaches past the end of its storage')
    return base.raw[begin:end], base


class PendingTensor:
    """A torch tensor: a storage, an offset and strides; read once the storages are."""
    __slots__ = ('storage', 'offset', 'size', 'stride', 'code')

    def __init__(self, storage, offset, size, stride, code=None):
        if type(storage) not in (Storage, StorageView):
            fail(f'a tensor is rebuilt from a {type(storage).__name__} instead of one of the file\'s storages')
        self.storage, self.offset = storage, _int(offset, 'a tensor offset')
        self.size, self.stride = check_shape(size, 'a tensor size'), check_shape(stride, 'a tensor stride')
        if len(self.size) != len(self.stride) or self.offset < 0:
            fail('a tensor has a negative offset or sizes and strides of different lengths')
        self.code = code or (storage if type(storage) is Storage else storage.base).code

    def materialize(self, budget):
        raw, base = storage_bytes(self.storage)
        dt = raw_dtype(self.code, base.little)
        isz = dt.itemsize
        if len(raw) % isz:
            fail(f'a storage of {len(raw)} bytes does not hold whole {isz}-byte elements')
        have, numel = len(raw) // isz, math.prod(self.size)
        budget.spend(numel * (4 if self.code == 'bf16' else isz), f'a tensor of shape {self.size}')
        if numel == 0:
            return finish_array(np.zeros(self.size, dt), self.code)
        stride = tuple(0 if n == 1 else s for n, s in zip(self.size, self.stride))
        reach = 0  # elements may not overlap (an expanded view would let a few bytes fill any size)
        for s, n in sorted((s, n) for n, s in zip(self.size, stride) if n > 1):
            if s <= reach:
                fail(f'a tensor of shape {self.size} has overlapping strides {self.stride} (an expanded view?)')
            reach += s * (n - 1)
        last = self.offset + reach
        if last >= have:
            fail(f'a tensor of shape {self.size} reaches element {last} of a {have}-element storage')
        flat = np.frombuffer(raw, dtype=dt, count=have)
        contiguous = all(s == math.prod(self.size[i + 1:]) for i, s in enumerate(stride) if self.size[i] > 1)
        if contiguous:
            arr = flat[self.offset:self.offset + numel].reshape(self.size).copy()
        else:  # every element lies inside the storage's own bytes, checked above in Python ints
            arr = np.lib.stride_tricks.as_strided(flat[self.offset:], self.size, [s * isz for s in stride],
                                                  writeable=False).copy()
        return finish_array(arr, self.code)


def storage_code(marker):
    if type(marker) is not Marker or marker.kind != 'storage':
        fail(f'a storage has the type {describe(marker)}, not a torch storage type')
    return marker.code


def describe(obj):
    return obj.name if type(obj) is Marker else type(obj).__name__
