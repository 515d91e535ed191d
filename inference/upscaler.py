"""``Upscaler``: the one inference core behind tools/predict.py, tools/infer.py and the Python API.

Pixels in and out follow OpenCV: HxW gray, HxWx3 BGR or HxWx4 BGRA, uint8 or
uint16 (float arrays in [0, 1] are accepted and returned as float32). The
output keeps the input's channel layout and bit depth.
"""
import hashlib
import json
import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from utils.fileio import cache_root as user_cache
from utils.img_io import chw_to_image, image_to_chw, pixel_max
from utils.progress import Steps, bars_active, is_tty

from .export import EXPORT_REV, export_static, is_infer_dir, load_info
from .memory import auto_tile
from .precision import choose as choose_precision
from .tiling import MIN_SIDE, tile_grid, tiled_forward

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


def resolve_model(model, denoise_strength=None, progress=True):
    """A zoo name, a weights file or an export directory -> Path. ``None`` = the default zoo model."""
    if model is not None and (Path(model).exists() or os.sep in str(model) or Path(str(model)).suffix):
        p = Path(model)
        if not p.exists():
            raise FileNotFoundError(f'{p}: no such model file or directory')
        if denoise_strength is not None and not is_infer_dir(p):
            log.warning('--denoise_strength applies to the zoo model realesr-general-x4v3 only; ignored for %s', p)
        return p
    from models import zoo  # lazy: the zoo may import weights on first use
    name = model or zoo.DEFAULT_MODEL
    return Path(zoo.resolve(name, denoise_strength=denoise_strength, progress=progress))


def _file_key(path, arch_override):
    import paddle
    from utils.fileio import sha256_file
    h = hashlib.sha256(sha256_file(path).encode())
    h.update(json.dumps(arch_override or {}, sort_keys=True).encode())
    h.update(paddle.__version__.encode())
    return h.hexdigest()[:20]


def _n_tiles(hw, tile, pad, mod):
    """How many windows ``tiled_forward`` runs for an image of ``hw`` LR pixels."""
    h, w = hw
    if tile <= 0 or (h <= tile and w <= tile):
        return 1
    ys, xs = tile_grid(h, w, tile, pad, mod)[:2]
    return len(ys) * len(xs)


def cached_export(weights, arch_override=None, cache_root=None, progress=False):
    """Export ``weights`` once to ``<cache>/infer/<sha>/`` and return that directory."""
    import models
    out = Path(cache_root or user_cache()) / 'infer' / _file_key(weights, arch_override)
    if is_infer_dir(out) and (load_info(out) or {}).get('export_rev') == EXPORT_REV:
        return out
    net, arch = models.load_network(weights, arch=arch_override)  # a bad file fails here, before any output
    log.info('exporting %s for Paddle Inference into %s (once per weights file)', weights, out)
    with Steps(f'{Path(weights).name}: one-time export', 1, progress) as bar:
        bar.step('tracing and saving the static graph')
        return export_static(net, arch, out, source=weights)


class Upscaler:
    """Upscale images with a Real-ESRGAN generator.

    Args:
        model: zoo name (default ``realesrgan-x4plus``), weights file (.pdparams/.pth/.safetensors)
            or a directory written by tools/export_model.py.
        device: 'cpu', 'gpu' or 'gpu:N'.
        tile: LR tile size; 0 picks one from free memory (no tiling when the image fits).
        tile_pad: overlap/context per tile side (LR pixels); pre_pad: reflect padding at the
            bottom/right before the network, cropped afterwards.
        backend: 'predictor' (Paddle Inference), 'dynamic' (dynamic graph) or 'auto'
            (predictor; weights files are exported once into a cache directory).
        fp16: GPU half precision; ignored with a warning on CPU.
        precision: 'fp32', 'bf16' (CPU, OpenVINO engine: about 2x faster where the CPU has AVX512-BF16/AMX,
            50-60 dB PSNR against fp32) or None: bf16 where the CPU has it natively and a one-off check of
            the model on a sample gives >= 50 dB against fp32 (inference/precision.py), else fp32.
        engine: predictor engine on the CPU: 'auto' (OpenVINO for RRDBNet, else oneDNN),
            'openvino' or 'onednn' (see inference/backends.py).
        alpha_upsampler: 'model' runs the alpha channel through the network, 'resize' resizes it.
        outscale: final scale, 0.01 to 16; default the network's scale. Outputs larger than
            $RESR_MAX_OUTPUT_PIXELS (600 MP) are refused with a ValueError.
        arch: overrides for the architecture read from / detected in the weights (e.g. num_block).
        progress: show a tqdm bar over tiles.
    """

    def __init__(self, model=None, device='cpu', tile=0, tile_pad=10, pre_pad=0, backend='auto', fp16=False,
                 threads=None, alpha_upsampler='model', outscale=None, denoise_strength=None, arch=None,
                 precision=None, progress=False, cache_root=None, engine='auto'):
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if alpha_upsampler not in ALPHA_MODES:
            raise ValueError(f'alpha_upsampler must be one of {ALPHA_MODES}, got {alpha_upsampler!r}')
        if tile < 0 or tile_pad < 0 or pre_pad < 0:
            raise ValueError('tile, tile_pad and pre_pad must be >= 0')
        outscale = check_outscale(outscale)
        if 0 < tile < MIN_SIDE:
            log.warning('tile %d raised to %d, the smallest tile that is safe to run', tile, MIN_SIDE)
            tile = MIN_SIDE
        from .backends import DynamicBackend, PredictorBackend
        path = resolve_model(model, denoise_strength, progress)
        self.model_path = path
        if path.suffix.lower() == '.onnx':  # tools/export_onnx.py output, run by onnxruntime
            from .onnx_backend import OnnxBackend
            self.backend = OnnxBackend(path, threads)
            self.arch = self.backend.info['arch']
        elif is_infer_dir(path):
            if backend == 'dynamic':
                raise ValueError(f'{path} is an exported static graph: it runs with the predictor backend only')
            info = load_info(path)
            if info is None:
                raise ValueError(f'{path}: no model_info.json beside inference.pdmodel (export with tools/export_model.py)')
            self.arch = info['arch']
            precision = choose_precision(precision, path, device, threads, engine, fp16)
            self.backend = PredictorBackend(path, device, threads, fp16, precision, engine=engine)
        elif backend == 'dynamic':
            import models
            if precision not in (None, 'fp32'):
                log.warning('%s runs on the predictor (tools/infer.py) only: the dynamic graph runs fp32', precision)
            net, self.arch = models.load_network(path, arch=arch)
            self.backend = DynamicBackend(net, device, fp16)
        else:
            infer_dir = cached_export(path, arch, cache_root, progress)
            self.arch = load_info(infer_dir)['arch']
            precision = choose_precision(precision, infer_dir, device, threads, engine, fp16)
            self.backend = PredictorBackend(infer_dir, device, threads, fp16, precision, engine=engine)
        import models
        self.scale = models.net_scale(self.arch)
        self.mod = models.pad_multiple(self.arch)
        self.device = device
        self.tile, self.tile_pad, self.pre_pad = int(tile), int(tile_pad), int(pre_pad)
        self.alpha_upsampler = alpha_upsampler
        self.outscale = outscale
        self.progress = progress
        self.last_tile = None

    # ---------------------------------------------------------------- core
    def _pick_tile(self, h, w):
        if self.tile > 0:
            return self.tile
        return auto_tile(self.arch, h, w, self.tile_pad, self.backend.kind, self.backend.name)

    def run_chw(self, x):
        """(C,H,W) float32 RGB in [0,1] -> (C,H*s,W*s) float32 (unclipped)."""
        c, h, w = x.shape
        if self.pre_pad:
            x = np.pad(x, ((0, 0), (0, self.pre_pad), (0, self.pre_pad)),
                       mode='reflect' if self.pre_pad < min(h, w) else 'edge')
        ph, pw = (-x.shape[1]) % self.mod, (-x.shape[2]) % self.mod
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode='reflect' if max(ph, pw) < min(h, w) else 'edge')
        tile = self._pick_tile(*x.shape[1:])
        self.last_tile = tile
        progress = None
        total = _n_tiles(x.shape[1:], tile, self.tile_pad, self.mod)
        engine = getattr(self.backend, 'engine', self.backend.name)
        # inside another bar (a video's frames, a folder's files): no bar per single-tile image, and no
        # per-tile lines when stderr is a file
        show = self.progress and not (bars_active() and (total == 1 or not is_tty()))
        bar = Steps('tiles' if total > 1 else 'model (whole image, one tile)', total, show, unit='tile',
                    leave=False)
        if show:
            def progress(done, total):
                if done < total:
                    bar.step(engine)
            bar.step(engine)
        try:
            out = tiled_forward(x, self.backend.forward, self.scale, tile, self.tile_pad, self.mod, progress)
        finally:
            bar.close()
        s = self.scale
        return out[:, :h * s, :w * s]

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
        rgb = image_to_chw(img)
        out = self.run_chw(rgb)
        del rgb
        s = self.scale
        alpha_out = None
        if alpha is not None:
            if self.alpha_upsampler == 'model':
                alpha_out = np.clip(self.run_chw(image_to_chw(alpha)).mean(axis=0), 0, 1)
            else:
                alpha_out = cv2.resize(alpha.astype(np.float32) / maxv, (w * s, h * s), interpolation=cv2.INTER_LINEAR)
        res = chw_to_image(out, img.dtype, alpha_out, gray)
        del out
        if outscale and abs(outscale - s) > 1e-9:
            size = (max(1, int(round(w * outscale))), max(1, int(round(h * outscale))))
            res = cv2.resize(res, size, interpolation=cv2.INTER_LANCZOS4)
            if res.dtype.kind == 'f':
                np.clip(res, 0, 1, out=res)
        return res

    def upscale_file(self, src, dst, outscale=None):
        """Read ``src`` (EXIF-upright), upscale, write ``dst`` atomically. Refuses ``dst == src``."""
        from utils.fileio import same_file
        from utils.img_io import imread, imwrite
        if same_file(src, dst):
            raise ValueError(f'{dst}: output path equals the input; refusing to overwrite it')
        img = imread(src)
        out = self.upscale(img, outscale)
        imwrite(dst, out)
        return Path(dst)

