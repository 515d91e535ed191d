"""PSNR between the Paddle DiffJPEG and OpenCV's libjpeg at the same quality, on real photos.

    python benchmarks/diffjpeg_vs_opencv.py [--input ../shared/data/hr] [--qualities 30,50,75,95]

For reference it also prints PSNR(original, libjpeg): how far JPEG itself moves
the image, so the DiffJPEG-vs-libjpeg gap can be judged against it.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.utils import runtime_env  # noqa: E402

runtime_env.setup()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import paddle  # noqa: E402

from realesrgan_paddle.data.degrade.jpeg import diff_jpeg  # noqa: E402
from realesrgan_paddle.evaluation.metrics import psnr  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--input', default=str(ROOT.parent / 'shared' / 'data' / 'hr'))
    ap.add_argument('--qualities', default='30,50,75,95')
    args = ap.parse_args()
    paths = sorted(Path(args.input).glob('*.png'))
    if not paths:
        print(f'error: no PNG photos in {args.input}', file=sys.stderr)
        return 2
    qs = [int(q) for q in args.qualities.split(',')]
    print(f'{len(paths)} photos from {args.input}; PSNR in dB (mean over photos, min in brackets)')
    print('| quality | DiffJPEG (ste) vs libjpeg | DiffJPEG (cubic) vs libjpeg | original vs libjpeg |')
    print('|---|---|---|---|')
    for q in qs:
        rows = {'ste': [], 'cubic': [], 'orig': []}
        for p in paths:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            ref = cv2.imdecode(cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
            rgb = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))[None]
            x = paddle.to_tensor(rgb.astype(np.float32) / 255)
            for mode in ('ste', 'cubic'):
                y = diff_jpeg(x, q, mode).numpy()[0].transpose(1, 2, 0)[:, :, ::-1]
                rows[mode].append(psnr(np.clip(np.rint(y * 255), 0, 255).astype(np.uint8), ref))
            rows['orig'].append(psnr(img, ref))
        cell = lambda v: f'{np.mean(v):.2f} ({np.min(v):.2f})'  # noqa: E731
        print(f"| {q} | {cell(rows['ste'])} | {cell(rows['cubic'])} | {cell(rows['orig'])} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
