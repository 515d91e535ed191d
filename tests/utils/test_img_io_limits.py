"""media/image_io.py: the pixel limit read from the header before decoding, and one-line errors."""
import struct

import cv2
import numpy as np
import pytest

from tests.crafted_images import png_declaring
from realesrgan_paddle.media import image_io as img_io
from realesrgan_paddle.media.image_io import ImageReadError, imread


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
    from realesrgan_paddle.media.image_io import declared_size
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


def hdr_declaring(side):
    """A Radiance HDR (named anything) of ``side`` x ``side`` pixels whose run-length scanlines are all valid:
    6.6 MB for 10240^2, which OpenCV decoded into 1.2 GB of floats (Pillow cannot read HDR, so the header
    check of this module never saw its size before)."""
    runs = b''
    left = side
    while left:
        n = min(127, left)
        runs += bytes([128 + n, 0])
        left -= n
    line = bytes([2, 2, side >> 8, side & 255]) + runs * 3 + runs.replace(b'\x00', b'\x80')
    return b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n' % (side, side) + line * side


def tiff_declaring(w, h):
    """A TIFF of 32-bit float RGB, a layout Pillow refuses to open (so its size was not checked), declaring
    ``w`` x ``h`` with a single short strip."""
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, 0), (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, 0),
               (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, 12), (284, 3, 1, 1), (339, 3, 3, 0)]
    ifd_at = 8
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    bps_at, fmt_at, strip_at = extra_at, extra_at + 6, extra_at + 12
    body = b''
    for tag, kind, count, value in entries:
        value = {258: bps_at, 339: fmt_at, 273: strip_at}.get(tag, value)
        packed = struct.pack('<HH', value, 0) if kind == 3 and count == 1 else struct.pack('<I', value)
        body += struct.pack('<HHI', tag, kind, count) + packed
    return (b'II*\x00' + struct.pack('<I', ifd_at) + struct.pack('<H', len(entries)) + body + b'\x00' * 4
            + struct.pack('<3H', 32, 32, 32) + struct.pack('<3H', 3, 3, 3) + bytes(12))


_CHILD = '''import json, sys
from realesrgan_paddle.media.image_io import imread
try:
    imread(sys.argv[1]); out = {"msg": None}
except Exception as e:
    out = {"kind": type(e).__name__, "msg": str(e)}
out["mb"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]) / 1024
print(json.dumps(out))
'''


def _read_isolated(p):
    import json
    import subprocess
    import sys
    from pathlib import Path
    res = subprocess.run([sys.executable, '-c', _CHILD, str(p)], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=120)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('name, make, words', [
    ('bomb.png', lambda: hdr_declaring(10240), 'declares 10240x10240 pixels, more than the limit of 100 MP'),
    ('bomb.hdr', lambda: hdr_declaring(10240), 'declares 10240x10240 pixels, more than the limit of 100 MP'),
    ('bomb.tif', lambda: tiff_declaring(20000, 20000), 'declares 20000x20000 pixels, more than the limit'),
    ('bomb.pfm', lambda: b'PF\n20000 20000\n-1.0\n' + bytes(4096), 'the size of this PFM image cannot be read'),
], ids=['hdr-named-png', 'hdr', 'float-tiff', 'pfm'])
def test_formats_only_opencv_reads_meet_the_limit(tmp_path, name, make, words):
    """Pillow cannot open these, so their size was never checked: the HDR decoded into 1.2 GB of floats."""
    p = tmp_path / name
    p.write_bytes(make())
    out = _read_isolated(p)
    assert out.get('kind') == 'ImageReadError', out
    assert out['msg'].startswith(f'{p}: ') and words in out['msg'] and '\n' not in out['msg'], out
    assert out['mb'] < 300, out


def test_small_hdr_and_float_tiff_still_read(tmp_path):
    p = tmp_path / 'small.hdr'
    p.write_bytes(hdr_declaring(64))
    assert img_io.declared_size(p.read_bytes()) == (64, 64) and imread(p).shape == (64, 64, 3)
    t = tmp_path / 'f.tif'
    cv2.imwrite(str(t), np.random.default_rng(0).random((24, 40, 3), dtype=np.float32))
    assert img_io.declared_size(t.read_bytes()) == (40, 24) and imread(t).shape == (24, 40, 3)
