"""The bf16 check: does a model's bf16 output stay within a tolerance a viewer cannot see?

The evidence is four real photos shipped in ``assets/precision/`` (64x64
crops of scikit-image's astronaut, cat, coffee and rocket photos at half size:
a face on a flat background, fur, smooth surfaces, a sky gradient; sources
and licences in ``assets/precision/README.md``). Each crop runs through
the export in fp32 and in bf16, and the two 8-bit outputs are compared. Every
crop must pass both parts of the tolerance:

1. ``PSNR >= MIN_PSNR`` (42 dB, RGB, 0-255): the change is at most 2 grey
   levels RMS, less than a JPEG save at quality 95 makes on most photos.
2. In the flat regions of the fp32 output (the 7x7 standard deviation of its
   grey is under 2 levels), 99.9 % of the samples change by less than the
   just-noticeable difference: ``p99.9(|change| / JND) <= MAX_FLAT_JND`` (1).
   ``JND`` is the luminance visibility threshold of Chou and Li (1995) for the
   local background grey ``bg`` (5x5 mean): ``17 (1 - sqrt(bg / 127)) + 3``
   up to 127, ``3 / 128 (bg - 127) + 3`` above; 3 levels at mid grey.

Flat regions are where a change is seen; in texture the eye is masked, and bf16
moves fine GAN texture by a few levels (x4plus: up to 11 at the 99.9th
percentile on the branches of a tree), which part 1 bounds. Measurements and the reasons are in
docs/export_infer.md, "bf16 by default". ``CHECK_REV`` changes whenever the
tolerance or the evidence does, so stored verdicts are measured again.
"""
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.media.image_io import chw_to_image, image_to_chw, imread
from realesrgan_paddle.utils.progress import Steps

from .backends import PredictorBackend
from .export.paddle_export import load_info

CHECK_REV = 4  # 4: 64x64 crops (128x128 before: the check was most of a first run's time)
MIN_PSNR = 42.0
MAX_FLAT_JND = 1.0
FLAT_WIN, FLAT_STD = 7, 2.0  # a pixel is flat when its 7x7 grey standard deviation is under 2 levels
JND_WIN = 5  # the background grey of the JND: a 5x5 mean
MIN_FLAT_PIXELS = 100  # fewer flat pixels than this: part 2 has nothing to judge
FALLBACK_PSNR = 100.0  # bf16 this close to fp32 means fp32 ran (bf16 rounding alone gives 42-57 dB)
EVIDENCE_DIR = Path(__file__).resolve().parents[1] / 'assets' / 'precision'


def evidence_files(folder=None):
    """The evidence crops (sorted PNG paths); empty when the folder is missing."""
    folder = Path(folder or EVIDENCE_DIR)
    return sorted(folder.glob('*.png')) if folder.is_dir() else []


def luminance_jnd(bg):
    """Chou and Li's visibility threshold (grey levels) of a change on a flat background of grey ``bg``."""
    bg = np.clip(np.asarray(bg, np.float64), 0, 255)
    return np.where(bg <= 127, 17 * (1 - np.sqrt(bg / 127)) + 3, 3 / 128 * (bg - 127) + 3)


def flat_mask(img):
    """HxW bool: where the 8-bit BGR (or gray) image is flat (local grey standard deviation < FLAT_STD)."""
    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    g = g.astype(np.float64)
    mu = cv2.blur(g, (FLAT_WIN, FLAT_WIN))
    var = np.maximum(cv2.blur(g * g, (FLAT_WIN, FLAT_WIN)) - mu * mu, 0)
    return var < FLAT_STD ** 2


def compare(ref, low):
    """Judge ``low`` (bf16's 8-bit output) against ``ref`` (fp32's): a dict with ``psnr``, ``flat_jnd``
    (the 99.9th percentile of change / JND in flat regions; 0 when there are too few flat pixels),
    ``flat_share``, ``p999`` and ``max`` (grey levels, for the record) and ``ok``."""
    ref, low = np.asarray(ref), np.asarray(low)
    if ref.shape != low.shape:
        raise ValueError(f'shapes differ: {ref.shape} vs {low.shape}')
    r = ref.astype(np.float64).reshape(ref.shape[:2] + (-1,))
    d = np.abs(r - low.astype(np.float64).reshape(r.shape))
    mse = float(np.mean(d ** 2))
    value = float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
    flat = flat_mask(ref)
    ratio = np.max([d[..., c] / luminance_jnd(cv2.blur(r[..., c], (JND_WIN, JND_WIN))) for c in range(r.shape[2])],
                   axis=0)
    flat_jnd = float(np.percentile(ratio[flat], 99.9)) if flat.sum() >= MIN_FLAT_PIXELS else 0.0
    return {'psnr': round(value, 2), 'flat_jnd': round(flat_jnd, 3), 'flat_share': round(float(flat.mean()), 3),
            'p999': float(np.percentile(d, 99.9)), 'max': float(d.max()),
            'ok': bool(value >= MIN_PSNR and flat_jnd <= MAX_FLAT_JND)}


def _crop_input(path, mod):
    img = imread(path)
    h, w = (img.shape[0] // mod) * mod, (img.shape[1] // mod) * mod
    return image_to_chw(img[:h, :w])[None]


class _QuietPredictors:
    """Keeps the two predictors' 'predictor ready' lines out of the log: the check says one line of its own."""

    def __enter__(self):
        self.log = logging.getLogger('inference')
        self.log.addFilter(self)
        return self

    def filter(self, record):
        return not str(record.msg).startswith('predictor ready')

    def __exit__(self, *exc):
        self.log.removeFilter(self)
        return False


def run(infer_dir, threads=None, progress=False, files=None):
    """Run the export in fp32 and bf16 (OpenVINO) on the evidence crops and judge every crop.

    Returns ``{'ran_bf16', 'ok', 'crops': [{'name', 'psnr', 'flat_jnd', ...}], 'seconds'}``; ``ran_bf16``
    is False (and ``ok`` too) when the bf16 output equals fp32's, i.e. the engine silently ran fp32.
    Raises ValueError when the OpenVINO engine cannot run the graph.
    """
    t0 = time.perf_counter()
    files = evidence_files() if files is None else files
    mod = int((load_info(infer_dir) or {}).get('mod') or 1)
    crops = []
    # a bar on a terminal, a line a step in a log: the first run's set-up says what it does (minutes on x4plus)
    with Steps('bf16 check against fp32 (once per model and machine)', len(files) + 1, progress, leave=False) as bar:
        bar.step('creating the fp32 and bf16 predictors')
        with _QuietPredictors():
            ref_b = PredictorBackend(infer_dir, threads=threads, precision='fp32')
            low_b = PredictorBackend(infer_dir, threads=threads, precision='bf16', engine='openvino')
        for f in files:
            bar.step(Path(f).name)
            x = _crop_input(f, mod)
            ref, low = (chw_to_image(b.forward(x)[0]) for b in (ref_b, low_b))
            crops.append(dict(name=Path(f).name, **compare(ref, low)))
    ran = any(c['psnr'] < FALLBACK_PSNR for c in crops)
    return {'ran_bf16': ran, 'ok': bool(ran and crops and all(c['ok'] for c in crops)), 'crops': crops,
            'seconds': round(time.perf_counter() - t0, 1)}
