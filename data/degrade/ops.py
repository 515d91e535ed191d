"""The degradation ops in one namespace: kernels (numpy), and batched Paddle
blur, resize, noise, JPEG and USM, each a plain function plus a thin Layer.

The implementations live in focused modules; import from here or from them.
"""
from realesrgan_paddle.data.degrade.blur_filters import (  # noqa: F401
    Filter2D, filter2d, gaussian_kernel1d, reflect_pad, separable_blur)
from realesrgan_paddle.data.degrade.jpeg import DiffJPEG, diff_jpeg, quality_tables  # noqa: F401
from realesrgan_paddle.data.degrade.kernels import (  # noqa: F401
    KERNEL_TYPES, bessel_j1, gaussian_kernel, generalized_gaussian_kernel,
    pad_kernel, plateau_kernel, pulse_kernel, random_mixed_kernel, sinc_kernel)
from realesrgan_paddle.data.degrade.noise import (  # noqa: F401
    GaussianNoise, PoissonNoise, add_gaussian_noise, add_poisson_noise,
    gaussian_noise, poisson_noise)
from realesrgan_paddle.data.degrade.resize import RESIZE_MODES, Resize, imresize_bicubic, resize  # noqa: F401
from realesrgan_paddle.data.degrade.usm import USMSharp, select_gt, usm_sharp  # noqa: F401
