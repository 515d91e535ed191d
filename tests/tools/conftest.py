"""Fixtures shared by the tools tests."""
import pytest


@pytest.fixture(scope='module')
def tiny_base(tmp_path_factory):
    """A tiny SRVGGNetCompact x4 weights file (the pipeline reads its architecture from it)."""
    from tests.nets import save_tiny, srvgg
    return save_tiny(tmp_path_factory.mktemp('base') / 'tiny_base.pdparams', srvgg())
