"""Matrix resize against Paddle's interpolate, MATLAB bicubic, and USM sharpening."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.resize import Resize, imresize_bicubic, resize
from realesrgan_paddle.data.degrade.usm import USMSharp, select_gt, usm_sharp
from tests.op_tester import DegradationTester


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic', 'area'])
def test_resize_matches_opencv_when_shrinking_by_two(mode, hr_photos):
    img = cv2.imread(str(hr_photos[3]))[:64, :80].astype(np.float32) / 255
    x = paddle.to_tensor(img.transpose(2, 0, 1)[None])
    out = resize(x, (32, 40), mode).numpy()[0].transpose(1, 2, 0)
    # 2x: bilinear (half-pixel) and area both average 2x2 blocks, as cv2's INTER_AREA does
    ref = cv2.resize(img, (40, 32), interpolation=cv2.INTER_AREA)
    tol = 0.05 if mode == 'bicubic' else 1e-5
    assert np.abs(out - ref).mean() < tol
    assert resize(x, (64, 80), mode) is x
    up = Resize((100, 130), mode)(x)
    assert up.shape == [1, 3, 100, 130] and abs(float(up.mean()) - float(x.mean())) < 0.01


class TestResize(DegradationTester):
    bad_inputs = [(lambda t: resize(paddle.rand([1, 3, 8, 8]), (4, 4), 'lanczos'), ValueError, 'resize mode'),
                  (lambda t: resize(paddle.rand([1, 3, 8, 8]), (0, 4), 'bilinear'), ValueError, 'size'),
                  (lambda t: Resize((4, 4), 'lanczos'), ValueError, 'resize mode')]

    def function(self, x):
        return resize(x, (20, 12), 'bicubic')

    def expected_shape(self, shape):
        return (shape[0], shape[1], 20, 12)

    def layer(self):
        return Resize((20, 12), 'bicubic')


def test_resize_gradient_is_a_mean():
    x = paddle.rand([1, 3, 8, 8])
    x.stop_gradient = False
    resize(x, (16, 16), 'bicubic').mean().backward()
    assert np.isfinite(x.grad.numpy()).all() and abs(x.grad.numpy().sum() - 1) < 1e-4


def test_matlab_bicubic_downscale(hr_photos):
    img = cv2.imread(str(hr_photos[1]))[:96, :128]
    out = imresize_bicubic(img, size=(24, 32))
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    flat = np.full((40, 40, 3), 77, np.uint8)
    assert (imresize_bicubic(flat, 0.25) == 77).all()
    area = cv2.resize(img, (32, 24), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(out.astype(float) - area).mean() < 6  # antialiased: close to a box average
    with pytest.raises(ValueError):
        imresize_bicubic(img)


def usm_reference(img, weight=0.5, radius=51, threshold=10):
    blur = cv2.GaussianBlur(img, (radius, radius), 0)
    residual = img - blur
    mask = (np.abs(residual) * 255 > threshold).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (radius, radius), 0)
    return soft * np.clip(img + weight * residual, 0, 1) + (1 - soft) * img


def test_usm_matches_the_opencv_recipe_on_a_photo(hr_photos):
    img = cv2.imread(str(hr_photos[2]))[:80, :96].astype(np.float32) / 255
    x = paddle.to_tensor(img.transpose(2, 0, 1)[None])
    out = usm_sharp(x).numpy()[0].transpose(1, 2, 0)
    ref = usm_reference(img)
    assert np.abs(out - ref).max() < 3e-3  # threshold flips of a few pixels at most
    assert np.abs(out - ref).mean() < 1e-4
    lap = lambda a: np.abs(cv2.Laplacian(a, cv2.CV_32F)).mean()  # noqa: E731
    assert lap(out) > 1.1 * lap(img)  # sharper
    np.testing.assert_array_equal(USMSharp()(x).numpy(), usm_sharp(x).numpy())


class TestUSMSharp(DegradationTester):
    grad_rtol = None  # the threshold mask is a step: the gradient is the one of the masked sharpening
    bad_inputs = [(lambda t: usm_sharp(paddle.rand([1, 3, 32, 32]), radius=0), ValueError, 'radius'),
                  (lambda t: USMSharp(weight=-1), ValueError, 'weight')]

    def function(self, x):
        return usm_sharp(x)

    def layer(self):
        return USMSharp()


def test_select_gt_flags():
    picks = select_gt('gt', 'usm', {'gan_gt_usm': True, 'l1_gt_usm': False})
    assert picks == {'l1': 'gt', 'percep': 'usm', 'gan': 'usm'}
    assert select_gt('gt', 'usm') == {'l1': 'usm', 'percep': 'usm', 'gan': 'gt'}
