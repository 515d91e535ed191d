"""Zero padding in the ONNX export: paddle2onnx 2.1 writes uninitialised memory as the value of a constant-mode
``pad3d`` (HAT's overlapping windows, OmniSR's and DAT's run-time pads), so the export writes a zero pad as an edge
pad times a 0/1 mask (``inference/export/onnx_export.py``). The tiny HAT, OmniSR and DAT (tests/models/tiny_archs.py) at
several seeds: no constant-mode Pad is left, and onnxruntime matches the network at >= 50 dB at two sizes."""
import numpy as np
import pytest

from tests.models.tiny_archs import TINY_ARCHS


def test_the_zero_pad_written_for_onnx_equals_f_pad():
    """Static and run-time (tensor) pad amounts, on every side, and none: the same values as ``F.pad``, exactly."""
    import paddle
    import paddle.nn.functional as F

    from realesrgan_paddle.inference.export.onnx_ops import onnx_convertible_ops
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 3, 5, 7)).astype('float32'))
    for pads in ([1, 2, 3, 0], [0, 0, 0, 0], [4, 0, 0, 6], paddle.to_tensor([0, 3, 0, 2], dtype='int32')):
        ref = F.pad(x, pads)
        with onnx_convertible_ops():
            got = F.pad(x, pads)
            edge = F.pad(x, [1, 1, 1, 1], mode='replicate')  # other modes are left as they are
        assert got.shape == ref.shape and np.array_equal(got.numpy(), ref.numpy()), pads
    assert np.array_equal(edge.numpy(), F.pad(x, [1, 1, 1, 1], mode='replicate').numpy())
    assert F.pad is not None and 'onnx_export' not in F.pad.__module__  # restored after the block


def _psnr(a, b):
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return 10 * np.log10(1 / max(mse, 1e-20))


@pytest.mark.slow  # paddle2onnx: 5 to 15 s a network
@pytest.mark.parametrize('name,seed', [('HAT', 1), ('HAT', 2), ('HAT', 3), ('OmniSR', 1), ('DAT', 1)])
def test_window_networks_export_to_onnx_and_match(tmp_path, name, seed):
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    pytest.importorskip('paddle2onnx')
    import paddle
    from onnx import numpy_helper

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    paddle.seed(seed)
    arch = dict(TINY_ARCHS[name])
    net = models.build_network(arch).eval()
    path = export_onnx(net, arch, tmp_path / 'net.onnx')
    graph = onnx.load(str(path)).graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # a constant pad's value must be a real 0, never what memory held
        mode = next((a.s for a in node.attribute if a.name == 'mode'), b'constant')
        if node.op_type == 'Pad' and mode == b'constant':
            value = consts.get(node.input[2]) if len(node.input) > 2 else np.zeros(())
            assert value is not None and float(value) == 0, (node.name, value)
    ort, s = OnnxBackend(path), models.net_scale(arch)
    for h, w in ((24, 28), (13, 17)):  # a window multiple and an odd size (padded inside, cropped back)
        x = np.random.default_rng(h).random((1, 3, h, w), dtype=np.float32)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        out = ort.forward(x)
        assert out.shape == ref.shape == (1, 3, h * s, w * s)
        assert _psnr(out, ref) >= 50, (name, seed, h, _psnr(out, ref))
