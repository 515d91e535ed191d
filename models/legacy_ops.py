"""Ops whose Paddle 3.3 Python API cannot be traced into the legacy static graph (``inference.pdmodel``).

Under ``paddle.pir_utils.OldIrGuard`` (the static export, ``inference.export.paddle_export.trace_save``) ``F.sigmoid`` (and
``nn.Sigmoid``), ``paddle.exp``, ``paddle.tanh``, ``paddle.sqrt``, ``F.gelu`` (and ``nn.GELU``), ``F.softplus``,
``F.grid_sample``, ``paddle.matmul``, ``F.normalize``, ``sum``, ``paddle.maximum`` and ``paddle.argmax`` raise "argument must be
Value, but got Variable": their Python functions call the PIR kernels only. ``F.silu``, ``F.mish``,
``paddle.erf``, ``F.group_norm``, ``F.pad``, ``a @ b``, powers, ``paddle.linalg.norm`` and ``paddle.clip`` trace
fine. The functions here append the legacy op itself in that mode and call the ordinary function otherwise (the
dynamic graph and PIR), so a network writes them once. Every network that needs one imports it from here, and
names the ops it writes (``*_OPS``, ``models.export_ops``) in its ``ArchSpec.export_ops``.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.base.layer_helper import LayerHelper
from paddle.framework import in_dynamic_or_pir_mode

from .export_ops import ExportOps

# what each helper writes into the exported graphs (legacy op, its attributes; PIR op, its attributes)
SIGMOID_OPS = ExportOps('sigmoid', pir='1.sigmoid')  # sigmoid, Sigmoid, silu (with a multiply)
GELU_OPS = ExportOps('gelu', 'approximate', '1.gelu', 'approximate')  # gelu, GELU
GRID_SAMPLE_OPS = ExportOps('grid_sampler', 'mode padding_mode align_corners', '1.grid_sample',
                            'mode padding_mode align_corners')
EXP_OPS = ExportOps('exp', pir='1.exp')  # exp
NORMALIZE_OPS = ExportOps('p_norm clip', 'porder asvector keepdim epsilon min max', '1.p_norm 1.clip',
                          'porder asvector keepdim epsilon')
ARGMAX_OPS = ExportOps('arg_max', 'flatten keepdims', '1.argmax', 'flatten keepdims')


def _append(op_type, inputs, attrs=None, out_slot='Out'):
    helper = LayerHelper(op_type)
    out = helper.create_variable_for_type_inference(dtype=next(iter(inputs.values())).dtype)
    helper.append_op(type=op_type, inputs=inputs, outputs={out_slot: out}, attrs=attrs or {})
    return out


def sigmoid(x):
    """``F.sigmoid`` that also traces into the legacy static graph."""
    return F.sigmoid(x) if in_dynamic_or_pir_mode() else _append('sigmoid', {'X': x})


def silu(x):
    """SiLU as ``x * sigmoid(x)``: Paddle 3.3's ``F.silu`` backward returns NaN where ``x`` is below about -88
    (its ``exp(-x)`` overflows in float32), which a SPAN trained on 0-255 inputs reaches; this form's gradient is
    0 there, as PyTorch's is. Same forward to float precision; traces into both static graphs."""
    return x * sigmoid(x)


def grid_sample(x, grid, padding_mode='border', align_corners=False):
    """Bilinear ``F.grid_sample`` (PyTorch's conventions) that also traces into the legacy static graph."""
    if in_dynamic_or_pir_mode():
        return F.grid_sample(x, grid, mode='bilinear', padding_mode=padding_mode, align_corners=align_corners)
    return _append('grid_sampler', {'X': x, 'Grid': grid},
                   {'mode': 'bilinear', 'padding_mode': padding_mode, 'align_corners': align_corners}, 'Output')


def exp(x):
    """``paddle.exp`` that also traces into the legacy static graph."""
    return paddle.exp(x) if in_dynamic_or_pir_mode() else _append('exp', {'X': x})


def gelu(x):
    """Exact (erf) ``F.gelu``, PyTorch's default."""
    return F.gelu(x) if in_dynamic_or_pir_mode() else _append('gelu', {'X': x}, {'approximate': False})


def normalize(x, axis=-1, eps=1e-12):
    """``x`` divided by its L2 norm along ``axis`` (at least ``eps``), as ``F.normalize``, in ops both graphs
    trace."""
    return x / paddle.clip(paddle.linalg.norm(x, p=2, axis=axis, keepdim=True), min=eps)


def argmax(x, axis=-1):
    """``paddle.argmax`` along ``axis`` (int64; the first of equal maxima), also in the legacy static graph."""
    if in_dynamic_or_pir_mode():
        return paddle.argmax(x, axis=axis)
    helper = LayerHelper('arg_max')
    out = helper.create_variable_for_type_inference(dtype='int64')
    helper.append_op(type='arg_max', inputs={'X': x}, outputs={'Out': out},
                     attrs={'axis': axis, 'keepdims': False, 'flatten': False,
                            'dtype': paddle.base.core.VarDesc.VarType.INT64})
    return out


class GELU(nn.Layer):
    def forward(self, x):
        return gelu(x)


class Sigmoid(nn.Layer):
    def forward(self, x):
        return sigmoid(x)
