"""Image loading and the geometric transforms of the datasets (numpy, HWC).

``read_image_float`` reads through ``media.image_io.imread`` (any file OpenCV decodes, EXIF orientation),
converts gray to 3 channels, drops alpha, and scales 8- and 16-bit data to
float32 [0, 1], BGR. Crops/flips work on HWC arrays; ``paired_random_crop``
also accepts NCHW paddle tensors (the crop the trainer does after degrading).
"""
import cv2
import numpy as np

from realesrgan_paddle.media.image_io import ImageReadError, imread


def read_image_float(path):
    """Float32 HWC BGR image in [0, 1], upright by its EXIF orientation; raises ImageReadError (naming the file)."""
    return to_float_bgr(imread(path), path)


def to_float_bgr(img, name='image'):
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        out = img.astype(np.float32) / 65535.0
    elif img.dtype in (np.float32, np.float64):
        out = np.clip(img.astype(np.float32), 0, 1)
    else:
        raise ImageReadError(f'{name}: unsupported pixel type {img.dtype}')
    if out.ndim == 2:
        out = out[:, :, None]
    if out.ndim != 3 or out.shape[2] not in (1, 2, 3, 4) or min(out.shape[:2]) < 1:
        raise ImageReadError(f'{name}: unsupported image shape {img.shape}')
    if out.shape[2] in (1, 2):  # gray (+ alpha)
        out = np.repeat(out[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(out[:, :, :3])


def crop_or_pad(img, size, rng):
    """Random ``size x size`` crop; smaller images are first padded by reflection (101)."""
    h, w = img.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        if ph >= h or pw >= w:  # reflection would run out of pixels: tile by repeating reflections
            reps = (int(np.ceil(size / h)) + 1, int(np.ceil(size / w)) + 1, 1)
            img = np.tile(img, reps)[:max(h, size), :max(w, size)]
        else:
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
        h, w = img.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return img[top:top + size, left:left + size]


def augment(imgs, rng, hflip=True, rot=True):
    """Same random hflip / vflip / transpose for every HWC array in ``imgs``."""
    do_h = hflip and rng.uniform() < 0.5
    do_v = rot and rng.uniform() < 0.5
    do_t = rot and rng.uniform() < 0.5
    out = []
    for img in imgs:
        if do_h:
            img = img[:, ::-1]
        if do_v:
            img = img[::-1]
        if do_t:
            img = img.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(img))
    return out


def paired_random_crop(gts, lq, gt_size, scale, rng):
    """Crop GT(s) to ``gt_size`` and the LQ to ``gt_size // scale`` at matching places.

    ``gts`` is one array/tensor or a list; HWC numpy arrays or NCHW paddle tensors.
    Returns ``(gts, lq)`` in the same form. Raises ValueError when the sizes do not
    match the scale or the LQ is smaller than the crop.
    """
    single = not isinstance(gts, (list, tuple))
    gts = [gts] if single else list(gts)
    is_tensor = not isinstance(lq, np.ndarray)
    hw = (lambda a: tuple(a.shape[2:4])) if is_tensor else (lambda a: tuple(a.shape[:2]))
    lh, lw = hw(lq)
    gh, gw = hw(gts[0])
    lq_size = gt_size // scale
    if gh < lh * scale or gw < lw * scale:
        raise ValueError(f'scale mismatch: GT {gh}x{gw} is not {scale}x the LQ {lh}x{lw}')
    if lh < lq_size or lw < lq_size:
        raise ValueError(f'LQ {lh}x{lw} is smaller than the crop {lq_size}x{lq_size} (gt_size {gt_size}, '
                         f'scale {scale})')
    top = int(rng.integers(0, lh - lq_size + 1))
    left = int(rng.integers(0, lw - lq_size + 1))
    gt_top, gt_left = top * scale, left * scale
    if is_tensor:
        lq = lq[:, :, top:top + lq_size, left:left + lq_size]
        gts = [g[:, :, gt_top:gt_top + gt_size, gt_left:gt_left + gt_size] for g in gts]
    else:
        lq = lq[top:top + lq_size, left:left + lq_size]
        gts = [g[gt_top:gt_top + gt_size, gt_left:gt_left + gt_size] for g in gts]
    return (gts[0] if single else gts), lq
