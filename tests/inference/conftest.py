"""Fixtures for the inference tests: tiny networks saved as .pdparams, a real photo crop."""
import numpy as np
import pytest

from tests.nets import rrdb, srvgg

TINY = {'rrdb_x4': rrdb(num_grow_ch=8), 'rrdb_x2': rrdb(scale=2, num_grow_ch=8),
        'rrdb_x1': rrdb(scale=1, num_grow_ch=8), 'srvgg_x4': srvgg()}


def tiny_state(arch, seed=0):
    """Deterministic small weights whose output is image-like (mostly inside [0, 1], not clipped flat)."""
    import models
    net = models.build_network(arch)
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in net.state_dict().items():
        shape = tuple(v.shape)
        if k.endswith('bias'):
            arr = rng.normal(0, 0.02, shape)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            arr = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
        else:  # PReLU slopes
            arr = np.full(shape, 0.2)
        state[k] = arr.astype(np.float32)
    if arch['type'] == 'RRDBNet':
        # a bias of 0.5 on the last conv and a contrast-carrying first conv keep outputs in range
        state['conv_last.bias'] = np.full(state['conv_last.bias'].shape, 0.5, np.float32)
    else:
        last = max(k for k in state if k.startswith('body.') and k.endswith('.weight') and state[k].ndim == 4)
        state[last] *= 0.3
    return state


def save_tiny(path, arch, seed=0):
    from utils.checkpoint import save_checkpoint
    save_checkpoint(path, params=tiny_state(arch, seed), arch=arch)
    return path


@pytest.fixture(scope='session')
def tiny_models(tmp_path_factory):
    d = tmp_path_factory.mktemp('tiny_models')
    return {name: save_tiny(d / f'{name}.pdparams', arch) for name, arch in TINY.items()}


@pytest.fixture(scope='session')
def export_cache(tmp_path_factory):
    return tmp_path_factory.mktemp('export_cache')


@pytest.fixture(scope='session')
def photo(hr_photos):
    """A real photo (BGR uint8), the largest of the set that is not gray, cropped to 96x128."""
    import cv2
    for p in hr_photos:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 3 and min(img.shape[:2]) >= 160:
            y, x = img.shape[0] // 2 - 48, img.shape[1] // 2 - 64
            return np.ascontiguousarray(img[y:y + 96, x:x + 128, :3])
    pytest.skip('no colour photo available')
