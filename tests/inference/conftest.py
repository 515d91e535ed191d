"""The inference tests' shared fixture: ``up``, an ``Upscaler`` on the tiny SRVGG x4 network (``tiny_models``) on
the dynamic graph, one per test module."""
import pytest


@pytest.fixture(scope='module')
def up(tiny_models):
    from realesrgan_paddle.inference import Upscaler
    return Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
