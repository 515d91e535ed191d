"""Image reading and writing that keeps what the user gave us.

``imread`` returns the pixels as OpenCV lays them out (HxW gray, HxWx3 BGR or
HxWx4 BGRA; uint8 or uint16), with the EXIF orientation applied. ``imwrite``
writes atomically (temporary file + rename). Unreadable files raise
``ImageReadError`` whose message is one line naming the file and the reason.

Before decoding, the size the file declares in its header is checked against a
pixel limit (``MAX_PIXELS``, 100 MP, or ``$RESR_MAX_PIXELS``): a small file that
claims a huge image (a decompression bomb) is refused without allocating it.
"""
import os
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np

from utils.fileio import atomic_write_bytes

_MAGIC = (
    (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'\xff\xd8\xff', 'JPEG'), (b'RIFF', 'WebP'), (b'BM', 'BMP'),
    (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'GIF8', 'GIF'),
)


DEFAULT_MAX_PIXELS = 100_000_000


def max_pixels():
    """The pixel limit for decoding: ``$RESR_MAX_PIXELS`` (an integer; 0 = no limit) or 100 MP."""
    raw = os.environ.get('RESR_MAX_PIXELS', '').strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        return max(0, int(float(raw)))
    except ValueError:
        return DEFAULT_MAX_PIXELS


class ImageReadError(ValueError):
    """One-line, user-facing reason why an image could not be read."""


class ImageWriteError(ValueError):
    """One-line, user-facing reason why an image could not be written."""


def sniff_format(data):
    for magic, name in _MAGIC:
        if data[:len(magic)] == magic:
            return name
    return None


def _exif_orientation(data):
    """EXIF orientation tag (1-8) or 1 when absent/unreadable. Needs Pillow (lazily imported)."""
    try:
        import io

        from PIL import Image
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # PIL's size warning: the pixel limit is ours
            with Image.open(io.BytesIO(data)) as im:
                return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # no Pillow, or no EXIF block: nothing to apply
        return 1


def apply_orientation(img, orientation):
    """Rotate/flip ``img`` so that it displays upright for EXIF ``orientation`` 1..8."""
    ops = {
        2: lambda a: cv2.flip(a, 1),
        3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
        4: lambda a: cv2.flip(a, 0),
        5: lambda a: cv2.flip(cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
        7: lambda a: cv2.flip(cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    return ops[orientation](img) if orientation in ops else img


def _png_size(data):
    if len(data) >= 24 and data[12:16] == b'IHDR':
        w, h = struct.unpack('>II', data[16:24])
        return w, h
    return None


def _jpeg_size(data):
    """Width and height from the first SOFn segment (the frame header), without decoding."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        seg = struct.unpack('>H', data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            h, w = struct.unpack('>HH', data[i + 5:i + 9])
            return w, h
        if marker == 0xDA or seg < 2:  # scan data before any frame header
            return None
        i += 2 + seg
    return None


def _pil_size(data):
    import io
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header only
                return im.size
    except Image.DecompressionBombError:
        return (1 << 31, 1 << 31)  # larger than any limit; PIL refused to even open it
    except Exception:  # not a format PIL knows: OpenCV decides
        return None


def declared_size(data, fmt=None):
    """(width, height) that the file's header declares, or None when it cannot be told cheaply."""
    fmt = fmt or sniff_format(data)
    if fmt == 'PNG':
        return _png_size(data)
    if fmt == 'JPEG':
        return _jpeg_size(data) or _pil_size(data)
    return _pil_size(data)


def check_pixel_limit(path, data, fmt=None, limit=None):
    """Raise ``ImageReadError`` when the header declares more pixels than ``limit``."""
    limit = max_pixels() if limit is None else limit
    if not limit:
        return
    size = declared_size(data, fmt)
    if size is None:
        return
    w, h = size
    if w * h > limit:
        what = f'{w}x{h}' if w < (1 << 31) else 'a size'
        raise ImageReadError(f'{path}: declares {what} pixels, more than the limit of {limit / 1e6:g} MP '
                             '(a damaged file or a decompression bomb; raise RESR_MAX_PIXELS to allow it)')
    if w == 0 or h == 0:
        raise ImageReadError(f'{path}: declares an empty {w}x{h} image')


def _imdecode(data):
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # e.g. a size OpenCV refuses; the caller reports the file as unreadable
        return None


def _decode(data):
    """cv2.imdecode without OpenCV's own warning lines (we raise one clear error instead)."""
    try:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # OpenCV builds without the logging module
        return _imdecode(data)
    try:
        return _imdecode(data)
    finally:
        cv2.utils.logging.setLogLevel(level)


def imread(path, exif=True):
    """Read an image unchanged (gray/BGR/BGRA, 8 or 16 bit), upright by its EXIF orientation."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f'{path}: no such file') from None
    except IsADirectoryError:
        raise ImageReadError(f'{path}: is a directory') from None
    except OSError as e:
        raise ImageReadError(f'{path}: cannot read ({e.strerror or e})') from None
    if not data:
        raise ImageReadError(f'{path}: empty file')
    fmt = sniff_format(data)
    check_pixel_limit(path, data, fmt)
    try:
        img = _decode(data)
    except MemoryError:
        raise ImageReadError(f'{path}: not enough memory to decode it') from None
    if img is None:
        if fmt is None:
            raise ImageReadError(f'{path}: not an image (unrecognised file content)')
        raise ImageReadError(f'{path}: corrupt or truncated {fmt} file')
    if img.dtype not in (np.uint8, np.uint16):
        if img.dtype == np.float32 or img.dtype == np.float64:  # EXR/float TIFF: map to 16-bit
            img = (np.clip(img, 0, 1) * 65535.0 + 0.5).astype(np.uint16)
        else:
            raise ImageReadError(f'{path}: unsupported pixel type {img.dtype}')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        raise ImageReadError(f'{path}: unsupported channel count {img.shape[2]}')
    if exif and fmt in ('JPEG', 'TIFF', 'PNG', 'WebP'):
        img = apply_orientation(img, _exif_orientation(data))
    return np.ascontiguousarray(img)


def imwrite(path, img, quality=95):
    """Encode by the extension of ``path`` and write atomically. 16-bit needs png/tif."""
    path = Path(path)
    ext = path.suffix.lower()
    if not ext:
        raise ImageWriteError(f'{path}: no file extension to choose the format from')
    params = []
    if ext in ('.jpg', '.jpeg'):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == '.webp':
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    if img.dtype == np.uint16 and ext not in ('.png', '.tif', '.tiff'):
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)  # formats without 16-bit support
    if img.ndim == 3 and img.shape[2] == 4 and ext in ('.jpg', '.jpeg', '.bmp'):
        img = img[:, :, :3]
    try:
        ok, buf = cv2.imencode(ext, img, params)
    except cv2.error as e:
        raise ImageWriteError(f'{path}: cannot encode as {ext} ({str(e).strip().splitlines()[-1]})') from None
    if not ok:
        raise ImageWriteError(f'{path}: cannot encode as {ext}')
    atomic_write_bytes(path, buf.tobytes())
    return path
