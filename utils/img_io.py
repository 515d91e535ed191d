"""Image reading and writing that keeps what the user gave us.

``imread`` returns the pixels as OpenCV lays them out (HxW gray, HxWx3 BGR or
HxWx4 BGRA; uint8 or uint16), with the EXIF orientation applied. ``imwrite``
writes atomically (temporary file + rename). Unreadable files raise
``ImageReadError`` whose message is one line naming the file and the reason.
"""
from pathlib import Path

import cv2
import numpy as np

from utils.fileio import atomic_write_bytes

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.tga', '.ppm', '.pgm', '.jp2')

_MAGIC = (
    (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'\xff\xd8\xff', 'JPEG'), (b'RIFF', 'WebP'), (b'BM', 'BMP'),
    (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'GIF8', 'GIF'),
)


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


def _decode(data):
    """cv2.imdecode without OpenCV's own warning lines (we raise one clear error instead)."""
    try:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # OpenCV builds without the logging module
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
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
    img = _decode(data)
    fmt = sniff_format(data)
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
