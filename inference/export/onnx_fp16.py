"""Turn an fp32 ONNX export into fp16 weights and arithmetic, keeping float32 input and output.

paddle2onnx 2.1 ignores its ``export_fp16_model`` flag (the weights stay
float32), so the fp16 file is made from the fp32 one with
``onnxconverter_common.float16`` (``keep_io_types``: ``x`` and the output stay
float32, one Cast at each end).

The dynamic-shape arithmetic stays float32: the export computes the output's
H and W from ``Shape(x)`` (a Cast to float, times the scale, a Cast back to
int64). The converter retypes that chain's tensors to float16 but leaves the
Cast's ``to`` at float, and onnxruntime then refuses the file ("Type
(tensor(float16)) of output arg ... does not match expected type
(tensor(float))"). Every node fed only by ``Shape`` outputs (and
initializers) is therefore kept out of the conversion.
"""
import collections
from pathlib import Path


class MissingConverter(RuntimeError):
    pass


def shape_nodes(graph):
    """Names of the nodes that compute on shapes only: Shape, and the nodes fed only by their results."""
    inits = {i.name for i in graph.initializer}
    shape_tensors, names = set(), []
    for n in graph.node:  # ONNX graphs are stored in topological order
        ins = [i for i in n.input if i and i not in inits]
        if n.op_type == 'Shape' or (ins and all(i in shape_tensors for i in ins)):
            shape_tensors.update(n.output)
            names.append(n.name)
    return names


def require_converter():
    """The ``onnxconverter_common.float16`` module, or a MissingConverter error that names the fix."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise MissingConverter('an fp16 ONNX export needs onnxconverter-common: '
                               'pip install -r requirements-onnx.txt') from None
    return float16


def to_fp16(model):
    """A float16 copy of ``model`` (an ``onnx.ModelProto``): fp16 weights and compute, float32 I/O."""
    return require_converter().convert_float_to_float16(model, keep_io_types=True, node_block_list=shape_nodes(model.graph))


def onnx_module():
    """The ``onnx`` package (an optional requirement: requirements-onnx.txt), imported when a file is first read."""
    import onnx
    return onnx


def convert_file(src, dst):
    """Write the fp16 form of the ONNX file ``src`` to ``dst``; return ``dst``."""
    onnx = onnx_module()
    m16 = to_fp16(onnx.load(str(src)))
    onnx.checker.check_model(m16)
    onnx.save(m16, str(dst))
    return Path(dst)


def weight_dtypes(path):
    """{'float16': n, 'float32': m, ...}: how many initializers of each type the ONNX file holds."""
    onnx = onnx_module()
    names = {v: k.lower() for k, v in onnx.TensorProto.DataType.items()}
    return dict(collections.Counter(names[i.data_type] for i in onnx.load(str(path)).graph.initializer))
