"""The one conversion between OpenCV images and planar float RGB: exact round trips, every layout, bad shapes."""
import numpy as np
import pytest

from realesrgan_paddle.media.image_io import chw_to_image, image_to_chw, pixel_max


@pytest.fixture(scope='module')
def bgr(photo_crops):
    return photo_crops(1, 64)[0]


def test_uint8_round_trip_is_exact_and_rgb_ordered(bgr):
    x = image_to_chw(bgr)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x[0], bgr[:, :, 2].astype(np.float32) / 255)  # R first
    np.testing.assert_array_equal(chw_to_image(x), bgr)


def test_uint16_float_and_batch_tensor(bgr):
    import paddle
    img16 = bgr.astype(np.uint16) * 257
    np.testing.assert_array_equal(chw_to_image(image_to_chw(img16), np.uint16), img16)
    f = bgr.astype(np.float32) / 255
    np.testing.assert_array_equal(image_to_chw(f), image_to_chw(bgr))
    t = paddle.to_tensor(image_to_chw(bgr)[None])
    np.testing.assert_array_equal(chw_to_image(t), bgr)


def test_clipping_and_rounding_match_the_reference_formula(bgr):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 1.2, (3, 40, 50)).astype(np.float32)
    ref = np.rint(np.clip(x.transpose(1, 2, 0)[:, :, ::-1], 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(chw_to_image(x), ref)
    out = chw_to_image(x, np.float32)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_uint8_fast_path_matches_the_formula_on_edges():
    """uint8 RGB goes through OpenCV (threshold + convertScaleAbs): the same values as the numpy formula,
    halves rounded to even, out-of-range and non-finite values clipped, strips of a tall image included."""
    k = np.arange(256, dtype=np.float32)
    x = np.random.default_rng(1).uniform(-0.1, 1.1, (3, 2100, 1100)).astype(np.float32)  # > one strip
    x[0, 0, :256], x[1, 0, :256] = (k + 0.5) / 255, k / 255
    x[2, 0, :6] = [np.nan, np.inf, -np.inf, 1.0, 0.0, 0.5 / 255]
    ref = np.rint(np.clip(np.nan_to_num(x, nan=0.0), 0, 1).transpose(1, 2, 0)[:, :, ::-1] * 255).astype(np.uint8)
    out = chw_to_image(x)
    assert out.dtype == np.uint8 and out.shape == (2100, 1100, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(chw_to_image(x[:, :, ::2]), ref[:, ::2])  # a strided view


def test_gray_and_alpha(bgr):
    gray = bgr[:, :, 1]
    x = image_to_chw(gray)
    assert x.shape == (3, 64, 64) and (x[0] == x[2]).all()
    np.testing.assert_array_equal(image_to_chw(gray[:, :, None]), x)
    np.testing.assert_array_equal(chw_to_image(x, gray=True), gray)
    np.testing.assert_array_equal(chw_to_image(x[:1]), gray)
    bgra = np.dstack([bgr, gray])
    np.testing.assert_array_equal(image_to_chw(bgra), image_to_chw(bgr))  # alpha dropped
    out = chw_to_image(image_to_chw(bgr), alpha=gray.astype(np.float32) / 255)
    np.testing.assert_array_equal(out, bgra)


@pytest.mark.parametrize('shape', [(4, 4, 2), (4,), (2, 4, 4, 3)])
def test_bad_image_shapes_are_named(shape):
    with pytest.raises(ValueError, match='shape'):
        image_to_chw(np.zeros(shape, np.uint8))


def test_bad_array_shape_and_pixel_type():
    with pytest.raises(ValueError, match='shape'):
        chw_to_image(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match='int32'):
        image_to_chw(np.zeros((4, 4, 3), np.int32))
    assert (pixel_max(np.uint8), pixel_max('uint16'), pixel_max(np.float64)) == (255.0, 65535.0, 1.0)


def test_nan_is_black_on_every_call():
    """NaN -> 0 every time: OpenCV's TRUNC threshold gave NaN or 1 for NaN from one call to the next on an AMD
    EPYC (about two calls in three), which made a NaN pixel 255 now and then."""
    x = np.random.default_rng(2).uniform(-0.1, 1.1, (3, 64, 512)).astype(np.float32)
    x[:, 0, 0], x[:, 5, 7] = np.nan, np.nan
    for _ in range(30):
        out = chw_to_image(x)
        assert (out[0, 0] == 0).all() and (out[5, 7] == 0).all()
    assert np.isnan(x[:, 0, 0]).all()  # the input is not changed
