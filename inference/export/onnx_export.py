"""Export a generator to ONNX (dynamic N/H/W) through ``paddle2onnx``, and check it against Paddle.

paddle2onnx 2.1 reads Paddle 3 programs (PIR ``inference.json``; a legacy
``.pdmodel`` is converted to PIR first) but not ``F.interpolate(mode='nearest',
scale_factor=...)``: it stops with "the 0th elementwise MUST be
ir::FloatAttribute" (docs/onnx.md). RRDBNet and SRVGGNetCompact both use that
op, so while the graph is traced here a nearest upsample by an integer factor
is written as a depthwise ``conv2d_transpose`` with a kernel of ones and stride f
(the same values; ``repeat_interleave`` converts but fails in onnxruntime's Tile),
and ``leaky_relu(x, a)`` as ``maximum(x, a*x)``: paddle2onnx 2.1 writes a garbage
``alpha`` (1.8e28, 1.5e-44, 0.0 seen) on the ONNX LeakyRelu nodes of RRDBNet. It writes whatever
memory holds as the ``constant_value`` of a constant-mode ``pad3d`` too (HAT's overlapping windows pad with
zeros: -1e18, -2.4e5, 1e-43 seen from one network exported again; OmniSR's and DAT's run-time pads alike), so
a zero pad is written as an edge pad times a 0/1 mask of where the input lies (exact). Everything
else is the network's ``ArchSpec.export_layer`` form, the one the Paddle
export traces (reshape constants read from ``paddle.shape`` at run time, so H
and W stay dynamic).

Beside ``NAME.onnx`` goes ``NAME.json`` (arch, scale, mod, opset, dtype). ``fp16=True``
converts the fp32 graph afterwards (``inference/export/onnx_fp16.py``; paddle2onnx 2.1
ignores its own fp16 flag); input and output stay float32.
"""
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from .paddle_export import trace_save
from realesrgan_paddle.checkpoint_io.graph_check import GraphRefused, check_graph
from .onnx_check import sidecar
from .onnx_fp16 import convert_file, onnx_module, require_converter

OPSETS = range(11, 20)
DEFAULT_OPSET = 13
log = logging.getLogger('inference')


class MissingPaddle2Onnx(RuntimeError):
    pass


# paddle2onnx 2.1 folds constants with Polygraphy, which needs onnx_graphsurgeon; paddle2onnx sets
# POLYGRAPHY_AUTOINSTALL_DEPS=1 first, so a missing one was pip-installed at run time. Both are pinned in
# requirements-onnx.txt; a missing one is named in one line, and auto-install stays off (``_no_autoinstall``).
NEEDED = ('paddle2onnx', 'polygraphy', 'onnx_graphsurgeon')


def _absent(name):
    try:
        return importlib.util.find_spec(name) is None
    except (ValueError, AttributeError):  # blocked in sys.modules (None)
        return True


def _import_paddle2onnx():
    missing = [m for m in NEEDED if _absent(m)]
    if missing:
        raise MissingPaddle2Onnx(f'ONNX export needs {", ".join(missing)}: pip install -r requirements-onnx.txt')
    import paddle2onnx
    return paddle2onnx


@contextlib.contextmanager
def _no_autoinstall():
    """Polygraphy never installs packages: its switch is read once, when ``polygraphy.config`` is first imported,
    so it is imported here with the switch off and held off (paddle2onnx sets the variable to 1 on its way); the
    variable is put back afterwards, so child processes do not inherit paddle2onnx's 1."""
    key = 'POLYGRAPHY_AUTOINSTALL_DEPS'
    old = os.environ.get(key)
    os.environ[key] = '0'
    from polygraphy import config, logger as poly_logger
    poly_log = poly_logger.logger
    config.AUTOINSTALL_DEPS = False
    if poly_log.COLORED_MODULE_PRESENT is None:  # else its log nags "please install ... pip install colored"
        poly_log.COLORED_MODULE_PRESENT = False
    try:
        yield
    finally:
        config.AUTOINSTALL_DEPS = False
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def fold_constants_file(path):
    """Fold the constants of the ONNX file ``path`` in place, as paddle2onnx 2.1 does with Polygraphy (the shape
    computations of a window network: DCTLSA's tiny graph 9467 nodes -> 4190), but with ONNX's own shape inference
    between the passes: Polygraphy tries onnxruntime's symbolic one first, which took 50 s of DCTLSA's 55 s export
    for the same folded graph (docs/onnx.md). A graph that does not fold, or whose folded outputs change rank, is
    kept as paddle2onnx wrote it, with one log line (paddle2onnx's own rule)."""
    from polygraphy.backend.onnx import fold_constants
    onnx = onnx_module()
    model = onnx.load(str(path))
    try:
        folded = fold_constants(model, allow_onnxruntime_shape_inference=False)
        onnx.checker.check_model(folded, full_check=True)
        if _ranks(folded) != _ranks(model):
            raise ValueError('the folded outputs changed rank')
    except Exception as e:  # noqa: BLE001 (Polygraphy and onnx raise many kinds; the unfolded graph is valid)
        log.warning('ONNX constants not folded (%s); the graph is kept as paddle2onnx wrote it',
                    str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
        return path
    onnx.save(folded, str(path))
    return path


def _ranks(model):
    return [len(o.type.tensor_type.shape.dim) if o.type.tensor_type.HasField('shape') else None
            for o in model.graph.output]


def export_onnx(net, arch, out_file, opset=None, fp16=False, source=None, verify=None):
    """Write ``out_file`` (.onnx) and its ``.json`` sidecar atomically; return the path. ``opset`` None:
    ``DEFAULT_OPSET``, or the lowest the network's layers need when that is higher. ``verify(onnx_path)``
    runs on the finished temporary file (its sidecar beside it) before either is renamed into place: when it
    raises, nothing is written."""
    from realesrgan_paddle import models

    from .onnx_ops import onnx_convertible_ops
    p2o = _import_paddle2onnx()
    if fp16:
        require_converter()  # before the trace: a missing onnxconverter-common fails at once, naming the fix
    need = max(getattr(layer, 'ONNX_MIN_OPSET', 0) for layer in [net, *net.sublayers()])
    opset = max(DEFAULT_OPSET, need) if opset is None else opset
    if opset not in OPSETS:
        raise ValueError(f'opset must be between {OPSETS.start} and {OPSETS.stop - 1}, got {opset}')
    if opset < need:  # paddle2onnx would abort the process
        raise ValueError(f'{arch["type"]} needs ONNX opset {need} or more (--opset {need}), got {opset}')
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_file.stem}.', dir=str(out_file.parent)))
    try:
        with onnx_convertible_ops():
            trace_save(net, arch, tmp / 'inference', legacy=False)
        graph = tmp / 'inference.json'
        if not graph.is_file():
            graph = tmp / 'inference.pdmodel'
        try:
            check_graph(graph)  # what paddle2onnx reads is a graph this project writes (checkpoint_io/graph_check.py)
        except GraphRefused as e:  # an op outside the checked set: name the architecture, not the temporary file
            raise ValueError(f'{arch["type"]} cannot be exported to ONNX yet: its graph has ops this project '
                             f'does not pass to paddle2onnx ({str(e).partition("refused: ")[2].split(";")[0]}); '
                             'use the Paddle export (tools/export_model.py) instead') from None
        with _no_autoinstall():
            p2o.export(str(graph), str(tmp / 'inference.pdiparams'), save_file=str(tmp / 'model.onnx'),
                       opset_version=int(opset), auto_upgrade_opset=False, export_fp16_model=False,
                       enable_onnx_checker=True, enable_optimize=False, optimize_tool='none')
            if not (tmp / 'model.onnx').is_file():
                raise RuntimeError('paddle2onnx wrote no model (an op it does not convert?)')
            fold_constants_file(tmp / 'model.onnx')
        if fp16:  # paddle2onnx 2.1 ignores export_fp16_model: convert its fp32 graph (inference/export/onnx_fp16.py)
            convert_file(tmp / 'model.onnx', tmp / 'model.onnx')
        info = {'format': 'onnx', 'arch': dict(arch), 'scale': models.net_scale(arch),
                'mod': models.pad_multiple(arch), 'opset': int(opset), 'dtype': 'float16' if fp16 else 'float32',
                'source': str(source) if source else None,
                'input': 'x: N,C,H,W float32 RGB in [0,1]; H,W multiples of mod'}
        (tmp / 'model.json').write_text(json.dumps(info, indent=1))
        if verify is not None:
            verify(tmp / 'model.onnx')
        os.replace(tmp / 'model.json', sidecar(out_file))
        os.replace(tmp / 'model.onnx', out_file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_file
