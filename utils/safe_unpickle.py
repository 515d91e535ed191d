"""Restricted, memory-safe unpickling of tensor checkpoints, without torch.

A pickle runs on the standard library's pure-Python unpickler with every
object-making opcode replaced:

- ``find_class`` resolves only the names torch.save, paddle.save and numpy emit,
  each to an object made for this one reader (a bound method or a ``Marker``);
  any other global raises ``UnsafeCheckpointError`` before anything runs.
- REDUCE calls only those functions; NEWOBJ, INST, OBJ and EXT are refused.
  BUILD reaches only the reader's stand-ins (a numpy array or dtype being
  rebuilt, a dict made by the pickle); SETITEM/APPEND/ADDITEMS only containers
  of the matching type. No allow-listed object can be changed.
- Lengths a pickle declares are checked against the bytes that remain before
  anything is allocated; opcodes and tuple nesting are capped (deep tuples would
  overflow the C stack when hashed).

``restricted_load`` raises only ``UnsafeCheckpointError`` and
``CheckpointFormatError``; ``materialize`` turns the result into plain dicts,
lists and fresh numpy arrays, with nesting capped.
"""
import _compat_pickle
import io
import pickle
import struct

import numpy as np

from utils.checkpoint_objects import (MAX_DEPTH, MAX_PICKLE_OPS, TORCH_LEGACY_MAGIC,  # noqa: F401 (re-exported)
                                      TORCH_LEGACY_PROTOCOL, _STORAGE_DTYPES, _TORCH_DTYPES, CheckpointFormatError,
                                      Marker, NumpyArray, NumpyDType, PendingTensor, ReaderDict, Storage, StorageView,
                                      UnsafeCheckpointError, build_array, clean, describe, fail, finish_array,
                                      raw_dtype, storage_code)

_NUMPY_MODULES = ('numpy.core', 'numpy._core')


class _Bounded:
    """A file whose reads never ask for more bytes than remain."""

    def __init__(self, f, end):
        self.f, self.end = f, end

    def read(self, n):
        left = self.end - self.f.tell()
        if n > left:
            fail(f'the pickle declares {n} bytes where {left} remain (truncated file?)')
        if n < 1 << 16:
            return self.f.read(n)
        buf = bytearray(n)  # large array data: an array can own this buffer instead of copying it
        if self.f.readinto(buf) != n:
            fail('the file ends inside the pickle')
        return buf

    def readline(self):
        return self.f.readline()


class _Reader(pickle._Unpickler):
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, budget, storage_loader=None):
        super().__init__(file, encoding='latin1')
        self.budget, self.storage_loader = budget, storage_loader
        self.ops, self.depths, self.keep = 0, {}, []
        self.names = self._make_names()
        self.callables = {id(v): v for v in self.names.values() if type(v) is not Marker}
        self.rebuilders = {id(self.names[('torch._utils', n)]) for n in
                           ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter')}

    def _make_names(self):
        """Everything a pickle may name, made fresh for this reader."""
        names = {
            ('collections', 'OrderedDict'): self._ordered_dict,
            ('torch._utils', '_rebuild_tensor'): self._rebuild_tensor,
            ('torch._utils', '_rebuild_tensor_v2'): self._rebuild_tensor_v2,
            ('torch._utils', '_rebuild_tensor_v3'): self._rebuild_tensor_v3,
            ('torch._utils', '_rebuild_parameter'): self._rebuild_parameter,
            ('torch._utils', '_rebuild_parameter_with_state'): self._rebuild_parameter,
            ('torch._tensor', '_rebuild_from_type_v2'): self._rebuild_from_type_v2,
            ('builtins', 'tuple'): self._tuple,       # paddle.save: Tensor -> tuple((name, ndarray))
            ('builtins', 'eval'): self._paddle_eval,  # paddle.save: DenseTensor -> eval('data', {'data': ndarray})
            ('_codecs', 'encode'): self._encode,      # protocol-2 bytes
            ('builtins', 'bytes'): self._empty_bytes,  # protocol-2 b'' (an empty array's data)
            ('numpy', 'dtype'): NumpyDType,
            ('numpy', 'ndarray'): Marker('class', 'numpy.ndarray'),
        }
        for mod in _NUMPY_MODULES:
            names[(mod + '.multiarray', '_reconstruct')] = self._np_reconstruct
            names[(mod + '.multiarray', 'scalar')] = self._np_scalar
            names[(mod + '.numeric', '_frombuffer')] = self._np_frombuffer
        for mod, name in (('torch', 'Tensor'), ('torch._tensor', 'Tensor'), ('torch.nn.parameter', 'Parameter')):
            names[(mod, name)] = Marker('class', f'{mod}.{name}')
        for name, code in _STORAGE_DTYPES.items():
            names[('torch', name)] = names[('torch.storage', name)] = Marker('storage', f'torch.{name}', code)
        for name, code in _TORCH_DTYPES.items():
            names[('torch', name)] = Marker('dtype', f'torch.{name}', code)
        return names

    # ------------------------------------------------------------ the functions a pickle may call
    def _ordered_dict(self, items=()):
        if type(items) not in (list, tuple) or any(type(p) is not tuple or len(p) != 2 for p in items):
            fail('OrderedDict is called with something other than (key, value) pairs')
        return ReaderDict(items)

    def _tuple(self, items=()):
        if type(items) not in (list, tuple):
            fail(f'tuple() is called on a {type(items).__name__}')
        return tuple(items)

    def _paddle_eval(self, expr, namespace=None):
        if (expr != 'data' or type(namespace) not in (dict, ReaderDict) or list(namespace) != ['data']
                or type(namespace['data']) is not NumpyArray):
            shown = clean(expr, 40) if type(expr) is str else type(expr).__name__
            raise UnsafeCheckpointError(f'refused: the pickle calls builtins.eval on {shown!r}')
        return namespace['data']

    def _encode(self, obj, encoding='utf-8', errors='strict'):
        if type(obj) is not str or encoding not in ('latin1', 'latin-1', 'utf-8', 'utf8') or errors != 'strict':
            raise UnsafeCheckpointError('refused: _codecs.encode is called with something other than text')
        return obj.encode(encoding)

    def _empty_bytes(self):
        return b''

    def _np_reconstruct(self, cls, shape, typecode):
        if cls is not self.names[('numpy', 'ndarray')] or shape != (0,) or typecode not in (b'b', 'b'):
            fail('numpy _reconstruct is called with unexpected arguments')
        return NumpyArray(self.budget)

    def _np_frombuffer(self, buf, dtype, shape, order):
        if order not in ('C', 'F'):
            fail('numpy _frombuffer is called with a bad memory order')
        return NumpyArray(self.budget, build_array(buf, dtype, shape, order, self.budget))

    def _np_scalar(self, dtype, raw=None):
        return build_array(raw, dtype, (), 'C', self.budget, 'a numpy scalar')[()]

    def _rebuild_tensor(self, storage, storage_offset, size, stride):
        return PendingTensor(storage, storage_offset, size, stride)

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                           metadata=None):
        return PendingTensor(storage, storage_offset, size, stride)

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                           metadata=None):
        if type(dtype) is not Marker or dtype.kind != 'dtype':
            fail(f'_rebuild_tensor_v3 is given a {describe(dtype)} as dtype')
        return PendingTensor(storage, storage_offset, size, stride, code=dtype.code)

    def _rebuild_parameter(self, data, requires_grad=False, backward_hooks=None, state=None):
        if type(data) is not PendingTensor:
            fail(f'a parameter wraps a {describe(data)} instead of a tensor')
        return data

    def _rebuild_from_type_v2(self, func, new_type, args, state):
        if id(func) not in self.rebuilders or self.callables.get(id(func)) is not func:
            raise UnsafeCheckpointError('refused: _rebuild_from_type_v2 is used with a non-tensor function')
        if type(new_type) is not Marker or new_type.kind != 'class' or type(args) is not tuple:
            fail('_rebuild_from_type_v2 is given a bad tensor type or arguments')
        return func(*args)

    # ------------------------------------------------------------ names and storages
    def find_class(self, module, name):
        # protocol-2 pickles written by Python 3 name builtins '__builtin__' (as pickle's own find_class maps)
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        obj = self.names.get((module, name))
        if obj is None:
            raise UnsafeCheckpointError(f'refused: the pickle references {clean(module)}.{clean(name)}, '
                                        'which is not a tensor-rebuild function')
        return obj

    def persistent_load(self, pid):
        if self.storage_loader is None or type(pid) is not tuple or not pid or pid[0] != 'storage':
            fail('the pickle has an unexpected persistent id')
        return self.storage_loader(pid)

    def note_depth(self, obj):
        """Record how deeply a tuple/frozenset nests; refuse past MAX_DEPTH before anything hashes it."""
        depth = 1
        for item in obj:
            if type(item) in (tuple, frozenset):
                depth = max(depth, 1 + self.depths.get(id(item), MAX_DEPTH + 1))
        if depth > MAX_DEPTH:
            fail(f'the pickle nests deeper than {MAX_DEPTH} levels')
        self.depths[id(obj)] = depth
        self.keep.append(obj)  # keeps ids unique while the pickle is read


# ---------------------------------------------------------------- the replaced opcodes
_D = _Reader.dispatch
_BASE = pickle._Unpickler.dispatch


def _refuse(opname):
    def op(self):
        raise UnsafeCheckpointError(f'refused: the pickle builds an object with {opname}, which tensors never need')
    return op


for _name in ('NEWOBJ', 'NEWOBJ_EX', 'INST', 'OBJ', 'EXT1', 'EXT2', 'EXT4'):
    _D[getattr(pickle, _name)[0]] = _refuse(_name)


def _reduce(self):
    args = self.stack.pop()
    func = self.stack[-1]
    if self.callables.get(id(func)) is not func:
        raise UnsafeCheckpointError(f'refused: the pickle calls {describe(func)}, which is not a tensor-rebuild '
                                    'function')
    if type(args) is not tuple:
        fail('the pickle calls a function without an argument tuple')
    self.stack[-1] = result = func(*args)
    if type(result) is tuple:
        self.note_depth(result)


def _build(self):
    state = self.stack.pop()
    inst = self.stack[-1]
    if type(inst) in (NumpyArray, NumpyDType):
        inst.setstate(state)
    elif type(inst) is not ReaderDict:  # torch's OrderedDict state (_metadata) is not needed: dropped
        raise UnsafeCheckpointError(f'refused: the pickle sets the state of {describe(inst)}')


def _container(kinds, opcode):
    base = _BASE[opcode[0]]
    below = {pickle.SETITEM: 3, pickle.APPEND: 2}.get(opcode)  # the others add the items after a MARK

    def op(self):
        stack = self.stack if below else (self.metastack[-1] if self.metastack else [])
        target = stack[-(below or 1)] if len(stack) >= (below or 1) else None
        if type(target) not in kinds:
            fail(f'the pickle adds items to a {describe(target)}')
        base(self)
    return op


def _tracked(opcode):
    base = _BASE[opcode[0]]

    def op(self):
        base(self)
        self.note_depth(self.stack[-1])
    return op


def _bytearray8(self):
    n, = struct.unpack('<Q', self.read(8))
    self.append(bytearray(self.read(n)))


_D.update({pickle.REDUCE[0]: _reduce, pickle.BUILD[0]: _build, pickle.BYTEARRAY8[0]: _bytearray8})
for _op, _kinds in ((pickle.SETITEM, (dict, ReaderDict)), (pickle.SETITEMS, (dict, ReaderDict)),
                    (pickle.APPEND, (list,)), (pickle.APPENDS, (list,)), (pickle.ADDITEMS, (set,))):
    _D[_op[0]] = _container(_kinds, _op)
for _op in (pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3, pickle.EMPTY_TUPLE, pickle.FROZENSET):
    _D[_op[0]] = _tracked(_op)


def _counted(base):
    def op(self):
        self.ops += 1
        if self.ops > MAX_PICKLE_OPS:
            fail(f'the pickle has more than {MAX_PICKLE_OPS} opcodes')
        base(self)
    return op


_Reader.dispatch = {k: _counted(v) for k, v in _D.items()}


# ---------------------------------------------------------------- entry points
def restricted_load(source, budget, storage_loader=None):
    """One pickle from ``source`` (bytes, or a binary file positioned at it), through the reader."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
        end = len(source.getbuffer())
    else:
        pos = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(pos)
    try:
        return _Reader(_Bounded(source, end), budget, storage_loader).load()
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except RecursionError:
        fail('the pickle nests too deeply')
    except Exception as e:  # truncated or damaged pickles raise anything from EOFError to KeyError
        fail(f'damaged or unsupported pickle ({type(e).__name__}: {clean(str(e))})')


_PLAIN = (str, bytes, int, float, complex, bool, type(None))


def materialize(obj, budget, depth=0, done=None):
    """Pending tensors and array stand-ins become fresh arrays; containers plain dicts/lists/tuples."""
    done = {} if done is None else done
    if depth > MAX_DEPTH:
        fail(f'the checkpoint nests deeper than {MAX_DEPTH} levels')
    kind = type(obj)
    if kind in _PLAIN or isinstance(obj, np.generic):
        return obj
    if kind is bytearray:
        return bytes(obj)
    if id(obj) in done:
        return done[id(obj)]
    if kind is PendingTensor:
        out = obj.materialize(budget)
    elif kind is NumpyArray:
        if obj.array is None:
            fail('a numpy array has no data')
        out = obj.array
    elif kind is NumpyDType:
        out = obj.dtype
    elif kind is Marker:
        out = obj.name
    elif kind in (dict, ReaderDict):
        out = {}
        for k, v in obj.items():
            key = materialize(k, budget, depth + 1, done)
            if not isinstance(key, _PLAIN + (tuple, np.generic)):
                fail(f'a dict key is a {type(key).__name__}')
            out[key] = materialize(v, budget, depth + 1, done)
    elif kind in (list, tuple, set, frozenset):
        items = [materialize(v, budget, depth + 1, done) for v in obj]
        if kind is tuple and len(items) == 2 and type(items[0]) is str and isinstance(items[1], np.ndarray):
            out = items[1]  # paddle.save stores a Tensor as (name, ndarray)
        else:
            out = items if kind is list else kind(items)
    else:
        fail(f'the checkpoint holds a {describe(obj)} outside a tensor')
    done[id(obj)] = out
    return out
