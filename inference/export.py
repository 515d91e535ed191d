"""Export a generator to the legacy static graph ``inference.pdmodel`` + ``inference.pdiparams``.

The graph takes a dynamic (N, C, H, W) input. Paddle's ``pixel_unshuffle``
cannot infer shapes with unknown H/W in the legacy graph, so x2/x1 RRDBNets get
an equivalent reshape/transpose unshuffle built from ``paddle.shape``. H and W
must be multiples of the unshuffle factor: the caller pads (``Upscaler`` does,
the factor is ``mod`` in ``model_info.json``).

Beside the graph goes ``model_info.json``: ``{arch, scale, mod, source, dtype, format}``.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

INFO_NAME = 'model_info.json'


def model_mod(arch):
    """Input H/W must be a multiple of this: the pixel-unshuffle factor of x2/x1 RRDBNets."""
    if arch.get('type') == 'RRDBNet':
        return {4: 1, 2: 2, 1: 4}[int(arch.get('scale', 4))]
    return 1


def _make_export_layer(net):
    import paddle

    class ExportWrapper(paddle.nn.Layer):
        def __init__(self, inner, factor):
            super().__init__()
            self.inner = inner
            self.factor = factor

        def forward(self, x):
            r = self.factor
            if r > 1:
                shape = paddle.shape(x)
                c = x.shape[1]
                x = paddle.reshape(x, [-1, c, shape[2] // r, r, shape[3] // r, r])
                x = paddle.transpose(x, [0, 1, 3, 5, 2, 4])
                x = paddle.reshape(x, [-1, c * r * r, shape[2] // r, shape[3] // r])
            return self.inner(x)

    return ExportWrapper(net, int(getattr(net, 'unshuffle', 1)))


def export_static(net, arch, out_dir, source=None):
    """Write ``out_dir/inference.pdmodel``, ``inference.pdiparams`` and ``model_info.json`` atomically."""
    import paddle
    import models
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    net.eval()
    wrapper = _make_export_layer(net)
    factor = wrapper.factor
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.', dir=str(out_dir.parent)))
    try:
        if factor > 1:
            net.unshuffle = 1  # the wrapper unshuffles; RRDBNet.forward then skips its own
        spec = [paddle.static.InputSpec([None, int(arch.get('num_in_ch', 3)), None, None], 'float32', 'x')]
        with paddle.pir_utils.OldIrGuard():
            static = paddle.jit.to_static(wrapper, input_spec=spec, full_graph=True)
            paddle.jit.save(static, str(tmp / 'inference'))
        info = {'format': 'paddle-inference-legacy', 'arch': dict(arch), 'scale': models.net_scale(arch),
                'mod': model_mod(arch), 'dtype': 'float32', 'source': str(source) if source else None,
                'input': 'N,C,H,W float32 RGB in [0,1]; H,W multiples of mod'}
        (tmp / INFO_NAME).write_text(json.dumps(info, indent=1))
        if out_dir.exists():
            for name in os.listdir(tmp):
                os.replace(tmp / name, out_dir / name)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if factor > 1:
            net.unshuffle = factor
    return out_dir


def load_info(infer_dir):
    """The ``model_info.json`` of an export directory, or None for a foreign export."""
    p = Path(infer_dir) / INFO_NAME
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def is_infer_dir(path):
    p = Path(path)
    return p.is_dir() and (p / 'inference.pdmodel').is_file()
