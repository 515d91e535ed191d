"""Ops that also trace into the legacy static graph (``inference.pdmodel``, ``paddle.pir_utils.OldIrGuard``).

In Paddle 3.3 several functional ops are PIR-only builtins: traced under the legacy graph, ``F.sigmoid``,
``F.gelu`` (and ``nn.GELU``, ``nn.Sigmoid``), ``paddle.matmul``, ``F.normalize``, ``paddle.sqrt``, ``sum``
and ``paddle.maximum`` fail with "argument must be Value, but got Variable". What works there: ``a @ b``,
``x ** 0.5``, ``paddle.linalg.norm``, ``paddle.clip``, and the legacy ops appended by name, which is what
``sigmoid`` and ``gelu`` here do outside the dynamic graph and PIR (there they are the native ops).
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def _unary(op_type, native, x, **attrs):
    if paddle.in_dynamic_mode() or paddle.framework.in_pir_mode():
        return native(x)
    from paddle.base.layer_helper import LayerHelper
    helper = LayerHelper(op_type)
    out = helper.create_variable_for_type_inference(x.dtype)
    helper.append_op(type=op_type, inputs={'X': [x]}, outputs={'Out': [out]}, attrs=attrs)
    return out


def sigmoid(x):
    return _unary('sigmoid', F.sigmoid, x)


def gelu(x):
    """The exact (erf) GELU, as PyTorch's default."""
    return _unary('gelu', F.gelu, x, approximate=False)


def normalize(x, axis=-1, eps=1e-12):
    """``x`` divided by its L2 norm along ``axis`` (at least ``eps``), as ``F.normalize``."""
    return x / paddle.clip(paddle.linalg.norm(x, p=2, axis=axis, keepdim=True), min=eps)


class GELU(nn.Layer):
    def forward(self, x):
        return gelu(x)


class Sigmoid(nn.Layer):
    def forward(self, x):
        return sigmoid(x)
