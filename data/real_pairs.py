"""Aligned random crops of real (LQ, HR) frame pairs: the footage to upscale and the same moments in HD.

``datasets.real_pairs: {dataroot_lq: DIR, dataroot_gt: DIR, crop: 32, batch_size: 2, weight: 1.0}``: frames of
the same names in both folders, each HR frame exactly ``scale`` times its LQ frame (the LQ footage is the HR
footage made smaller, ``pipeline/real_pairs.py`` checks it). Each ``batch()`` is ``batch_size`` crops: an LQ
``crop`` x ``crop`` window at a random place and the HR window ``scale`` times larger at ``scale`` times its
offset (the area downscale maps LQ pixel (y, x) to the HR block starting at (scale y, scale x)), both flipped
left-right together half the time; ``([N, 3, crop, crop], [N, 3, scale crop, scale crop])`` RGB float32 in
[0, 1]. A frame smaller than ``crop`` is refused. Draws come from ``default_rng(seed)``.
"""
from pathlib import Path

import numpy as np

from data.datasets import scan_images
from utils.img_io import ImageReadError, image_to_chw, imread


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
        import paddle
        lq, gt = self.sample()
        return paddle.to_tensor(lq), paddle.to_tensor(gt)
