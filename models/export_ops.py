"""``ExportOps``: what a network's exported graphs may hold, declared beside its ``ArchSpec`` (``export_ops``).

``checkpoint_io.graph_check`` refuses an export's graph unless every op type and attribute name in it is allowed. It
allows the graph's plumbing, which every export holds whatever its network (its own base: input and output,
convolutions, arithmetic, run-time shapes), plus the union of the ``export_ops`` of the registered specs: the
checker holds no network's list, and a new network declares what its layers write. Two graphs per network:

* ``legacy``, ``legacy_attrs``: op types and attribute names of ``inference.pdmodel`` (``tools/export_model.py``,
  traced under ``paddle.pir_utils.OldIrGuard``), also in the oneDNN-optimised graph Paddle Inference derives;
* ``pir``, ``pir_attrs``: those of the PIR program ``tools/export_onnx.py`` traces for paddle2onnx, under
  ``inference.export.onnx_ops.onnx_convertible_ops``, which writes an integer nearest or bilinear upsampling as a
  ``conv2d_transpose`` (bilinear after a replicate pad, its kernel a constant), ``leaky_relu`` as ``maximum``, and
  a zero pad as a replicate pad and a mask.

Each is a set of names, or one string of names separated by spaces; ``a | b`` joins declarations. The groups
below are what common Paddle calls write; the helpers of ``models.legacy_ops`` (``SIGMOID_OPS``, ...) and the
shared layers declare theirs beside them (``WINDOW_ATTENTION_OPS``, ``PAD_TO_MULTIPLE_OPS``, ``DYSAMPLE_OPS``,
Real-CUGAN's ``UNET_OPS``).
``tests/inference/test_export_ops.py`` traces every registered network in its variants and holds each
declaration to what they write: no op outside it, none in it unused.
"""
from dataclasses import dataclass, fields

FIELDS = ('legacy', 'legacy_attrs', 'pir', 'pir_attrs')


def _names(value, what):
    names = value.split() if isinstance(value, str) else list(value)
    bad = [n for n in names if not isinstance(n, str) or not n or n != n.strip()]
    if bad:
        raise ValueError(f'ExportOps.{what}: {bad[0]!r} is not an op or attribute name')
    return frozenset(names)


@dataclass(frozen=True)
class ExportOps:
    """Op types and attribute names a network's exports hold beyond the plumbing every export has (module
    docstring). Hashable and immutable; ``a | b`` is their union."""

    legacy: frozenset = frozenset()
    legacy_attrs: frozenset = frozenset()
    pir: frozenset = frozenset()
    pir_attrs: frozenset = frozenset()

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _names(getattr(self, f.name), f.name))

    def __or__(self, other):
        if not isinstance(other, ExportOps):
            return NotImplemented
        return ExportOps(*(getattr(self, f) | getattr(other, f) for f in FIELDS))


NONE = ExportOps()
INTERP_ATTRS = 'align_corners align_mode data_layout interp_method out_d out_h out_w'
# F.interpolate(mode='nearest') by a whole factor; for ONNX a depthwise conv2d_transpose of ones
NEAREST = ExportOps('nearest_interp_v2', INTERP_ATTRS, '1.depthwise_conv2d_transpose', 'output_padding')
# F.interpolate(mode='bilinear', align_corners=False) by a whole factor; for ONNX a replicate pad and a
# depthwise conv2d_transpose whose tent kernel is a constant
BILINEAR = ExportOps('bilinear_interp_v2', INTERP_ATTRS,
                     '1.pad3d 1.squeeze 1.unsqueeze 1.depthwise_conv2d_transpose 1.assign_value_',
                     'mode pad_value output_padding values')
PAD = ExportOps('pad3d squeeze2 unsqueeze2', 'mode', '1.pad3d 1.squeeze 1.unsqueeze', 'mode pad_value')  # F.pad
CONV_TRANSPOSE = ExportOps('conv2d_transpose', 'output_padding output_size', '1.conv2d_transpose',
                           'output_padding')
PIXEL_SHUFFLE = ExportOps('pixel_shuffle', 'upscale_factor', '1.pixel_shuffle', 'upscale_factor')
RELU = ExportOps('relu', pir='1.relu')
LEAKY_RELU = ExportOps('leaky_relu', 'alpha', '1.maximum')  # for ONNX max(x, a x)
MEAN = ExportOps('reduce_mean', 'dim keep_dim reduce_all', '1.mean', 'keepdim')  # paddle.mean over axes
CAST = ExportOps('cast', 'in_dtype out_dtype', '1.cast')  # .astype(), run-time sizes to int32 included
FLOOR_DIVIDE = ExportOps('elementwise_floordiv', pir='1.floor_divide')  # run-time sizes: h // r
MODULO = ExportOps('elementwise_mod', pir='1.remainder')  # run-time sizes: h % r
DIVIDE = ExportOps('elementwise_div', pir='1.divide')
POWER = ExportOps('elementwise_pow', pir='1.elementwise_pow')  # x ** y, y a tensor (norms: ** -0.5)
DEPTHWISE_CONV = ExportOps('depthwise_conv2d', pir='1.depthwise_conv2d')  # nn.Conv2D with groups == channels
LAYER_NORM = ExportOps('layer_norm', 'begin_norm_axis epsilon', '1.layer_norm', 'begin_norm_axis epsilon')
MATMUL = ExportOps('matmul_v2', 'trans_x trans_y', '1.matmul', 'transpose_x transpose_y')  # a @ b, linear layers
SOFTMAX = ExportOps('softmax', pir='1.softmax')
POOL = ExportOps('pool2d', 'adaptive ceil_mode exclusive global_pooling ksize pooling_type use_cudnn', '1.pool2d',
                 'adaptive ceil_mode exclusive global_pooling pooling_type')  # adaptive average pooling
SPLIT = ExportOps('split', 'num sections', '1.split_with_num 0.split', 'num')  # paddle.split / chunk
