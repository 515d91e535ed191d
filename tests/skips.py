"""Skip reasons that say what enables the test, and the one way a test reaches torch, spandrel or the PyTorch
reference networks (``realesrgan_paddle.reference``): the ``torch`` and ``spandrel`` fixtures of
tests/conftest.py, or, in a helper module, ``need_torch()``, ``need_spandrel()`` and ``need_reference()``.

A test that asks for the ``torch`` or ``spandrel`` fixture is marked ``torch`` at collection (tests/conftest.py):
without torch it skips with the one line ``TORCH_SKIP``, and CI runs the marked tests again, alone, once torch is
installed (``-m torch``, .ci/run). A helper's ``need_*()`` called from a test that is not marked fails, saying
so: such a test would skip in the suite without torch and never run in the one with it. No test module imports
torch, spandrel or the reference at collection (tests/test_torch_optional.py reads them)."""
import sys
import types

import pytest

TORCH_SKIP = ('torch is not installed: it is the test-only reference; '
              'pip install -r requirements-torch.txt --index-url https://download.pytorch.org/whl/cpu')
SPANDREL_SKIP = ('spandrel is not installed: it is a test-only reference; '
                 'pip install --no-deps spandrel==0.4.2 (after torch)')
FFMPEG_SKIP = 'no ffmpeg: pip install imageio-ffmpeg (in requirements.txt), or apt-get install ffmpeg'
FFPROBE_SKIP = 'no ffprobe: apt-get install ffmpeg (imageio-ffmpeg ships ffmpeg only)'
SAFETENSORS_SKIP = 'safetensors is not installed: pip install safetensors (paddlepaddle 3 brings it)'
UNMARKED = ("{what} reached from a test not marked 'torch': ask for the torch (or spandrel) fixture in the test's "
            "arguments, so that CI's run with torch (-m torch) runs it")

# set by tests/conftest.py before each test's set-up: whether the running test carries the ``torch`` mark
running = types.SimpleNamespace(marked=True)


def _check_marked(what):
    if not running.marked:
        pytest.fail(UNMARKED.format(what=what), pytrace=False)


def need_torch():
    """The ``torch`` module, or skip the test with ``TORCH_SKIP``."""
    _check_marked('torch')
    return pytest.importorskip('torch', reason=TORCH_SKIP)


def need_reference():
    """``realesrgan_paddle.reference.torch_networks`` (the PyTorch reference networks), or skip without torch."""
    need_torch()
    from realesrgan_paddle.reference import torch_networks
    return torch_networks


def _placeholder_torchvision():
    """spandrel imports ``torchvision`` for two architectures this project does not port (LaMa, RestoreFormer). A
    torchvision wheel built for another torch fails at import ('operator torchvision::nms does not exist'), so
    when torchvision cannot be imported, a placeholder stands in for the three names spandrel reads at import;
    using them raises. The networks compared here never touch torchvision."""
    def unavailable(*args, **kwargs):
        raise RuntimeError('torchvision is a placeholder in these tests (tests/skips.py)')

    tv = types.ModuleType('torchvision')
    transforms = types.ModuleType('torchvision.transforms')
    functional = types.ModuleType('torchvision.transforms.functional')
    functional.InterpolationMode = type('InterpolationMode', (), {})
    functional.rotate = functional.normalize = unavailable
    tv.transforms, transforms.functional = transforms, functional
    sys.modules.update({'torchvision': tv, 'torchvision.transforms': transforms,
                        'torchvision.transforms.functional': functional})


def need_spandrel():
    """The ``spandrel`` module (PyTorch networks of 42 architectures), or skip saying what installs it."""
    need_torch()
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
