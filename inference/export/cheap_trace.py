"""What Paddle's legacy tracer computes only to throw away, skipped while an export traces (``cheap_trace``).

- ``inspect.stack()``: called for every binary op whose right operand has a dynamic batch, only to name the
  caller's file and line in a DeprecationWarning; it reads the source of every frame on the stack (about 60 ms a
  call in a pipeline process: 4.2 s of the 7.6 s its evaluate stage spent exporting ten tiny compact checkpoints).
  That module alone sees a ``stack`` that lists the frames without their source; its warning keeps the file and line.
- ``traceback.extract_stack()``: called for every op the legacy program records, to keep the Python call stack
  that made it as the op's ``op_callstack`` attribute. ``paddle.jit.save`` strips most of them, not all: the saved
  graph kept thousands of lines naming this machine's files (GRL's tiny export: 829 KB, 253 KB without them), and
  reading the stacks was a third to a half of a legacy trace (DCTLSA's tiny export 8.0 s, 4.8 s without). The
  graph module alone sees an ``extract_stack`` that returns no frames: each op records an empty stack, and the
  saved graph is the same op for op, attribute for attribute (tests/inference/test_export_trace.py).
"""
import contextlib
import importlib
import sys
import types


def frames_without_source(context=1):
    """``inspect.stack()``'s rows (frame, file, line, function, None, None) without reading any source."""
    frame, rows = sys._getframe(1), []
    while frame is not None:
        rows.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None))
        frame = frame.f_back
    return rows


def _no_frames(*args, **kwargs):
    return []


@contextlib.contextmanager
def _module_sees(module_name, attr, needed, stand_in):
    """``module_name.attr`` replaced by ``stand_in`` inside the block (the module's own name for a module it
    imported), put back after; nothing done when the module or its ``attr.needed`` is not there (another Paddle)."""
    module = sys.modules.get(module_name)
    real = getattr(module, attr, None)
    if real is None or not hasattr(real, needed):
        yield
        return
    setattr(module, attr, stand_in)
    try:
        yield
    finally:
        setattr(module, attr, real)


@contextlib.contextmanager
def cheap_trace():
    """Inside: Paddle's binary-op patch reads no frame source, and its graph records no op call stacks."""
    for name in ('paddle.base.framework', 'paddle.base.layers.math_op_patch'):  # loaded before they are looked up
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    with _module_sees('paddle.base.layers.math_op_patch', 'inspect', 'stack',
                      types.SimpleNamespace(stack=frames_without_source)), \
            _module_sees('paddle.base.framework', 'traceback', 'extract_stack',
                         types.SimpleNamespace(extract_stack=_no_frames)):
        yield
