"""Fixtures for every test folder: ``device`` runs a test on the CPU and, where Paddle has CUDA, on the GPU."""
import pytest


def gpu_available():
    import paddle
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


@pytest.fixture(params=['cpu', 'gpu'])
def device(request):
    """Paddle's default device for the test ('cpu' or 'gpu'), put back afterwards. The GPU case is skipped
    unless paddle is compiled with CUDA and sees a GPU (CI runs CPU only)."""
    import paddle
    if request.param == 'gpu' and not gpu_available():
        pytest.skip('paddle is not compiled with CUDA or sees no GPU')
    old = paddle.get_device()
    paddle.set_device(request.param)
    try:
        yield request.param
    finally:
        paddle.set_device(old)
