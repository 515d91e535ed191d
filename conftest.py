"""Shared pytest fixtures: real photos for tests (pytest.ini puts the repo root on sys.path)."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
os.environ.setdefault('MKL_DEBUG_CPU_TYPE', '5')
os.environ.setdefault('GLOG_minloglevel', '2')
from realesrgan_paddle.utils import runtime_env  # noqa: E402

# the pytest process runs the trainer's batch slices in-process: opt in as train.py does
runtime_env.setup(quiet=False, single_arena=True)
SHARED = ROOT.parent / 'shared' / 'data'
SKIMAGE_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'camera')


@pytest.fixture(scope='session')
def shared_data():
    """``../shared/data`` beside the checkout, or None when it is absent."""
    return SHARED if SHARED.is_dir() else None


@pytest.fixture(scope='session')
def hr_photos(tmp_path_factory):
    """Real photos: ../shared/data/hr, else scikit-image's bundled ones."""
    if (SHARED / 'hr').is_dir():
        return sorted((SHARED / 'hr').glob('*.png'))
    import cv2
    from skimage import data as skdata
    out = tmp_path_factory.mktemp('hr_photos')
    paths = []
    for name in SKIMAGE_PHOTOS:
        img = getattr(skdata, name)()
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
        p = out / f'{name}.png'
        cv2.imwrite(str(p), img)
        paths.append(p)
    return paths


@pytest.fixture(scope='session')
def photo_crops(hr_photos):
    """``photo_crops(n, size)``: square centre crops (side ``min(h, w, size)``) of the first ``n`` real photos,
    BGR uint8."""
    import cv2

    def make(n, size):
        crops = []
        for p in hr_photos[:n]:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            h, w = img.shape[:2]
            s = min(h, w, size)
            crops.append(img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
        return crops
    return make


@pytest.fixture(scope='session')
def photo_batch(photo_crops):
    """``photo_batch(n, size)``: centre crops of the first ``n`` real photos, RGB NCHW float32 in [0, 1]."""
    import numpy as np
    import paddle

    def make(n, size):
        crops = [c[..., ::-1] for c in photo_crops(n, size)]
        return paddle.to_tensor(np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255)
    return make
