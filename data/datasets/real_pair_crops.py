"""Aligned random crops of real (LQ, HR) frame pairs: the footage to upscale and the same moments in HD.

``datasets.real_pairs: {dataroot_lq: DIR, dataroot_gt: DIR, crop: 32, batch_size: 2, weight: 1.0}``: frames of
the same names in both folders, each HR frame exactly ``scale`` times its LQ frame (the LQ footage is the HR
footage made smaller, ``pipeline/inputs/real_pairs.py`` checks it). Each ``batch()`` is ``batch_size`` crops: an LQ
``crop`` x ``crop`` window at a random place and the HR window ``scale`` times larger at ``scale`` times its
offset (the area downscale maps LQ pixel (y, x) to the HR block starting at (scale y, scale x)), both flipped
left-right together half the time; ``([N, 3, crop, crop], [N, 3, scale crop, scale crop])`` RGB float32 in
[0, 1]. A frame smaller than ``crop`` is refused. Draws come from ``default_rng(seed)``.
"""
from pathlib import Path

import cv2
import numpy as np
import paddle

from realesrgan_paddle.data.datasets import scan_images
from realesrgan_paddle.media.image_io import ImageReadError, image_to_chw, imread


def _read(path):
    try:
        return image_to_chw(imread(path))
    except (ImageReadError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read the real pair frame ({exc})') from None


class RealPairCrops:
    def __init__(self, dataroot_lq, dataroot_gt, crop=32, batch_size=2, scale=4, seed=0):
        if int(crop) < 4 or int(batch_size) < 1 or int(scale) < 1:
            raise ValueError(f'datasets.real_pairs: crop must be >= 4, batch_size and scale >= 1, got {crop}, '
                             f'{batch_size}, {scale}')
        self.crop, self.batch_size, self.scale = int(crop), int(batch_size), int(scale)
        self.pairs = []
        for rel in scan_images(dataroot_lq):
            lp, gp = Path(dataroot_lq) / rel, Path(dataroot_gt) / rel
            if not gp.is_file():
                raise ValueError(f'{lp}: no HR frame of the same name in {dataroot_gt}')
            lq, gt = _read(lp), _read(gp)
            if gt.shape[1:] != (lq.shape[1] * self.scale, lq.shape[2] * self.scale):
                raise ValueError(f'{gp}: {gt.shape[2]}x{gt.shape[1]} is not x{self.scale} of its LQ frame '
                                 f'{lq.shape[2]}x{lq.shape[1]}')
            if min(lq.shape[1:]) < self.crop:
                raise ValueError(f'{lp}: {lq.shape[2]}x{lq.shape[1]} is smaller than the crop {self.crop}')
            self.pairs.append((lq, gt))
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.pairs)

    def sample(self):
        """``(lq, gt)`` float32 numpy arrays ``[N, 3, crop, crop]`` and ``[N, 3, scale crop, scale crop]``."""
        c, s = self.crop, self.scale
        lqs, gts = [], []
        for _ in range(self.batch_size):
            lq, gt = self.pairs[int(self.rng.integers(len(self.pairs)))]
            y = int(self.rng.integers(lq.shape[1] - c + 1))
            x = int(self.rng.integers(lq.shape[2] - c + 1))
            a, b = lq[:, y:y + c, x:x + c], gt[:, s * y:s * (y + c), s * x:s * (x + c)]
            if self.rng.uniform() < 0.5:
                a, b = a[:, :, ::-1], b[:, :, ::-1]
            lqs.append(np.ascontiguousarray(a))
            gts.append(np.ascontiguousarray(b))
        return np.stack(lqs).astype(np.float32), np.stack(gts).astype(np.float32)

    def batch(self):
        lq, gt = self.sample()
        return paddle.to_tensor(lq), paddle.to_tensor(gt)


# The alignment check of a real (LQ, HR) photo pair: the LQ photo upscaled by bicubic against the HR photo.
MAX_SHIFT = 3.0      # HR pixels (3/4 of an LQ pixel at x4): a larger global shift and the pair is dropped
MAX_SCALE = 0.01     # a relative scale error above this and the pair is dropped
SCALES = np.linspace(0.97, 1.03, 13)  # the scales tried (steps of 0.5 %)
ALIGN_SIDE = 384     # both are looked at no larger than this (HR pixels on the short side); shifts scaled back


def _luma(img):
    return cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_BGR2GRAY).astype(np.float32)


def _ncc(a, b, m):
    a, b = a[m:-m, m:-m] - a[m:-m, m:-m].mean(), b[m:-m, m:-m] - b[m:-m, m:-m].mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-9))


def estimate_alignment(lq, hr, scale=4):
    """``{'dx', 'dy', 'scale', 'ncc'}``: the global shift (HR pixels, phase correlation) and relative scale (the
    best of ``SCALES`` by normalised cross-correlation about the centre) of ``hr`` against bicubic(``lq``), and
    that correlation; ``None`` when ``hr`` is not ``scale`` times ``lq`` in both sides."""
    if hr.shape[:2] != (lq.shape[0] * scale, lq.shape[1] * scale):
        return None
    up, ref = _luma(cv2.resize(lq, hr.shape[1::-1], interpolation=cv2.INTER_CUBIC)), _luma(hr)
    f = min(1.0, ALIGN_SIDE / min(ref.shape))
    if f < 1.0:
        size = (max(16, int(ref.shape[1] * f)), max(16, int(ref.shape[0] * f)))
        up, ref = cv2.resize(up, size, interpolation=cv2.INTER_AREA), cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
    win = cv2.createHanningWindow(ref.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(up, ref, win)
    h, w = ref.shape
    m = max(2, min(h, w) // 10)
    centre = (w / 2.0, h / 2.0)
    # both low-passed: the warp's interpolation blur would otherwise favour any scale but 1 against the blurry
    # bicubic LQ
    a, b = cv2.GaussianBlur(up, (0, 0), 1.5), cv2.GaussianBlur(ref, (0, 0), 1.5)
    best = max(((_ncc(a, cv2.warpAffine(b, cv2.getRotationMatrix2D(centre, 0, s), (w, h),
                                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), m), s)
                for s in SCALES), key=lambda t: t[0])
    moved = cv2.warpAffine(ref, np.float32([[1, 0, -dx], [0, 1, -dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
    if _ncc(up, moved, m) <= _ncc(up, ref, m):  # a peak of a repeated texture, not a shift of the picture
        dx = dy = 0.0
    return {'dx': round(dx / f, 2), 'dy': round(dy / f, 2), 'scale': round(float(best[1]), 4),
            'ncc': round(best[0], 4)}


def alignment_problem(est, scale=4):
    """Why a pair with alignment ``est`` (``estimate_alignment``) is dropped, or None when it is kept."""
    if est is None:
        return f'the HR photo is not x{scale} of the LQ photo'
    shift = float(np.hypot(est['dx'], est['dy']))
    if shift > MAX_SHIFT:
        return f'shifted {shift:.1f} HR px (dx {est["dx"]:+.1f}, dy {est["dy"]:+.1f}; at most {MAX_SHIFT:g})'
    if abs(est['scale'] - 1.0) > MAX_SCALE + 1e-9:
        return f'scaled {100 * (est["scale"] - 1):+.1f} % (at most {100 * MAX_SCALE:g} %)'
    return None
