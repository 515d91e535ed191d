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

from .graph_check import MAX_GRAPH_BYTES, check_graph

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


MAX_INFO_BYTES = 64 << 10  # model_info.json and the .onnx sidecar: a few hundred bytes when written here
SCALES = (1, 2, 3, 4, 8)
MAX_MOD = 64  # pad multiples in use: 1 (SRVGG), 2 (x2 RRDB), 4 (x1 RRDB)
MAX_PARAMS_BYTES = 8 << 30  # inference.pdiparams: 67 MB for x4plus


class ExportRefused(ValueError):
    """An export folder (or an ONNX file's sidecar) that is not run; the message is one line naming the file."""


def read_info(p, what='model_info.json'):
    """The JSON object in the sidecar ``p``, bounded (``MAX_INFO_BYTES``, a regular file) and checked
    (``check_info``); ``ExportRefused`` (one line naming ``p``) otherwise."""
    from .graph_check import _Bad, read_bounded
    try:
        info = json.loads(read_bounded(p, MAX_INFO_BYTES, what))
    except _Bad as e:
        raise ExportRefused(f'{p}: {e}') from None
    except (ValueError, RecursionError) as e:
        raise ExportRefused(f'{p}: not valid JSON ({str(e)[:80]})') from None
    why = check_info(info)
    if why:
        raise ExportRefused(f'{p}: {why}; refusing the model')
    return info


def _bounded_int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def check_info(info):
    """Why the sidecar ``info`` cannot be trusted, or None: ``scale`` in ``SCALES``, ``mod`` in 1..``MAX_MOD``,
    an ``arch`` whose numbers are small and whose scale key agrees, a known ``cpu_engine``."""
    if not isinstance(info, dict):
        return 'not a JSON object'
    if not _bounded_int(info.get('scale'), 1, 8) or info['scale'] not in SCALES:
        return f'scale {str(info.get("scale"))[:40]} is not one of {list(SCALES)}'
    if not _bounded_int(info.get('mod', 1), 1, MAX_MOD):
        return f'mod {str(info.get("mod"))[:40]} is not a whole number from 1 to {MAX_MOD}'
    arch = info.get('arch')
    if not isinstance(arch, dict) or not isinstance(arch.get('type'), str) or len(arch) > 32:
        return 'no arch with a network type'
    for k, v in arch.items():
        if isinstance(v, str) and len(v) <= 64 or _bounded_int(v, 0, 4096) or v is None or isinstance(v, float):
            continue
        return f'arch.{str(k)[:40]} has a value out of range'
    for key in ('scale', 'upscale'):  # the network's scale key (RRDBNet, SRVGGNetCompact)
        if key in arch and arch[key] != info['scale']:
            return f'arch.{key} {arch[key]} and scale {info["scale"]} disagree'
    if info.get('cpu_engine', 'onednn') not in ('onednn', 'openvino'):
        return f'cpu_engine {str(info.get("cpu_engine"))[:40]!r} is not onednn or openvino'
    return None


def load_info(infer_dir):
    """The ``model_info.json`` of an export directory (bounded and checked: ``read_info``), or None for a
    foreign export without one."""
    p = Path(infer_dir) / INFO_NAME
    if not os.path.lexists(p):
        return None
    return read_info(p)


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
        side_base: where files that belong to it go (verdicts, compiled blobs, the optimised graph): a
            folder of the user cache named from the export's path and its graph's sha256, never the export
            folder (``writable_base``).
    """

    dir: Path
    info: dict
    cpu_engine: str
    side_base: Path


def writable_base(infer_dir, kind, salt=''):
    """Where files that belong to an export go (verdicts, compiled blobs, the optimised graph): a folder of
    the user cache named from the export's path and ``salt`` (the graph's sha256). Never the export folder
    itself: a cache that came in a folder would be trusted, and run, without the graph check."""
    from utils.fileio import cache_root
    key = hashlib.sha256((str(Path(infer_dir).resolve()) + '|' + salt).encode()).hexdigest()[:20]
    return cache_root() / kind / key


def check_export_files(path):
    """The graph of the export folder ``path`` checked (``inference.graph_check``) and its sha256;
    ``FileNotFoundError`` when the graph files are missing, ``ExportRefused`` (a ValueError; one line naming
    the file) for one that is not a regular file, too large, or not a graph this project exports."""
    from .graph_check import GraphRefused, _Bad, read_bounded
    from .params_check import ParamsRefused, check_params
    graph, params = path / 'inference.pdmodel', path / 'inference.pdiparams'
    if not os.path.lexists(graph) or not os.path.lexists(params):
        raise FileNotFoundError(f'{path}: no inference.pdmodel/inference.pdiparams '
                                f'(write them with tools/export_model.py)')
    try:
        check_params(params, MAX_PARAMS_BYTES)  # its tensor headers walked: no header claims more than the file
    except ParamsRefused as e:
        raise ExportRefused(str(e)) from None
    try:
        data = read_bounded(graph, MAX_GRAPH_BYTES, 'graph')
    except _Bad as e:
        raise ExportRefused(f'{graph}: {e}') from None
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _CHECKED and not _passed_before(digest):
        try:
            check_graph(graph, data)
        except GraphRefused as e:
            raise ExportRefused(str(e)) from None
        _remember(digest)
    return digest


_CHECKED = set()  # graph digests this process has checked


def _stamp(digest):
    from utils.fileio import cache_root

    from .graph_check import CHECK_REV
    return cache_root() / 'graph_ok' / f'{digest}-{CHECK_REV}'


def _passed_before(digest):
    """True when a graph with this sha256 passed the check before (a stamp in the user cache)."""
    return _stamp(digest).is_file()


def _remember(digest):
    _CHECKED.add(digest)
    try:
        p = _stamp(digest)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    except OSError:  # a read-only cache: the check runs again next time
        pass


def open_export(path):
    """``path`` (an export folder, or an ``Export`` returned as it is) -> ``Export``, its graph checked
    (``check_export_files``) and its ``model_info.json`` read (``read_info``) before Paddle sees either.
    FileNotFoundError (one line) when the graph files are missing, ``ExportRefused`` (a ValueError, one
    line naming the file) for a folder that is not run."""
    if isinstance(path, Export):
        return path
    path = Path(path)
    digest = check_export_files(path)
    info, side_base = load_info(path) or {}, writable_base(path, 'side', digest)
    engine = info.get('cpu_engine')
    if engine is None:  # written before model_info.json named it: ask the network's spec
        import models
        spec = models.find_spec((info.get('arch') or {}).get('type'))
        engine = spec.cpu_engine if spec else 'onednn'
    return Export(path, info, engine, side_base)


def _info_or_none(folder):
    try:
        return load_info(folder)
    except ExportRefused:  # a damaged cache entry: written again
        return None


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
    if (out / 'inference.pdmodel').is_file() and (_info_or_none(out) or {}).get('export_rev') == EXPORT_REV:
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
