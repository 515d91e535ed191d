""".onnx files built to hurt (issue 64, X11), each refused in one line before onnxruntime sees it: a network
repeated 1000 times over the same weights (a small file that went past 3.2 GB in onnxruntime), too many nodes,
weights kept in another file, control flow. A plain graph of the same pieces runs."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip('onnx', reason='needs onnx: pip install -r requirements-onnx.txt')
ort = pytest.importorskip('onnxruntime', reason='needs onnxruntime: pip install -r requirements-onnx.txt')
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tests.inference.hostile_onnx import gram_graph, resize_graph, save_with_sidecar  # noqa: E402

FEAT = 32


def _save(model_graph, path, scale=1):
    model = helper.make_model(model_graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    path.with_suffix('.json').write_text(json.dumps({'arch': {'type': 'SRVGGNetCompact', 'num_in_ch': 3,
                                                              'num_out_ch': 3, 'num_feat': FEAT, 'num_conv': 1,
                                                              'upscale': scale, 'act_type': 'prelu'},
                                                     'scale': scale, 'format': 'onnx'}))
    return path


def _convs(repeats, shared=True, extra=()):
    """3 -> FEAT -> (FEAT -> FEAT) x ``repeats`` -> 3 convolutions and ReLUs; the middle weight shared by every
    repeat (one initializer) or not."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.05, (FEAT, 3, 3, 3)).astype(np.float32), 'w_in'),
             numpy_helper.from_array(rng.normal(0, 0.05, (3, FEAT, 3, 3)).astype(np.float32), 'w_out')]
    nodes, x = [helper.make_node('Conv', ['x', 'w_in'], ['f0'], pads=[1, 1, 1, 1])], 'f0'
    for i in range(repeats):
        w = 'w_mid' if shared else f'w_mid{i}'
        if not shared or i == 0:
            inits.append(numpy_helper.from_array(rng.normal(0, 0.05, (FEAT, FEAT, 3, 3)).astype(np.float32), w))
        nodes += [helper.make_node('Conv', [x, w], [f'c{i}'], pads=[1, 1, 1, 1]),
                  helper.make_node('Relu', [f'c{i}'], [f'r{i}'])]
        x = f'r{i}'
    nodes += [helper.make_node('Conv', [x, 'w_out'], ['y'], pads=[1, 1, 1, 1]), *extra]
    shape = [1, 3, 'h', 'w']
    return helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, shape)],
                             [helper.make_tensor_value_info('y', TensorProto.FLOAT, shape)], inits)


@pytest.fixture
def no_ort(monkeypatch):
    """onnxruntime must not be handed the file."""
    monkeypatch.setattr(ort, 'InferenceSession', lambda *a, **k: pytest.fail('onnxruntime was given the file'))


def _refused(path, *words):
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    with pytest.raises(ValueError) as e:
        OnnxBackend(path)
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith(f'{path}: ') and all(w in msg for w in words), msg


def test_a_network_repeated_1000_times_is_refused(tmp_path, no_ort):
    path = _save(_convs(1000), tmp_path / 'repeated.onnx')
    assert path.stat().st_size < 1 << 20  # a small file: 37 KB of weights, read 1000 times
    _refused(path, 'read', 'MiB of weights', 'repeated graph')


def test_too_many_nodes_are_refused(tmp_path, no_ort, monkeypatch):
    from realesrgan_paddle.inference.export import onnx_check
    monkeypatch.setattr(onnx_check, 'MAX_NODES', 100)  # the real limit's graph (50,000 nodes) takes seconds to build
    _refused(_save(_convs(60, shared=False), tmp_path / 'long.onnx'), '122 nodes, more than the 100')


def test_external_weights_and_control_flow_are_refused(tmp_path, no_ort):
    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    model = helper.make_model(_convs(1), opset_imports=[helper.make_opsetid('', 13)])
    onnx.save(model, str(outside / 'ext.onnx'), save_as_external_data=True, all_tensors_to_one_file=True,
              location='weights.bin', size_threshold=0)
    (tmp_path / 'ext.onnx').write_bytes((outside / 'ext.onnx').read_bytes())  # its weights.bin is not beside it
    _refused(tmp_path / 'ext.onnx', 'external data', 'not read')
    body = helper.make_graph([helper.make_node('Identity', ['y'], ['z'])], 'body', [],
                             [helper.make_tensor_value_info('z', TensorProto.FLOAT, None)])
    cond = helper.make_node('If', ['flag'], ['z'], then_branch=body, else_branch=body)
    flag = helper.make_node('Constant', [], ['flag'], value=helper.make_tensor('v', TensorProto.BOOL, [], [True]))
    _refused(_save(_convs(1, extra=(flag, cond)), tmp_path / 'if.onnx'), 'If node', 'control flow')


def test_the_same_pieces_unrepeated_run(tmp_path):
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    be = OnnxBackend(_save(_convs(3, shared=False), tmp_path / 'plain.onnx'))
    assert be.forward(np.zeros((1, 3, 8, 8), np.float32)).shape == (1, 3, 8, 8)


# ---------------------------------------------------------------- issue 73: what the graph itself does
def test_an_output_of_x1000_is_refused_at_set_up_by_what_the_graph_makes(tmp_path):
    """The sidecar says x4; the graph makes x1000 (3.2 GB from a 16x16 input before). Probed once on its smallest
    input (1x1: 12 MB) when it is set up, it is refused before any image."""
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.backends import OutputMismatch
    path = save_with_sidecar(resize_graph(1000), tmp_path / 'x1000.onnx')
    with pytest.raises(OutputMismatch) as e:
        Upscaler(str(path))
    assert str(e.value) == (f'{path}: the graph made a 1x3x1000x1000 output from a 1x3x1x1 input, not x4, as its '
                            'sidecar says; refusing its output')


def test_a_graph_whose_activations_grow_with_the_square_of_the_pixels_is_refused(tmp_path):
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(str(save_with_sidecar(gram_graph(), tmp_path / 'gram.onnx')))
    assert up.upscale(np.zeros((24, 32, 3), np.uint8)).shape == (96, 128, 3)  # 768^2 floats: runs
    with pytest.raises(ValueError) as e:
        up.upscale(np.zeros((600, 800, 3), np.uint8))
    msg = str(e.value)
    assert '\n' not in msg and 'the graph asks for more memory on a' in msg and 'onnxruntime may take here' in msg


_BOTH = '''import sys
import numpy as np
from realesrgan_paddle.inference import Upscaler
try:
    Upscaler(sys.argv[1])
except ValueError as e:
    print(e, file=sys.stderr)
try:
    Upscaler(sys.argv[2]).upscale(np.zeros((600, 800, 3), np.uint8))
except ValueError as e:
    print(e, file=sys.stderr)
'''


def test_both_are_refused_under_1_gib(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    a, b = save_with_sidecar(resize_graph(1000), tmp_path / 'x1000.onnx'), save_with_sidecar(gram_graph(), tmp_path / 'gram.onnx')
    peak = tmp_path / 'peak.json'
    res = subprocess.run([sys.executable, 'benchmarks/peak_rss.py', str(peak), '--', sys.executable, '-c', _BOTH,
                          str(a), str(b)], cwd=root, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and 'not x4, as its sidecar says' in res.stderr, res.stderr[-2000:]
    assert 'the graph asks for more memory' in res.stderr and 'Traceback' not in res.stderr
    assert json.loads(peak.read_text())['peak_rss'] < 1 << 30


def test_export_onnx_check_sizes_are_bounded():
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, 'tools/export_onnx.py', '-m', 'realesr-animevideov3', '-o', 'x.onnx',
                          '--check', '32', '40000'], cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == (
        'export_onnx.py: error: --check sizes must be between 8 and 1024, got 40000')
