"""DySample ("Learning to Upsample by Learning to Sample", Liu et al. 2023): an upsampler that samples its input
bilinearly at learnt offsets around each output pixel, in the form RealPLKSR uses (spandrel's names: ``offset``,
``scope``, the ``init_pos`` buffer, ``end_conv``).

The sampling grid follows PyTorch's ``grid_sample`` with ``align_corners=False`` and border padding: pixel centres
at ``(i + 0.5) / size * 2 - 1``. H and W are read with ``paddle.shape`` at run time, so the static export takes
any input size.
"""
import numpy as np
import paddle
import paddle.nn as nn

from ... import export_ops as ops
from ...legacy_ops import GRID_SAMPLE_OPS, SIGMOID_OPS, grid_sample, sigmoid
from ..compact.srvgg import pixel_shuffle_by_reshape

# what DySample writes into the exported graphs (models/export_ops.py): the sampling (grid_sample), the scope's
# sigmoid, and the grid at run-time sizes (aranges and a meshgrid, stacked, cast, divided)
DYSAMPLE_OPS = GRID_SAMPLE_OPS | SIGMOID_OPS | ops.CAST | ops.DIVIDE | ops.ExportOps('meshgrid range stack', '',
                                                                                  '1.meshgrid 1.arange 0.split')


def initial_positions(scale, groups):
    """The sub-pixel offsets of the ``scale`` x ``scale`` outputs of one input pixel, ``(1, 2 * groups * s * s,
    1, 1)``: x offsets (varying along a row) then y offsets, each tiled over the groups."""
    h = np.arange((1 - scale) / 2, (scale - 1) / 2 + 1) / scale
    xs, ys = np.meshgrid(h, h)  # xs[i, j] = h[j], ys[i, j] = h[i]
    pos = np.stack([np.tile(xs, (groups, 1)), np.tile(ys, (groups, 1))])
    return pos.reshape(1, -1, 1, 1).astype(np.float32)


class DySample(nn.Layer):
    ONNX_MIN_OPSET = 16  # ONNX's GridSample (inference.export.onnx_export reads it)

    def __init__(self, in_channels, out_ch, scale=2, groups=4, end_convolution=True):
        super().__init__()
        if in_channels < groups or in_channels % groups:
            raise ValueError(f'DySample: {in_channels} input channels do not split into {groups} groups')
        self.scale, self.groups, self.end_convolution = scale, groups, end_convolution
        n = 2 * groups * scale * scale
        self.offset = nn.Conv2D(in_channels, n, 1, weight_attr=paddle.ParamAttr(
            initializer=nn.initializer.TruncatedNormal(std=0.02)))
        self.scope = nn.Conv2D(in_channels, n, 1, weight_attr=paddle.ParamAttr(
            initializer=nn.initializer.Constant(0.0)), bias_attr=False)
        if end_convolution:
            self.end_conv = nn.Conv2D(in_channels, out_ch, 1)
        self.register_buffer('init_pos', paddle.to_tensor(initial_positions(scale, groups)))

    def grid(self, x):
        """The sampling grid, ``(N * groups, s * H, s * W, 2)`` in grid_sample's [-1, 1] coordinates."""
        shape = paddle.shape(x)
        h, w = shape[2], shape[3]
        offset = self.offset(x) * sigmoid(self.scope(x)) * 0.5 + self.init_pos
        offset = paddle.reshape(offset, [-1, 2, self.groups * self.scale ** 2, h, w])
        ys, xs = paddle.meshgrid(paddle.arange(h).astype(x.dtype) + 0.5, paddle.arange(w).astype(x.dtype) + 0.5)
        gx = (xs + offset[:, 0]) * 2 / w.astype(x.dtype) - 1
        gy = (ys + offset[:, 1]) * 2 / h.astype(x.dtype) - 1
        s = self.scale
        grid = paddle.stack([pixel_shuffle_by_reshape(gx, s), pixel_shuffle_by_reshape(gy, s)], axis=-1)
        return paddle.reshape(grid, [-1, h * s, w * s, 2])

    def forward(self, x):
        shape = paddle.shape(x)
        c, s = x.shape[1], self.scale
        groups = paddle.reshape(x, [-1, c // self.groups, shape[2], shape[3]])
        out = paddle.reshape(grid_sample(groups, self.grid(x)), [-1, c, shape[2] * s, shape[3] * s])
        return self.end_conv(out) if self.end_convolution else out
