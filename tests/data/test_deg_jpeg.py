"""Differentiable JPEG against OpenCV's libjpeg on real photos."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.jpeg import LUMA_TABLE, DiffJPEG, diff_jpeg, quality_tables
from realesrgan_paddle.evaluation.metrics import psnr
from tests.op_tester import DegradationTester


def to_tensor(imgs_bgr):
    return paddle.to_tensor(np.stack([im[:, :, ::-1].transpose(2, 0, 1) for im in imgs_bgr]).astype(np.float32) / 255)


def to_uint8(t):
    return [np.clip(np.rint(a.transpose(1, 2, 0)[:, :, ::-1] * 255), 0, 255).astype(np.uint8) for a in t.numpy()]


@pytest.fixture(scope='module')
def crops(hr_photos):
    out = []
    for p in hr_photos[:4]:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        y, x = (h - 120) // 2, (w - 136) // 2  # centre: textured; 136 is not a multiple of 16 (edge padding)
        out.append(img[y:y + 120, x:x + 136])
    return out


def test_diff_jpeg_is_close_to_opencv(crops):
    qualities = [30, 50, 75, 95] * len(crops)
    imgs = [c for c in crops for _ in range(4)]
    out = to_uint8(diff_jpeg(to_tensor(imgs), qualities))  # one batch, quality per sample
    for img, q, mine in zip(imgs, qualities, out):
        ref = cv2.imdecode(cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
        assert psnr(mine, ref) > 38, q  # measured ~44-50 dB (docs/experiments/history/issue-5.md)
        assert psnr(mine, ref) > psnr(img, ref) + 3  # much closer to libjpeg than the clean input is


def test_per_sample_quality_equals_separate_calls(crops):
    x = to_tensor([crops[0], crops[0]])
    both = diff_jpeg(x, [30, 90]).numpy()
    np.testing.assert_allclose(both[0], diff_jpeg(x[:1], 30).numpy()[0], atol=1e-6)
    np.testing.assert_allclose(both[1], diff_jpeg(x[1:], 90).numpy()[0], atol=1e-6)
    assert np.abs(both[0] - x.numpy()[0]).mean() > np.abs(both[1] - x.numpy()[1]).mean()  # q30 loses more


def test_quality_tables_follow_ijg():
    luma, chroma = quality_tables([50, 100, 10])
    np.testing.assert_array_equal(luma[0].reshape(8, 8), LUMA_TABLE)
    assert (luma[1] == 1).all() and (chroma[1] == 1).all()
    assert luma[2].reshape(8, 8)[0, 0] == np.floor((16 * 500 + 50) / 100)
    assert chroma[2].max() == 255  # clipped to baseline range


class TestDiffJPEG(DegradationTester):
    shapes = [(2, 3, 32, 32), (1, 3, 16, 48)]
    grad_rtol = None  # the rounding's gradient is a straight-through surrogate
    bad_inputs = [(lambda t: diff_jpeg(paddle.rand([1, 3, 16, 16]), 0), ValueError, r'quality must be in \[1, 100\]'),
                  (lambda t: diff_jpeg(paddle.rand([1, 3, 16, 16]), [30, 40]), ValueError,
                   '2 JPEG qualities for a batch of 1'),
                  (lambda t: diff_jpeg(paddle.rand([1, 1, 16, 16]), 50), ValueError, 'RGB NCHW'),
                  (lambda t: DiffJPEG(round_mode='floor'), ValueError, 'round mode')]

    def function(self, x):
        return diff_jpeg(x, 50)

    def layer(self):
        return DiffJPEG()

    def call_layer(self, layer, x):
        return layer(x, 50)


def test_diff_jpeg_round_modes_differ_by_little(crops):
    x = to_tensor(crops[:1])
    cubic = diff_jpeg(x, 50, round_mode='cubic').numpy()
    ste = diff_jpeg(x, 50).numpy()
    assert 0 < np.abs(cubic - ste).mean() < 2 / 255
