"""The export's trace reads no source files: Paddle's legacy tracer calls ``inspect.stack()`` for each binary op
whose right operand has a dynamic batch, to name the caller in a DeprecationWarning, and ``inspect.stack`` reads
the source of every frame (inference/export/paddle_export.py, ``_cheap_caller_lookup``)."""
import inspect
import sys


def test_trace_reads_no_frame_source_and_puts_paddle_back(monkeypatch, tmp_path):
    import paddle.base.layers.math_op_patch as patched

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import trace_save
    from tests.nets import srvgg
    looked = []
    real = inspect.getframeinfo
    monkeypatch.setattr(inspect, 'getframeinfo', lambda *a, **k: looked.append(a[0]) or real(*a, **k))
    before = patched.inspect
    arch = srvgg()
    trace_save(models.build_network(arch), arch, tmp_path / 'inference')
    assert (tmp_path / 'inference.pdmodel').is_file() and (tmp_path / 'inference.pdiparams').is_file()
    assert looked == [] and patched.inspect is before  # inspect.stack() walks getframeinfo: it was not called


def test_frames_without_source_name_the_same_callers():
    from realesrgan_paddle.inference.export.paddle_export import _frames_without_source

    def callee():
        return _frames_without_source(), inspect.stack(0)
    cheap, full = callee()
    assert len(cheap) == len(full) and len(cheap) > 3
    for (frame, file, line, name, lines, index), info in zip(cheap, full):
        assert (frame, file, line, name) == (info.frame, info.filename, info.lineno, info.function)
        assert lines is None and index is None
    assert cheap[0][3] == 'callee' and cheap[1][0] is sys._getframe()
