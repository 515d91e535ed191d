"""Read an exported graph before Paddle does, and refuse it unless it is one this project writes.

Paddle Inference runs every op a graph names: a ``save`` op writes a file anywhere, ``read_file`` copies one
into the output, and Paddle's own readers crash (SIGSEGV) on random bytes or 200k ops and spin forever on a
block that is its own parent. So an export folder's graph is read here first, by code that cannot crash or
hang: a small protobuf wire-format reader for the legacy ``inference.pdmodel`` (a ``ProgramDesc``; no
Paddle code reads it, every length checked against what is left) and the ``json`` module for the PIR
``inference.json``. Both are bounded (``MAX_GRAPH_BYTES``, ``MAX_OPS``, ``MAX_VARS``) and a graph passes
only when

* every op type is on the allow-list (``allowed()``): the graph's plumbing, which every export holds
  (``LEGACY_BASE``, ``PIR_BASE``), and the ops each registered network declares beside its ``ArchSpec``
  (``export_ops``, ``models/export_ops.py``; the union over the networks: the sidecar that names an export's
  network is no more trusted than the graph). The lists are data, this module is the checking, and it names no
  network: ``tests/inference/test_export_ops.py`` traces every registered network in its variants and holds
  each declaration to what they write;
* every attribute name is one those ops carry (the ``_ATTRS`` lists, declared the same way): nothing such as
  ``file_path`` names a file, and no attribute holds a sub-block;
* the blocks are well-formed: block ``i`` has index ``i``, its parent comes before it (no cycles, none its
  own parent), and there is one block (no op on the list runs a sub-block); every variable an op reads or
  writes is declared (legacy) or defined by an earlier op (PIR).

``check_graph(path)`` raises ``GraphRefused`` (a ValueError) with one line naming the file.
``check_export_folder(path)`` is ``inference.export.paddle_export.open_export``'s one call: the folder's files, the
parameters' tensor headers (``check_params``), the graph (checked in every process that opens it: no file
anywhere turns the check off) and ``model_info.json`` (``read_info``, bounded and
checked: ``check_info``), refused with ``ExportRefused`` (one line naming the file).
"""
import hashlib
import json
import math
import os
import stat
import struct
from typing import NamedTuple

MAX_GRAPH_BYTES = 32 << 20  # x4plus: 0.54 MB
MAX_OPS = 20_000  # x4plus: 1866
MAX_VARS = 60_000  # x4plus: 2920
MAX_BLOCKS = 64
MAX_TEXT = 1 << 16  # one string inside the graph
MAX_DIMS = 9

# The graph's plumbing, which every export holds whatever its network: its input and output, convolutions,
# arithmetic, and the run-time shape ops (H and W read, sliced, assembled, reshaped, transposed). Whatever a
# network's own layers write beyond it, its ArchSpec.export_ops declares; ``allowed()`` joins the two.
# Legacy: the graphs of ``paddle.jit.save`` under OldIrGuard (tools/export_model.py).
LEGACY_BASE = frozenset({
    'feed', 'fetch', 'conv2d', 'elementwise_add', 'elementwise_sub', 'elementwise_mul', 'scale', 'reshape2',
    'transpose2', 'shape', 'slice', 'fill_constant', 'concat',
})
LEGACY_BASE_ATTRS = frozenset({
    'op_device', 'op_namescope', 'op_role', 'op_role_var', 'op_callstack', 'with_quant_attr',  # on every op
    'col', 'axis', 'data_format', 'dilations', 'groups', 'padding_algorithm', 'paddings', 'strides', 'scale', 'bias',
    'bias_after_scale', 'shape', 'axes', 'starts', 'ends', 'decrease_axis', 'infer_flags', 'dtype', 'value',
    'str_value', 'force_cpu', 'place_type',
})
# PIR: the programs traced for the ONNX export (inference/export/onnx_export.py); 'p' is a parameter
PIR_BASE = frozenset({
    'p', '1.data', '1.fetch', '1.conv2d', '1.add', '1.subtract', '1.multiply', '1.scale', '1.full',
    '1.full_int_array', '1.reshape', '1.transpose', '1.shape64', '1.slice', '1.stack', '0.combine', '1.concat',
})
PIR_BASE_ATTRS = frozenset({
    'name', 'dtype', 'place', 'shape', 'value', 'stop_gradient', 'persistable', 'struct_name', 'col', 'data_format',
    'dilations', 'groups', 'padding_algorithm', 'paddings', 'strides', 'bias', 'bias_after_scale', 'axis', 'axes',
    'decrease_axis', 'infer_flags', 'perm',
})
# ProgramDesc AttrType values allowed: INT FLOAT STRING INTS FLOATS STRINGS BOOLEAN BOOLEANS LONG LONGS
# FLOAT64S FLOAT64 (not BLOCK/BLOCKS, VAR/VARS, SCALAR/SCALARS)
LEGACY_ATTR_TYPES = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 15})
# the oneDNN-optimised graph Paddle Inference writes for a CPU fp32 predictor (the store's kind ``onednn``,
# ``inference.backends.OptimizedGraphCache``): the allowed legacy ops plus the fused ops and their attributes that
# Paddle Inference's passes write, whatever the network (collected from each network's optimised graph:
# tests/inference/test_cache_trust.py keeps the lists true); one that holds anything else is not used, and the
# predictor is made from the export's own graph
FUSED_OPS = frozenset({
    'fused_conv2d', 'fused_elementwise_add', 'fused_elementwise_sub', 'fused_elementwise_mul',
    'fused_elementwise_div', 'matmul', 'fused_matmul'})
FUSED_ATTRS = frozenset({
    'Scale_in', 'Scale_in_eltwise', 'Scale_out', 'Scale_weights', 'Scale_x', 'Scale_y', 'exhaustive_search',
    'force_fp32_output', 'fuse_activation', 'fuse_alpha', 'fuse_beta', 'fuse_relu', 'fuse_relu_before_depthwise_conv',
    'fuse_residual_connection', 'fuse_with_relu', 'fused_output_scale', 'fused_reshape_X', 'fused_reshape_Y',
    'fused_transpose_X', 'fused_transpose_Y', 'matmul_alpha', 'mkldnn_data_type', 'onednn_data_type', 'transpose_X',
    'transpose_Y', 'use_addto', 'use_mkldnn', 'use_onednn', 'use_quantizer', 'workspace_size_MB'})
VAR_KINDS = frozenset({7, 9, 10})  # DENSE_TENSOR, FEED_MINIBATCH, FETCH_LIST
DATA_TYPES = frozenset({0, 2, 3, 4, 5, 22})  # BOOL INT32 INT64 FP16 FP32 BF16


class AllowList(NamedTuple):
    """What a graph may hold: op types and attribute names of legacy graphs, of the PIR programs, and of the
    oneDNN-optimised legacy graphs."""
    legacy: frozenset
    legacy_attrs: frozenset
    pir: frozenset
    pir_attrs: frozenset
    optimized: frozenset
    optimized_attrs: frozenset


def allowed():
    """The ``AllowList`` now: the plumbing above plus the union of the registered networks' ``export_ops``, which
    the networks' registry declares here (``declare``, called by ``models.specs`` at each change: a network
    registered later counts). Until a registry declares, only the plumbing passes."""
    return _ALLOWED['lists']


def declare(ops, load_rest=None):
    """Make the allow-list the plumbing plus ``ops`` (an object with ``legacy``, ``legacy_attrs``, ``pir`` and
    ``pir_attrs`` sets: ``models.export_ops.ExportOps``, the union of the loaded specs'). ``load_rest``: called
    before a graph is refused, when the registry holds networks whose modules (and so whose ops) are not loaded
    yet; it loads them, and their ``declare`` widens the list (None: every registered network's ops are in)."""
    legacy, legacy_attrs = LEGACY_BASE | ops.legacy, LEGACY_BASE_ATTRS | ops.legacy_attrs
    _ALLOWED['lists'] = AllowList(legacy, legacy_attrs, PIR_BASE | ops.pir, PIR_BASE_ATTRS | ops.pir_attrs,
                                  legacy | FUSED_OPS, legacy_attrs | FUSED_ATTRS)
    _ALLOWED['load_rest'] = load_rest


_ALLOWED = {'lists': AllowList(LEGACY_BASE, LEGACY_BASE_ATTRS, PIR_BASE, PIR_BASE_ATTRS, LEGACY_BASE | FUSED_OPS,
                              LEGACY_BASE_ATTRS | FUSED_ATTRS),  # the plumbing only, until ``declare``
            'load_rest': None}


# PIR writes an optional input left out as value %0 (never an op's output); these slots may hold it: the
# interpolations' out_size, size_tensor and scale_tensor (a resize to a run-time size)
PIR_OPTIONAL_INPUTS = {'1.bilinear_interp': (1, 2, 3), '1.nearest_interp': (1, 2, 3)}
PIR_ATTR_TYPES = frozenset({'0.a_str', '0.a_i32', '0.a_i64', '0.a_f32', '0.a_f64', '0.a_bool', '0.a_array',
                            '1.a_intarray', '1.a_dtype', '1.a_place'})
PIR_OP_KEYS = frozenset({'#', 'A', 'I', 'O', 'OA', 'DA', 'QA'})


class GraphRefused(ValueError):
    """An export's graph that is not handed to Paddle; the message is one line naming the file."""


class _Bad(Exception):
    """A reason, filled in with the file's name by ``check_graph``."""


def read_bounded(path, limit, what='file'):
    """The bytes of the regular file ``path``, at most ``limit`` of them; ``_Bad`` for a device, a FIFO, a
    folder, or a larger file (opened without blocking, checked before reading)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    except OSError as e:
        raise _Bad(f'cannot open the {what} ({e.strerror})') from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Bad(f'the {what} is not a regular file')
        if st.st_size > limit:
            raise _Bad(f'the {what} is {st.st_size:,} bytes, more than the {limit:,} allowed')
        with os.fdopen(fd, 'rb', closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _Bad(f'the {what} grew past the {limit:,} bytes allowed while it was read')
    return data


def check_graph(path, data=None, optimized=False):
    """Check the graph file ``path`` (``inference.pdmodel`` or a PIR ``.json``; ``data``: its bytes, when
    read already; ``optimized``: a oneDNN-optimised legacy graph, whose fused ops are allowed too); returns its
    bytes, or raises ``GraphRefused`` (one line naming the file). A graph the loaded networks' ops do not allow is
    checked again once every registered network is loaded (``declare``'s ``load_rest``) before it is refused."""
    path = str(path)
    try:
        if data is None:
            data = read_bounded(path, MAX_GRAPH_BYTES, 'graph')
        elif len(data) > MAX_GRAPH_BYTES:
            raise _Bad(f'the graph is {len(data):,} bytes, more than the {MAX_GRAPH_BYTES:,} allowed')
        try:
            _check_allowed(path, data, optimized)
        except _Bad:
            load_rest = _ALLOWED['load_rest']
            if load_rest is None:
                raise
            load_rest()
            _check_allowed(path, data, optimized)
    except _Bad as e:
        raise GraphRefused(f'{path}: refused: {e}; not a graph this project exports '
                           f'(only its own exports are run: docs/export_infer.md)') from None
    except RecursionError:
        raise GraphRefused(f'{path}: refused: nested too deeply; not a graph this project exports') from None
    return data


def _check_allowed(path, data, optimized):
    """``_Bad`` when the graph ``data`` holds anything the allow-list now (``allowed()``) does not."""
    allow = allowed()
    if path.endswith('.json'):
        _check_pir(data, allow.pir, allow.pir_attrs)
    else:
        _check_legacy(data, *((allow.optimized, allow.optimized_attrs) if optimized else
                              (allow.legacy, allow.legacy_attrs)))


# ---------------------------------------------------------------- the export folder and its sidecar
INFO_NAME = 'model_info.json'
MAX_INFO_BYTES = 64 << 10  # model_info.json and the .onnx sidecar: a few hundred bytes when written here
SCALES = (1, 2, 3, 4, 8)
MAX_MOD = 64  # a network's pad multiple (models.pad_multiple: an unshuffle factor, a window size)
MAX_PARAMS_BYTES = 8 << 30  # inference.pdiparams: 67 MB for x4plus
EXPORT_FILES = ('inference.pdmodel', 'inference.pdiparams')


class ExportRefused(ValueError):
    """An export folder (or an ONNX file's sidecar) that is not run; the message is one line naming the file."""


def read_info(p, what='model_info.json'):
    """The JSON object in the sidecar ``p``, bounded (``MAX_INFO_BYTES``, a regular file) and checked
    (``check_info``); ``ExportRefused`` (one line naming ``p``) otherwise."""
    try:
        info = json.loads(read_bounded(p, MAX_INFO_BYTES, what))
    except _Bad as e:
        raise ExportRefused(f'{p}: {e}') from None
    except (ValueError, RecursionError) as e:
        raise ExportRefused(f'{p}: not valid JSON ({str(e)[:80]})') from None
    why = check_info(info)
    if why:
        raise ExportRefused(f'{p}: {why}; refusing the model')
    return info


def _bounded_int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _short_numbers(v):
    return isinstance(v, list) and len(v) <= 8 and all(isinstance(e, (int, float)) and not isinstance(e, bool)
                                                       for e in v)


def check_info(info):
    """Why the sidecar ``info`` cannot be trusted, or None: ``scale`` in ``SCALES``, ``mod`` in 1..``MAX_MOD``,
    an ``arch`` whose numbers are small (flags: booleans) and whose scale key agrees, a known ``cpu_engine``."""
    if not isinstance(info, dict):
        return 'not a JSON object'
    if not _bounded_int(info.get('scale'), 1, 8) or info['scale'] not in SCALES:
        return f'scale {str(info.get("scale"))[:40]} is not one of {list(SCALES)}'
    if not _bounded_int(info.get('mod', 1), 1, MAX_MOD):
        return f'mod {str(info.get("mod"))[:40]} is not a whole number from 1 to {MAX_MOD}'
    arch = info.get('arch')
    if not isinstance(arch, dict) or not isinstance(arch.get('type'), str) or len(arch) > 32:
        return 'no arch with a network type'
    for k, v in arch.items():
        if isinstance(v, (str, bool)) and len(str(v)) <= 64 or _bounded_int(v, 0, 4096) or v is None \
                or isinstance(v, float):
            continue
        if isinstance(v, list) and len(v) <= 64 and all(_bounded_int(x, 0, 4096) for x in v):  # per-stage depths, heads
            continue
        if isinstance(v, bool) or _short_numbers(v):  # a variant flag; a mean per channel
            continue
        return f'arch.{str(k)[:40]} has a value out of range'
    for key in ('scale', 'upscale', 'up_scale'):  # the scale keys networks use
        if key in arch and arch[key] != info['scale']:
            return f'arch.{key} {arch[key]} and scale {info["scale"]} disagree'
    if info.get('cpu_engine', 'onednn') not in ('onednn', 'openvino'):
        return f'cpu_engine {str(info.get("cpu_engine"))[:40]!r} is not onednn or openvino'
    return None


def check_export_folder(path, digests=None):
    """The export folder ``path`` read once, before Paddle sees it: its parameters' tensor headers walked
    (``check_params``), its graph checked (``check_graph``) and its ``INFO_NAME`` read (``read_info``); ``(the
    graph's sha256, the info or None for a foreign export without one)``. The graph is checked in every process that
    opens it (this process remembers the sha256s that passed): a record on disk could be planted, and the check
    costs 0.06-0.1 s of CPU on x4plus's graph (benchmarks/cache_checks.py). ``digests``: ``{file name: sha256}``
    handed on by the store (``store.open`` ran ``export_readers`` on those bytes), so nothing is read twice.
    ``FileNotFoundError`` when the graph files are missing, ``ExportRefused`` (a ValueError; one line naming the
    file) for one that is not a regular file, too large, or not a graph this project exports."""
    graph, params = path / EXPORT_FILES[0], path / EXPORT_FILES[1]
    if not os.path.lexists(graph) or not os.path.lexists(params):
        raise FileNotFoundError(f'{path}: no inference.pdmodel/inference.pdiparams '
                                f'(write them with tools/export_model.py)')
    digests = digests or {}
    if digests.get(EXPORT_FILES[1]) not in _WALKED:
        check_params(params, MAX_PARAMS_BYTES)  # its tensor headers walked: no header claims more than the file
    digest = digests.get(EXPORT_FILES[0])
    if digest not in _CHECKED:
        digest = check_graph_file(graph)
    info = path / INFO_NAME
    info = read_info(info) if os.path.lexists(info) else None
    return digest, info


def export_readers(folder, names=EXPORT_FILES, optimized=False):
    """``{file name: reader(f, sha256)}`` for ``store.open``: an export's graph (``names[0]``; ``optimized``: the
    oneDNN graph Paddle Inference writes) checked and its parameters (``names[1]``) walked on the bytes the store
    hashes (one open of each file), remembered by sha256 for ``check_export_folder``."""
    def graph(f, digest):
        data = f.read(MAX_GRAPH_BYTES + 1)
        if len(data) > MAX_GRAPH_BYTES:
            raise ExportRefused(f'{folder / names[0]}: the graph is more than {MAX_GRAPH_BYTES:,} bytes')
        try:
            check_graph(folder / names[0], data, optimized)
        except GraphRefused as e:
            raise ExportRefused(str(e)) from None
        if not optimized:
            _CHECKED.add(hashlib.sha256(data).hexdigest())

    def params(f, digest):
        walk_params(f, folder / names[1], MAX_PARAMS_BYTES)
        _WALKED.add(digest)
    return {names[0]: graph, names[1]: params}


_WALKED = set()  # parameter files' sha256s this process walked (``export_readers``): memory only, never a file


def check_graph_file(graph):
    """The sha256 of the graph file ``graph``, checked (``check_graph``) unless this process checked the same
    bytes before; ``ExportRefused`` (one line naming it) otherwise."""
    try:
        data = read_bounded(graph, MAX_GRAPH_BYTES, 'graph')
    except _Bad as e:
        raise ExportRefused(f'{graph}: {e}') from None
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _CHECKED:
        try:
            check_graph(graph, data)
        except GraphRefused as e:
            raise ExportRefused(str(e)) from None
        _CHECKED.add(digest)
    return digest


_CHECKED = set()  # graph digests this process has checked: memory only, never a file


# ---------------------------------------------------------------- protobuf wire format, bounded
def _varint(buf, i, end):
    result = shift = 0
    while True:
        if i >= end:
            raise _Bad('truncated protobuf (a number runs past its end)')
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise _Bad('malformed protobuf (a number longer than 10 bytes)')


def _int(v, bits=32):
    """A varint read as a signed integer of ``bits`` (int32 fields: negative values take 10 bytes)."""
    if v >= 1 << 63:
        v -= 1 << 64
    if not -(1 << (bits - 1)) <= v < 1 << (bits - 1):
        raise _Bad(f'a number out of the int{bits} range: {v}')
    return v


# field schema: number -> (name, kind, repeated); kinds: 'v' varint, 's' text, 'm' message (an extent),
# 'f4'/'f8' fixed width; a repeated 'v'/'f4'/'f8' may also come packed
_PROGRAM = {1: ('blocks', 'm', True), 4: ('version', 'm', False), 5: ('op_version_map', 'm', False)}
_VERSION = {1: ('version', 'v', False)}
_OPVERSIONMAP = {1: ('pair', 'm', True)}
_OPVERSIONPAIR = {1: ('op_name', 's', False), 2: ('op_version', 'm', False)}
_BLOCK = {1: ('idx', 'v', False), 2: ('parent_idx', 'v', False), 3: ('vars', 'm', True), 4: ('ops', 'm', True),
          5: ('forward_block_idx', 'v', False)}
_OP = {3: ('type', 's', False), 1: ('inputs', 'm', True), 2: ('outputs', 'm', True), 4: ('attrs', 'm', True),
       5: ('is_target', 'v', False)}
_OPVAR = {1: ('parameter', 's', False), 2: ('arguments', 's', True)}
_ATTR = {1: ('name', 's', False), 2: ('type', 'v', False), 3: ('i', 'v', False), 4: ('f', 'f4', False),
         5: ('s', 's', False), 6: ('ints', 'v', True), 7: ('floats', 'f4', True), 8: ('strings', 's', True),
         10: ('b', 'v', False), 11: ('bools', 'v', True), 13: ('l', 'v', False), 15: ('longs', 'v', True),
         16: ('float64s', 'f8', True), 19: ('float64', 'f8', False)}
_VAR = {1: ('name', 's', False), 2: ('type', 'm', False), 3: ('persistable', 'v', False),
        4: ('need_check_feed', 'v', False), 5: ('is_parameter', 'v', False), 6: ('stop_gradient', 'v', False),
        7: ('attrs', 'm', True)}
_VARATTR = {1: ('name', 's', False), 2: ('type', 'v', False), 3: ('i', 'v', False), 4: ('s', 's', False),
            5: ('ints', 'v', True)}
_VARTYPE = {1: ('type', 'v', False), 3: ('dense_tensor', 'm', False)}
_DENSE = {1: ('tensor', 'm', False), 2: ('legacy_lod_level', 'v', False)}
_TENSOR = {1: ('data_type', 'v', False), 2: ('dims', 'v', True)}
_WIRE = {'v': 0, 'f8': 1, 's': 2, 'm': 2, 'f4': 5}


def _message(buf, extent, schema, what, limits=None):
    """The fields of the message in ``buf[extent]`` by ``schema``: {name: value or list}; '_Bad' for an unknown
    field, a wrong wire type, a singular field twice, or more than ``limits[name]`` of a repeated one."""
    i, end = extent
    out = {}
    while i < end:
        key = buf[i]
        if key < 0x80:  # the usual one-byte key, read inline (the reader's hot loop)
            i += 1
        else:
            key, i = _varint(buf, i, end)
        num, wire = key >> 3, key & 7
        field = schema.get(num)
        if field is None:
            raise _Bad(f'{what} has a field this project\'s exports never write (number {num})')
        name, kind, repeated = field
        if wire == 2:
            n = buf[i] if i < end else 0x80
            if n < 0x80:
                i += 1
            else:
                n, i = _varint(buf, i, end)
            if n > end - i:
                raise _Bad(f'truncated protobuf ({what}.{name} runs past its end)')
            if kind in ('s', 'm'):
                value = (i, i + n)
            elif repeated:  # packed
                value = _packed(buf, i, i + n, kind, what, name)
            else:
                raise _Bad(f'malformed protobuf ({what}.{name} has the wrong wire type)')
            i += n
        elif wire == _WIRE[kind]:
            if kind == 'v':
                value = buf[i] if i < end else 0x80
                if value < 0x80:
                    i += 1
                else:
                    value, i = _varint(buf, i, end)
            else:
                width = 4 if kind == 'f4' else 8
                if i + width > end:
                    raise _Bad(f'truncated protobuf ({what}.{name} runs past its end)')
                value, i = bytes(buf[i:i + width]), i + width
        else:
            raise _Bad(f'malformed protobuf ({what}.{name} has the wrong wire type {wire})')
        if repeated:
            items = out.setdefault(name, [])
            if isinstance(value, list):
                items.extend(value)
            else:
                items.append(value)
            if limits and name in limits and len(items) > limits[name]:
                raise _Bad(f'more than {limits[name]:,} {what} {name} (this project\'s largest export has '
                           f'far fewer)')
        else:
            if name in out:
                raise _Bad(f'{what}.{name} is given twice')
            out[name] = value
    return out


def _packed(buf, i, end, kind, what, name):
    values = []
    if kind == 'v':
        while i < end:
            v, i = _varint(buf, i, end)
            values.append(v)
        return values
    width = 4 if kind == 'f4' else 8
    if (end - i) % width:
        raise _Bad(f'malformed protobuf (packed {what}.{name})')
    return [bytes(buf[j:j + width]) for j in range(i, end, width)]


def _text(buf, extent, what):
    a, b = extent
    if b - a > MAX_TEXT:
        raise _Bad(f'{what} is {b - a:,} bytes of text, more than {MAX_TEXT:,}')
    try:
        return bytes(buf[a:b]).decode('utf-8')
    except UnicodeDecodeError:
        raise _Bad(f'{what} is not UTF-8 text') from None


def _check_legacy(data, ops, attrs):
    buf = bytes(data)
    if not data:
        raise _Bad('the graph is empty')
    prog = _message(buf, (0, len(buf)), _PROGRAM, 'program', {'blocks': MAX_BLOCKS})
    if 'version' in prog:
        _message(buf, prog['version'], _VERSION, 'version')
    if 'op_version_map' in prog:
        versions = _message(buf, prog['op_version_map'], _OPVERSIONMAP, 'op_version_map', {'pair': 10_000})
        for pair in versions.get('pair', []):
            p = _message(buf, pair, _OPVERSIONPAIR, 'op_version_map pair')
            _text(buf, p.get('op_name', (0, 0)), 'an op version name')
            if 'op_version' in p:
                _message(buf, p['op_version'], _VERSION, 'op version')
    blocks = [_message(buf, extent, _BLOCK, 'block', {'ops': MAX_OPS, 'vars': MAX_VARS})
              for extent in prog.get('blocks', [])]
    if not blocks:
        raise _Bad('no block (not a Paddle program)')
    _check_blocks(blocks)
    _check_block(buf, blocks[0], ops, attrs)


def _check_blocks(blocks):
    """Block ``i`` has idx ``i`` and a parent before it; one block only (no allowed op runs a sub-block)."""
    n = len(blocks)
    for i, b in enumerate(blocks):
        idx, parent = _int(b.get('idx', -1)), _int(b.get('parent_idx', -2))
        fwd = _int(b.get('forward_block_idx', (1 << 64) - 1))
        if idx != i:
            raise _Bad(f'block {i} says it is block {idx}')
        if i == 0 and parent != -1:
            raise _Bad(f'the main block has a parent ({parent})')
        if i > 0 and parent == i:
            raise _Bad(f'block {i} is its own parent')
        if i > 0 and not 0 <= parent < i:
            raise _Bad(f'block {i} has parent {parent}, not a block before it')
        if fwd != -1 and not 0 <= fwd < n or fwd == i:
            raise _Bad(f'block {i} has forward block {fwd}')
    if n > 1:
        raise _Bad(f'{n} blocks: this project\'s exports have one (no op they use runs a sub-block)')


def _check_block(buf, block, ops, attrs):
    declared = {}
    for extent in block.get('vars', []):
        v = _message(buf, extent, _VAR, 'variable', {'attrs': 64})
        name = _text(buf, v.get('name', (0, 0)), 'a variable name')
        if 'type' not in v or not name:
            raise _Bad('a variable without a name or a type')
        vt = _message(buf, v['type'], _VARTYPE, 'variable type')
        kind = vt.get('type')
        if kind not in VAR_KINDS:
            raise _Bad(f'variable {name[:80]!r} is of kind {kind} (readers, raw and string variables are not used)')
        if 'dense_tensor' in vt:
            _check_tensor(buf, vt['dense_tensor'], name)
        for a in v.get('attrs', []):
            _text(buf, _message(buf, a, _VARATTR, 'variable attribute').get('name', (0, 0)), 'an attribute name')
        declared[name] = kind
    for extent in block.get('ops', []):
        _check_op(buf, extent, declared, ops, attrs)


def _check_tensor(buf, extent, name):
    d = _message(buf, extent, _DENSE, 'tensor type')
    if 'tensor' not in d:
        return
    t = _message(buf, d['tensor'], _TENSOR, 'tensor', {'dims': MAX_DIMS})
    if t.get('data_type', 5) not in DATA_TYPES:
        raise _Bad(f'variable {name[:80]!r} has data type {t.get("data_type")}, not one this project exports')
    for dim in t.get('dims', []):
        if not -1 <= _int(dim, 64) < 1 << 31:
            raise _Bad(f'variable {name[:80]!r} has a dimension of {_int(dim, 64)}')


def _check_op(buf, extent, declared, ops, attrs):
    op = _message(buf, extent, _OP, 'op', {'inputs': 64, 'outputs': 64, 'attrs': 128})
    kind = _text(buf, op.get('type', (0, 0)), 'an op type')
    if kind not in ops:
        raise _Bad(f'op {kind[:80]!r} is not one this project\'s exports use')
    for slot in op.get('inputs', []) + op.get('outputs', []):
        v = _message(buf, slot, _OPVAR, f'op {kind} argument', {'arguments': 256})
        for arg in v.get('arguments', []):
            name = _text(buf, arg, 'an argument name')
            if name not in declared:
                raise _Bad(f'op {kind} uses variable {name[:80]!r}, which is not declared')
            if declared[name] != 7 and kind not in ('feed', 'fetch'):
                raise _Bad(f'op {kind} uses the feed/fetch variable {name[:80]!r}')
    for a in op.get('attrs', []):
        attr = _message(buf, a, _ATTR, f'op {kind} attribute', {'strings': 1024})
        name = _text(buf, attr.get('name', (0, 0)), 'an attribute name')
        if name not in attrs:
            raise _Bad(f'op {kind} has attribute {name[:80]!r}, not one this project\'s exports use')
        if attr.get('type') not in LEGACY_ATTR_TYPES:
            raise _Bad(f'op {kind} attribute {name} is of type {attr.get("type")} (sub-blocks, variables and '
                       f'scalars are not used)')
        for s in ([attr['s']] if 's' in attr else []) + attr.get('strings', []):
            _text(buf, s, f'op {kind} attribute {name}')


# ---------------------------------------------------------------- PIR json
def _check_pir(data, ops, attrs):
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise _Bad(f'not JSON ({str(e)[:80]})') from None
    if not isinstance(doc, dict) or set(doc) != {'base_code', 'program'}:
        raise _Bad('not a PIR program (no base_code/program)')
    base = doc['base_code']
    if not isinstance(base, dict) or base.get('magic') != 'pir':
        raise _Bad('not a PIR program (base_code.magic is not "pir")')
    prog = doc['program']
    if not isinstance(prog, dict) or set(prog) != {'regions'} or not isinstance(prog['regions'], list):
        raise _Bad('the program has no regions list')
    if len(prog['regions']) != 1:
        raise _Bad(f'{len(prog["regions"])} regions: this project\'s exports have one')
    region = prog['regions'][0]
    if not isinstance(region, dict) or not isinstance(region.get('blocks'), list) or len(region['blocks']) != 1:
        raise _Bad('the region does not hold exactly one block (this project\'s exports have one)')
    block = region['blocks'][0]
    if not isinstance(block, dict) or not isinstance(block.get('ops'), list) or block.get('args') not in ([], None):
        raise _Bad('the block has no ops list, or has arguments')
    if len(block['ops']) > MAX_OPS:
        raise _Bad(f'{len(block["ops"]):,} ops, more than {MAX_OPS:,}')
    defined = set()
    for op in block['ops']:
        _check_pir_op(op, defined, ops, attrs)


def _pir_values(entries, what):
    if entries is None:
        return []
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise _Bad(f'{what} is not a list')
    ids = []
    for e in entries:
        if e is None:
            continue
        if not isinstance(e, dict) or not isinstance(e.get('%'), int) or isinstance(e.get('%'), bool):
            raise _Bad(f'{what} holds something other than a value')
        ids.append(e['%'])
    return ids


def _check_pir_op(op, defined, ops, attrs):
    if not isinstance(op, dict):
        raise _Bad('an op is not an object')
    kind = op.get('#')
    if not isinstance(kind, str) or kind not in ops:
        raise _Bad(f'op {str(kind)[:80]!r} is not one this project\'s exports use')
    extra = set(op) - PIR_OP_KEYS
    if extra:
        raise _Bad(f'op {kind} has {sorted(extra)[0][:40]!r} (sub-regions and other parts are not used)')
    for slot, v in enumerate(_pir_values(op.get('I'), f'op {kind} inputs')):
        if v not in defined and not (v == 0 and slot in PIR_OPTIONAL_INPUTS.get(kind, ())):
            raise _Bad(f'op {kind} reads value %{v} before any op makes it')
    if kind == 'p':
        a = op.get('A')
        if not isinstance(a, list) or len(a) > 8 or not all(isinstance(x, (int, str)) for x in a):
            raise _Bad('a parameter op with odd attributes')
    else:
        for lst in (op.get('A'), op.get('OA')):
            _check_pir_attrs(lst, kind, attrs)
    for v in _pir_values(op.get('O'), f'op {kind} outputs'):
        if v in defined or v <= 0:
            raise _Bad(f'op {kind} makes value %{v} a second time')
        defined.add(v)


def _check_pir_attrs(attrs, kind, names):
    if attrs is None:
        return
    if not isinstance(attrs, list) or len(attrs) > 128:
        raise _Bad(f'op {kind} attributes are not a short list')
    for a in attrs:
        if not isinstance(a, dict) or set(a) - {'N', 'AT'}:
            raise _Bad(f'op {kind} has a malformed attribute')
        name = a.get('N')
        if not isinstance(name, str) or name not in names:
            raise _Bad(f'op {kind} has attribute {str(name)[:80]!r}, not one this project\'s exports use')
        _check_pir_attr_value(a.get('AT'), kind, name, 0)


def _check_pir_attr_value(at, kind, name, depth):
    if depth > 4 or not isinstance(at, dict) or at.get('#') not in PIR_ATTR_TYPES:
        raise _Bad(f'op {kind} attribute {name} has a type this project\'s exports never write')
    value = at.get('D')
    if at['#'] == '0.a_array':
        if not isinstance(value, list):
            raise _Bad(f'op {kind} attribute {name} is a malformed array')
        for item in value:
            _check_pir_attr_value(item, kind, name, depth + 1)
    elif isinstance(value, str) and len(value) > MAX_TEXT:
        raise _Bad(f'op {kind} attribute {name} holds {len(value):,} characters of text')


# ---------------------------------------------------------------- the parameters file, header by header
# Paddle's combined tensor stream: per tensor a format word (0), a LoD level count and its levels, a tensor
# format word (0), the size of a ``TensorDesc`` (data type and dims) and the desc, then ``numel x element size``
# bytes of data. Paddle allocates what a header claims before it reads the data, so a hostile header can ask for
# any amount of memory, and a cut file fails late. Every header is read here with seeks past the data (x4plus's
# 67 MB file: about 700 small reads), and the walk must end at the file's last byte.
ELEMENT_BYTES = {0: 1, 2: 4, 3: 8, 4: 2, 5: 4, 22: 2}  # BOOL INT32 INT64 FP16 FP32 BF16
MAX_DESC_BYTES = 4096  # a TensorDesc: data type and up to 9 dims (x4plus's: 6-8 bytes)
MAX_LOD_LEVELS = 8


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
    """Walk the regular file ``path`` (at most ``limit`` bytes) tensor by tensor; its tensors' ``(data type,
    dims)``, or ``ExportRefused`` unless it is a well-formed tensor stream that ends exactly at the file's end."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    except OSError as e:
        raise ExportRefused(f'{path}: cannot read it ({e.strerror})') from None
    with os.fdopen(fd, 'rb') as f:
        return walk_params(f, path, limit)


def walk_params(f, path, limit):
    """``check_params`` on the open file ``f`` (of ``path``), read from its start."""
    tensors = []
    try:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise _Bad(f'not a regular file of at most {limit >> 30} GB')
        f.seek(0)
        while f.tell() < st.st_size:
            if len(tensors) >= MAX_VARS:
                raise _Bad(f'more than {MAX_VARS:,} tensors')
            dtype, dims, nbytes = _tensor_header(f, st.st_size, len(tensors))
            f.seek(nbytes, os.SEEK_CUR)
            tensors.append((dtype, dims))
        if not tensors:
            raise _Bad('the file is empty')
    except _Bad as e:
        raise ExportRefused(f'{path}: refused: {e}; not the parameters of an export this project writes') from None
    return tensors
