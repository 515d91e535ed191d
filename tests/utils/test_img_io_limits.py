"""utils/img_io.py: the pixel limit read from the header before decoding, and one-line errors."""
import struct
import zlib

import cv2
import numpy as np
import pytest

from utils import img_io
from utils.img_io import ImageReadError, imread


def png_declaring(w, h):
    """A well-formed PNG (valid CRCs) whose header claims w x h pixels; its data holds one short row."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\x00' * 193))
            + chunk(b'IEND', b''))


def test_png_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / 'bomb.png'
    p.write_bytes(png_declaring(100000, 100000))
    called = []
    monkeypatch.setattr(img_io, '_decode', lambda data: called.append(1))
    with pytest.raises(ImageReadError) as e:
        imread(p)
    msg = str(e.value)
    assert msg.startswith(f'{p}: declares 100000x100000 pixels') and 'RESR_MAX_PIXELS' in msg and '\n' not in msg
    assert not called  # nothing was allocated for it


def test_limit_is_configurable(tmp_path, monkeypatch, hr_photos):
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:100, :120]
    p = tmp_path / 'small.png'
    cv2.imwrite(str(p), img)
    assert imread(p).shape == (100, 120, 3)
    monkeypatch.setenv('RESR_MAX_PIXELS', '10000')
    with pytest.raises(ImageReadError, match='120x100 pixels, more than the limit of 0.01 MP'):
        imread(p)
    monkeypatch.setenv('RESR_MAX_PIXELS', '0')  # no limit
    assert imread(p).shape == (100, 120, 3)


def test_header_sizes_match_the_decoder(hr_photos):
    from utils.img_io import declared_size
    for path in hr_photos[:4]:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        want = (img.shape[1], img.shape[0])
        assert declared_size(path.read_bytes()) == want
        for ext, params in (('.jpg', []), ('.jpg', [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), ('.webp', []), ('.bmp', [])):
            data = cv2.imencode(ext, img, params)[1].tobytes()
            assert declared_size(data) == want, (path, ext)


def test_jpeg_bomb_is_refused(tmp_path):
    img = np.full((16, 16, 3), 128, np.uint8)
    data = bytearray(cv2.imencode('.jpg', img)[1].tobytes())
    i = data.index(b'\xff\xc0')
    data[i + 5:i + 9] = struct.pack('>HH', 60000, 60000)  # height, width in the frame header
    p = tmp_path / 'bomb.jpg'
    p.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match='60000x60000 pixels'):
        imread(p)


def test_decoder_exception_becomes_one_line(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise cv2.error('OpenCV(5.0.0) loadsave.cpp:79: error: (-215:Assertion failed) pixels <= limit')
    monkeypatch.setattr(cv2, 'imdecode', boom)
    p = tmp_path / 'x.png'
    p.write_bytes(png_declaring(8, 8))
    with pytest.raises(ImageReadError, match=r'x\.png: corrupt or truncated PNG file'):
        imread(p)
