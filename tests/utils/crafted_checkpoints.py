"""Hand-assembled hostile checkpoints (the attacks the reader must refuse), built without torch.

``P`` assembles pickle opcodes so that a test can say exactly what a crafted
file does; the ``make_*`` functions write the files the regression tests use.
"""
import json
import pickle
import struct
import zipfile
import zlib

import numpy as np

PROTO2, PROTO3 = b'\x80\x02', b'\x80\x03'
MARK, TUPLE, TUPLE1, EMPTY_TUPLE = b'(', b't', b'\x85', b')'
REDUCE, BUILD, STOP = b'R', b'b', b'.'
EMPTY_DICT, SETITEM, SETITEMS = b'}', b's', b'u'
EMPTY_LIST, APPEND = b']', b'a'
NONE, FALSE = b'N', b'\x89'
BINPERSID = b'Q'


def glob(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def text(s):
    raw = s.encode()
    return b'X' + struct.pack('<I', len(raw)) + raw


def num(n):
    return b'J' + struct.pack('<i', n) if -2 ** 31 <= n < 2 ** 31 else b'\x8a\x08' + struct.pack('<q', n)


def data(b):
    return b'B' + struct.pack('<I', len(b)) + b


def tup(*items):
    return MARK + b''.join(items) + TUPLE


def call(func, *args):
    return func + tup(*args) + REDUCE


def dict1(key, value):
    return EMPTY_DICT + text(key) + value + SETITEM


def odict_with(state):
    """collections.OrderedDict() given attributes by BUILD: the duck-typed fake storage of the old attack."""
    return call(glob('collections', 'OrderedDict')) + state + BUILD


def np_dtype(code):
    return call(glob('numpy', 'dtype'), text(code), FALSE, b'\x88')


def raw_ndarray(shape_items, dtype_code, buffer=None, strides_items=None):
    """numpy.ndarray(shape, dtype[, buffer, offset, strides]) called directly."""
    args = [tup(*map(num, shape_items)), np_dtype(dtype_code)]
    if buffer is not None:
        args += [data(buffer), num(0), tup(*map(num, strides_items))]
    return call(glob('numpy', 'ndarray'), *args)


def fake_storage_tensor(numel):
    """_rebuild_tensor_v2 over an OrderedDict that BUILD dressed up as a storage whose data is a
    stride-0 numpy view of one byte: the old bounds check passed and as_strided read past the buffer."""
    fake = odict_with(EMPTY_DICT + MARK + text('data') + raw_ndarray([numel], 'u1', b'\x00', [0])
                      + text('code') + text('u1') + SETITEMS)
    return call(glob('torch._utils', '_rebuild_tensor_v2'), fake, num(0), tup(num(numel)), tup(num(1)), FALSE,
                call(glob('collections', 'OrderedDict')))


def make_oob_pdparams(path, numel=2 ** 28):
    """The ~200-byte .pdparams that claims 2^28 elements (a SIGSEGV before)."""
    path.write_bytes(PROTO3 + dict1('w', fake_storage_tensor(numel)) + STOP)
    return path


def make_heap_leak_srvgg(path, numel=432):
    """A small SRVGG-like state dict whose first weight is the fake storage: old code returned heap bytes."""
    body = EMPTY_DICT + MARK + text('params') + EMPTY_DICT + MARK
    body += text('body.0.weight') + fake_storage_tensor(numel)
    body += text('body.0.bias') + call(glob('numpy.core.multiarray', '_reconstruct'), glob('numpy', 'ndarray'),
                                       tup(num(0)), data(b'b')) \
        + tup(num(1), tup(num(2)), np_dtype('f4'), FALSE, data(b'\0' * 8)) + BUILD
    body += SETITEMS + SETITEMS
    path.write_bytes(PROTO3 + body + STOP)
    return path


def make_uninitialised_ndarray(path, n=4096):
    """numpy.ndarray((n,), float32) without a buffer: uninitialised heap memory before."""
    path.write_bytes(PROTO3 + dict1('w', raw_ndarray([n], 'f4')) + STOP)
    return path


def torch_zip(path, pickled, storages=None, compress=zipfile.ZIP_STORED):
    """A .pth zip laid out like torch.save writes it."""
    with zipfile.ZipFile(path, 'w', compression=compress) as zf:
        zf.writestr('archive/data.pkl', pickled)
        zf.writestr('archive/byteorder', 'little')
        zf.writestr('archive/version', '3\n')
        for name, blob in (storages or {}).items():
            zf.writestr(f'archive/data/{name}', blob)
    return path


def tensor_pickle(storage_type, key, numel, size, stride, name='w'):
    """{name: _rebuild_tensor_v2(persistent storage, 0, size, stride)} as torch.save writes it."""
    pid = tup(text('storage'), glob('torch', storage_type), text(key), text('cpu'), num(numel)) + BINPERSID
    t = call(glob('torch._utils', '_rebuild_tensor_v2'), pid, num(0), tup(*map(num, size)), tup(*map(num, stride)),
             FALSE, call(glob('collections', 'OrderedDict')))
    return PROTO2 + dict1(name, t) + STOP


def state_pth(path, arrays, wrap=None, legacy=False):
    """A state dict of float32 arrays as torch.save writes it, built without torch: the zip layout, or with
    ``legacy`` the pre-1.6 one (magic, protocol, sys info, the pickle, the storage keys, then each storage's
    element count and bytes); under the key ``wrap`` (e.g. 'params_ema') when given."""
    items, storages = b'', {}
    for i, (name, a) in enumerate(arrays.items()):
        a = np.ascontiguousarray(a, dtype='<f4')
        stride = [int(np.prod(a.shape[d + 1:])) for d in range(a.ndim)]
        pid = tup(text('storage'), glob('torch', 'FloatStorage'), text(str(i)), text('cpu'), num(a.size),
                  *([NONE] if legacy else [])) + BINPERSID
        rebuild = call(glob('torch._utils', '_rebuild_tensor_v2'), pid, num(0), tup(*map(num, a.shape)),
                       tup(*map(num, stride)), FALSE, call(glob('collections', 'OrderedDict')))
        items += text(name) + rebuild
        storages[str(i)] = a
    state = EMPTY_DICT + MARK + items + SETITEMS
    pickled = PROTO2 + (dict1(wrap, state) if wrap else state) + STOP
    if not legacy:
        return torch_zip(path, pickled, {k: a.tobytes() for k, a in storages.items()})
    with open(path, 'wb') as f:
        for obj in (0x1950a86a20f9469cfc6c, 1001, {'protocol_version': 1001, 'little_endian': True,
                                                  'type_sizes': {'short': 2, 'int': 4, 'long': 4}}):
            pickle.dump(obj, f, protocol=2)
        f.write(pickled)
        pickle.dump(list(storages), f, protocol=2)
        for a in storages.values():
            f.write(struct.pack('<q', a.size) + a.tobytes())
    return path


def make_good_zip(path):
    """A correct torch zip (FloatStorage, 2x3) built without torch; the values are 0..5."""
    return torch_zip(path, tensor_pickle('FloatStorage', '0', 6, (2, 3), (3, 1)),
                     {'0': np.arange(6, dtype='<f4').tobytes()})


def make_poison_zip(path):
    """BUILD on the allow-listed torch.FloatStorage and torch.float32: changed them for every later file."""
    poison = (PROTO2 + EMPTY_DICT + MARK
              + text('a') + glob('torch', 'FloatStorage') + dict1('name', text('ByteStorage')) + BUILD
              + text('b') + glob('torch', 'float32') + dict1('code', text('u1')) + BUILD + SETITEMS + STOP)
    return torch_zip(path, poison)


def make_stride0_zip(path, side=16384):
    """One float in the file, a side x side tensor over it with strides (0, 0)."""
    return torch_zip(path, tensor_pickle('FloatStorage', '0', 1, (side, side), (0, 0)), {'0': b'\0\0\x80?'})


def _zip_entry(name, payload, method, size, crc):
    """(local header + data, central header) of one member, written by hand."""
    fields = struct.pack('<HHHHHIIIHH', 20, 0, method, 0, 0x21, crc, len(payload), size, len(name), 0)
    local = b'PK\x03\x04' + fields + name
    central = b'PK\x01\x02' + struct.pack('<H', 20) + fields + struct.pack('<HHHII', 0, 0, 0, 0, 0) + name
    return local + payload, central


def write_zip(path, members):
    """``members``: (name, payload, method, uncompressed size, crc32) in order."""
    body, centrals = b'', []
    for name, payload, method, size, crc in members:
        local, central = _zip_entry(name.encode(), payload, method, size, crc)
        centrals.append(central[:42] + struct.pack('<I', len(body)) + central[46:])
        body += local
    cd = b''.join(centrals)
    end = b'PK\x05\x06' + struct.pack('<HHHHIIH', 0, 0, len(centrals), len(centrals), len(cd), len(body), 0)
    path.write_bytes(body + cd + end)
    return path


def make_zip_bomb(path, size=1 << 30):
    """About 1 MB of deflate that expands to ``size`` zero bytes, as a ByteStorage tensor.

    Full-flushed deflate blocks of identical input are identical, so one 1 MiB block is
    compressed once and repeated: this takes milliseconds, not the seconds zipfile would.
    """
    chunk = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    assert comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH) == block
    stream = block * (size // len(chunk)) + comp.flush()
    crc = 0
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    pkl = tensor_pickle('ByteStorage', '0', size, (size,), (1,))
    return write_zip(path, [('archive/data.pkl', pkl, 0, len(pkl), zlib.crc32(pkl)),
                            ('archive/byteorder', b'little', 0, 6, zlib.crc32(b'little')),
                            ('archive/data/0', stream, 8, size, crc)])


def patch_zip_headers(path, method=None, flags_or=0):
    """Rewrite every local and central header's compression method and/or flag bits."""
    raw = bytearray(path.read_bytes())
    for sig, flag_at in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):
        i = raw.find(sig)
        while i >= 0:
            flags = struct.unpack_from('<H', raw, i + flag_at)[0] | flags_or
            struct.pack_into('<H', raw, i + flag_at, flags)
            if method is not None:
                struct.pack_into('<H', raw, i + flag_at + 2, method)
            i = raw.find(sig, i + 4)
    path.write_bytes(bytes(raw))
    return path


def nested_lists_pickle(depth):
    return PROTO2 + EMPTY_LIST * depth + APPEND * (depth - 1) + STOP


def deep_tuple_key_pickle(depth):
    """A tuple nested ``depth`` deep used as a dict key: hashing it recursed in C."""
    return PROTO2 + EMPTY_DICT + EMPTY_TUPLE + TUPLE1 * depth + num(1) + SETITEM + STOP


def safetensors_bytes(header, body=b''):
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack('<Q', len(head)) + head + body


def make_v3_object_dtype(path):
    """_rebuild_tensor_v3 whose dtype is an OrderedDict that BUILD gave code 'O'."""
    pid = tup(text('storage'), glob('torch', 'UntypedStorage'), text('0'), text('cpu'), num(8)) + BINPERSID
    dtype = odict_with(dict1('code', text('O')))
    t = call(glob('torch._utils', '_rebuild_tensor_v3'), pid, num(0), tup(num(1)), tup(num(1)), FALSE,
             call(glob('collections', 'OrderedDict')), dtype)
    return torch_zip(path, PROTO2 + dict1('w', t) + STOP, {'0': bytes(8)})
