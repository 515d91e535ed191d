"""Walk the tensor headers of an export's ``inference.pdiparams`` before Paddle loads it.

The file is Paddle's combined tensor stream: per tensor a format word (0), a LoD level count and its levels,
a tensor format word (0), the size of a ``TensorDesc`` protobuf (data type and dims) and the desc, then the
raw data, ``numel x element size`` bytes. Paddle allocates what a header claims before it reads the data, so a
hostile header can ask for any amount of memory, and a truncated file fails late. Here every header is read
with a bounded reader (no Paddle import), its data type must be one this project exports, its data must lie
inside the file, and the walk must end exactly at the file's end. Only headers are read (a seek past each
tensor's data): x4plus's 67 MB file costs about 700 small reads.

``check_params(path)`` returns the tensors' ``(data_type, dims)`` or raises ``ParamsRefused`` (a ValueError)
with one line naming the file.
"""
import math
import os
import stat
import struct

from .graph_check import _TENSOR, MAX_DIMS, MAX_VARS, _Bad, _int, _message

ELEMENT_BYTES = {0: 1, 2: 4, 3: 8, 4: 2, 5: 4, 22: 2}  # BOOL INT32 INT64 FP16 FP32 BF16
MAX_DESC_BYTES = 4096  # a TensorDesc: data type and up to 9 dims (x4plus's: 6-8 bytes)
MAX_LOD_LEVELS = 8


class ParamsRefused(ValueError):
    """An ``inference.pdiparams`` that is not a tensor stream this project writes (one line naming it)."""


def _read(f, n, what):
    data = f.read(n)
    if len(data) != n:
        raise _Bad(f'truncated: the file ends inside {what}')
    return data


def _tensor_header(f, size, k):
    """Read tensor ``k``'s header at the file's position; returns (data_type, dims, data bytes)."""
    (fmt,) = struct.unpack('<I', _read(f, 4, f'tensor {k}\'s header'))
    (levels,) = struct.unpack('<Q', _read(f, 8, f'tensor {k}\'s header'))
    if fmt != 0 or levels > MAX_LOD_LEVELS:
        raise _Bad(f'tensor {k} has format {fmt} and {levels} LoD levels (not a tensor stream)')
    for _ in range(levels):
        (n,) = struct.unpack('<Q', _read(f, 8, f'tensor {k}\'s LoD'))
        if n > size - f.tell():
            raise _Bad(f'tensor {k}\'s LoD runs past the end of the file')
        f.seek(n, os.SEEK_CUR)
    tfmt, desc_size = struct.unpack('<Ii', _read(f, 8, f'tensor {k}\'s header'))
    if tfmt != 0 or not 0 < desc_size <= MAX_DESC_BYTES:
        raise _Bad(f'tensor {k} has format {tfmt} and a {desc_size}-byte description')
    desc = _read(f, desc_size, f'tensor {k}\'s description')
    t = _message(desc, (0, len(desc)), _TENSOR, f'tensor {k}\'s description', {'dims': MAX_DIMS})
    dtype, dims = t.get('data_type', -1), [_int(d, 64) for d in t.get('dims', [])]
    if dtype not in ELEMENT_BYTES:
        raise _Bad(f'tensor {k} has data type {dtype}, not one this project exports')
    if any(d < 0 or d >= 1 << 31 for d in dims):
        raise _Bad(f'tensor {k} has dims {dims}')
    nbytes = math.prod(dims) * ELEMENT_BYTES[dtype]
    if nbytes > size - f.tell():
        raise _Bad(f'tensor {k} claims {nbytes:,} bytes of data, more than the {size - f.tell():,} left in the file')
    return dtype, dims, nbytes


def check_params(path, limit):
    """Walk the regular file ``path`` (at most ``limit`` bytes) tensor by tensor; ``ParamsRefused`` unless it
    is a well-formed tensor stream that ends exactly at the file's end."""
    tensors = []
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    except OSError as e:
        raise ParamsRefused(f'{path}: cannot read it ({e.strerror})') from None
    try:
        with os.fdopen(fd, 'rb') as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                raise _Bad(f'not a regular file of at most {limit >> 30} GB')
            while f.tell() < st.st_size:
                if len(tensors) >= MAX_VARS:
                    raise _Bad(f'more than {MAX_VARS:,} tensors')
                dtype, dims, nbytes = _tensor_header(f, st.st_size, len(tensors))
                f.seek(nbytes, os.SEEK_CUR)
                tensors.append((dtype, dims))
            if not tensors:
                raise _Bad('the file is empty')
    except _Bad as e:
        raise ParamsRefused(f'{path}: refused: {e}; not the parameters of an export this project writes') from None
    return tensors
