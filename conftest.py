"""Shared pytest fixtures: real photos for tests (pytest.ini puts the repo root on sys.path); the suite's own model
cache.

The suite never reads, writes or fetches into the user's model cache: the controller (or the one process without
xdist) sets ``REALESRGAN_PADDLE_HOME`` to a temporary folder of this run before the workers start, so the workers
and the tools they start inherit it, and removes it when the session ends; and ``REALESRGAN_PADDLE_OFFLINE=1``, so
nothing is downloaded (``utils.download.offline``). Each only when the environment does not set it already. The
user's cache as it was (``RESR_TEST_USER_CACHE``) is where the perception-weight fixtures (tests/conftest.py) copy
the weights from, then ``$RESR_TEST_WEIGHTS``.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
os.environ.setdefault('MKL_DEBUG_CPU_TYPE', '5')
os.environ.setdefault('GLOG_minloglevel', '2')
from realesrgan_paddle.utils.fileio import cache_root  # noqa: E402  (standard library only)


def _own_model_cache():
    """The run's model cache: made here by the controller when the environment names none (returned, to remove at
    the end); a worker (``PYTEST_XDIST_WORKER``) inherits the controller's."""
    os.environ.setdefault('RESR_TEST_USER_CACHE', str(cache_root()))  # the user's, before it is replaced
    os.environ.setdefault('REALESRGAN_PADDLE_OFFLINE', '1')
    if 'PYTEST_XDIST_WORKER' in os.environ or os.environ.get('REALESRGAN_PADDLE_HOME'):
        return None
    own = tempfile.mkdtemp(prefix='resr-test-cache-')
    os.environ['REALESRGAN_PADDLE_HOME'] = own
    return own


def _own_export_memo():
    """The folder of the session's tiny exports (tests/export_memo.py), made by the controller beside the model
    cache (returned, to remove at the end); a worker inherits it."""
    if 'PYTEST_XDIST_WORKER' in os.environ or os.environ.get('RESR_TEST_EXPORT_MEMO'):
        return None
    own = tempfile.mkdtemp(prefix='resr-test-exports-')
    os.environ['RESR_TEST_EXPORT_MEMO'] = own
    return own


OWN_CACHE = _own_model_cache()  # at import: before the workers start and before any test reads the cache
OWN_MEMO = _own_export_memo()
from realesrgan_paddle.utils import runtime_env  # noqa: E402


def pytest_unconfigure(config):
    """The controller removes the model cache and the export memo it made (a worker made none)."""
    for own in (OWN_CACHE, OWN_MEMO):
        if own and not hasattr(config, 'workerinput'):
            shutil.rmtree(own, ignore_errors=True)

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
