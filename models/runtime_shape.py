"""Shape helpers for networks that must work at any H and W, in the dynamic graph and in the legacy static
export alike: sizes are read with ``paddle.shape`` at run time, never baked into the graph.

Used by the window-attention networks (OmniSR, DAT). ``paddle.roll`` does not trace under the legacy
static graph (``OldIrGuard``), so ``roll`` here is written with slices and a concat.
"""
import paddle
import paddle.nn.functional as F

from . import export_ops as ops

# what ``pad_to_multiple`` writes: the run-time amounts (mod, zeros_like, stack, cast) and the pad; for ONNX a zero
# pad is a replicate pad times a mask of aranges compared with the amounts
PAD_TO_MULTIPLE_OPS = ops.PAD | ops.CAST | ops.MODULO | ops.ExportOps('fill_any_like stack', '',
                                                                      '1.full_like 1.arange 1.greater_equal')


def hw(x):
    """H and W of an NCHW tensor as run-time (0-D) int tensors."""
    shape = paddle.shape(x)
    return shape[2], shape[3]


def pad_to_multiple(x, multiple):
    """``x`` (NCHW) zero-padded at the bottom and right so that H and W are multiples of ``multiple``."""
    if multiple == 1:
        return x
    h, w = hw(x)
    pad_h, pad_w = (multiple - h % multiple) % multiple, (multiple - w % multiple) % multiple
    zero = paddle.zeros_like(pad_h)
    return F.pad(x, paddle.stack([zero, pad_w, zero, pad_h]).astype('int32'))


def crop_hw(x, h, w, axes=(2, 3)):
    """The top-left ``h`` x ``w`` of ``x`` along ``axes`` (sizes may be run-time tensors)."""
    return paddle.slice(x, axes=list(axes), starts=[0, 0], ends=[h, w])


def roll(x, shift, axis):
    """``paddle.roll(x, shift, axis)`` for a constant ``shift``, from slices (any run-time size)."""
    if shift == 0:
        return x
    head = paddle.slice(x, axes=[axis], starts=[-shift], ends=[2 ** 31 - 1])
    tail = paddle.slice(x, axes=[axis], starts=[0], ends=[-shift])
    return paddle.concat([head, tail], axis=axis)
