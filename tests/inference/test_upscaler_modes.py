"""Image modes through the Upscaler: RGBA, 16-bit PNG/TIFF, gray, EXIF orientation, outscale, pre_pad."""
import io

import cv2
import numpy as np
import pytest

from realesrgan_paddle.media.image_io import ImageReadError, imread, imwrite
from realesrgan_paddle.evaluation.metrics import psnr


def test_rgba_keeps_alpha_model_and_resize(up, photo, tmp_path):
    h, w = photo.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    cv2.circle(alpha, (w // 2, h // 2), min(h, w) // 3, 255, -1)
    rgba = np.dstack([photo, alpha])
    src = tmp_path / 'rgba.png'
    imwrite(src, rgba)
    up.upscale_file(src, tmp_path / 'out.png')
    out = imread(tmp_path / 'out.png')
    assert out.shape == (4 * h, 4 * w, 4) and out.dtype == np.uint8
    ref_alpha = cv2.resize(alpha, (4 * w, 4 * h), interpolation=cv2.INTER_LINEAR)
    assert psnr(out[:, :, 3], ref_alpha) > 20  # the circle survives the model
    assert psnr(out[:, :, :3], up.upscale(photo)) > 60  # colour is independent of alpha
    up.alpha_upsampler = 'resize'
    try:
        out2 = up.upscale(rgba)
    finally:
        up.alpha_upsampler = 'model'
    assert np.abs(out2[:, :, 3].astype(int) - ref_alpha).max() <= 1  # float resize vs uint8 resize rounding


@pytest.mark.parametrize('ext', ['.png', '.tif'])
def test_16bit_stays_16bit(up, photo, tmp_path, ext):
    img16 = (photo.astype(np.uint16) * 257 + np.arange(photo.shape[1], dtype=np.uint16)[None, :, None] % 200)
    src = tmp_path / f'deep{ext}'
    imwrite(src, img16)
    assert imread(src).dtype == np.uint16
    up.upscale_file(src, tmp_path / f'out{ext}')
    out = imread(tmp_path / f'out{ext}')
    assert out.dtype == np.uint16 and out.shape == (4 * photo.shape[0], 4 * photo.shape[1], 3)
    assert len(np.unique(out[:, :, 1] % 257)) > 50  # real 16-bit values, not 8-bit ones scaled up
    ref = np.round(up.upscale(img16.astype(np.float32) / 65535) * 65535)
    assert np.abs(out.astype(np.float64) - ref).max() <= 2  # the float path, kept at 16-bit precision
    assert psnr(out, up.upscale(photo)) > 30  # and the same picture as the 8-bit input


def test_gray_stays_single_channel(up, photo, tmp_path):
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    src = tmp_path / 'gray.png'
    imwrite(src, gray)
    assert imread(src).ndim == 2
    up.upscale_file(src, tmp_path / 'gray_out.png')
    out = cv2.imread(str(tmp_path / 'gray_out.png'), cv2.IMREAD_UNCHANGED)
    assert out.ndim == 2 and out.shape == (4 * gray.shape[0], 4 * gray.shape[1])
    ref = cv2.cvtColor(up.upscale(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)), cv2.COLOR_BGR2GRAY)
    assert psnr(out, ref) > 45


def test_exif_orientation_is_applied(up, photo, tmp_path):
    from PIL import Image
    rgb = photo[:, :, ::-1]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, 'JPEG', quality=98, exif=exif.tobytes())
    src = tmp_path / 'rot.jpg'
    src.write_bytes(buf.getvalue())
    img = imread(src)
    h, w = photo.shape[:2]
    assert img.shape == (w, h, 3)
    assert psnr(img, cv2.rotate(photo, cv2.ROTATE_90_CLOCKWISE)) > 30
    assert imread(src, exif=False).shape == (h, w, 3)
    up.upscale_file(src, tmp_path / 'rot_out.png')
    assert imread(tmp_path / 'rot_out.png').shape == (4 * w, 4 * h, 3)


def test_outscale_and_pre_pad(tiny_models, photo):
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic', outscale=2.5)
    out = up.upscale(photo)
    assert out.shape == (round(photo.shape[0] * 2.5), round(photo.shape[1] * 2.5), 3)
    base = Upscaler(tiny_models['srvgg_x4'], backend='dynamic').upscale(photo)
    ref = cv2.resize(base, out.shape[1::-1], interpolation=cv2.INTER_LANCZOS4)
    assert psnr(out, ref) > 60
    padded = Upscaler(tiny_models['srvgg_x4'], backend='dynamic', pre_pad=10).upscale(photo)
    assert padded.shape == base.shape
    assert psnr(padded, base) > 35  # only the bottom/right borders may differ


def test_float_input_and_bad_shapes(up, photo):
    f = photo.astype(np.float32) / 255
    out = up.upscale(f)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert psnr((out * 255).round().astype(np.uint8), up.upscale(photo)) > 50
    with pytest.raises(ValueError, match='HxW'):
        up.upscale(np.zeros((8, 8, 2), np.uint8))


def test_upscale_file_refuses_to_overwrite_input(up, photo, tmp_path):
    src = tmp_path / 'in.png'
    imwrite(src, photo)
    before = src.read_bytes()
    with pytest.raises(ValueError, match='equals the input'):
        up.upscale_file(src, tmp_path / '.' / 'in.png')
    assert src.read_bytes() == before


def test_unreadable_images_raise_one_line(tmp_path):
    ok = tmp_path / 'ok.png'
    cv2.imwrite(str(ok), np.zeros((8, 8, 3), np.uint8))
    data = ok.read_bytes()
    cases = {'trunc.png': data[:len(data) // 2], 'text.jpg': b'not an image at all\n', 'empty.png': b''}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageReadError) as e:
            imread(tmp_path / name)
        msg = str(e.value)
        assert name in msg and '\n' not in msg
    with pytest.raises(ImageReadError, match='no such file'):
        imread(tmp_path / 'missing.png')
