"""``Upscaler``: the one inference core behind tools/predict.py, tools/infer.py and the Python API.

Pixels in and out follow OpenCV: HxW gray, HxWx3 BGR or HxWx4 BGRA, uint8 or
uint16 (float arrays in [0, 1] are accepted and returned as float32). The
output keeps the input's channel layout and bit depth.
"""
import logging
import math
import os
from dataclasses import dataclass, fields, replace
from typing import Optional, Union
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.utils.fileio import cache_root as user_cache, same_file, sha256_file
from realesrgan_paddle.media.image_io import chw_to_image, image_to_chw, imread, imwrite, pixel_max
from realesrgan_paddle.utils.progress import Steps, bars_active, is_tty
from realesrgan_paddle.utils.runtime_env import math_threads

from .backends import DynamicBackend, PredictorBackend
from .export.paddle_export import cached_export, open_cached_export, open_export  # noqa: F401 (cached_export: the API)
from .memory import (DEFAULT_HEADROOM, DEFAULT_MAX_MEMORY, NoRoom, auto_tile, available_memory, check_room,
                     current_rss, encode_bytes, format_bytes, gpu_memory, parse_memory, plan_tiles,
                     release_freed_memory)
from .cpu_features import facts as cpu_facts
from .export.onnx_backend import OnnxBackend
from .precision import choose as choose_precision
from .tiling import MIN_SIDE, n_windows, tiled_bands

log = logging.getLogger('inference')

ALPHA_MODES = ('model', 'resize')
BACKENDS = ('auto', 'predictor', 'dynamic')
OUTSCALE_RANGE = (0.01, 16.0)  # final scale factors accepted (the network scale is 1-4)
DEFAULT_MAX_OUTPUT_PIXELS = 600_000_000  # the output is held in memory as float32: ~7 GB at this size


def max_output_pixels():
    """Largest output (pixels) ``upscale`` makes: ``$RESR_MAX_OUTPUT_PIXELS`` (0 = no limit) or 600 MP."""
    raw = os.environ.get('RESR_MAX_OUTPUT_PIXELS', '').strip()
    try:
        return max(0, int(float(raw))) if raw else DEFAULT_MAX_OUTPUT_PIXELS
    except ValueError:
        return DEFAULT_MAX_OUTPUT_PIXELS


def check_outscale(outscale):
    """None, or a finite scale inside ``OUTSCALE_RANGE``; raises ValueError (one line) otherwise."""
    if outscale is None:
        return None
    try:
        v = float(outscale)
    except (TypeError, ValueError):
        raise ValueError(f'outscale must be a number, got {outscale!r}') from None
    lo, hi = OUTSCALE_RANGE
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f'outscale must be between {lo:g} and {hi:g}, got {outscale!r}')
    return v


def resolve_model(model, denoise_strength=None, progress=True, dni=None):
    """A zoo name, a weights file or an export directory -> Path. ``None`` = the default zoo model.

    ``dni=(other, weight)``: ESRGAN's network interpolation, ``weight * model + (1 - weight) * other``
    (``models.zoo.dni``; weights files and zoo names only, not export folders).
    """
    return _model_ref(model, denoise_strength, progress, dni).path


def _model_ref(model, denoise_strength, progress, dni):
    """The ``ModelRef`` to run (``models.zoo.resolve_model_ref``; with ``dni``: the interpolated weights)."""
    from realesrgan_paddle.models import zoo
    ref = zoo.resolve_model_ref(model, denoise_strength, progress=progress)
    if ref.kind == 'bicubic':
        raise ValueError(f'{ref.text}: bicubic is no network (give a zoo name, a weights file or an export folder)')
    if dni is None:
        return ref
    other, weight = dni
    for r in (ref, zoo.parse_model_ref(other)):
        if r.kind in ('export', 'onnx', 'bicubic'):
            raise ValueError(f'{r.path or r.text}: an exported graph cannot be interpolated (DNI): use its weights file')
    return zoo.ModelRef('weights', Path(zoo.dni(ref.path, other, weight, progress=progress)), None, ref.text)


def dni_pair(model, dni_weight):
    """``(model, dni)`` from RealESRGANer's spelling: ``model=[a, b], dni_weight=[wa, wb]`` (``wa + wb = 1``)
    -> ``(a, (b, wa))``; a single model without ``dni_weight`` -> ``(model, None)``."""
    if dni_weight is None:
        if isinstance(model, (list, tuple)):
            raise ValueError('two models need dni_weight=[wa, wb] (network interpolation)')
        return model, None
    if not isinstance(model, (list, tuple)) or len(model) != 2 or len(dni_weight) != 2:
        raise ValueError('dni_weight needs model=[a, b] and dni_weight=[wa, wb]: two models, two weights')
    wa, wb = (float(w) for w in dni_weight)
    if abs(wa + wb - 1.0) > 1e-6:
        raise ValueError(f'dni_weight {list(dni_weight)}: the two weights must add up to 1')
    return model[0], (model[1], wa)


class NonFiniteOutput(ValueError):
    """The network's output holds NaN or Inf."""


def check_tile(tile):
    """``'auto'``, or a tile side >= 0 (0: no tiling; 1-7 are raised to 8 with a warning); ValueError otherwise."""
    bad = f'tile must be "auto" or a whole number >= 0 (0 = no tiling), got {tile!r}'
    if isinstance(tile, str):
        text = tile.strip().lower()
        if text == 'auto':
            return 'auto'
        if not text.isdigit():
            raise ValueError(bad)
        value = int(text)
    elif isinstance(tile, (int, np.integer)) and not isinstance(tile, bool):
        value = int(tile)
    else:
        raise ValueError(bad)
    if value < 0:
        raise ValueError(bad)
    if 0 < value < MIN_SIDE:
        log.warning('tile %d raised to %d, the smallest tile that is safe to run', value, MIN_SIDE)
        value = MIN_SIDE
    return value


def _setup(model, device, backend, fp16, threads, denoise_strength, arch, precision, progress, cache_root,
           engine, dni=None, bf16_check=True):
    """``(model path, arch, backend, scale, mod, facts)``: the model reference resolved (``dni``: interpolated),
    exported when needed, and loaded; ``facts``: the network's ``models.specs.NetFacts`` (whether it pads any input
    itself, when ``mod`` is only its tile grid; its working set per pixel, which the tile planner reads).

    The path from here to a ready predictor enters each module once and climbs back up twice:
    ``models.zoo`` (the reference, whose weights' sha256 the store hands on) -> ``utils.runtime_env`` (threads),
    then ``inference.export.paddle_export`` (the cached export: ``store.open``, its graph checked on the bytes the
    store hashes, read once into an ``Export``) -> ``models`` (the arch of ``model_info.json``
    within its network's bounds and the network's facts, one visit) -> ``inference.cpu_features`` ->
    ``inference.precision`` -> ``inference.backends`` (tests/inference/test_call_path.py).
    """
    from realesrgan_paddle import models
    ref = _model_ref(model, denoise_strength, progress, dni)
    path = ref.path
    if ref.kind == 'onnx':  # tools/export_onnx.py output, run by onnxruntime
        onnx = OnnxBackend(path, threads)
        arch = onnx.info['arch']  # within its network's bounds: the tile planner sizes windows from it
        facts = models.get_spec(arch, f'{path} (its sidecar)').checked_facts(arch, f'{path} (its sidecar)')
        onnx.probe(-(-facts.min_side // facts.mod) * facts.mod)  # the graph's own scale, on a tiny input
        return path, arch, onnx, facts.scale, facts.mod, facts
    if ref.kind != 'export' and backend == 'dynamic':
        if precision not in (None, 'fp32'):
            log.warning('%s runs on the predictor (tools/infer.py) only: the dynamic graph runs fp32', precision)
        net, arch = models.load_network(path, arch=arch)
        facts = models.net_facts(arch)
        return path, arch, DynamicBackend(net, device, fp16), facts.scale, facts.mod, facts
    home = user_cache()  # read once and passed down: the graph check's stamps and the side files go there
    if ref.kind != 'export':  # a weights file: exported once into the cache, under its sha256
        root, digest = cache_root or home, ref.sha256 or sha256_file(path)  # the store's digest: not read again
    threads = threads or math_threads()
    if ref.kind == 'export':
        if backend == 'dynamic':
            raise ValueError(f'{path} is an exported static graph: it runs with the predictor backend only')
        export = open_export(path, home)
        if not export.info:
            raise ValueError(f'{path}: no model_info.json beside inference.pdmodel (export with tools/export_model.py)')
    else:
        export = open_cached_export(path, arch, root, progress, digest=digest, user_cache=home)
    info = export.info
    arch = info['arch']  # a folder's own model_info.json: within its network's bounds, as the planner reads it
    where = f'{path}/model_info.json' if ref.kind == 'export' else str(path)
    facts = models.get_spec(arch, where).checked_facts(arch, where)
    cpu = cpu_facts()  # read once and passed down: the precision choice and the backend never call back for it
    precision = choose_precision(precision, export, device, threads, engine, fp16, progress, cpu, bf16_check)
    backend = PredictorBackend(export, device, threads, fp16, precision, engine=engine, native_bf16=cpu[2])
    return path, arch, backend, int(info['scale']), int(info['mod']), facts


def _gather(bands, convert, rows_total):
    """One array from ``(r0, rows)`` bands, each passed through ``convert``; a single band covering every
    row is returned as it is (no copy)."""
    out = None
    for r0, rows in bands:
        part = convert(r0, rows)
        if out is None and r0 == 0 and part.shape[0] == rows_total:
            return part
        if out is None:
            out = np.zeros((rows_total,) + part.shape[1:], part.dtype)  # never stale memory in an image
        out[r0:r0 + part.shape[0]] = part
    return out


@dataclass(frozen=True)
class UpscaleOptions:
    """How an ``Upscaler`` runs, apart from which model it runs:
        Upscaler('realesrgan-x4plus', UpscaleOptions(precision='fp32', tile=256))
    (defined here, not in a module of its own, so that setting an upscaler up stays one visit of this module:
    tests/inference/test_call_path.py). Where and how the network runs (device, precision, engine), how an image is cut (tiling) and what comes
    out (outscale, alpha). Checked when the ``Upscaler`` is built (one-line ValueError).

    device: 'cpu', 'gpu' or 'gpu:N'. precision: None (bf16 where the CPU has it natively and the model passes a
    check on real photo crops, else fp32), 'fp32', 'bf16' (CPU) or 'fp16' (GPU half precision; ignored with a
    warning on the CPU). engine: the CPU predictor's engine, 'auto' (the network's ``ArchSpec.cpu_engine``),
    'openvino' or 'onednn'. backend: 'auto'/'predictor' (Paddle Inference; weights are exported once into the
    cache) or 'dynamic' (dynamic graph). threads: math threads (None: the process setting).
    tile: 'auto' (tiles sized so the process stays within ``max_memory``, none when the image fits), 0 (no
    tiling) or N (N x N LR tiles); tile_pad: overlap per tile side, pre_pad: reflect padding at the bottom/right
    (LR pixels); max_memory: the peak the 'auto' tile plans for, bytes or text ('2G'), None: 2 GiB for the
    whole process or 1 GiB above what it holds once set up, 'free': half of the free memory; stream: blend the
    tiles band by band (False: one float32 accumulator, bit-identical).
    outscale: the final scale, 0.01 to 16 (None: the network's; outputs over $RESR_MAX_OUTPUT_PIXELS, 600 MP,
    are refused with a ValueError); alpha_upsampler: 'model' or 'resize';
    progress: a tqdm bar over tiles; cache_root: where exports and checks are cached (None: the user cache).
    bf16_check: with precision None on a CPU with native bf16, when no verdict is kept for the model: True runs the
    one-time check now, False runs fp32 this time (tools/infer.py, for a job under ``upscale_cli.BF16_CHECK_MPIX``).
    """
    device: str = 'cpu'
    precision: Optional[str] = None
    engine: str = 'auto'
    backend: str = 'auto'
    threads: Optional[int] = None
    tile: Union[str, int] = 'auto'
    tile_pad: int = 10
    pre_pad: int = 0
    max_memory: Union[None, int, str] = None
    stream: bool = True
    outscale: Optional[float] = None
    alpha_upsampler: str = 'model'
    progress: bool = False
    cache_root: Optional[str] = None
    bf16_check: bool = True

    def with_keywords(self, **keywords):
        """These options with ``keywords`` (the ``Upscaler`` keywords of before: field names, and ``fp16=True``
        for ``precision='fp16'``) applied; an unknown name is a TypeError, as for any keyword argument."""
        fp16 = keywords.pop('fp16', None)
        unknown = sorted(set(keywords) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f'Upscaler got unexpected keyword argument(s): {", ".join(unknown)}')
        out = replace(self, **keywords)
        if fp16:
            out = replace(out, precision='fp16')
        return out

    @property
    def fp16(self):
        return self.precision == 'fp16'


class Upscaler:
    """Upscale images with a Real-ESRGAN generator.

    Args:
        model: zoo name (default ``realesrgan-x4plus``), weights file (.pdparams/.pth/.safetensors)
            or a directory written by tools/export_model.py.
        options: an ``UpscaleOptions`` (device, precision, engine, backend, threads, tiling, outscale, alpha,
            progress, cache root; ``UpscaleOptions`` above); its fields are also accepted as keywords, which
            override it (``Upscaler(model, tile=256, device='gpu')``; ``fp16=True`` is ``precision='fp16'``).
        denoise_strength: realesr-general-x4v3 only, 0..1 (Real-ESRGAN's ``-dn``).
        arch: overrides for the architecture read from / detected in the weights (e.g. num_block).
        dni_weight: network interpolation (ESRGAN's DNI), as in Real-ESRGAN's ``RealESRGANer``:
            ``model=[a, b], dni_weight=[wa, 1 - wa]`` runs the weights ``wa * a + (1 - wa) * b`` (weights
            files or zoo names of one architecture); e.g. a domain finetune and its base, 0..1 from the
            base to the finetune (docs/finetune_domain.md).
    """

    def __init__(self, model=None, options=None, *, denoise_strength=None, arch=None, dni_weight=None, **keywords):
        if isinstance(options, str):  # Upscaler(model, 'gpu'): the device, second before the options object
            options = UpscaleOptions(device=options)
        o = (options or UpscaleOptions()).with_keywords(**keywords)
        if o.backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {o.backend!r}')
        if o.alpha_upsampler not in ALPHA_MODES:
            raise ValueError(f'alpha_upsampler must be one of {ALPHA_MODES}, got {o.alpha_upsampler!r}')
        if o.tile_pad < 0 or o.pre_pad < 0:
            raise ValueError('tile_pad and pre_pad must be >= 0')
        self.options = o = o.with_keywords(tile=check_tile(o.tile), outscale=check_outscale(o.outscale))
        self.max_memory = DEFAULT_MAX_MEMORY if o.max_memory is None else parse_memory(o.max_memory)
        self._default_budget = o.max_memory is None
        # the arguments again, for a Ray worker that sets the same model up (upscale_video(ray=...))
        self.init_kwargs = dict(model=model, options=o, denoise_strength=denoise_strength, arch=arch,
                                dni_weight=dni_weight)
        model, dni = dni_pair(model, dni_weight)
        self.model_path, self.arch, self.backend, self.scale, self.mod, self.facts = _setup(
            model, o.device, o.backend, o.fp16, o.threads, denoise_strength, arch, None if o.fp16 else o.precision,
            o.progress, o.cache_root, o.engine, dni, o.bf16_check)
        self.pads_itself = self.facts.pads_itself
        self.device = o.device
        self.tile, self.tile_pad, self.pre_pad = o.tile, int(o.tile_pad), int(o.pre_pad)
        self.alpha_upsampler = o.alpha_upsampler
        self.outscale = o.outscale
        self.progress = o.progress
        self.stream = bool(o.stream)
        release_freed_memory()
        self.base_rss = current_rss() or (600 << 20)  # the process with the model set up
        self.last_tile = self.last_plan = None
        self.engine_bytes = getattr(self.backend, 'engine_bytes', None)  # what an ONNX graph's own shapes say
        if self.backend.kind != 'gpu':  # a network whose smallest window cannot fit is refused before it runs
            check_room(self.facts, self.tile_pad, self.mod, str(self.model_path), self.backend.name, self.engine_bytes)

    # ---------------------------------------------------------------- core
    def _pick_tile(self, h, w, fixed=0):
        """The tile for an ``h`` x ``w`` (padded) LR input: 0, a side, or ``(tile_h, tile_w)``.
        ``fixed``: bytes of image buffers the upscale holds besides the tiles (for the budget)."""
        self.last_plan = None
        if self.tile != 'auto':
            return self.tile
        if self.max_memory == 'free':
            return auto_tile(self.facts, h, w, self.tile_pad, self.backend.kind, self.backend.name)
        device_budget = None
        if self.backend.kind == 'gpu':
            total = gpu_memory()
            device_budget = 0.5 * total if total else None
        budget = self.max_memory
        if self._default_budget and budget == DEFAULT_MAX_MEMORY:  # not asked for: a process that is already
            budget = max(budget, self.base_rss + DEFAULT_HEADROOM)  # large (a server, a notebook) keeps 1 GiB
        plan = plan_tiles(self.facts, h, w, self.tile_pad, self.mod, budget, self.base_rss, fixed,
                          self.backend.name, device_budget, encode_bytes(h * w * self.scale ** 2 * 3), self.engine_bytes)
        room = available_memory() if not plan.fits and not device_budget else None
        if room is not None and plan.peak - self.base_rss > room:
            raise NoRoom(f'{self.model_path}: a {w}x{h} input needs about {format_bytes(plan.peak - self.base_rss)} '
                         f'even with the smallest tiles, more than the {format_bytes(room)} this process can still '
                         'take: not run')
        if not plan.fits:
            log.warning('a %dx%d input needs about %s with the smallest tiles, more than max memory %s; going on',
                        w, h, format_bytes(plan.peak), format_bytes(budget))
        self.last_plan, self.last_budget = plan, budget
        return plan.tile

    def forward(self, x):
        """The network on an (N, C, h, w) float32 batch, its output checked: NaN or Inf anywhere (weights or
        stored values that make the network non-finite) is a ``NonFiniteOutput``, so no black or noisy image is
        ever written with exit status 0. The check is one float64 sum of the output (NaN and Inf carry through
        it; finite float32 values cannot overflow it): no copy."""
        y = self.backend.forward(x)
        if not math.isfinite(float(np.sum(y, dtype=np.float64))):
            raise NonFiniteOutput(f'{self.model_path}: the network gave NaN or Inf values for a {x.shape[-1]}x'
                                  f'{x.shape[-2]} input: its weights do not make a working network; nothing written')
        return y

    def _padded(self, x):
        """(C,H,W) or (N,C,H,W) with ``pre_pad`` and then up to multiples of ``mod`` at the bottom and right
        (by reflection, as the networks' reference inference pads; not for a network that pads itself)."""
        h, w = x.shape[-2:]
        lead = ((0, 0),) * (x.ndim - 2)
        if self.pre_pad:
            x = np.pad(x, lead + ((0, self.pre_pad), (0, self.pre_pad)),
                       mode='reflect' if self.pre_pad < min(h, w) else 'edge')
        ph, pw = (-x.shape[-2]) % self.mod, (-x.shape[-1]) % self.mod
        if (ph or pw) and not self.pads_itself:
            x = np.pad(x, lead + ((0, ph), (0, pw)), mode='reflect' if max(ph, pw) < min(h, w) else 'edge')
        return x

    def batch_fits(self, n, h, w, outscale=None):
        """True when ``n`` images of ``h`` x ``w`` can go through the model in one forward and come out as
        ``upscale`` makes them one by one: the predictor, no ``pre_pad``, no final resize, and one tile holds
        all ``n`` (a fixed tile not smaller than the image; with ``tile='auto'``, the memory plan of an input
        ``n`` images high needs no tiles)."""
        if self.backend.name != 'predictor' or self.pre_pad:
            return False
        scale = outscale or self.outscale
        if scale and abs(scale - self.scale) > 1e-9:
            return False
        hp, wp = (h, w) if self.pads_itself else (h + (-h) % self.mod, w + (-w) % self.mod)
        if self.tile != 'auto':
            return not 0 < self.tile < max(hp, wp)
        return not self._pick_tile(hp * n, wp)

    def upscale_batch(self, images, outscale=None):
        """Upscale a list of images; same-size BGR images that ``batch_fits`` go through the model in one
        forward (small video frames on the predictor), others one by one with ``upscale``. Returns the
        list of outputs, each as ``upscale`` returns it."""
        images = [np.asarray(img) for img in images]
        first = images[0] if images else None
        if (len(images) < 2 or first.ndim != 3 or first.shape[2] != 3
                or any(img.shape != first.shape or img.dtype != first.dtype for img in images)
                or not self.batch_fits(len(images), *first.shape[:2], outscale)):
            return [self.upscale(img, outscale) for img in images]
        h, w, s = first.shape[0], first.shape[1], self.scale
        y = self.forward(self._padded(np.stack([image_to_chw(img) for img in images])))
        return [chw_to_image(yi[:, :h * s, :w * s], first.dtype) for yi in y]

    def bands(self, x, fixed=0, stream=None):
        """Upscale (C,H,W) float32 RGB in [0,1]; yield ``(r0, rows)``: (C, n, W*s) float32 (unclipped) HR rows
        from ``r0``, top to bottom (see ``inference.tiling.tiled_bands``; use each before the next).
        ``stream`` defaults to the upscaler's; False yields the whole output at once."""
        _, h, w = x.shape
        x = self._padded(x)
        tile = self._pick_tile(*x.shape[1:], fixed=fixed)
        self.last_tile = tile
        total = n_windows(*x.shape[1:], tile, self.tile_pad, self.mod)
        engine = getattr(self.backend, 'engine', self.backend.name)
        # inside another bar (a video's frames, a folder's files): no bar per single-tile image, and no
        # per-tile lines when stderr is a file
        show = self.progress and not (bars_active() and (total == 1 or not is_tty()))
        bar = Steps('tiles' if total > 1 else 'model (whole image, one tile)', total, show, unit='tile',
                    leave=False)
        def progress(done, total):
            if done < total:
                bar.step(engine)
        if show:
            bar.step(engine)
        s = self.scale
        try:
            for r0, rows in tiled_bands(x, self.forward, s, tile, self.tile_pad, self.mod,
                                        progress if show else None, self.stream if stream is None else stream,
                                        self.facts.min_side, self.pads_itself):
                if r0 < h * s:
                    yield r0, rows[:, :h * s - r0, :w * s]
        finally:
            bar.close()

    def run_chw(self, x):
        """(C,H,W) float32 RGB in [0,1] -> (C,H*s,W*s) float32 (unclipped), one whole-output accumulator."""
        for _, out in self.bands(x, stream=False):
            return out

    def _buffer_bytes(self, h, w, img, outscale):
        """Bytes an upscale of ``img`` holds besides the tiles: its input as float, the output image, the
        alpha plane, a resized copy."""
        s, item = self.scale, img.dtype.itemsize
        ch = 1 if img.ndim == 2 else img.shape[2]
        total = h * w * (ch * item + 4 * 3) + h * w * s * s * ch * item
        if ch == 4:
            total += 4 * h * w * s * s
        if outscale and abs(outscale - s) > 1e-9:
            total += int(h * w * outscale * outscale * ch * item)
        return total

    def upscale(self, img, outscale=None):
        """Upscale one image (gray / BGR / BGRA; uint8, uint16 or float in [0,1])."""
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
            raise ValueError(f'expected an HxW, HxWx3 or HxWx4 image, got shape {img.shape}')
        maxv = pixel_max(img.dtype)
        h, w = img.shape[:2]
        outscale = check_outscale(outscale) or self.outscale
        f = max(self.scale, outscale or 0)
        limit = max_output_pixels()
        if limit and h * w * f * f > limit:
            raise ValueError(f'the output would be {round(w * f)}x{round(h * f)} pixels, more than the limit of '
                             f'{limit / 1e6:g} MP (raise RESR_MAX_OUTPUT_PIXELS to allow it)')
        gray = img.ndim == 2
        alpha = img[:, :, 3] if img.ndim == 3 and img.shape[2] == 4 else None
        fixed = self._buffer_bytes(h, w, img, outscale)
        s = self.scale
        alpha_out = None
        if alpha is not None:
            if self.alpha_upsampler == 'model':
                alpha_out = _gather(self.bands(image_to_chw(alpha), fixed),
                                    lambda r0, rows: np.clip(rows.mean(axis=0), 0, 1), h * s)
            else:
                alpha_out = cv2.resize(alpha.astype(np.float32) / maxv, (w * s, h * s), interpolation=cv2.INTER_LINEAR)

        def convert(r0, rows):
            band_alpha = None if alpha_out is None else alpha_out[r0:r0 + rows.shape[1]]
            return chw_to_image(rows, img.dtype, band_alpha, gray)
        res = _gather(self.bands(image_to_chw(img), fixed), convert, h * s)
        if outscale and abs(outscale - s) > 1e-9:
            size = (max(1, int(round(w * outscale))), max(1, int(round(h * outscale))))
            res = cv2.resize(res, size, interpolation=cv2.INTER_LANCZOS4)
            if res.dtype.kind == 'f':
                np.clip(res, 0, 1, out=res)
        return res

    def upscale_video(self, src, dst, outscale=None, options=None, progress=True, **settings):
        """Upscale the video ``src`` into ``dst`` with the settings ``options``, an
        ``inference.video.options.VideoOptions``, or made here once from ``settings``, its field names: ``crf``,
        ``preset``, ``temporal`` ('flow' by default: the texture held still between frames, docs/temporal.md;
        'static'; 'off'; one pass also takes an ``inference.video.stabiliser.Stabiliser``), ``segment_seconds``
        and ``ray`` ('auto', 'local' or a cluster address, with ``workers``): resumable segments kept in ``dst`` +
        '.parts' (``inference/video/segments/``), else one pass (the default; the command line's is segments of
        10 s, docs/scale.md says why), ``overlap_frames``, ``queue_frames``, ``keep_parts``. Returns the summary
        dict of ``inference.video.one_pass.upscale_video``."""
        from .video.options import VideoOptions
        if options is None:
            options = VideoOptions(**settings)
        elif settings:
            raise TypeError(f'upscale_video takes options or settings, not both: {", ".join(settings)}')
        if not options.segmented:
            from .video.one_pass import upscale_video
            return upscale_video(self, src, dst, outscale, options, progress)
        from .video.segments.resumable import upscale_video_segmented
        return upscale_video_segmented(self, src, dst, outscale, options, progress)

    def upscale_file(self, src, dst, outscale=None):
        """Read ``src`` (EXIF-upright), upscale, write ``dst`` atomically. Refuses ``dst == src``."""
        if same_file(src, dst):
            raise ValueError(f'{dst}: output path equals the input; refusing to overwrite it')
        img = imread(src)
        out = self.upscale(img, outscale)
        imwrite(dst, out)
        return Path(dst)

