"""Export a generator to the legacy static graph ``inference.pdmodel`` + ``inference.pdiparams``.

The graph takes a dynamic (N, C, H, W) input. What is traced is the network's
``ArchSpec.export_layer(net)`` when it has one: ops the legacy graph cannot
shape-infer with unknown H/W are swapped for equivalents there (x2/x1 RRDBNets
unshuffle by reshape/transpose). H and W must be multiples of the spec's
``pad_multiple``: the caller pads (``Upscaler`` does; it is ``mod`` in
``model_info.json``).

Beside the graph goes ``model_info.json``: ``{arch, scale, mod, source, dtype, format, export_rev}``.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

INFO_NAME = 'model_info.json'
# bumped when what is traced changes (2: SRVGGNetCompact in the OpenVINO-convertible form), so that
# cached exports of older revisions are written again
EXPORT_REV = 2


def _export_layer(net, spec):
    """A fresh Layer around ``net`` to trace: ``to_static`` then leaves ``net.forward`` as it is."""
    if spec.export_layer is not None:
        return spec.export_layer(net)
    import paddle

    class Traced(paddle.nn.Layer):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)
    return Traced(net)


def trace_save(net, arch, prefix, legacy=True):
    """Trace ``net`` (its ``export_layer`` form) with a dynamic (N, C, H, W) input and ``paddle.jit.save`` it
    to ``prefix``: the legacy ``.pdmodel`` when ``legacy``, else Paddle 3's PIR ``.json``."""
    import contextlib
    import paddle
    import models
    net.eval()
    layer = _export_layer(net, models.get_spec(arch))
    spec = [paddle.static.InputSpec([None, int(arch.get('num_in_ch', 3)), None, None], 'float32', 'x')]
    with paddle.pir_utils.OldIrGuard() if legacy else contextlib.nullcontext():
        static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
        paddle.jit.save(static, str(prefix))


def export_static(net, arch, out_dir, source=None):
    """Write ``out_dir/inference.pdmodel``, ``inference.pdiparams`` and ``model_info.json`` atomically."""
    import models
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.', dir=str(out_dir.parent)))
    try:
        trace_save(net, arch, tmp / 'inference')
        info = {'format': 'paddle-inference-legacy', 'arch': dict(arch), 'scale': models.net_scale(arch),
                'mod': models.pad_multiple(arch), 'dtype': 'float32', 'export_rev': EXPORT_REV, 'source': str(source) if source else None,
                'input': 'N,C,H,W float32 RGB in [0,1]; H,W multiples of mod'}
        (tmp / INFO_NAME).write_text(json.dumps(info, indent=1))
        if out_dir.exists():
            for name in os.listdir(tmp):
                os.replace(tmp / name, out_dir / name)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _chmod_as_mkdir(tmp)  # mkdtemp makes 0700; a new export folder gets the mode mkdir would give it
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _chmod_as_mkdir(path):
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)


def load_info(infer_dir):
    """The ``model_info.json`` of an export directory, or None for a foreign export."""
    p = Path(infer_dir) / INFO_NAME
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def is_infer_dir(path):
    p = Path(path)
    return p.is_dir() and (p / 'inference.pdmodel').is_file()
