"""Layers whose parameters carry PyTorch's names and layouts, so that a network's state dict matches the
released ``.pth`` files key for key and shape for shape (no transposes in the loading path, which could not
tell a square matrix that is already transposed from one that is not).

* ``Linear``: ``weight`` is (out, in) as in PyTorch (``paddle.nn.Linear`` keeps (in, out)); PyTorch's default
  initialisation, or ``init`` for the weight and a zero bias (the transformers' truncated normal, SwinIR/HAT).
* ``LayerNorm2d``: a LayerNorm over the channels of an NCHW map, ``weight``/``bias`` of shape (C,) (OmniSR,
  RealPLKSR).
* ``BatchNorm2d``: ``running_mean`` / ``running_var`` (``paddle.nn.BatchNorm2D`` names them ``_mean`` /
  ``_variance``); PyTorch's ``num_batches_tracked`` counter is not kept (the network's ``rename`` drops it).
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F


class Linear(nn.Layer):
    def __init__(self, in_features, out_features, bias=True, init=None):
        super().__init__()
        bound = 1 / math.sqrt(in_features)  # PyTorch's default init range
        default = nn.initializer.Uniform(-bound, bound)
        self.weight = self.create_parameter([out_features, in_features], default_initializer=init or default)
        bias_init = default if init is None else nn.initializer.Constant(0.0)
        self.bias = self.create_parameter([out_features], default_initializer=bias_init) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight.T, self.bias)  # paddle.matmul does not trace into the legacy graph


class LayerNorm2d(nn.Layer):
    """LayerNorm over the channels of an NCHW map (eps 1e-6)."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0))
        self.eps = eps

    def forward(self, x):
        x = x - x.mean(axis=1, keepdim=True)
        x = x * ((x * x).mean(axis=1, keepdim=True) + self.eps) ** -0.5
        return x * self.weight.reshape([1, -1, 1, 1]) + self.bias.reshape([1, -1, 1, 1])


class BatchNorm2d(nn.Layer):
    """Batch norm over NCHW channels: batch statistics in training (running ones updated, momentum 0.1 in
    PyTorch's sense), the running statistics in eval."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0))
        self.register_buffer('running_mean', paddle.zeros([channels]))
        self.register_buffer('running_var', paddle.ones([channels]))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=0.9, epsilon=self.eps)
