"""The ncnn layer types the importer reads: each one's keys (kind and range), its inputs and outputs, the shape of
its weights (from its keys alone) and the arrays it keeps in the ``.bin``; and the importer's error.

A layer line is ``type name n_in n_out in... out... id=value...``; ids 0..31 hold numbers, ``-23300 - id`` an
array (``-23310=1,0.2`` is array 10, one value). Each key a type does not list is refused, as is a value that is
not of its kind (``0=48.0`` where an integer is meant, ``1=nan``) or outside its range: nothing the importer does
not understand is dropped silently. The arrays in the ``.bin``:

* ``Convolution``, ``Deconvolution``: the kernel, tagged (fp16 or fp32) in ncnn's ``[out, in, kh, kw]`` order,
  then the bias, raw fp32, when ``5=1``; ``InnerProduct``: ``[out, in]`` tagged, the bias when ``1=1``;
* ``PReLU``: its slopes; ``Scale``: its scales and bias, none when the scales come from a second input
  (``0=-233``, the SE blocks of waifu2x's CUNet); ``MemoryData``: its constant (w x h x c); all raw fp32.
"""
import math
import re
from dataclasses import dataclass, field

from .ncnn_bounds import (MAX_ARRAY_VALUES, MAX_CHANNELS, MAX_KERNEL, MAX_LAYER_BLOBS, MAX_PARAM_ID, MAX_SPATIAL,
                          MAX_STRIDE, MAX_WEIGHT_VALUES, safe_name)


class NcnnFormatError(ValueError):
    """The .param/.bin pair is malformed or holds a graph we cannot map."""


@dataclass
class Layer:
    type: str
    name: str
    inputs: list
    outputs: list
    params: dict = field(default_factory=dict)
    blobs: dict = field(default_factory=dict)  # filled by read_bin
    shape: tuple = ()  # the weight's shape, from the keys (weight_shape)

    def p(self, key, default=None):
        return self.params.get(key, default)

    def label(self):
        """How a message names the layer: its name (made printable) and type."""
        return f'layer {safe_name(self.name)} ({self.type})'


INT, FLOAT, INTS, FLOATS = 'an integer', 'a number', 'integers', 'numbers'
_CH = (INT, 1, MAX_CHANNELS)
_KERNEL, _DILATION, _STRIDE = (INT, 1, MAX_KERNEL), (INT, 1, MAX_KERNEL), (INT, 1, MAX_STRIDE)
_PAD, _FLAG, _SIZE = (INT, 0, MAX_KERNEL), (INT, 0, 1), (INT, 1, MAX_WEIGHT_VALUES)
_INT8 = (INT, 0, 0, 'int8 (quantized) weights are not supported')
_ACT = {9: (INT, 0, 6), 10: (FLOATS, -1e6, 1e6)}
_CONV = {0: _CH, 1: _KERNEL, 11: _KERNEL, 2: _DILATION, 12: _DILATION, 3: _STRIDE, 13: _STRIDE, 4: _PAD, 14: _PAD,
         15: _PAD, 16: _PAD, 5: _FLAG, 6: _SIZE, 8: _INT8, **_ACT}
_SPATIAL = (INT, 0, MAX_SPATIAL)
KEYS = {  # type -> {id: (kind, low, high[, why a value out of range is refused])}
    'Input': {0: _SPATIAL, 1: _SPATIAL, 2: (INT, 0, MAX_CHANNELS)},
    'MemoryData': {0: (INT, 1, MAX_SPATIAL), 1: (INT, 1, MAX_SPATIAL), 2: (INT, 1, MAX_CHANNELS)},
    'Split': {}, 'Swish': {}, 'Sigmoid': {},
    'Concat': {0: (INT, 0, 0, 'only a concatenation of channels (axis 0) is mapped')},
    'Eltwise': {0: (INT, 0, 2), 1: (FLOATS, -1e6, 1e6)},
    'BinaryOp': {0: (INT, 0, 11), 1: _FLAG, 2: (FLOAT, -1e9, 1e9)},
    'Interp': {0: (INT, 1, 3, 'the resize types are 1 (nearest), 2 (bilinear) and 3 (bicubic)'),
               1: (FLOAT, 1 / 64, 64), 2: (FLOAT, 1 / 64, 64)},
    'PixelShuffle': {0: (INT, 1, 8), 1: (INT, 0, 0, 'only mode 0 is mapped')},
    'PReLU': {0: _CH}, 'ReLU': {0: (FLOAT, -1e6, 1e6)},
    'Convolution': _CONV, 'Deconvolution': _CONV,
    'InnerProduct': {0: _CH, 1: _FLAG, 2: _SIZE, 8: _INT8, **_ACT},
    'Scale': {0: (INT, -233, MAX_CHANNELS), 1: _FLAG},
    'Pooling': {0: (INT, 0, 1), 1: _KERNEL, 2: _STRIDE, 3: _PAD, 4: _FLAG},
    'Crop': {0: _SPATIAL, 1: _SPATIAL, 2: _SPATIAL, 9: (INTS, -MAX_SPATIAL, MAX_SPATIAL),
             10: (INTS, -MAX_SPATIAL, MAX_SPATIAL), 11: (INTS, -3, 2)},
}
# type -> ((fewest, most) inputs, (fewest, most) outputs); any other type takes one and gives one
ARITY = {'Input': ((0, 0), (1, 1)), 'MemoryData': ((0, 0), (1, 1)), 'Split': ((1, 1), (1, MAX_LAYER_BLOBS)),
         'Concat': ((1, MAX_LAYER_BLOBS), (1, 1)), 'Eltwise': ((2, MAX_LAYER_BLOBS), (1, 1)),
         'BinaryOp': ((1, 2), (1, 1)), 'Crop': ((1, 2), (1, 1)), 'Scale': ((1, 2), (1, 1))}
_INT_TEXT = re.compile(r'-?[0-9]{1,10}\Z')
_FLOAT_TEXT = re.compile(r'[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\Z')


def _number(text, kind):
    """``text`` as an int (``INT``: digits only) or a finite float; ValueError otherwise."""
    if kind == INT:
        if not _INT_TEXT.match(text):
            raise ValueError
        return int(text)
    value = float(text) if _FLOAT_TEXT.match(text) else math.nan
    if not math.isfinite(value):
        raise ValueError
    return value


def _value(layer_type, key, text, array):
    """One key's value, checked against ``KEYS``; ValueError with the reason."""
    spec = KEYS[layer_type].get(key)
    if spec is None or (spec[0] in (INTS, FLOATS)) != array:
        raise ValueError(f'key {-23300 - key if array else key} is not one this importer reads for {layer_type}')
    kind, low, high = spec[:3]
    scalar = INT if kind in (INT, INTS) else FLOAT
    try:
        if array:
            count, *items = text.split(',')
            values = [_number(v, scalar) for v in items]
            if _number(count, INT) != len(values) or len(values) > MAX_ARRAY_VALUES:
                raise ValueError
        else:
            values = [_number(text, scalar)]
    except ValueError:
        raise ValueError(f'key {key} must be {kind}, got {safe_name(text)!r}') from None
    bad = [v for v in values if not low <= v <= high]
    if bad:
        why = f' ({spec[3]})' if len(spec) > 3 else ''
        raise ValueError(f'key {key} = {bad[0]} is outside {low:g}..{high:g}{why}')
    return values if array else values[0]


def layer_params(layer_type, tokens):
    """``{id: value}`` of a layer's ``key=value`` tokens (arrays under their id); ValueError with the reason."""
    params = {}
    for token in tokens:
        key_text, sep, text = token.partition('=')
        if not sep or not _INT_TEXT.match(key_text):
            raise ValueError(f'{safe_name(token)!r} is not key=value')
        key = int(key_text)
        array = key <= -23300
        ident = -key - 23300 if array else key
        if not 0 <= ident <= MAX_PARAM_ID:
            raise ValueError(f'key {key} is not an ncnn key (0..{MAX_PARAM_ID}, arrays -23300..-23331)')
        if ident in params:
            raise ValueError(f'key {key} is given twice')
        params[ident] = _value(layer_type, ident, text, array)
    return params


def check_arity(L):
    """The layer's input and output counts against its type's; ValueError with the reason."""
    (lo_in, hi_in), (lo_out, hi_out) = ARITY.get(L.type, ((1, 1), (1, 1)))
    if not (lo_in <= len(L.inputs) <= hi_in and lo_out <= len(L.outputs) <= hi_out):
        raise ValueError(f'{len(L.inputs)} inputs and {len(L.outputs)} outputs; a {L.type} takes {lo_in}..{hi_in} '
                         f'and gives {lo_out}..{hi_out}')
    if L.type == 'BinaryOp' and (len(L.inputs) == 1) != bool(L.p(1, 0)):
        raise ValueError('a BinaryOp reads one input with a scalar (1=1) or two inputs without')
    if L.type == 'Eltwise' and L.p(1) and len(L.p(1)) != len(L.inputs):
        raise ValueError(f'{len(L.p(1))} coefficients for {len(L.inputs)} inputs')
    if L.type == 'Scale' and (len(L.inputs) == 2) != (L.p(0, 0) == -233):
        raise ValueError('a Scale reads its scales from a second input (0=-233) or from the .bin, not both')


def weight_shape(L):
    """The shape of the layer's weights from its keys (checked to agree), or ``()``; ValueError with the reason."""
    if L.type in ('Convolution', 'Deconvolution'):
        out, kw, size = L.p(0), L.p(1), L.p(6)
        if out is None or kw is None or size is None:
            raise ValueError('num_output (0=), kernel (1=) and weight size (6=) are all needed')
        kh = L.p(11, kw)
        if size % (out * kh * kw):
            raise ValueError(f'weight size {size} is not num_output {out} x kernel {kh}x{kw} x input channels')
        cin = size // (out * kh * kw)
        if cin > MAX_CHANNELS:
            raise ValueError(f'{cin} input channels, more than {MAX_CHANNELS}')
        return (out, cin, kh, kw)
    if L.type == 'InnerProduct':
        out, size = L.p(0), L.p(2)
        if out is None or size is None or size % out or size // out > MAX_CHANNELS:
            raise ValueError(f'weight size {size} is not num_output {out} x at most {MAX_CHANNELS} inputs')
        return (out, size // out)
    if L.type == 'PReLU':
        return (L.p(0, 1),)
    if L.type == 'Scale':
        n = L.p(0, 0)
        if n != -233 and n < 1:
            raise ValueError(f'scale size {n}: -233 (from a second input) or 1..{MAX_CHANNELS}')
        return () if n == -233 else (n,)
    if L.type == 'MemoryData':
        return (L.p(2, 1), L.p(1, 1), L.p(0, 1))
    return ()


def weight_plan(L):
    """``[(blob key, values, tagged)]``: the arrays the layer keeps in the ``.bin``, in their order there."""
    n = math.prod(L.shape) if L.shape else 0
    if L.type in ('Convolution', 'Deconvolution', 'InnerProduct'):
        bias = L.p(1 if L.type == 'InnerProduct' else 5, 0)
        return [('weight', n, True)] + ([('bias', L.shape[0], False)] if bias else [])
    if L.type == 'PReLU':
        return [('slope', n, False)]
    if L.type == 'Scale' and L.shape:
        return [('scale', n, False)] + ([('bias', n, False)] if L.p(1, 0) else [])
    if L.type == 'MemoryData':
        return [('data', n, False)]
    return []


def least_bytes(plan):
    """The fewest bytes ``plan``'s arrays can take in the ``.bin`` (a tagged array in fp16, padded to 4 bytes)."""
    return sum(4 + (2 * n + 3) // 4 * 4 if tagged else 4 * n for _, n, tagged in plan)
