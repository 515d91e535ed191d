"""The evaluation contract the pipeline codes against, with a fallback for older ``training.evaluate``.

Contract (``training.evaluate``):

- ``evaluate(models, gt_dir, lq_dir, scale=4, crop_border=4, sheet=None, sheet_images=3, crop=None)``
  -> per-image rows ``{'image', '<model>_psnr', '<model>_ssim', '<model>_niqe', '<model>_detail',
  '<model>_artefact', ...}``; ``models`` maps a name to a weights path, a zoo name or 'bicubic'.
- ``summarize(rows, model_names)`` -> ``{model: {metric: mean}}`` (detail: geometric mean).
- ``verdict(summary, base, other)`` -> one line per axis.

When the installed ``training.evaluate`` lacks ``summarize`` (it then gives PSNR/SSIM only),
the functions here run the models themselves and add the detail ratio: the mean squared
Laplacian of Y, output over GT, with a 4 px border cropped (per image; geometric mean over
images). NIQE and the artefact measure are then absent (None).
"""
import math
from pathlib import Path

import numpy as np

METRICS = ('psnr', 'ssim', 'niqe', 'detail', 'artefact', 'lpips', 'dists')
IMG_EXTS = ('.png', '.jpg', '.jpeg', '.bmp')


def _module():
    from training import evaluate as E
    return E


def full_contract():
    """True when ``training.evaluate`` implements the whole contract itself."""
    E = _module()
    return all(hasattr(E, f) for f in ('evaluate', 'summarize', 'verdict'))


def laplacian_energy(img_bgr, crop_border=4):
    """Mean squared 3x3 Laplacian of the BT.601 Y channel (0-255 scale), border cropped."""
    import cv2

    from utils.metrics import _to_255, bgr_to_y
    y = bgr_to_y(_to_255(img_bgr[..., :3]))
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    lap = cv2.Laplacian(y, cv2.CV_64F, ksize=1)
    return float(np.mean(lap * lap))


def detail_ratio(sr, gt, crop_border=4):
    """Laplacian energy of ``sr`` over that of ``gt``: 1 as detailed as GT, < 1 blur, > 1 overshoot/noise."""
    return laplacian_energy(sr, crop_border) / max(laplacian_energy(gt, crop_border), 1e-12)


def evaluate(models, gt_dir, lq_dir, scale=4, crop_border=4, sheet=None, sheet_images=3, crop=None):
    if full_contract():
        return _module().evaluate(models, gt_dir, lq_dir, scale=scale, crop_border=crop_border, sheet=sheet,
                                  sheet_images=sheet_images, crop=crop)
    return _fallback_evaluate(models, gt_dir, lq_dir, scale, crop_border, sheet, sheet_images, crop)


def _fallback_evaluate(models, gt_dir, lq_dir, scale, crop_border, sheet, sheet_images, crop):
    import cv2
    from tqdm import tqdm

    from models import load_network
    from models.zoo import resolve
    from utils import metrics as M
    from utils.img_io import imread, imwrite
    E = _module()
    nets = {name: ('bicubic' if path == 'bicubic' else load_network(resolve(path), param_key='params_ema')[0])
            for name, path in models.items()}
    gts = sorted(p for p in Path(gt_dir).iterdir() if p.suffix.lower() in IMG_EXTS)
    pairs = [(g, Path(lq_dir) / g.name) for g in gts if (Path(lq_dir) / g.name).is_file()]
    pick = set(np.linspace(0, len(pairs) - 1, min(sheet_images, len(pairs))).round().astype(int).tolist()) \
        if sheet and pairs else set()
    rows, tiles = [], []
    for idx, (gp, lp) in enumerate(tqdm(pairs, desc=f'evaluate {len(nets)} models', unit='img')):
        gt, lq = imread(gp)[..., :3], imread(lp)[..., :3]
        gt = gt[:lq.shape[0] * scale, :lq.shape[1] * scale]
        row, outs = {'image': gp.name}, {}
        for name, net in nets.items():
            sr = (cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC) if net == 'bicubic'
                  else E._run(net, lq))
            outs[name] = sr
            row[f'{name}_psnr'] = M.psnr(sr, gt, crop_border, test_y=True)
            row[f'{name}_ssim'] = M.ssim(sr, gt, crop_border, test_y=True)
            row[f'{name}_detail'] = detail_ratio(sr, gt, crop_border)
            row[f'{name}_niqe'] = row[f'{name}_artefact'] = None
        rows.append(row)
        if idx in pick:
            tiles.append(_sheet_row(lq, gt, outs, row, crop, E._label))
    if sheet and tiles:
        width = max(t.shape[1] for t in tiles)
        imwrite(sheet, np.vstack([np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0))) for t in tiles]))
    return rows


def _sheet_row(lq, gt, outs, row, crop, label):
    import cv2
    up = cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_NEAREST)
    panel = [up] + list(outs.values()) + [gt]
    labels = ['LQ (nearest)'] + [f'{n} {row[f"{n}_psnr"]:.2f} dB d{row[f"{n}_detail"]:.2f}' for n in outs] + ['GT']
    if crop:
        h, w = gt.shape[:2]
        ch, cw = min(crop, h), min(crop, w)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        panel = [p[y0:y0 + ch, x0:x0 + cw] for p in panel]
    return np.hstack([label(p, t) for p, t in zip(panel, labels)])


def summarize(rows, model_names):
    if full_contract():
        return _module().summarize(rows, model_names)
    out = {}
    for m in model_names:
        s = {}
        for k in METRICS:
            vals = [r.get(f'{m}_{k}') for r in rows]
            vals = [float(v) for v in vals if v is not None]
            if not vals:
                s[k] = None
            elif k == 'detail':
                s[k] = float(math.exp(np.mean(np.log(np.maximum(vals, 1e-12)))))
            else:
                s[k] = float(np.mean(vals))
        out[m] = s
    return out


def verdict(summary, base, other):
    if full_contract():
        return _module().verdict(summary, base, other)
    a, b = summary[base], summary[other]
    lines = [f'distortion: {other if b["psnr"] > a["psnr"] else base} is better '
             f'(PSNR {b["psnr"]:.2f} vs {a["psnr"]:.2f} dB, SSIM {b["ssim"]:.4f} vs {a["ssim"]:.4f})']
    da, db = abs(math.log(a['detail'])), abs(math.log(b['detail']))
    lines.append(f'perception: {other if db < da else base} is closer to the GT\'s detail '
                 f'(detail ratio {b["detail"]:.3f} vs {a["detail"]:.3f}; NIQE not available)')
    return lines
