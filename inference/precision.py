"""Which precision the predictor runs by default: bf16 where the CPU has it and the model keeps its quality.

On a CPU with native bfloat16 (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo)
whose network runs on the OpenVINO engine, ``Upscaler`` and ``tools/infer.py``
run bf16 unless fp32 is asked for. The first time an export is used that way,
its bf16 output is compared with its fp32 output on a sample (a crop of a real
photo, ``assets/example_lq.png``; a fixed natural-image-like pattern when the
file is missing). The verdict goes to ``bf16_check.json`` beside the export
(under the user cache when the export is read-only), stamped with the Paddle
version and the export files, so the check runs once. Below ``MIN_PSNR`` dB the
model stays fp32 and one log line says so. CPUs without native bf16 run fp32
without a word.
"""
import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger('inference')

MIN_PSNR = 50.0  # dB of bf16 against fp32 on the sample; below it the model stays fp32
FALLBACK_PSNR = 100.0  # bf16 this close to fp32 means fp32 ran (bf16 rounding alone gives ~50-60 dB)
STAMP_NAME = 'bf16_check.json'
SAMPLE = Path(__file__).resolve().parents[1] / 'assets' / 'example_lq.png'
SAMPLE_SIZE = 64
_NATIVE = None


def native_bf16(cpuinfo='/proc/cpuinfo'):
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    global _NATIVE
    if _NATIVE is None or cpuinfo != '/proc/cpuinfo':
        try:
            text = Path(cpuinfo).read_text(errors='replace')
        except OSError:
            text = ''
        flags = set()
        for line in text.splitlines():
            if line.startswith('flags'):
                flags.update(line.split(':', 1)[1].split())
                break
        found = bool(flags & {'avx512_bf16', 'amx_bf16'})
        if cpuinfo != '/proc/cpuinfo':
            return found
        _NATIVE = found
    return _NATIVE


def check_sample(size=SAMPLE_SIZE):
    """(1, 3, size, size) float32 RGB in [0, 1]: the centre of a real photo, or a fixed 1/f pattern."""
    import cv2
    img = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR) if SAMPLE.is_file() else None
    if img is not None and min(img.shape[:2]) >= size:
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        from utils.img_io import image_to_chw
        return image_to_chw(img[y:y + size, x:x + size])[None]
    # natural images have a ~1/f amplitude spectrum: seeded noise shaped that way
    rng = np.random.default_rng(0)
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None] ** 2)
    f[0, 0] = 1.0
    spec = (rng.normal(size=(3, size, size)) + 1j * rng.normal(size=(3, size, size))) / f
    rgb = np.real(np.fft.ifft2(spec))
    rgb = (rgb - rgb.min()) / (rgb.max() - rgb.min())
    return np.ascontiguousarray(rgb[None], dtype=np.float32)


def psnr01(a, b):
    """PSNR in dB of two float arrays clipped to [0, 1] (inf when equal)."""
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1)) ** 2))
    return float('inf') if mse == 0 else 10 * np.log10(1.0 / mse)


def _stamp(infer_dir):
    import paddle
    st = [(Path(infer_dir) / n).stat() for n in ('inference.pdmodel', 'inference.pdiparams')]
    return f'{paddle.__version__}|' + '|'.join(f'{s.st_size}:{s.st_mtime_ns}' for s in st)


def _stamp_path(infer_dir):
    from .backends import side_dir
    d = side_dir(infer_dir, '_precision')
    return d / STAMP_NAME if d is not None else None


def bf16_psnr(infer_dir, threads=None):
    """PSNR of the export's bf16 output against its fp32 output on the sample; None if bf16 cannot run.

    Measured once per export and kept in ``bf16_check.json`` (see the module notes).
    """
    path, stamp = _stamp_path(infer_dir), _stamp(infer_dir)
    if path is not None and path.is_file():
        try:
            rec = json.loads(path.read_text())
            if rec.get('stamp') == stamp:
                return rec.get('psnr')
        except (OSError, ValueError):
            pass
    from .backends import PredictorBackend
    from .export import load_info
    mod = int((load_info(infer_dir) or {}).get('mod') or 1)
    size = -(-SAMPLE_SIZE // mod) * mod
    x = check_sample(size)
    ref = PredictorBackend(infer_dir, threads=threads, precision='fp32').forward(x)
    try:
        low = PredictorBackend(infer_dir, threads=threads, precision='bf16', engine='openvino').forward(x)
    except ValueError as e:  # the OpenVINO engine cannot run this graph
        log.debug('bf16 does not run for %s: %s', infer_dir, e)
        low = ref
    value = psnr01(low, ref)
    value = round(float(value), 2) if value < FALLBACK_PSNR else None  # (nearly) identical: bf16 did not run
    if path is not None:
        from utils.fileio import atomic_write_text
        try:
            atomic_write_text(path, json.dumps({'stamp': stamp, 'psnr': value, 'sample': str(SAMPLE.name),
                                                'size': size, 'min_psnr': MIN_PSNR}))
        except OSError as e:
            log.debug('could not keep the bf16 check: %s', e)
    return value


def choose(precision, infer_dir, device='cpu', threads=None, engine='auto', fp16=False, min_psnr=None):
    """The precision to run: ``precision`` when given; by default bf16 where it is native and checked safe.

    ``precision``: None (default: decide), 'fp32', 'fp16' or 'bf16'. ``fp16`` (GPU half precision) asked
    for keeps the old meaning of None. ``min_psnr``: the bar of the check (default ``MIN_PSNR``).
    """
    if precision is not None or fp16:
        return precision
    if str(device or 'cpu').lower() != 'cpu' or not native_bf16():
        return 'fp32'
    from .backends import auto_engine
    if (auto_engine(infer_dir) if engine == 'auto' else engine) != 'openvino':  # bf16 runs on OpenVINO only
        return 'fp32'
    limit = MIN_PSNR if min_psnr is None else min_psnr
    try:
        value = bf16_psnr(infer_dir, threads)
    except Exception as e:  # the OpenVINO engine cannot run this graph in bf16
        log.debug('bf16 check failed for %s: %s', infer_dir, e)
        return 'fp32'
    if value is None:
        return 'fp32'
    if value < limit:
        log.warning('bf16 gives %.1f dB against fp32 on the sample (< %.0f dB): running fp32', value, limit)
        return 'fp32'
    return 'bf16'
