"""Temporal agreement: consecutive real frames, moved by the motion found on the low-resolution input, must give
outputs that agree where the input agrees.

A single-image model on video upscales each frame alone; where the scene holds still or only moves, the input
changes by the codec's fresh noise and by the motion, and a model that draws texture out of the noise draws a new
texture in every frame. This term shows the network two consecutive real LQ frames (``datasets.real_lq_pairs``,
``data/datasets/real_lq_flow_pairs.py``, which also finds the motion between them with OpenCV DIS on the LQ and a
confidence of where frame t, so moved, is frame t+1) and asks that the output on frame t+1 equal the output on frame
t warped by that motion, scaled to the output, where the confidence says the input agrees.

Both outputs carry the gradient: neither output is the truth the other should copy (each drew its own texture from
its own noise), so the disagreement is pushed out of both, as the stability term does; a detached frame t would
make frame t+1 chase whatever texture the network drew in frame t.

``temporal_loss(out, out_next, flow, mask)``: ``out``/``out_next`` NCHW outputs of one shape; ``flow`` ``[N, 2,
h, w]`` in the pixels of the input (x then y; ``out_next`` at ``p`` shows ``out`` at ``p + flow(p)``), ``mask``
``[N, 1, h, w]`` in [0, 1], where ``h, w`` is the output's size or the output's divided by an integer scale (the
flow is then resized bilinearly and multiplied by the scale, the mask resized bilinearly). ``mean``: the masked
absolute difference over the mask's weight (0 when the mask is empty); ``sum``: its sum; ``none``: per pixel.
"""
import paddle
import paddle.nn.functional as F

from .pixel import REDUCTIONS, WeightedLoss
from .registry import register_loss


def flow_warp(img, flow):
    """``img`` (NCHW) sampled at ``p + flow(p)`` (``flow`` ``[N, 2, H, W]`` in pixels; bilinear, border
    replicated)."""
    _, _, h, w = img.shape
    ys, xs = paddle.meshgrid(paddle.arange(h, dtype=img.dtype), paddle.arange(w, dtype=img.dtype))
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(img, paddle.stack([gx, gy], axis=-1), mode='bilinear', padding_mode='border',
                         align_corners=True)


def _to_output(flow, mask, size):
    """The flow and the mask on the output's grid ``size`` (H, W): resized and the flow multiplied by the scale."""
    h, w = flow.shape[2:]
    H, W = size
    if (h, w) == (H, W):
        return flow, mask
    if H % h or W % w or H // h != W // w:
        raise ValueError(f'temporal_loss: the output {W}x{H} is not the flow\'s {w}x{h} times one integer scale')
    s = H // h
    return (F.interpolate(flow, size=[H, W], mode='bilinear', align_corners=False) * float(s),
            F.interpolate(mask, size=[H, W], mode='bilinear', align_corners=False))


def _check(out, out_next, flow, mask, reduction):
    if not all(isinstance(t, paddle.Tensor) for t in (out, out_next, flow, mask)):
        raise TypeError('temporal_loss: out, out_next, flow and mask must be paddle Tensors')
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    if out.ndim != 4 or tuple(out.shape) != tuple(out_next.shape):
        raise ValueError(f'temporal_loss: expected two NCHW outputs of one shape, got {list(out.shape)} and '
                         f'{list(out_next.shape)}')
    n = out.shape[0]
    if flow.ndim != 4 or flow.shape[:2] != [n, 2] or mask.ndim != 4 or mask.shape[:2] != [n, 1] \
            or flow.shape[2:] != mask.shape[2:]:
        raise ValueError(f'temporal_loss: expected flow [{n}, 2, h, w] and mask [{n}, 1, h, w], got '
                         f'{list(flow.shape)} and {list(mask.shape)}')


def temporal_loss(out, out_next, flow, mask, reduction='mean'):
    """Masked L1 between ``out_next`` and ``out`` warped by ``flow`` (see the module's docstring)."""
    _check(out, out_next, flow, mask, reduction)
    flow, mask = _to_output(flow.astype(out.dtype), mask.astype(out.dtype), out.shape[2:])
    diff = (out_next - flow_warp(out, flow)).abs() * mask
    if reduction == 'none':
        return diff
    if reduction == 'sum':
        return diff.sum()
    return diff.sum() / (mask.sum() * out.shape[1]).clip(min=1e-8)


@register_loss(target='lq_pair', inputs=('output', 'next_output', 'flow', 'flow_mask'), log='temp',
               dataset='real_lq_pairs')
class TemporalLoss(WeightedLoss):
    """``loss_weight`` x :func:`temporal_loss`; ``forward(out, out_next, flow, mask)``."""

    def forward(self, out, out_next, flow, mask):
        return self.loss_weight * temporal_loss(out, out_next, flow, mask, self.reduction)
