"""A pickle of plain numpy data (``pickle.dump`` of dicts of arrays, as flax/jax projects ship their weights),
read without running code from it.

The restricted unpickler (``checkpoint_io.unpickler``) narrowed to numpy's own names: ``numpy.ndarray`` rebuilt
from the file's bytes, ``numpy.dtype`` of plain numeric types and numpy scalars; no torch storage, no paddle
``eval``, no ``OrderedDict``. Whatever the pickle builds is then checked: only dicts keyed by strings, lists,
tuples, str, int, float and arrays or scalars of numeric dtypes (bool, integers, floats) come out. Anything else
(``None``, bytes, complex numbers, sets, an object array) is refused with one line, as are the reader's own
limits (declared sizes against the bytes present, nesting, opcode count, one memory budget).
"""
from pathlib import Path

import numpy as np

from .objects import MAX_DEPTH, Budget, CheckpointFormatError, UnsafeCheckpointError, clean, fail, quote
from .unpickler import materialize, restricted_load

NUMPY_NAMES = frozenset({('numpy', 'ndarray'), ('numpy', 'dtype'), ('_codecs', 'encode'), ('builtins', 'bytes')}
                        | {(m + sub, name) for m in ('numpy.core', 'numpy._core')
                           for sub, name in (('.multiarray', '_reconstruct'), ('.multiarray', 'scalar'),
                                             ('.numeric', '_frombuffer'))})
NUMERIC_KINDS = 'biuf'  # bool, signed and unsigned integers, floats


def check_plain(obj, where='', depth=0):
    """Refuse anything but dicts keyed by str, lists, tuples, str, int, float and numeric arrays (one line)."""
    if depth > MAX_DEPTH:
        fail(f'{where or "the pickle"} nests deeper than {MAX_DEPTH} levels')
    kind = type(obj)
    if kind in (str, int, float, bool):
        return
    if isinstance(obj, (np.ndarray, np.generic)):
        if obj.dtype.kind not in NUMERIC_KINDS:
            fail(f'{where or "the pickle"} holds an array of dtype {obj.dtype}; only numeric arrays are read')
        return
    if kind is dict:
        for k, v in obj.items():
            if type(k) is not str:
                fail(f'{where or "the pickle"} has a dict key {quote(k, 40)}, a {type(k).__name__}: only names')
            check_plain(v, f'{where}/{clean(k, 40)}', depth + 1)
        return
    if kind in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f'{where}[{i}]', depth + 1)
        return
    fail(f'{where or "the pickle"} holds a {kind.__name__}; a numpy pickle holds only dicts, lists, tuples, '
         'str, int, float and numeric arrays')


def load_numpy_pickle(source, where=None):
    """``source``: a path or the pickle's bytes -> its plain data (see the module's doc).

    Raises ``UnsafeCheckpointError`` (a name outside numpy's) or ``CheckpointFormatError`` (anything else wrong),
    one line starting with ``where`` (the path by default)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = bytes(source), where or 'the pickle'
    else:
        data, where = Path(source).read_bytes(), where or str(source)
    budget = Budget(len(data))
    try:
        if not data[:1] == b'\x80':
            fail('not a binary pickle (no protocol header)')
        out = materialize(restricted_load(data, budget, only=NUMPY_NAMES), budget)
        check_plain(out)
        return out
    except (UnsafeCheckpointError, CheckpointFormatError) as e:
        raise type(e)(f'{where}: {" ".join(str(e).split())}') from None
    except RecursionError:
        raise CheckpointFormatError(f'{where}: the pickle nests too deeply') from None
