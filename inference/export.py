"""Export a generator to the legacy static graph ``inference.pdmodel`` + ``inference.pdiparams``.

The graph takes a dynamic (N, C, H, W) input. What is traced is the network's
``ArchSpec.export_layer(net)`` when it has one: ops the legacy graph cannot
shape-infer with unknown H/W are swapped for equivalents there (x2/x1 RRDBNets
unshuffle by reshape/transpose). H and W must be multiples of the spec's
``pad_multiple``: the caller pads (``Upscaler`` does; it is ``mod`` in
``model_info.json``).

Beside the graph goes ``model_info.json``: ``{arch, scale, mod, source, dtype, format, export_rev}``.
"""
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

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
                'mod': models.pad_multiple(arch), 'cpu_engine': models.get_spec(arch).cpu_engine,
                'dtype': 'float32', 'export_rev': EXPORT_REV, 'source': str(source) if source else None,
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
    """True for a folder holding an exported graph (``models.zoo.is_export_dir``: the rule model references use)."""
    from models.zoo import is_export_dir
    return is_export_dir(path)


class Export(NamedTuple):
    """An export folder read once (``open_export``), handed to the precision choice and the predictor.

    Attributes:
        dir: the folder.
        info: its ``model_info.json`` (empty for a foreign export without one).
        cpu_engine: the CPU engine its network prefers (``ArchSpec.cpu_engine``; oneDNN when unknown).
        side_base: where files that belong to it go (verdicts, compiled blobs): the folder itself, or a
            folder under the user cache when it is read-only.
    """

    dir: Path
    info: dict
    cpu_engine: str
    side_base: Path


def writable_base(infer_dir, kind, salt=''):
    """Where files that belong to an export go: the export folder, or the user cache when it is read-only."""
    infer_dir = Path(infer_dir)
    if os.access(infer_dir, os.W_OK):
        return infer_dir
    from utils.fileio import cache_root
    return cache_root() / kind / hashlib.sha256((str(infer_dir.resolve()) + salt).encode()).hexdigest()[:20]


def open_export(path):
    """``path`` (an export folder, or an ``Export`` returned as it is) -> ``Export``; FileNotFoundError (one
    line) when the graph files are missing."""
    if isinstance(path, Export):
        return path
    path = Path(path)
    if not (path / 'inference.pdmodel').is_file() or not (path / 'inference.pdiparams').is_file():
        raise FileNotFoundError(f'{path}: no inference.pdmodel/inference.pdiparams '
                                f'(write them with tools/export_model.py)')
    info, side_base = load_info(path) or {}, writable_base(path, 'side')
    engine = info.get('cpu_engine')
    if engine is None:  # written before model_info.json named it: ask the network's spec
        import models
        spec = models.find_spec((info.get('arch') or {}).get('type'))
        engine = spec.cpu_engine if spec else 'onednn'
    return Export(path, info, engine, side_base)


def export_key(digest, arch_override=None):
    """The cache folder name of a weights file's export: its sha256, the overrides and the Paddle version."""
    import paddle
    h = hashlib.sha256(digest.encode())
    h.update(json.dumps(arch_override or {}, sort_keys=True).encode())
    h.update(paddle.__version__.encode())
    return h.hexdigest()[:20]


def cached_export(weights, arch_override=None, cache_root=None, progress=False):
    """Export ``weights`` once to ``<cache>/infer/<key>/`` and return that folder."""
    return open_cached_export(weights, arch_override, cache_root, progress).dir


def open_cached_export(weights, arch_override=None, cache_root=None, progress=False, digest=None):
    """``cached_export`` as an ``Export``; ``digest``: the weights file's sha256 when the caller has it."""
    if digest is None or cache_root is None:
        from utils.fileio import cache_root as user_cache, sha256_file
        digest = digest or sha256_file(weights)
        cache_root = cache_root or user_cache()
    out = Path(cache_root) / 'infer' / export_key(digest, arch_override)
    if (out / 'inference.pdmodel').is_file() and (load_info(out) or {}).get('export_rev') == EXPORT_REV:
        return open_export(out)
    import logging
    import models
    from utils.progress import Steps
    net, arch = models.load_network(weights, arch=arch_override)  # a bad file fails here, before any output
    logging.getLogger('inference').info('exporting %s for Paddle Inference into %s (once per weights file)',
                                        weights, out)
    with Steps(f'{Path(weights).name}: one-time export', 1, progress) as bar:
        bar.step('tracing and saving the static graph')
        return open_export(export_static(net, arch, out, source=weights))
