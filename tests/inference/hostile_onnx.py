""".onnx graphs that do what their sidecar does not say (issue 73), for the ONNX and web UI tests; needs onnx."""
import json

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save_model

SIDECAR_ARCH = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 32, 'num_conv': 1,
                'upscale': 4, 'act_type': 'prelu'}


def save_with_sidecar(graph, path, scale=4):
    """``graph`` as ``path`` (opset 13) with a sidecar that says it is a small SRVGG x``scale``."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    save_model(model, str(path))
    path.with_suffix('.json').write_text(json.dumps({'arch': {**SIDECAR_ARCH, 'upscale': scale}, 'scale': scale,
                                                     'format': 'onnx'}))
    return path


def resize_graph(scale):
    """x -> Resize by ``scale`` (nearest): one node whose output its sidecar knows nothing of."""
    x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 'h', 'w'])
    y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 3, 'H', 'W'])
    inits = [numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), 'scales'),
             numpy_helper.from_array(np.array([], np.float32), 'roi')]
    return helper.make_graph([helper.make_node('Resize', ['x', 'roi', 'scales'], ['y'], mode='nearest')], 'g', [x],
                             [y], inits)


def gram_graph():
    """x4 nearest of the input plus the mean of its (H W) x (H W) Gram matrix: activations that grow with the
    square of the pixels (800x600: 921 GB)."""
    graph = resize_graph(4)
    steps = [helper.make_node('Flatten', ['x'], ['f'], axis=2), helper.make_node('Transpose', ['f'], ['ft'], perm=[1, 0]),
             helper.make_node('MatMul', ['ft', 'f'], ['gram']),
             helper.make_node('ReduceMean', ['gram'], ['m'], keepdims=1), helper.make_node('Add', ['x', 'm'], ['xm'])]
    for i, node in enumerate(steps):
        graph.node.insert(i, node)
    graph.node[len(steps)].input[0] = 'xm'
    return graph
