"""Run an ``.onnx`` file written by ``tools/export_onnx.py`` with onnxruntime (CPU).

Same interface as the backends in ``inference/backends.py``: ``forward(x)`` on a
(N,C,H,W) float32 array returns float32. The ``--fp16`` export keeps float32 input and
output (its casts are inside the graph); a file whose input is float16 gets its
casts here. onnxruntime is imported only when one is built.

What the graph itself does bounds it, not its sidecar: onnxruntime's arena (every tensor a session makes, its
outputs included) is capped for the process at ``ARENA_SHARE`` of the memory it could take when the first graph
was loaded, so a graph whose activations grow with (H W)^2 or a Resize of x1000 is refused by the allocator
(one line) instead of by the kernel's OOM killer; and ``probe`` runs the graph once on the smallest input before
any image, so a graph whose output is not the scale its sidecar says is refused at set-up, at that input's cost.
"""
from pathlib import Path

import numpy as np

from realesrgan_paddle.utils.host_memory import available_memory

from ..backends import check_output
from .onnx_check import check_onnx_file, load_onnx_info

ARENA_SHARE = 0.8  # of the memory available when the first graph is loaded; the rest stays the process's
_ARENA = {}  # the one capped CPU arena of this process: {'cap': bytes}


def _capped_arena(ort):
    """Register, once per process, onnxruntime's CPU arena capped at ``ARENA_SHARE`` of the available memory
    (sessions use it through ``session.use_env_allocators``); returns the cap in bytes, or None."""
    if 'cap' not in _ARENA:
        cap = int(ARENA_SHARE * available_memory())
        try:
            info = ort.OrtMemoryInfo('Cpu', ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(cap, -1, -1, -1))
        except Exception:  # noqa: BLE001  (an onnxruntime without env allocators: its own arena, uncapped)
            cap = None
        _ARENA['cap'] = cap
    return _ARENA['cap']


def _gib(n):
    return f'{n / (1 << 30):.2f} GiB'


class OnnxBackend:
    name = 'onnx'
    engine = 'onnxruntime'
    kind = 'cpu'

    def __init__(self, onnx_path, threads=None):
        p = Path(onnx_path)
        if not p.is_file():
            raise FileNotFoundError(f'{p}: no such ONNX file')
        self.info = load_onnx_info(p)  # bounded and checked before onnxruntime reads the model
        check_onnx_file(p)  # so is the graph: size, nodes, the weights they read (inference/export/onnx_check.py)
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError('running .onnx models needs onnxruntime: pip install -r requirements-onnx.txt') from None
        ort.set_default_logger_severity(4)  # an arena refusal is our one line, not onnxruntime's coloured log
        so = ort.SessionOptions()
        so.log_severity_level = 4
        if threads:
            so.intra_op_num_threads = int(threads)
        self.cap = _capped_arena(ort)
        if self.cap is not None:
            so.add_session_config_entry('session.use_env_allocators', '1')
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
        channels = inp.shape[1] if len(inp.shape) == 4 and isinstance(inp.shape[1], int) else None
        self.channels = channels or int(self.info['arch'].get('num_in_ch', self.info['arch'].get('in_chans', 3)))
        self.create_time = 0.0

    def probe(self, side):
        """One forward of a ``side`` x ``side`` input (the smallest the network takes): its output must be the
        sidecar's scale (``check_output``), so a graph that makes x1000 is refused here, on a tiny input."""
        self.forward(np.zeros((1, self.channels, side, side), np.float32))

    def forward(self, x):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        try:
            y = self.session.run(None, {self.input_name: x})[0]
        except Exception as e:  # noqa: BLE001  onnxruntime's own error types
            text = str(e)
            if 'Available memory of' in text and self.cap is not None:
                raise ValueError(f'{self.where}: the graph asks for more memory on a {x.shape[3]}x{x.shape[2]} '
                                 f'input than the {_gib(self.cap)} onnxruntime may take here (its activations, '
                                 'not its sidecar\'s estimate): not run') from None
            first = (text.strip().splitlines() or [type(e).__name__])[0]
            raise ValueError(f'{self.where}: onnxruntime failed on a {x.shape[3]}x{x.shape[2]} input '
                             f'({first[:200]})') from None
        check_output(x.shape, y, self.info['scale'], self.where)
        return y.astype(np.float32, copy=False)
