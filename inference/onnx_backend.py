"""Run an ``.onnx`` file written by ``tools/export_onnx.py`` with onnxruntime (CPU).

Same interface as the backends in ``inference/backends.py``: ``forward(x)`` on a
(N,C,H,W) float32 array returns float32. The ``--fp16`` export keeps float32 input and
output (its casts are inside the graph); a file whose input is float16 gets its
casts here. onnxruntime is imported only when one is built.
"""
from pathlib import Path

import numpy as np

from .backends import check_output
from .onnx_check import check_onnx_file
from .onnx_export import load_onnx_info


class OnnxBackend:
    name = 'onnx'
    engine = 'onnxruntime'
    kind = 'cpu'

    def __init__(self, onnx_path, threads=None):
        p = Path(onnx_path)
        if not p.is_file():
            raise FileNotFoundError(f'{p}: no such ONNX file')
        self.info = load_onnx_info(p)  # bounded and checked before onnxruntime reads the model
        check_onnx_file(p)  # so is the graph: size, nodes, the weights they read (inference/onnx_check.py)
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError('running .onnx models needs onnxruntime: pip install -r requirements-onnx.txt') from None
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(p), so, providers=['CPUExecutionProvider'])
        except Exception as e:  # noqa: BLE001  (onnxruntime raises its own types for a bad file)
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f'{p}: not a loadable ONNX model ({msg[:200]})') from None
        if self.info is None:
            raise ValueError(f'{p}: no {p.with_suffix(".json").name} beside it (export with tools/export_onnx.py)')
        self.where = p
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.dtype = np.float16 if 'float16' in inp.type else np.float32
        self.create_time = 0.0

    def forward(self, x):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.session.run(None, {self.input_name: x})[0]
        check_output(x.shape, y, self.info['scale'], self.where)
        return y.astype(np.float32, copy=False)
