"""Fixtures shared by the pipeline and one-command tests: a tiny base weights file, a real 4 s clip."""
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
