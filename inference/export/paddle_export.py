"""Export a generator to the legacy static graph ``inference.pdmodel`` + ``inference.pdiparams``.

The graph takes a dynamic (N, C, H, W) input. What is traced is the network's
``ArchSpec.export_layer(net)`` when it has one: ops the legacy graph cannot
shape-infer with unknown H/W are swapped for equivalents there (x2/x1 RRDBNets
unshuffle by reshape/transpose). H and W must be multiples of the spec's
``pad_multiple``: the caller pads (``Upscaler`` does; it is ``mod`` in
``model_info.json``), except for a network that pads itself (``ArchSpec.pad_mode``
'own': Real-CUGAN, waifu2x CUNet), which takes any H and W.

Beside the graph goes ``model_info.json``: ``{arch, scale, mod, source, dtype, format, export_rev, files}``
(``files``: the sha256 of the graph and of the parameters). An export made from a weights file into the user cache
is an entry of the store (kind ``export``, keyed by ``export_key``; its record: made from the weights' sha256, at
``EXPORT_REV``): ``store.open`` says whether a cached folder is this program's export of those weights; any other is
exported again, with one line.

While an export traces (``cheap_trace``), Paddle's legacy tracer skips what it computes only to throw away:

- ``inspect.stack()``: called for every binary op whose right operand has a dynamic batch, only to name the
  caller's file and line in a DeprecationWarning; it reads the source of every frame on the stack (about 60 ms a
  call in a pipeline process: 4.2 s of the 7.6 s its evaluate stage spent exporting ten tiny compact checkpoints).
  That module alone sees a ``stack`` that lists the frames without their source; its warning keeps the file and line.
- ``traceback.extract_stack()``: called for every op the legacy program records, to keep the Python call stack
  that made it as the op's ``op_callstack`` attribute. ``paddle.jit.save`` strips most of them, not all: the saved
  graph kept thousands of lines naming this machine's files (GRL's tiny export: 829 KB, 253 KB without them), and
  reading the stacks was a third to a half of a legacy trace (DCTLSA's tiny export 8.0 s, 4.8 s without). The
  graph module alone sees an ``extract_stack`` that returns no frames: each op records an empty stack, and the
  saved graph is the same op for op, attribute for attribute (tests/inference/test_export_trace.py).
"""
import contextlib
import functools
import hashlib
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import NamedTuple

from realesrgan_paddle import store
from realesrgan_paddle.checkpoint_io.graph_check import (EXPORT_FILES, INFO_NAME, MAX_INFO_BYTES, MAX_MOD,  # noqa: F401
                                                         MAX_PARAMS_BYTES, SCALES, ExportRefused, check_export_folder,
                                                         check_info, export_readers, read_info)
from realesrgan_paddle.utils.fileio import cache_root, cache_root as home, sha256_file
from realesrgan_paddle.utils.progress import Steps

# bumped when what is traced or recorded changes (2: SRVGGNetCompact in the OpenVINO-convertible form; 3: SPAN
# runs on OpenVINO, and a cache entry records its spec's engine), so that cached exports of older revisions are
# written again
EXPORT_REV = 3
log = logging.getLogger('inference')


def frames_without_source(context=1):
    """``inspect.stack()``'s rows (frame, file, line, function, None, None) without reading any source."""
    frame, rows = sys._getframe(1), []
    while frame is not None:
        rows.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None))
        frame = frame.f_back
    return rows


def _no_frames(*args, **kwargs):
    return []


@contextlib.contextmanager
def _module_sees(module_name, attr, needed, stand_in):
    """``module_name.attr`` (the module's own name for a module it imported) replaced by ``stand_in`` inside the
    block, put back after; nothing done when the module, or its ``attr`` with ``needed``, is not there (another
    Paddle)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        module = None
    real = getattr(module, attr, None)
    if real is None or not hasattr(real, needed):
        yield
        return
    setattr(module, attr, stand_in)
    try:
        yield
    finally:
        setattr(module, attr, real)


@contextlib.contextmanager
def cheap_trace():
    """Inside: Paddle's binary-op patch reads no frame source, and its graph records no op call stacks."""
    with _module_sees('paddle.base.layers.math_op_patch', 'inspect', 'stack',
                      types.SimpleNamespace(stack=frames_without_source)), \
            _module_sees('paddle.base.framework', 'traceback', 'extract_stack',
                         types.SimpleNamespace(extract_stack=_no_frames)):
        yield


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
    import paddle
    from realesrgan_paddle import models
    net.eval()
    layer = _export_layer(net, models.get_spec(arch))
    spec = [paddle.static.InputSpec([None, int(arch.get('num_in_ch', 3)), None, None], 'float32', 'x')]
    with paddle.pir_utils.OldIrGuard() if legacy else contextlib.nullcontext(), cheap_trace(), \
            warnings.catch_warnings():
        # Paddle's own ops (fill_constant with force_cpu, written by its tracer for the window networks' run-time
        # pads) warn of a deprecation the user can do nothing about: two lines in a first export's log
        warnings.filterwarnings('ignore', message=r'The Attr\(force_cpu\)', category=UserWarning)
        static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
        paddle.jit.save(static, str(prefix))


def write_export_files(net, arch, folder, source=None):
    """Trace ``net`` into ``folder/inference.pdmodel`` and ``inference.pdiparams`` and write ``model_info.json``
    beside them; the info written."""
    from realesrgan_paddle import models
    folder = Path(folder)
    trace_save(net, arch, folder / 'inference')
    info = {'format': 'paddle-inference-legacy', 'arch': dict(arch), 'scale': models.net_scale(arch),
            'mod': models.pad_multiple(arch), 'cpu_engine': models.get_spec(arch).cpu_engine,
            'dtype': 'float32', 'export_rev': EXPORT_REV, 'source': str(source) if source else None,
            'input': 'N,C,H,W float32 RGB in [0,1]; ' + ('any H,W (the network pads itself; tiles start on '
                                                          'multiples of mod)' if models.pads_itself(arch)
                                                          else 'H,W multiples of mod'),
            'files': {name: sha256_file(folder / name) for name in EXPORT_FILES}}
    (folder / INFO_NAME).write_text(json.dumps(info, indent=1))
    return info


def export_static(net, arch, out_dir, source=None):
    """Write ``out_dir/inference.pdmodel``, ``inference.pdiparams`` and ``model_info.json`` atomically (a folder
    of the user's: ``tools/export_model.py``, the pipeline; the cache's exports are the store's:
    ``open_cached_export``)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.', dir=str(out_dir.parent)))
    try:
        write_export_files(net, arch, tmp, source)
        if out_dir.exists():  # a folder of the user's: the export's files replaced, the others kept
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
    """The ``model_info.json`` of an export directory (bounded and checked: ``read_info``), or None for a
    foreign export without one."""
    p = Path(infer_dir) / INFO_NAME
    if not os.path.lexists(p):
        return None
    return read_info(p)


class Export(NamedTuple):
    """An export folder read once (``open_export``), handed to the precision choice and the predictor.

    Attributes:
        dir: the folder.
        info: its ``model_info.json`` (empty for a foreign export without one).
        cpu_engine: the CPU engine its network prefers (``ArchSpec.cpu_engine``; oneDNN when unknown).
        side_base: where files that belong to it go (verdicts, compiled blobs, the optimised graph): a
            folder of the user cache named from the export's path and its graph's sha256. Never the export
            folder itself: a cache that came in a folder would be trusted, and run, without the graph check.
        made_from: what the store's entries made from it (its oneDNN graph, its bf16 verdicts) record: the
            graph's sha256 and the parameters' (a store entry's), or their size and mtime (a user's folder).
        key: the name of those entries in the store (the side folder's name).
        store_root: the user cache their store is in.
    """

    dir: Path
    info: dict
    cpu_engine: str
    side_base: Path
    made_from: dict = {}
    key: str = ''
    store_root: Path = None


def open_export(path, user_cache=None, digests=None):
    """``path`` (an export folder, or an ``Export`` returned as it is) -> ``Export``, its graph checked and its
    ``model_info.json`` read before Paddle sees either, in one call (``graph_check.check_export_folder``).
    ``user_cache``: the user cache (``utils.fileio.cache_root()`` when not given), where the export's side
    files go; ``digests``: ``{file name: sha256}`` of a store entry (``open_cached_export``), whose files the store
    read and checked. FileNotFoundError (one line) when the graph files are missing, ``ExportRefused`` (a
    ValueError, one line naming the file) for a folder that is not run."""
    if isinstance(path, Export):
        return path
    from realesrgan_paddle import models  # the networks' export ops declared to the graph check, and their specs
    path = Path(path)
    if user_cache is None:
        user_cache = cache_root()
    digest, info = check_export_folder(path, digests)
    info = info or {}
    params = (digests or {}).get(EXPORT_FILES[1])
    if params is None:
        st = os.stat(path / EXPORT_FILES[1])
        params = [st.st_size, st.st_mtime_ns]
    key = hashlib.sha256(f'{path.resolve()}|{digest}'.encode()).hexdigest()[:20]
    engine = info.get('cpu_engine')
    if engine is None:  # written before model_info.json named it: ask the network's spec
        spec = models.find_spec((info.get('arch') or {}).get('type'))
        engine = spec.cpu_engine if spec else 'onednn'
    return Export(path, info, engine, Path(user_cache) / 'side' / key, {'graph': digest, 'params': params}, key,
                  Path(user_cache))


def export_key(digest, arch_override=None):
    """The cache folder name of a weights file's export: its sha256, the overrides and the Paddle version."""
    import paddle
    h = hashlib.sha256(digest.encode())
    h.update(json.dumps(arch_override or {}, sort_keys=True).encode())
    h.update(paddle.__version__.encode())
    return h.hexdigest()[:20]


def cached_export(weights, arch_override=None, cache_root=None, progress=False):
    """Export ``weights`` once into the store (``<cache>/store/export/<key>/``) and return that folder."""
    return open_cached_export(weights, arch_override, cache_root, progress).dir


def open_cached_export(weights, arch_override=None, cache_root=None, progress=False, digest=None, user_cache=None):
    """``cached_export`` as an ``Export``; ``digest``: the weights file's sha256 when the caller has it (the store
    handed it on: the weights are not read again); ``user_cache``: as ``open_export`` takes it; ``cache_root``: the
    store's root (the user cache). The entry ``export``/``export_key`` is used only when it is this program's export
    of these weights (``store.open``, which also checks the graph and walks the parameters on the bytes it hashes);
    any other is exported again, with one line."""
    from realesrgan_paddle import models  # the networks' export ops declared to the graph check (store.open's readers)
    user_cache = user_cache or home()
    root = cache_root or user_cache
    digest = digest or sha256_file(weights)
    key = export_key(digest, arch_override)
    facts = {'made_from': digest, 'revision': EXPORT_REV}
    readers = functools.partial(family_first, models.find_spec)
    try:
        entry = store.open('export', key, facts, root, readers)
        if entry is not None:
            return _opened(entry, user_cache)
    except (ExportRefused, FileNotFoundError) as e:
        log.warning('%s; exporting the weights again', e)
    net, arch = models.load_network(weights, arch=arch_override)  # a bad file fails here, before any output
    log.info('exporting %s for Paddle Inference into the store (once per weights file)', weights)
    with Steps(f'{Path(weights).name}: one-time export', 1, progress) as bar:
        bar.step('tracing and saving the static graph')
        entry = store.write('export', key, lambda tmp: write_export_files(net, arch, tmp, weights),
                            {**facts, 'arch': dict(arch)}, root, readers,
                            reuse=True)  # another process's export of these weights, made meanwhile, is taken
        return open_export(entry.dir, user_cache, entry.digests)


def family_first(find_spec, folder, record):
    """``export_readers(folder)`` for ``store.open``, the network family the entry's record names imported first
    (``find_spec``: ``models.find_spec``, which imports a registered name's module only), so the graph check allows
    its ops without importing every family; a record naming another family changes nothing the check decides
    (``graph_check.declare``: the rest are imported before a graph is refused)."""
    arch = record.get('arch')
    find_spec(arch.get('type') if isinstance(arch, dict) else None)
    return export_readers(folder)


def _opened(entry, user_cache):
    """The ``Export`` of a store entry whose record's arch is its ``model_info.json``'s; ``ExportRefused`` else."""
    export = open_export(entry.dir, user_cache, entry.digests)
    if export.info.get('arch') != entry.record.get('arch'):
        raise ExportRefused(f'{entry.dir}: its record and its {INFO_NAME} name other archs')
    return export
