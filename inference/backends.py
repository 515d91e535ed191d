"""The two ways to run a network: the Paddle dynamic graph and the Paddle Inference predictor.

Both expose ``forward(x)`` on a (N,C,H,W) float32 numpy array and return numpy.
``fp16`` is honoured on GPU only; on CPU it is ignored with one warning.

On the CPU the predictor has two engines, both part of Paddle Inference:
``openvino`` (the OpenVINO subgraph engine that the paddlepaddle 3.x CPU wheel
ships, ``Config.enable_openvino_engine``) and ``onednn`` (the oneDNN kernels
with Paddle's fuse passes). ``auto`` takes the engine the network's
``ArchSpec.cpu_engine`` names: OpenVINO for RRDBNet (it runs x4plus 15-20 %
faster than oneDNN), for SRVGGNetCompact (exported in a form OpenVINO
converts: ``models/archs/compact/srvgg.py``) and SPAN (its fused export converts whole, so
bf16 runs), oneDNN for networks without a preference. If
the OpenVINO engine fails to build (an older export that still has ``prelu``
or ``pixel_shuffle``, a build without it), ``auto`` falls back to oneDNN.
bf16 runs on the OpenVINO engine only; ``inference/precision.py`` decides
when it is the default.
"""
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from realesrgan_paddle import store
from realesrgan_paddle.checkpoint_io.graph_check import ExportRefused, export_readers
from realesrgan_paddle.utils import runtime_env

from .cpu_features import native_bf16 as _native_bf16
from .export.paddle_export import Export, SCALES, open_export

log = logging.getLogger('inference')

# Passes deleted on the CPU oneDNN predictor: with this one in, Paddle 3.3 spends about 44 s creating a
# predictor for x4plus (a few seconds without it), and the graph it leaves runs no faster.
CPU_DELETED_PASSES = ('conv_elementwise_add_onednn_fuse_pass',)
MKLDNN_CACHE_SHAPES = 4  # input shapes oneDNN keeps compiled kernels for (a video's tiles use two or three)
ENGINES = ('auto', 'openvino', 'onednn')
PRECISIONS = ('fp32', 'fp16', 'bf16')


def _warn_fp16_cpu():
    log.warning('--fp16 is for GPU only: running in fp32 on the CPU')


def resolve_device(device):
    """'cpu', 'gpu' or 'gpu:N' -> ('cpu'|'gpu', index). A GPU request without CUDA Paddle raises ValueError."""
    device = (device or 'cpu').lower()
    if device == 'cpu':
        return 'cpu', 0
    if device.startswith(('gpu', 'cuda')):
        import paddle
        idx = int(device.split(':')[1]) if ':' in device else 0
        if not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
            raise ValueError(f'device {device!r}: this Paddle build has no CUDA GPU; use --device cpu')
        return 'gpu', idx
    raise ValueError(f'device must be cpu, gpu or gpu:N, got {device!r}')


class DynamicBackend:
    """Paddle dynamic graph (``tools/predict.py``)."""

    name = 'dynamic'

    def __init__(self, net, device='cpu', fp16=False):
        import paddle
        self.paddle = paddle
        self.kind, idx = resolve_device(device)
        paddle.set_device('cpu' if self.kind == 'cpu' else f'gpu:{idx}')
        self.fp16 = bool(fp16) and self.kind == 'gpu'
        if fp16 and self.kind == 'cpu':
            _warn_fp16_cpu()
        net.eval()
        if self.fp16:
            net = net.to(dtype='float16')
        self.net = net
        self.create_time = 0.0

    def forward(self, x):
        paddle = self.paddle
        with paddle.no_grad():
            t = paddle.to_tensor(np.ascontiguousarray(x), dtype='float16' if self.fp16 else 'float32')
            y = self.net(t)
            return y.astype('float32').numpy()


def auto_engine(infer_dir):
    """The CPU engine the exported network's ``ArchSpec`` prefers; oneDNN for exports of unknown networks."""
    return open_export(infer_dir).cpu_engine


class PredictorBackend:
    """Paddle Inference predictor on a legacy ``inference.pdmodel`` (``tools/infer.py``).

    ``precision``: 'fp32' (default), 'fp16' (GPU) or 'bf16' (CPU, OpenVINO
    engine; oneDNN experimental).

    ``engine`` (CPU only): 'auto' (default: the network's ``ArchSpec.cpu_engine``,
    OpenVINO for RRDBNet and SRVGGNetCompact, else oneDNN), 'openvino' or
    'onednn'. ``self.engine`` says which one runs.

    CPU fp32 keeps the oneDNN-optimised graph that the first creation produces
    (an entry of the store, kind ``onednn``, in the user cache) and loads it
    with only the placement pass afterwards: creation drops from seconds to a
    fraction of one, with the same output.

    ``configure``: a function called with the ``paddle.inference.Config`` of a GPU or oneDNN predictor
    after this class has set it up and before the predictor is made (a caller's own passes or kernels);
    the optimised-graph cache is not used then, since the graph it would keep is the caller's.
    """

    name = 'predictor'

    def __init__(self, infer_dir, device='cpu', threads=None, fp16=False, precision=None, engine='auto',
                 configure=None, native_bf16=None):
        """``infer_dir``: an export folder, or the ``inference.export.paddle_export.Export`` of one; ``native_bf16``: whether the
        CPU has native bfloat16, when the caller knows (``cpu_features.facts()``), else read here."""
        from paddle import inference as pi
        export = infer_dir if isinstance(infer_dir, Export) else open_export(infer_dir)
        infer_dir = export.dir
        if engine not in ENGINES:
            raise ValueError(f'engine must be one of {ENGINES}, got {engine!r}')
        self.kind, idx = resolve_device(device)
        precision = precision or ('fp16' if fp16 else 'fp32')
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, not {precision}')
        if precision == 'fp16' and self.kind == 'cpu':
            _warn_fp16_cpu()
            precision = 'fp32'
        native = _native_bf16() if native_bf16 is None else native_bf16
        if precision == 'bf16' and self.kind == 'cpu' and not native:
            log.warning('bf16: this CPU has no native bfloat16 (avx512_bf16 or amx_bf16), which the engine needs: '
                        'running in fp32')
            precision = 'fp32'
        fallback = engine == 'auto'
        if fallback:
            engine = export.cpu_engine
        openvino_ok = self.kind == 'cpu' and precision in ('fp32', 'bf16') and configure is None
        if engine == 'openvino' and not openvino_ok and not fallback:
            if self.kind != 'cpu':
                raise ValueError('the OpenVINO engine runs on the CPU only')
            raise ValueError(f'the OpenVINO engine runs fp32 or bf16 without a configure function, not {precision}')
        nthreads = int(threads or runtime_env.math_threads())
        self.threads = nthreads
        made = _openvino_predictor(pi, export, precision, nthreads, fallback) \
            if engine == 'openvino' and openvino_ok else None
        if made is not None:
            self.engine = 'openvino'
        else:
            if precision == 'bf16' and fallback:  # oneDNN bf16 does not run in Paddle Inference 3.3 (notes)
                log.warning('bf16 needs the OpenVINO engine, which this network does not run on: running in fp32')
                precision = 'fp32'
            self.engine = 'gpu' if self.kind == 'gpu' else 'onednn'
            made = _native_predictor(pi, export, self.kind, idx, precision, nthreads, configure)
        self.predictor, self.create_time, self.opt_cache_hit = made
        self.where, self.expect_scale = infer_dir, export.info.get('scale')
        self.precision = precision
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        log.info('predictor ready in %.2f s (%s, %s, %s%s)', self.create_time, self.kind, self.engine, precision,
                 ', cached oneDNN graph' if self.opt_cache_hit else '')

    def forward(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.input.reshape(list(x.shape))
        self.input.copy_from_cpu(x)
        self.predictor.run()
        y = self.output.copy_to_cpu()
        check_output(x.shape, y, self.expect_scale, self.where)
        return y.astype(np.float32, copy=False)


class OutputMismatch(ValueError):
    """A graph whose output is not its sidecar's scale times its input; the message is one line."""


def check_output(in_shape, y, scale, where):
    """Raise ``OutputMismatch`` unless ``y`` is (N, C', H*scale, W*scale) for an (N, C, H, W) input (``scale``
    None: any one whole factor of ``SCALES`` for both sides), so that no row of an output is left unwritten
    and no larger one is made than was planned."""
    n, _, h, w = in_shape
    shape = tuple(getattr(y, 'shape', ()))
    if scale is None and len(shape) == 4 and h and w and shape[2] % h == 0 and shape[2] // h in SCALES:
        scale = shape[2] // h
    if len(shape) != 4 or shape[0] != n or shape[1] not in (1, 3, 4) or shape[2:] != (h * (scale or 0),
                                                                                     w * (scale or 0)):
        says = f'x{scale}, as its sidecar says' if scale else 'a whole scale'
        raise OutputMismatch(f'{where}: the graph made a {"x".join(map(str, shape))} output from a '
                             f'{n}x{in_shape[1]}x{h}x{w} input, not {says}; refusing its output')


def _native_predictor(pi, export, kind, idx, precision, nthreads, configure=None):
    """(predictor, seconds, cache hit) on the GPU or the CPU oneDNN engine."""
    infer_dir = export.dir
    use_cache = configure is None and kind == 'cpu' and precision == 'fp32'
    cache = OptimizedGraphCache(export) if use_cache else None
    hit = bool(cache and cache.ready())
    if hit:  # the store's entry, checked
        cfg = pi.Config(str(cache.model), str(cache.params))
    else:
        cfg = pi.Config(str(infer_dir / 'inference.pdmodel'), str(infer_dir / 'inference.pdiparams'))
    cfg.disable_glog_info()
    cfg.switch_ir_optim(True)
    if kind == 'gpu':
        prec = pi.PrecisionType.Half if precision == 'fp16' else pi.PrecisionType.Float32
        cfg.enable_use_gpu(256, idx, prec)
    else:
        cfg.disable_gpu()
        cfg.enable_mkldnn()
        cfg.set_mkldnn_cache_capacity(MKLDNN_CACHE_SHAPES)
        if hit:
            cfg.pass_builder().set_passes(['onednn_placement_pass'])  # the graph is already fused
        else:
            for p in CPU_DELETED_PASSES:
                cfg.delete_pass(p)
        cfg.set_cpu_math_library_num_threads(nthreads)
        if precision == 'bf16':  # experimental: oneDNN bf16 fails at copy_to_cpu in Paddle Inference 3.3
            cfg.enable_mkldnn_bfloat16()
            cfg.set_bfloat16_op({'conv2d', 'fused_conv2d'})
    cfg.enable_memory_optim()
    if configure is not None:
        configure(cfg)
    tmp = cache.begin(cfg) if cache and not hit else None
    t0 = time.perf_counter()
    predictor = pi.create_predictor(cfg)
    seconds = time.perf_counter() - t0
    if tmp is not None:
        cache.commit(tmp)
    return predictor, seconds, hit


def _openvino_predictor(pi, export, precision, nthreads, fallback):
    """(predictor, seconds, False) on the OpenVINO engine; if it cannot run: None (``fallback``) or ValueError."""
    infer_dir = export.dir
    if not hasattr(pi.Config, 'enable_openvino_engine'):
        if not fallback:
            raise ValueError('this Paddle build has no OpenVINO engine; use --engine onednn')
        return None
    cfg = pi.Config(str(infer_dir / 'inference.pdmodel'), str(infer_dir / 'inference.pdiparams'))
    cfg.disable_glog_info()
    cfg.disable_gpu()
    cfg.set_cpu_math_library_num_threads(nthreads)
    cfg.enable_openvino_engine(pi.PrecisionType.Bfloat16 if precision == 'bf16' else pi.PrecisionType.Float32)
    # OpenVINO keeps compiled blobs in the optim cache dir, which defaults to ./__cache__ in the
    # working directory: keep them beside the export (or in the user cache when it is read-only)
    cache_dir = side_dir(export, '_openvino_cache')
    if cache_dir is not None:
        cfg.set_optim_cache_dir(str(cache_dir))
    t0 = time.perf_counter()
    try:
        predictor = pi.create_predictor(cfg)
    except Exception as e:  # Paddle raises RuntimeError/ValueError with a C++ trace: keep its first line
        reason = _first_line(e)
        if not fallback:
            raise ValueError(f'{infer_dir}: the OpenVINO engine cannot run this graph: {reason}') from None
        log.info('OpenVINO engine not usable for %s (%s): using oneDNN', infer_dir, reason)
        return None
    return predictor, time.perf_counter() - t0, False


def side_dir(export, name):
    """``name`` beside the export (created), or under the user cache when the export is read-only; None if neither.

    ``export``: an ``inference.export.paddle_export.Export`` (its ``side_base``), or an export folder."""
    d = (export if isinstance(export, Export) else open_export(export)).side_base / name
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d


def _first_line(exc):
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.startswith(('C++ Traceback', '---', 'Error Message Summary')) and not line[:1].isdigit():
            return line[:200]
    return type(exc).__name__


class OptimizedGraphCache:
    """The oneDNN-optimised graph of an export: an entry of the store (kind ``onednn``, keyed by the export's side
    key; its record: made from the export's files, by this Paddle version). ``ready`` asks the store whether the
    kept one is ours, its graph checked (a oneDNN graph's fused ops allowed) and its parameters walked on the bytes
    the store hashes, as the export's own are: the user cache is no safer than an export folder. ``begin`` points
    Paddle at a temporary folder, ``commit`` hands what it wrote to the store."""

    FILES = ('_optimized.pdmodel', '_optimized.pdiparams')

    def __init__(self, export):
        import paddle
        self.key, self.root = export.key, export.store_root
        self.facts = {'made_from': export.made_from, 'revision': paddle.__version__}
        self.model = self.params = None

    def ready(self):
        """True when the kept graph can be used (``model`` and ``params`` then name its files)."""
        try:
            entry = store.open('onednn', self.key, self.facts, self.root,
                               lambda folder, record: export_readers(folder, self.FILES, optimized=True))
        except ExportRefused as e:
            log.warning('%s; not used, the graph is optimised again', e)
            return False
        except OSError:
            return False
        if entry is None:
            return False
        self.model, self.params = (entry.path(n) for n in self.FILES)
        return True

    def begin(self, cfg):
        try:
            parent = store.entry_dir('onednn', self.key, self.root).parent
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix='._onednn_opt.', dir=str(parent)))
        except OSError:
            return None
        cfg.set_optim_cache_dir(str(tmp))
        cfg.enable_save_optim_model(True)
        return tmp

    def commit(self, tmp):
        def fill(folder):
            for name in self.FILES:
                os.replace(tmp / name, folder / name)
        try:
            if all((tmp / n).is_file() for n in self.FILES):
                store.write('onednn', self.key, fill, self.facts, self.root)
        except OSError as e:  # another process won the race, or the disk is read-only: no cache, no harm
            log.debug('could not keep the optimised graph: %s', e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
