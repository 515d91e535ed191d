"""What an ``.onnx`` file must be before onnxruntime reads it: bounded in size, nodes and the weights its nodes
read, self-contained, and without control flow.

A graph that repeats its network 1000 times over the same weights is a small file, but onnxruntime prepares the
weights once per node that reads them and went past 3.2 GB on it (issue 64, X11). An export of
``tools/export_onnx.py`` reads each weight about once, so the bytes of weights its nodes read (an initializer or a
``Constant`` counted once per reading node) stay near the file's size; a repeated graph's are many times it. The
file is parsed with the ``onnx`` package (requirements-onnx.txt) without its external data; without ``onnx`` only
the size is checked.
"""
import os
from pathlib import Path

from realesrgan_paddle.checkpoint_io.graph_check import read_info

MAX_ONNX_BYTES = 1 << 30  # the largest upscaler exported here is under 200 MB (x4plus in fp32: 67 MB)
MAX_NODES = 50_000  # x4plus: about 6,000 (261 a block, measured on an export of 2 blocks)
READ_SLACK = 16 << 20  # weights that small graphs may read twice (shapes, scales) beyond twice the file's size
GRAPH_ATTRS = (5, 10)  # onnx.AttributeProto.GRAPH, GRAPHS: the bodies of If, Loop, Scan


def sidecar(onnx_path):
    """The ``.json`` sidecar beside an ``.onnx`` file (``tools/export_onnx.py`` writes it: the arch, the scale)."""
    return Path(onnx_path).with_suffix('.json')


def load_onnx_info(onnx_path):
    """The sidecar of ``onnx_path`` (bounded and checked: ``checkpoint_io.graph_check.read_info``), or None."""
    p = sidecar(onnx_path)
    return read_info(p, 'sidecar') if os.path.lexists(p) else None


def check_onnx_file(path):
    """``ValueError`` (one line naming ``path``) for a file onnxruntime must not be given."""
    size = os.stat(path).st_size
    if size > MAX_ONNX_BYTES:
        raise ValueError(f'{path}: {size / 2 ** 20:.0f} MiB, more than the {MAX_ONNX_BYTES >> 20} MiB an upscaler '
                         'export has')
    try:
        import onnx
    except ImportError:
        return
    try:
        graph = onnx.load_model(str(path), load_external_data=False).graph
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and onnx's own for a damaged file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f'{path}: not a loadable ONNX model ({reason[:200]})') from None
    outside = [t.name for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if outside:
        raise ValueError(f'{path}: keeps its weights in other files (external data, {outside[0]!r}): not read; '
                         'give a self-contained .onnx (tools/export_onnx.py)')
    if len(graph.node) > MAX_NODES:
        raise ValueError(f'{path}: {len(graph.node)} nodes, more than the {MAX_NODES} an upscaler export has '
                         '(a repeated or damaged graph): not run')
    for node in graph.node:
        if any(a.type in GRAPH_ATTRS for a in node.attribute):
            raise ValueError(f'{path}: holds a {node.op_type} node with a graph of its own (control flow), which no '
                             'upscaler export has: not run')
    weights = {t.name: _bytes(onnx, t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant' and node.output:
            weights[node.output[0]] = sum(_bytes(onnx, a.t) for a in node.attribute if a.type == 4)  # TENSOR
    read = sum(weights.get(name, 0) for node in graph.node for name in node.input)
    if read > 2 * size + READ_SLACK:
        raise ValueError(f'{path}: its nodes read {read / 2 ** 20:.0f} MiB of weights from a {size / 2 ** 20:.1f} '
                         'MiB file (the same weights over and over: a repeated graph): not run')


def _bytes(onnx, tensor):
    n = 1
    for d in tensor.dims:
        n *= max(int(d), 0)
    try:
        return n * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, ValueError, TypeError):  # strings and undefined types: no fixed size
        return 0
