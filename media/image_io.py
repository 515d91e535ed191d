"""Image reading and writing that keeps what the user gave us.

``imread`` returns the pixels as OpenCV lays them out (HxW gray, HxWx3 BGR or
HxWx4 BGRA; uint8 or uint16), with the EXIF orientation applied. ``imwrite``
writes atomically (temporary file + rename). Unreadable files raise
``ImageReadError`` whose message is one line naming the file and the reason.

``image_to_chw`` and ``chw_to_image`` are the one conversion between these
images and the networks' planar float RGB in [0, 1].

Before decoding, the size the file declares in its header is checked against a
pixel limit (``MAX_PIXELS``, 100 MP, or ``$RESR_MAX_PIXELS``): a small file that
claims a huge image (a decompression bomb) is refused without allocating it.
The size comes from this module's own parsers (PNG, JPEG, TIFF's first
directory, Radiance HDR) or from Pillow's header pass. A file whose size neither
can tell is refused rather than handed to OpenCV blind (OpenCV decodes formats
Pillow refuses, and a 6.7 MB HDR named .png used to allocate 1.2 GB).
"""
import io
import os
import re
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.media.kinds import JPEG_EXTS, NO_ALPHA_EXTS, SIXTEEN_BIT_EXTS
from realesrgan_paddle.utils.fileio import atomic_write_bytes, open_or_fail

_MAGIC = (
    (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'\xff\xd8\xff', 'JPEG'), (b'RIFF', 'WebP'), (b'BM', 'BMP'),
    (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'GIF8', 'GIF'), (b'#?RADIANCE', 'HDR'), (b'#?RGBE', 'HDR'),
    (b'PF\n', 'PFM'), (b'Pf\n', 'PFM'), (b'v/1\x01', 'EXR'), (b'P7\n', 'PAM'), (b'\x00\x00\x00\x0cjP  ', 'JPEG 2000'),
    (b'\xffO\xffQ', 'JPEG 2000'), (b'\x59\xa6\x6a\x95', 'Sun raster'),
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


def _tiff_size(data):
    """(width, height) from the first image directory of a TIFF, whatever its pixel layout."""
    end = '<' if data[:2] == b'II' else '>'
    try:
        (at,) = struct.unpack_from(end + 'I', data, 4)
        (n,) = struct.unpack_from(end + 'H', data, at)
        size = {}
        for i in range(min(n, 4096)):
            tag, kind = struct.unpack_from(end + 'HH', data, at + 2 + 12 * i)
            if tag in (256, 257) and kind in (3, 4):
                size[tag] = struct.unpack_from(end + ('H' if kind == 3 else 'I'), data, at + 2 + 12 * i + 8)[0]
    except struct.error:
        return None
    return (size[256], size[257]) if len(size) == 2 else None


_HDR_SIZE = re.compile(rb'\n\n([-+][YX]) (\d{1,12}) ([-+][YX]) (\d{1,12})\n')


def _hdr_size(data):
    """(width, height) from a Radiance HDR header (``-Y h +X w`` after the blank line)."""
    m = _HDR_SIZE.search(data[:65536])
    if not m:
        return None
    dims = {m.group(1)[1:]: int(m.group(2)), m.group(3)[1:]: int(m.group(4))}
    return (dims[b'X'], dims[b'Y']) if len(dims) == 2 else None


def declared_size(data, fmt=None):
    """(width, height) that the file's header declares, or None when it cannot be told cheaply."""
    fmt = fmt or sniff_format(data)
    if fmt == 'PNG':
        return _png_size(data)
    if fmt == 'JPEG':
        return _jpeg_size(data) or _pil_size(data)
    if fmt == 'TIFF':
        return _tiff_size(data) or _pil_size(data)
    if fmt == 'HDR':
        return _hdr_size(data)
    return _pil_size(data)


def declared_size_of(path, head=1 << 20):
    """(width, height) that the image file ``path`` declares in its first ``head`` bytes, or None when it cannot be
    told from them; ``ImageReadError`` (one line) for a path that is not a readable regular file."""
    with open_or_fail(Path(path), ImageReadError) as f:
        try:
            data = f.read(head)
        except OSError as e:
            raise ImageReadError(f'{path}: cannot read ({e.strerror or e})') from None
    return declared_size(data) if data else None


def check_pixel_limit(path, data, fmt=None, limit=None):
    """Raise ``ImageReadError`` when the header declares more pixels than ``limit``."""
    limit = max_pixels() if limit is None else limit
    if not limit:
        return
    size = declared_size(data, fmt)
    if size is None:
        if fmt is not None:  # a format OpenCV decodes, of unknown size: not handed to it blind
            raise ImageReadError(f'{path}: the size of this {fmt or "kind of"} image cannot be read before '
                                 'decoding it, so the pixel limit cannot be checked; convert it to PNG')
        return
    w, h = size
    if w * h > limit:
        what = f'{w}x{h} pixels' if w < (1 << 31) else 'an image too large for Pillow to open'
        raise ImageReadError(f'{path}: declares {what}, more than the limit of {limit / 1e6:g} MP '
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
    with open_or_fail(path, ImageReadError) as f:  # a FIFO or /dev/zero is refused before opening
        try:
            data = f.read()
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
    if ext in JPEG_EXTS:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == '.webp':
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    if img.dtype == np.uint16 and ext not in SIXTEEN_BIT_EXTS:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)  # formats without 16-bit support
    if img.ndim == 3 and img.shape[2] == 4 and ext in NO_ALPHA_EXTS:
        img = img[:, :, :3]
    try:
        ok, buf = cv2.imencode(ext, img, params)
    except cv2.error as e:
        raise ImageWriteError(f'{path}: cannot encode as {ext} ({str(e).strip().splitlines()[-1]})') from None
    if not ok:
        raise ImageWriteError(f'{path}: cannot encode as {ext}')
    atomic_write_bytes(path, buf)  # the encoded array itself: no second copy of a large image's bytes
    return path


def pixel_max(dtype):
    """The value of full white: 255 (uint8), 65535 (uint16) or 1.0 (float images, in [0, 1])."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == 'f':
        return 1.0
    raise ValueError(f'unsupported pixel type {dtype}')


def to_bgr(img):
    """3-channel BGR from what ``imread`` gives: alpha dropped, gray expanded (the dtype kept)."""
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img[..., :3]


def to_bgr8(img):
    """uint8 3-channel BGR from what ``imread`` gives (gray, BGRA, 16-bit)."""
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(to_bgr(img))


def image_to_chw(img):
    """HxW gray, HxWx1, HxWx3 BGR or HxWx4 BGRA (uint8, uint16 or float in [0, 1]) -> 3xHxW float32 RGB in
    [0, 1], C-contiguous. Gray is repeated to three channels; alpha is dropped (the caller handles it)."""
    img = np.asarray(img)
    maxv = pixel_max(img.dtype)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        x = np.repeat(img[None].astype(np.float32), 3, axis=0)
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        x = np.ascontiguousarray(img[:, :, 2::-1].transpose(2, 0, 1), dtype=np.float32)
    else:
        raise ValueError(f'expected an HxW, HxWx3 or HxWx4 image, got shape {img.shape}')
    if maxv != 1.0:
        x /= maxv
    return x


def _clip01(plane):
    """A new float32 copy of ``plane`` clipped to [0, 1], NaN -> 0, in OpenCV. The thresholds do not treat NaN
    one way: on an AMD EPYC, TRUNC(NaN) came out NaN or 1 from one call to the next (1 in 40 of 60 calls, so a
    NaN pixel became 255), so NaNs are set to 0 (cv2.patchNaNs) on the first threshold's own output."""
    t = cv2.threshold(np.ascontiguousarray(plane, np.float32), 0, 0, cv2.THRESH_TOZERO)[1]
    cv2.patchNaNs(t, 0)
    return cv2.threshold(t, 1, 1, cv2.THRESH_TRUNC)[1]


def chw_to_image(chw, dtype=np.uint8, alpha=None, gray=False):
    """3xHxW float RGB (also 1x3xHxW, 1xHxW, or a paddle tensor) -> HxWx3 BGR in ``dtype``: clipped to [0, 1],
    scaled to ``pixel_max(dtype)`` and rounded (integer types). ``alpha`` (HxW in [0, 1]) becomes a fourth
    channel; ``gray`` (or one input channel) gives HxW. Converted strip by strip, so the float copy stays small."""
    a = chw.numpy() if hasattr(chw, 'numpy') else np.asarray(chw)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f'expected a 3xHxW or 1xHxW array, got shape {a.shape}')
    dtype = np.dtype(dtype)
    maxv, is_float = pixel_max(dtype), dtype.kind == 'f'
    _, H, W = a.shape
    one = a.shape[0] == 1
    ch = 1 if gray or one else (4 if alpha is not None else 3)
    res = np.empty((H, W) if ch == 1 else (H, W, ch), np.float32 if is_float else dtype)
    step = max(1, (1 << 21) // max(1, W))
    if dtype == np.uint8 and ch == 3:  # the common case, in OpenCV: about 1 ms instead of 6 ms for 1280x544
        for r in range(0, H, step):
            planes = [_clip01(a[c, r:r + step]) for c in (2, 1, 0)]  # RGB -> BGR
            # x 255, rounded half to even as np.round, saturated at 255 (values are >= 0, so abs() is a no-op)
            res[r:r + step] = cv2.merge([cv2.convertScaleAbs(pl, alpha=maxv) for pl in planes])
        return res
    for r in range(0, H, step):
        strip = np.clip(a[:, r:r + step].transpose(1, 2, 0)[:, :, ::-1], 0, 1)  # RGB -> BGR, HWC
        if one:
            strip = strip[:, :, 0]
        elif gray:
            strip = cv2.cvtColor(np.ascontiguousarray(strip), cv2.COLOR_BGR2GRAY)
        elif alpha is not None:
            strip = np.concatenate([strip, alpha[r:r + step, :, None]], axis=2)
        res[r:r + step] = strip if is_float else np.round(strip * maxv)
    return res
