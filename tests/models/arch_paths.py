"""Shared checks of the architecture tests: a network's static export runs in the predictor at two sizes."""
import numpy as np


def assert_export_matches(net, arch, out_dir, shapes, atol=1e-4):
    """Export ``net`` (dynamic N, H, W) and check the predictor's output against the dynamic graph at ``shapes``
    (output exactly ``scale`` x input)."""
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export import export_static
    out = export_static(net, arch, out_dir)
    pred, dyn, scale = PredictorBackend(out), DynamicBackend(net), models.net_scale(arch)
    rng = np.random.default_rng(3)
    for shape in shapes:
        x = rng.random(shape, dtype=np.float32)
        y = pred.forward(x)
        assert y.shape == (shape[0], shape[1], shape[2] * scale, shape[3] * scale)
        np.testing.assert_allclose(y, dyn.forward(x), atol=atol)
