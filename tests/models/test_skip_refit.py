"""models.skip_refit: the official compact model moved to the bilinear skip computes what it computed.

Loaded as they are into the bilinear network, realesr-animevideov3's weights draw a mesh (the body's
cancelling of the nearest skip's cell edges): about 30 dB from the official output on a real photo. Refitted,
about 50 dB from it; moved back to nearest, about 85 dB. The command line: tests/tools/test_refit_skip.py.
"""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.models import build_network, zoo
from realesrgan_paddle.models.loading import read_checkpoint
from realesrgan_paddle.models.skip_refit import calibration_images, refit_skip


@pytest.fixture(scope='module')
def official():
    return read_checkpoint(zoo.resolve('realesr-animevideov3'))


@pytest.fixture(scope='module')
def lq(hr_photos):
    """A real photo outside the calibration set (camera), shrunk by 4 and JPEG-compressed at quality 60."""
    path = next((p for p in hr_photos if p.name == 'camera.png'), hr_photos[-1])
    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = im.shape[:2]
    im = cv2.resize(im, (w // 4, h // 4), interpolation=cv2.INTER_AREA)[:96, :96]
    im = cv2.imdecode(cv2.imencode('.jpg', im, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR)
    return paddle.to_tensor(np.ascontiguousarray(im[:, :, ::-1].transpose(2, 0, 1))[None].astype('float32') / 255)


def _run(state, arch, x):
    net = build_network(arch)
    net.set_state_dict({k: paddle.to_tensor(np.asarray(v)) for k, v in state.items()})
    net.eval()
    with paddle.no_grad():
        return np.clip(net(x).numpy(), 0, 1)


def _psnr(a, b):
    return 10 * np.log10(1 / max(float(np.mean((a - b) ** 2)), 1e-12))


@pytest.mark.slow(seconds=13)
def test_refit_keeps_the_official_output(official, lq):
    state, arch = official
    new, report = refit_skip(state, arch, 'bilinear')
    ref = _run(state, arch, lq)
    raw = _run(state, {**arch, 'skip': 'bilinear'}, lq)
    refit = _run(new, {**arch, 'skip': 'bilinear'}, lq)
    assert ref.shape == refit.shape == (1, 3, 384, 384)
    assert _psnr(raw, ref) < 35, 'the weights as they are should differ (the mesh)'
    assert _psnr(refit, ref) > 45
    assert report['images'] == 12 and report['skip'] == 'bilinear' and report['psnr_min'] > 42
    last = 'body.34.'
    assert all(np.array_equal(state[k], new[k]) for k in state if not k.startswith(last))
    assert not np.array_equal(state[last + 'weight'], new[last + 'weight'])
    back, _ = refit_skip(new, {**arch, 'skip': 'bilinear'}, 'nearest')
    assert _psnr(_run(back, arch, lq), ref) > 70


def test_bad_skip_and_missing_photos_are_one_line(official, tmp_path):
    with pytest.raises(ValueError, match=r"skip refit: skip must be one of \('nearest', 'bilinear'\), got 'area'"):
        refit_skip(*official, 'area')
    with pytest.raises(FileNotFoundError, match=f'no calibration photos .* in {tmp_path}'):
        calibration_images(4, folder=tmp_path)


def test_calibration_images_shape():
    ims = calibration_images(4)
    assert len(ims) == 12 and all(im.dtype == np.float32 and im.shape[0] == 3 and im.shape[1] <= 96 for im in ims)
    assert 0 <= min(im.min() for im in ims) and max(im.max() for im in ims) <= 1
    grey = calibration_images(2, channels=1)
    assert grey[0].shape[0] == 1 and grey[0].shape[1] == 96
