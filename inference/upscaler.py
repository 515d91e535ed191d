"""``Upscaler``: the one inference core behind tools/predict.py, tools/infer.py and the Python API.

Pixels in and out follow OpenCV: HxW gray, HxWx3 BGR or HxWx4 BGRA, uint8 or
uint16 (float arrays in [0, 1] are accepted and returned as float32). The
output keeps the input's channel layout and bit depth.
"""
import hashlib
import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from .export import EXPORT_REV, export_static, is_infer_dir, load_info
from .memory import auto_tile
from .precision import choose as choose_precision
from .tiling import tiled_forward

log = logging.getLogger('inference')

CACHE_ROOT = Path(os.environ.get('REALESRGAN_PADDLE_HOME', Path.home() / '.cache' / 'realesrgan-paddle')).expanduser()
ALPHA_MODES = ('model', 'resize')
BACKENDS = ('auto', 'predictor', 'dynamic')


def resolve_model(model, denoise_strength=None):
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
    return Path(zoo.resolve(name, denoise_strength=denoise_strength))


def _file_key(path, arch_override):
    import paddle
    from utils.fileio import sha256_file
    h = hashlib.sha256(sha256_file(path).encode())
    h.update(json.dumps(arch_override or {}, sort_keys=True).encode())
    h.update(paddle.__version__.encode())
    return h.hexdigest()[:20]


def cached_export(weights, arch_override=None, cache_root=None):
    """Export ``weights`` once to ``<cache>/infer/<sha>/`` and return that directory."""
    import models
    out = Path(cache_root or CACHE_ROOT) / 'infer' / _file_key(weights, arch_override)
    if is_infer_dir(out) and (load_info(out) or {}).get('export_rev') == EXPORT_REV:
        return out
    net, arch = models.load_network(weights, arch=arch_override)
    log.info('exporting %s to %s', weights, out)
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
        outscale: final scale (any float); default the network's scale.
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
        if outscale is not None and not outscale > 0:
            raise ValueError(f'outscale must be > 0, got {outscale}')
        from .backends import DynamicBackend, PredictorBackend
        path = resolve_model(model, denoise_strength)
        self.model_path = path
        if is_infer_dir(path):
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
            infer_dir = cached_export(path, arch, cache_root)
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
        bar = None
        progress = None
        if self.progress:
            from tqdm import tqdm

            def progress(done, total):
                nonlocal bar
                if bar is None:
                    bar = tqdm(total=total, desc='tiles', unit='tile', leave=False, disable=total <= 1)
                bar.update(1)
        try:
            out = tiled_forward(x, self.backend.forward, self.scale, tile, self.tile_pad, self.mod, progress)
        finally:
            if bar is not None:
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
        if img.dtype == np.uint8:
            maxv = 255.0
        elif img.dtype == np.uint16:
            maxv = 65535.0
        elif img.dtype.kind == 'f':
            maxv = 1.0
        else:
            raise ValueError(f'unsupported pixel type {img.dtype}')
        h, w = img.shape[:2]
        gray = img.ndim == 2
        alpha = img[:, :, 3] if img.ndim == 3 and img.shape[2] == 4 else None
        if gray:
            rgb = np.repeat(img[None].astype(np.float32), 3, axis=0)
        else:
            rgb = img[:, :, 2::-1].transpose(2, 0, 1).astype(np.float32)
        rgb /= maxv
        out = self.run_chw(rgb)
        del rgb
        s = self.scale
        alpha_out = None
        if alpha is not None:
            if self.alpha_upsampler == 'model':
                a = np.repeat(alpha[None].astype(np.float32) / maxv, 3, axis=0)
                alpha_out = np.clip(self.run_chw(a).mean(axis=0), 0, 1)
            else:
                alpha_out = cv2.resize(alpha.astype(np.float32) / maxv, (w * s, h * s), interpolation=cv2.INTER_LINEAR)
        res = _to_image(out, alpha_out, gray, img.dtype, maxv)
        del out
        outscale = outscale or self.outscale
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


def _to_image(out, alpha, gray, dtype, maxv):
    """(3,H,W) float RGB (+ alpha HxW) -> HWC BGR(A)/gray in ``dtype``, strip by strip to save memory."""
    _, H, W = out.shape
    ch = 1 if gray else (4 if alpha is not None else 3)
    is_float = dtype.kind == 'f'
    res = np.empty((H, W) if ch == 1 else (H, W, ch), np.float32 if is_float else dtype)
    step = max(1, (1 << 21) // max(1, W))
    for r in range(0, H, step):
        strip = np.clip(out[:, r:r + step].transpose(1, 2, 0)[:, :, ::-1], 0, 1)  # RGB -> BGR, HWC
        if gray:
            strip = cv2.cvtColor(np.ascontiguousarray(strip), cv2.COLOR_BGR2GRAY)
        elif alpha is not None:
            strip = np.concatenate([strip, alpha[r:r + step, :, None]], axis=2)
        res[r:r + step] = strip if is_float else np.round(strip * maxv)
    return res
