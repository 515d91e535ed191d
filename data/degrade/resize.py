"""Resizing: batched Paddle resize (area / bilinear / bicubic) and a numpy
MATLAB-style antialiased bicubic for offline ``--mode bicubic`` data.

The batched resize is ``F.interpolate`` (half-pixel centres, bicubic a = -0.75,
no antialiasing, 'area' = adaptive average pooling), which is what Real-ESRGAN's
PyTorch pipeline uses; on CPU it beat a matrix-product formulation when shrinking.
"""
import paddle
import paddle.nn.functional as F

RESIZE_MODES = ('area', 'bilinear', 'bicubic')


def resize(x, size, mode='bilinear'):
    """Resize an NCHW tensor to ``size = (h, w)`` with ``mode`` in RESIZE_MODES."""
    if not isinstance(x, paddle.Tensor) or x.ndim != 4:
        raise ValueError('x must be an NCHW paddle.Tensor')
    if mode not in RESIZE_MODES:
        raise ValueError(f'resize mode must be one of {RESIZE_MODES}, got {mode!r}')
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f'target size must be >= 1, got {(h, w)}')
    if (h, w) == tuple(x.shape[2:]):
        return x
    if mode == 'area':
        return F.adaptive_avg_pool2d(x, [h, w])
    return F.interpolate(x, size=[h, w], mode=mode, align_corners=False)


def scaled_size(h, w, scale):
    """``(max(1, int(h*scale)), max(1, int(w*scale)))`` as F.interpolate computes it."""
    return max(1, int(h * scale)), max(1, int(w * scale))


class Resize(paddle.nn.Layer):
    def __init__(self, size, mode='bilinear'):
        super().__init__()
        if mode not in RESIZE_MODES:
            raise ValueError(f'resize mode must be one of {RESIZE_MODES}, got {mode!r}')
        self.size, self.mode = size, mode

    def forward(self, x):
        return resize(x, self.size, self.mode)


# MATLAB-style bicubic (numpy) lives in utils/matlab_resize.py; re-exported here.
from realesrgan_paddle.utils.matlab_resize import (  # noqa: E402,F401
    imresize_bicubic, matlab_bicubic_matrix, reflect_sym)
