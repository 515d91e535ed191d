"""The Paddle ops paddle2onnx 2.1 converts wrong, written while a graph is traced for ONNX as ops it converts right
(``onnx_convertible_ops``; why each, in ``inference/export/onnx_export.py``): an integer nearest upsample as a depthwise
``conv2d_transpose`` with a kernel of ones, a bilinear one as a replicate pad and a tent kernel, ``leaky_relu`` as
``maximum(x, a*x)``, a zero pad as an edge pad times a 0/1 mask. Imported by the export only: it loads paddle."""
import contextlib

import numpy as np
import paddle
import paddle.nn.functional as F


def bilinear_by_conv(x, f):
    """Bilinear upsampling by the integer ``f`` with half-pixel centres (``align_corners=False``, edges clamped),
    as a replicate pad and a depthwise ``conv2d_transpose`` with a separable tent kernel."""
    c = (2 * f - 1) / 2 if f % 2 == 0 else f - 1  # the tent's centre on the kernel's integer taps
    tent = np.maximum(0.0, 1.0 - np.abs(np.arange(2 * f) - c) / f)
    kernel = paddle.to_tensor(np.tile(np.outer(tent, tent)[None, None], (x.shape[1], 1, 1, 1)).astype('float32'))
    y = F.conv2d_transpose(F.pad(x, [1, 1, 1, 1], mode='replicate'), kernel.astype(x.dtype), stride=f,
                           groups=x.shape[1])
    off = int(c - (f - 1) / 2) + f  # output i of the unpadded input sits at i + off
    shape = paddle.shape(x)
    return y[:, :, off:off + shape[2] * f, off:off + shape[3] * f]


def _nearest_by_conv(interpolate):
    def patched(x, size=None, scale_factor=None, mode='nearest', *args, **kwargs):
        f = scale_factor[0] if isinstance(scale_factor, (list, tuple)) else scale_factor
        whole = size is None and f is not None and float(f) == int(f) and int(f) >= 1
        if mode == 'nearest' and whole:
            f, c = int(f), x.shape[1]
            ones = paddle.ones([c, 1, f, f], dtype=x.dtype)  # each pixel copied to an f x f block, exactly
            return paddle.nn.functional.conv2d_transpose(x, ones, stride=f, groups=c)
        if mode == 'bilinear' and whole and not kwargs.get('align_corners', False) and not args:
            return bilinear_by_conv(x, int(f))  # paddle2onnx fails on bilinear's float scale attribute too
        return interpolate(x, size, scale_factor, mode, *args, **kwargs)
    return patched


def _is_tensor(v):
    """A tensor of the dynamic graph or a value of the traced program (``paddle.pir.Value``), not a number."""
    return hasattr(v, 'astype') and not isinstance(v, (int, float))


def _inside(count, start, length):
    """(count,) float32 0/1: 1 at the indices ``start <= i < start + length`` (ints or run-time 0-D tensors)."""
    i = paddle.arange(count, dtype='int64')
    start = start.astype('int64') if _is_tensor(start) else start
    end = start + (length.astype('int64') if _is_tensor(length) else length)
    return (i >= start).astype('float32') - (i >= end).astype('float32')


def _zero_pad_by_mask(pad):
    def patched(x, pad_amounts, mode='constant', value=0.0, data_format=None, *args, **kwargs):
        fits = _is_tensor(pad_amounts) or (
            isinstance(pad_amounts, (list, tuple)) and len(pad_amounts) == 4
            and all(isinstance(a, int) and a >= 0 for a in pad_amounts))
        if not (mode == 'constant' and value == 0 and data_format in (None, 'NCHW') and x.ndim == 4 and fits
                and not args and not kwargs):
            return pad(x, pad_amounts, mode, value, data_format, *args, **kwargs)
        y = pad(x, pad_amounts, mode='replicate')  # the edge's values, then zeroed outside x
        inner, outer = paddle.shape(x), paddle.shape(y)
        rows = _inside(outer[2], pad_amounts[2], inner[2]).unsqueeze(1)
        cols = _inside(outer[3], pad_amounts[0], inner[3]).unsqueeze(0)
        return y * (rows * cols).astype(x.dtype)
    return patched


@contextlib.contextmanager
def onnx_convertible_ops():
    """Within the block, ``F.interpolate`` (integer nearest), ``F.leaky_relu`` and ``F.pad`` (zeros, NCHW) use ops
    paddle2onnx converts right."""
    orig = F.interpolate, F.leaky_relu, F.pad

    def leaky_relu(x, negative_slope=0.01, name=None):
        if 0 <= negative_slope <= 1:
            return paddle.maximum(x, x * negative_slope)
        return orig[1](x, negative_slope, name)
    F.interpolate, F.leaky_relu, F.pad = _nearest_by_conv(orig[0]), leaky_relu, _zero_pad_by_mask(orig[2])
    try:
        yield
    finally:
        F.interpolate, F.leaky_relu, F.pad = orig
