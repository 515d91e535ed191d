"""spandrel (PyTorch networks of 42 architectures) as a test-only reference: ``spandrel_or_skip()``.

spandrel imports ``torchvision`` for two architectures this project does not port (LaMa, RestoreFormer). A
torchvision wheel built for another torch fails at import ('operator torchvision::nms does not exist'), so when
torchvision cannot be imported, a placeholder module stands in for the three names spandrel reads at import; using
them raises. The networks compared here never touch torchvision.
"""
import sys
import types

import pytest

from tests.skips import TORCH_SKIP

SPANDREL_SKIP = 'spandrel is not installed: it is a test-only reference (pip install -r requirements-test.txt)'


def _placeholder_torchvision():
    def unavailable(*args, **kwargs):
        raise RuntimeError('torchvision is a placeholder in these tests (tests/spandrel_ref.py)')

    tv = types.ModuleType('torchvision')
    transforms = types.ModuleType('torchvision.transforms')
    functional = types.ModuleType('torchvision.transforms.functional')
    functional.InterpolationMode = type('InterpolationMode', (), {})
    functional.rotate = functional.normalize = unavailable
    tv.transforms, transforms.functional = transforms, functional
    sys.modules.update({'torchvision': tv, 'torchvision.transforms': transforms,
                        'torchvision.transforms.functional': functional})


def spandrel_or_skip():
    """The ``spandrel`` module, or skip the test saying what installs it."""
    pytest.importorskip('torch', reason=TORCH_SKIP)
    try:
        import torchvision  # noqa: F401
    except Exception:  # missing, or built for another torch
        for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
            del sys.modules[name]
        _placeholder_torchvision()
    try:
        import spandrel
    except ImportError:
        pytest.skip(SPANDREL_SKIP)
    return spandrel
