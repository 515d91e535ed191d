"""Random crops of real low-resolution frames, for the consistency loss (``loss/consistency.py``).

``datasets.real_lq: {dataroot_lq: DIR, crop: 32, batch_size: 4}``: the frames of the footage to upscale
(no GT), read once; each ``batch()`` is ``batch_size`` random ``crop`` x ``crop`` crops (a frame smaller
than ``crop`` is reflect-padded), randomly flipped left-right, as a ``[N, 3, crop, crop]`` RGB float32
tensor in [0, 1]. Draws come from ``default_rng(seed)``: a seeded run is reproducible.
"""
from pathlib import Path

import numpy as np
import paddle

from realesrgan_paddle.data.datasets import scan_images
from realesrgan_paddle.data.datasets.transforms import crop_or_pad
from realesrgan_paddle.media.image_io import ImageReadError, image_to_chw, imread


class RealLQCrops:
    def __init__(self, dataroot_lq, crop=32, batch_size=4, seed=0):
        if int(crop) < 4 or int(batch_size) < 1:
            raise ValueError(f'datasets.real_lq: crop must be >= 4 and batch_size >= 1, got {crop}, {batch_size}')
        self.crop, self.batch_size = int(crop), int(batch_size)
        self.frames = []
        for rel in scan_images(dataroot_lq):
            path = Path(dataroot_lq) / rel
            try:
                self.frames.append(image_to_chw(imread(path)))
            except (ImageReadError, ValueError) as exc:
                raise ValueError(f'{path}: cannot read the real LQ frame ({exc})') from None
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.frames)

    def sample(self):
        """``[batch_size, 3, crop, crop]`` float32 numpy array of random crops."""
        out = []
        for _ in range(self.batch_size):
            f = self.frames[int(self.rng.integers(len(self.frames)))]
            hwc = crop_or_pad(f.transpose(1, 2, 0), self.crop, self.rng)
            if self.rng.uniform() < 0.5:
                hwc = hwc[:, ::-1]
            out.append(np.ascontiguousarray(hwc.transpose(2, 0, 1)))
        return np.stack(out).astype(np.float32)

    def batch(self):
        return paddle.to_tensor(self.sample())
