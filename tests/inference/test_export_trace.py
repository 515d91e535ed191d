"""The export's trace reads no source files and records no call stacks (inference/export/paddle_export.py,
``cheap_trace``): Paddle's legacy tracer calls ``inspect.stack()`` for each binary op whose right operand has a
dynamic batch, to name the caller in a DeprecationWarning, and ``inspect.stack`` reads the source of every frame;
its graph keeps each op's Python call stack, this machine's file names, in the saved file."""
import contextlib
import inspect
import re
import sys
from pathlib import Path


def test_trace_reads_no_frame_source_and_puts_paddle_back(monkeypatch, tmp_path):
    import paddle.base.framework as graph
    import paddle.base.layers.math_op_patch as patched

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import trace_save
    from tests.nets import srvgg
    looked = []
    real = inspect.getframeinfo
    monkeypatch.setattr(inspect, 'getframeinfo', lambda *a, **k: looked.append(a[0]) or real(*a, **k))
    before, stacks = patched.inspect, graph.traceback
    arch = srvgg()
    trace_save(models.build_network(arch), arch, tmp_path / 'inference')
    assert (tmp_path / 'inference.pdmodel').is_file() and (tmp_path / 'inference.pdiparams').is_file()
    # inspect.stack() walks getframeinfo: it was not called; both modules see Paddle's own again
    assert looked == [] and patched.inspect is before and graph.traceback is stacks


def test_frames_without_source_name_the_same_callers():
    from realesrgan_paddle.inference.export.paddle_export import frames_without_source

    def callee():
        return frames_without_source(), inspect.stack(0)
    cheap, full = callee()
    assert len(cheap) == len(full) and len(cheap) > 3
    for (frame, file, line, name, lines, index), info in zip(cheap, full):
        assert (frame, file, line, name) == (info.frame, info.filename, info.lineno, info.function)
        assert lines is None and index is None
    assert cheap[0][3] == 'callee' and cheap[1][0] is sys._getframe()


def _graph(path):
    """The saved legacy graph as text, and the number of call-stack lines its ops hold (cleared in the text). The
    tensor slices' names, numbered by a counter of the process, are renumbered in the order the ops use them, and
    each block's variables listed in name order."""
    from google.protobuf import text_format
    from paddle.base.proto import framework_pb2
    prog, lines, names = framework_pb2.ProgramDesc(), 0, {}
    prog.ParseFromString(Path(path).read_bytes())

    def rename(name):
        return re.sub(r'_slice_[0-9]+$', lambda m: names.setdefault(name, f'_slice_#{len(names)}'), name)
    for block in prog.blocks:
        for op in block.ops:
            for attr in op.attrs:
                if attr.name == 'op_callstack':
                    lines += len(attr.strings)
                    del attr.strings[:]
            for slot in (*op.inputs, *op.outputs):
                slot.arguments[:] = [rename(a) for a in slot.arguments]
        for var in block.vars:
            var.name = rename(var.name)
        block.vars.sort(key=lambda v: v.name)
    return text_format.MessageToString(prog), lines


def test_the_graph_names_no_file_of_this_machine_and_is_the_same_op_for_op(monkeypatch, tmp_path):
    """Traced as the export traces, the graph holds no call-stack line and no path of the tree; traced with
    Paddle's own stacks (the names reset alike), it holds them, and is otherwise the same, field for field."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export import paddle_export
    from tests.nets import srvgg
    from tests.user_path import ROOT
    arch = srvgg()

    def trace(folder):
        paddle.seed(0)
        with paddle.utils.unique_name.guard():
            paddle_export.trace_save(models.build_network(arch), arch, tmp_path / folder / 'inference')
        return tmp_path / folder / 'inference.pdmodel'
    cheap = trace('cheap')
    monkeypatch.setattr(paddle_export, 'cheap_trace', contextlib.nullcontext)
    full = trace('full')
    (bare, none), (cleared, lines) = _graph(cheap), _graph(full)
    assert none == 0 and str(ROOT).encode() not in cheap.read_bytes()
    assert lines > 10 and str(ROOT).encode() in full.read_bytes()  # what the check would find without the change
    assert bare == cleared and len(bare) > 10000
