"""Validation on a paired set: PSNR/SSIM (Y channel, border crop), saved images, best-model tracking."""
from pathlib import Path

import numpy as np
import paddle
from tqdm import tqdm

from realesrgan_paddle.evaluation import metrics as M
from realesrgan_paddle.media.image_io import chw_to_image, imwrite


def detail_ratio(sr, gt, crop_border=4, test_y=True):
    """``evaluation.metrics.detail_ratio`` (always on Y) with the signature of the other validation metrics."""
    return M.detail_ratio(sr, gt, crop_border)


_FUNCS = {'calculate_psnr': M.psnr, 'psnr': M.psnr, 'calculate_ssim': M.ssim, 'ssim': M.ssim,
          'detail_ratio': detail_ratio}
# ratios are averaged over images as a geometric mean
_GEOMETRIC = ('detail_ratio',)


def validate(net, loader, val_opt, current_iter, vis_dir=None, logger=None, desc='val'):
    """Run ``net`` over ``loader``; returns ``{metric: mean}`` and writes images when asked."""
    net.eval()
    metrics = val_opt.get('metrics') or {}
    sums = {k: 0.0 for k in metrics}
    n = 0
    max_images = val_opt.get('max_images')
    with paddle.no_grad():
        for batch in tqdm(loader, desc=desc, leave=False, disable=(logger is None) or None):
            lq = batch['lq']
            out = net(lq)
            sr = chw_to_image(out)
            gt = chw_to_image(batch['gt'])
            if sr.shape != gt.shape:  # a GT not divisible by the scale: compare the common area
                h, w = min(sr.shape[0], gt.shape[0]), min(sr.shape[1], gt.shape[1])
                sr, gt = sr[:h, :w], gt[:h, :w]
            for k, m in metrics.items():
                v = _FUNCS[m['type']](sr, gt, crop_border=m['crop_border'], test_y=m['test_y_channel'])
                sums[k] += float(np.log(max(v, 1e-12))) if m['type'] in _GEOMETRIC else v
            name = Path(batch['lq_path'][0] if isinstance(batch['lq_path'], (list, tuple)) else
                        batch['lq_path']).stem
            if val_opt.get('save_img') and vis_dir is not None:
                suffix = val_opt.get('suffix') or str(current_iter)
                imwrite(Path(vis_dir) / name / f'{name}_{suffix}.png', sr)
            n += 1
            if max_images and n >= max_images:
                break
    means = {k: v / max(n, 1) for k, v in sums.items()}
    return {k: float(np.exp(v)) if metrics[k]['type'] in _GEOMETRIC else v for k, v in means.items()}, n


class BestTracker:
    """Best value (and iteration) of each metric; higher is better unless ``better: lower``, or
    ``better: one`` (closest to 1 on a log scale, for ratios such as ``detail_ratio``)."""

    def __init__(self, metrics_opt, state=None):
        self.better = {k: m.get('better', 'higher') for k, m in (metrics_opt or {}).items()}
        self.best = dict(state or {})

    def update(self, results, it):
        improved = []
        for k, v in results.items():
            old = self.best.get(k)
            better = self.better.get(k, 'higher')
            if better == 'one':
                gain = old is None or abs(np.log(max(v, 1e-12))) < abs(np.log(max(old['val'], 1e-12)))
            else:
                gain = old is None or (v > old['val'] if better == 'higher' else v < old['val'])
            if gain:
                self.best[k] = {'val': float(v), 'iter': int(it)}
                improved.append(k)
        return improved
