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
- Everything the pickle makes (strings, containers, copies made by the functions
  it calls, arrays) counts against one memory budget (``Budget``).
- Dict keys and set items are names or small numbers (``key_ok``), checked before
  they are hashed: a tuple shared at every level of a 40-deep DAG would hash 2^40
  nodes, and tuples or floats can be crafted to collide.

``restricted_load`` raises only ``UnsafeCheckpointError`` and
``CheckpointFormatError``; ``materialize`` turns the result into plain dicts,
lists and fresh numpy arrays: a tree (shared containers are copied where they
occur) of at most ``MAX_NODES`` objects, counted before anything is copied, with
nesting capped.
"""
import _compat_pickle
import io
import pickle
import struct
import sys

import numpy as np

from realesrgan_paddle.checkpoint_io.objects import (MAX_DEPTH, MAX_NODES, MAX_PICKLE_OPS,  # noqa: F401 (re-exported)
                                      TORCH_LEGACY_MAGIC, TORCH_LEGACY_PROTOCOL, STORAGE_DTYPES, TORCH_DTYPES,
                                      CheckpointFormatError, Marker, NumpyArray, NumpyDType, PendingTensor,
                                      ReaderDict, Storage, StorageView, UnsafeCheckpointError, build_array, clean,
                                      describe, error_text, fail, finish_array, key_ok, quote, raw_dtype,
                                      storage_code)

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

    def __init__(self, file, budget, storage_loader=None, only=None):
        super().__init__(file, encoding='latin1')
        self.budget, self.storage_loader = budget, storage_loader
        self.ops, self.depths, self.keep = 0, {}, []
        self.names = self._make_names()
        self.rebuilders = {id(self.names[('torch._utils', n)]) for n in
                           ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter')}
        if only is not None:  # a narrower reader (checkpoint_io.numpy_pickle): every other name is refused
            self.names = {k: v for k, v in self.names.items() if k in only}
        self.callables = {id(v): v for v in self.names.values() if type(v) is not Marker}

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
        for name, code in STORAGE_DTYPES.items():
            names[('torch', name)] = names[('torch.storage', name)] = Marker('storage', f'torch.{name}', code)
        for name, code in TORCH_DTYPES.items():
            names[('torch', name)] = Marker('dtype', f'torch.{name}', code)
        return names

    # ------------------------------------------------------------ the functions a pickle may call
    def _ordered_dict(self, items=()):
        # pairs are tuples, or 2-item lists in the legacy files of torch < 1.6 (protocol 2: [[key, tensor], ...])
        if type(items) not in (list, tuple) or any(type(p) not in (tuple, list) or len(p) != 2 for p in items):
            fail('OrderedDict is called with something other than (key, value) pairs')
        check_keys(p[0] for p in items)
        return ReaderDict((p[0], p[1]) for p in items)

    def _tuple(self, items=()):
        if type(items) not in (list, tuple):
            fail(f'tuple() is called on a {type(items).__name__}')
        return tuple(items)

    def _paddle_eval(self, expr, namespace=None):
        if (type(expr) is not str or expr != 'data' or type(namespace) not in (dict, ReaderDict)
                or list(namespace) != ['data'] or type(namespace['data']) is not NumpyArray):
            raise UnsafeCheckpointError(f'refused: the pickle calls builtins.eval on {quote(expr, 40)}')
        return namespace['data']

    def _encode(self, obj, encoding='utf-8', errors='strict'):
        if type(obj) is not str or encoding not in ('latin1', 'latin-1', 'utf-8', 'utf8') or errors != 'strict':
            raise UnsafeCheckpointError('refused: _codecs.encode is called with something other than text')
        return obj.encode(encoding)

    def _empty_bytes(self):
        return b''

    def _np_reconstruct(self, cls, shape, typecode):
        if (cls is not self.names[('numpy', 'ndarray')] or type(shape) is not tuple or shape != (0,)
                or type(typecode) not in (bytes, str) or typecode not in (b'b', 'b')):
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
        if self.storage_loader is None or type(pid) is not tuple or not pid or type(pid[0]) is not str \
                or pid[0] != 'storage':
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
_MAX_MEMO = 1 << 32  # the binary PUT/GET opcodes cannot name more; the text ones could name any integer


def check_keys(keys):
    """Refuse, before anything hashes them, dict keys and set items other than names and small numbers."""
    for key in keys:
        if not key_ok(key):
            what = f'a {type(key).__name__}' if type(key) is not int else 'an integer this large'
            fail(f'a dict key or set item is {what} ({quote(key, 40)}); checkpoints key their dicts by names '
                 'or small numbers')


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
    """SETITEM(S), APPEND(S), ADDITEMS: only into containers of the pickle's own, keys checked before hashing,
    the container's growth charged to the budget."""
    base = _BASE[opcode[0]]
    below = {pickle.SETITEM: 3, pickle.APPEND: 2}.get(opcode)  # the others add the items after a MARK
    keyed = opcode in (pickle.SETITEM, pickle.SETITEMS, pickle.ADDITEMS)

    def op(self):
        stack = self.stack if below else (self.metastack[-1] if self.metastack else [])
        target = stack[-(below or 1)] if len(stack) >= (below or 1) else None
        if type(target) not in kinds:
            fail(f'the pickle adds items to a {describe(target)}')
        if keyed:
            items = self.stack[-2:] if below else self.stack
            check_keys(items if opcode == pickle.ADDITEMS else items[::2])
        size = sys.getsizeof(target)
        base(self)
        self.budget.objects(max(0, sys.getsizeof(target) - size))
    return op


def _keyed_maker(opcode, step):
    """DICT and FROZENSET hash what they are given: check it first."""
    base = _BASE[opcode[0]]

    def op(self):
        check_keys(self.stack[::step])
        base(self)
    return op


def _tracked(opcode, base=None):
    base = base or _BASE[opcode[0]]

    def op(self):
        base(self)
        self.note_depth(self.stack[-1])
    return op


def _bytearray8(self):
    n, = struct.unpack('<Q', self.read(8))
    self.append(bytearray(self.read(n)))


def _memo_index(self):
    text = self.readline()[:-1]
    if not text.isdigit() or len(text) > 10 or int(text) >= _MAX_MEMO:
        fail(f'the pickle uses a bad memo index {quote(text, 20)}')
    return int(text)


def _put(self):
    self.memo[_memo_index(self)] = self.stack[-1]


def _get(self):
    i = _memo_index(self)
    if i not in self.memo:
        fail(f'the pickle refers to memo entry {i}, which it never stored')
    self.append(self.memo[i])


_D.update({pickle.REDUCE[0]: _reduce, pickle.BUILD[0]: _build, pickle.BYTEARRAY8[0]: _bytearray8,
           pickle.PUT[0]: _put, pickle.GET[0]: _get, pickle.DICT[0]: _keyed_maker(pickle.DICT, 2)})
for _op, _kinds in ((pickle.SETITEM, (dict, ReaderDict)), (pickle.SETITEMS, (dict, ReaderDict)),
                    (pickle.APPEND, (list,)), (pickle.APPENDS, (list,)), (pickle.ADDITEMS, (set,))):
    _D[_op[0]] = _container(_kinds, _op)
for _op in (pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3, pickle.EMPTY_TUPLE):
    _D[_op[0]] = _tracked(_op)
_D[pickle.FROZENSET[0]] = _tracked(pickle.FROZENSET, _keyed_maker(pickle.FROZENSET, 1))

# opcodes that push an object they make: its size is charged to the budget
_MAKERS = {getattr(pickle, n)[0] for n in (
    'INT', 'BININT', 'BININT1', 'BININT2', 'LONG', 'LONG1', 'LONG4', 'STRING', 'BINSTRING', 'SHORT_BINSTRING',
    'BINBYTES', 'SHORT_BINBYTES', 'BINBYTES8', 'BYTEARRAY8', 'UNICODE', 'SHORT_BINUNICODE', 'BINUNICODE',
    'BINUNICODE8', 'FLOAT', 'BINFLOAT', 'EMPTY_LIST', 'EMPTY_DICT', 'EMPTY_SET', 'EMPTY_TUPLE', 'TUPLE', 'TUPLE1',
    'TUPLE2', 'TUPLE3', 'LIST', 'DICT', 'FROZENSET', 'REDUCE', 'BINPERSID', 'PERSID')}
# opcodes that store into the memo: its growth is charged
_MEMO_OPS = {getattr(pickle, n)[0] for n in ('PUT', 'BINPUT', 'LONG_BINPUT', 'MEMOIZE')}


def _counted(code, base):
    """Every opcode: counted, a stack slot charged, and what it makes or stores charged to the budget."""
    def op(self):
        self.ops += 1
        if self.ops > MAX_PICKLE_OPS:
            fail(f'the pickle has more than {MAX_PICKLE_OPS} opcodes')
        if code in _MEMO_OPS:
            size = sys.getsizeof(self.memo)
            base(self)
            self.budget.objects(8 + max(0, sys.getsizeof(self.memo) - size))
            return
        base(self)
        self.budget.objects(8 + (sys.getsizeof(self.stack[-1]) if code in _MAKERS else 0))
    return op


_Reader.dispatch = {k: _counted(k, v) for k, v in _D.items()}


# ---------------------------------------------------------------- entry points
def restricted_load(source, budget, storage_loader=None, only=None):
    """One pickle from ``source`` (bytes, or a binary file positioned at it), through the reader; ``only``: the
    ``(module, name)`` pairs it may resolve, a subset of the reader's own (default: all of them)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
        end = len(source.getbuffer())
    else:
        pos = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(pos)
    try:
        return _Reader(_Bounded(source, end), budget, storage_loader, only).load()
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except RecursionError:
        fail('the pickle nests too deeply')
    except Exception as e:  # truncated or damaged pickles raise anything from EOFError to KeyError
        fail(f'damaged or unsupported pickle ({type(e).__name__}: {error_text(e)})')


_PLAIN = (str, bytes, int, float, complex, bool, type(None))
_CONTAINERS = (dict, ReaderDict, list, tuple, set, frozenset)


def expanded_size(obj, sizes=None, depth=0):
    """How many objects ``obj`` holds once every shared part is counted where it occurs (what a copy, a
    comparison or a repr of it visits), capped at ``MAX_NODES + 1``. Linear in the distinct objects."""
    sizes = {} if sizes is None else sizes
    if type(obj) not in _CONTAINERS:
        return 1
    if depth > MAX_DEPTH:
        fail(f'the checkpoint nests deeper than {MAX_DEPTH} levels')
    got = sizes.get(id(obj))
    if got is None:
        items = obj.items() if type(obj) in (dict, ReaderDict) else ((v,) for v in obj)
        got = 1
        for pair in items:
            for v in pair:
                got = min(MAX_NODES + 1, got + expanded_size(v, sizes, depth + 1))
        sizes[id(obj)] = got
    return got


def materialize(obj, budget, depth=0, done=None):
    """Pending tensors and array stand-ins become fresh arrays; containers plain dicts/lists/tuples, a tree.

    A container the pickle shares is copied where it occurs, so nothing downstream can be made to walk a
    DAG's 2^depth paths: the copy is counted first (``expanded_size``) and refused beyond ``MAX_NODES``."""
    if done is None:
        n = expanded_size(obj)
        if n > MAX_NODES:
            fail(f'the checkpoint holds over {MAX_NODES} objects once its shared parts are counted where they '
                 'occur (a tuple or list shared at every level?)')
        done = {}
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
        out = done[id(obj)] = obj.materialize(budget)
    elif kind is NumpyArray:
        if obj.array is None:
            fail('a numpy array has no data')
        out = done[id(obj)] = obj.array
    elif kind is NumpyDType:
        out = obj.dtype
    elif kind is Marker:
        out = obj.name
    elif kind in (dict, ReaderDict):
        out = {}
        for k, v in obj.items():
            key = materialize(k, budget, depth + 1, done)
            if not key_ok(key):
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
    budget.objects(sys.getsizeof(out) if kind in _CONTAINERS else 0)
    return out
