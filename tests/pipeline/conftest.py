"""Fixtures shared by the pipeline and one-command tests: a tiny base weights file, a real 4 s clip, two small
held-out pairs and two tiny compact networks (the DNI sweep's and the sharpening knob's tests)."""
import pytest


@pytest.fixture(scope='module')
def tiny_base(tmp_path_factory):
    """A tiny SRVGGNetCompact x4 weights file (the pipeline reads its architecture from it)."""
    from tests.nets import save_tiny, srvgg
    return save_tiny(tmp_path_factory.mktemp('base') / 'tiny_base.pdparams', srvgg())


@pytest.fixture(scope='module')
def clips(shared_data, hr_photos, tmp_path_factory):
    """A folder holding one real 4 s clip (cup.mp4 when ../shared is there, else a pan across a photo)."""
    from tests.pipeline.finetune_run import make_clip
    return make_clip(shared_data, hr_photos, tmp_path_factory.mktemp('clips') / 'videos' / 'cup4.mp4').parent


@pytest.fixture(scope='module')
def small_pairs(hr_photos, tmp_path_factory):
    """Two held-out pairs cut from real photos: GT 128x128, LQ 32x32 (area)."""
    from tests.pairs import centre_crop, write_pairs
    return write_pairs(tmp_path_factory.mktemp('heldout'), hr_photos[:2], lambda img: centre_crop(img, 128, 128))


@pytest.fixture(scope='module')
def two_nets(tmp_path_factory):
    """A tiny compact base and a 'finetune' of it (other seeds): two weights files of one architecture."""
    from tests.nets import SRVGG, save_tiny
    root = tmp_path_factory.mktemp('nets')
    return save_tiny(root / 'base.pdparams', SRVGG, seed=0), save_tiny(root / 'ft.pdparams', SRVGG, seed=1)
