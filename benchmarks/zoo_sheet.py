"""Crop sheet of the zoo models on one LR image: LQ (nearest) | bicubic | each model, labelled, as a JPEG.

    python benchmarks/zoo_sheet.py -i ../shared/data/lq/00003.png -o docs/zoo_photo_sheet.jpg
    python benchmarks/zoo_sheet.py -i ../shared/data/video/bikes.mp4 --frame 40 -o docs/zoo_frame_sheet.jpg

The ``--crop`` x ``--crop`` LR window with the most detail (Laplacian energy of the bicubic x4) is run with
``--context`` px of the image around it (so no model sees an image border that is not there), whole, fp32, on
the Paddle Inference predictor as ``tools/infer.py`` runs it; the window is cut from each output. Every panel is
shown at 4x the window: an x2 model's output is enlarged x2 more by bicubic, and its label says so. Panels are
laid out ``--columns`` to a row.
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

from realesrgan_paddle.media.kinds import is_video  # noqa: E402

MODELS = ('realesrgan-x4plus', 'realesr-animevideov3', 'spanx4_ch48', 'ClearReality4x', '4xSPANkendata',
          'RealSR_DF2K_x4', 'DAT_light_x4', 'realcugan-se-x4', 'realcugan-se-x2', 'waifu2x-upconv7-photo-x2')
SHOW = 4  # every panel at 4x the LR window


def read_input(path, frame):
    if is_video(path):
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, img = cap.read()
        if not ok:
            sys.exit(f'error: {path}: no frame {frame}')
        return img
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        sys.exit(f'error: {path}: not an image')
    return img


def window(img, crop, context):
    """``(piece, (y, x))``: the part of ``img`` run through the models, and where the window sits inside it."""
    from realesrgan_paddle.evaluation.sheet import detail_window
    big = cv2.resize(img, None, fx=SHOW, fy=SHOW, interpolation=cv2.INTER_CUBIC)
    y0, x0, _, _ = detail_window(big, crop * SHOW)
    y0, x0 = y0 // SHOW, x0 // SHOW
    top, left = max(0, y0 - context), max(0, x0 - context)
    piece = img[top:y0 + crop + context, left:x0 + crop + context]
    return piece, (y0 - top, x0 - left)


def panels(piece, at, crop, models):
    from realesrgan_paddle.inference import Upscaler
    y, x = at
    lq = piece[y:y + crop, x:x + crop]
    size = (crop * SHOW, crop * SHOW)
    out = [('LQ (nearest)', cv2.resize(lq, size, interpolation=cv2.INTER_NEAREST)),
           ('bicubic x4', cv2.resize(lq, size, interpolation=cv2.INTER_CUBIC))]
    for name in models:
        ups = Upscaler(name, precision='fp32', tile=0, backend='predictor', progress=False)
        s = ups.scale
        sr = ups.upscale(piece)[y * s:(y + crop) * s, x * s:(x + crop) * s]
        shown = sr if s == SHOW else cv2.resize(sr, size, interpolation=cv2.INTER_CUBIC)
        out.append((name if s == SHOW else f'{name} (x{s}, then bicubic x{SHOW // s})', shown))
        print(f'{name}: x{s}', flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('-i', '--input', required=True, help='an image, or a video (with --frame)')
    p.add_argument('-o', '--output', required=True, help='the .jpg to write')
    p.add_argument('--frame', type=int, default=0, help="a video's frame index")
    p.add_argument('--crop', type=int, default=80, help='LR window side (px)')
    p.add_argument('--context', type=int, default=16, help='LR pixels around the window given to the models')
    p.add_argument('--columns', type=int, default=4)
    p.add_argument('--quality', type=int, default=88, help='JPEG quality')
    p.add_argument('--models', nargs='+', default=list(MODELS))
    args = p.parse_args(argv)
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup()
    from realesrgan_paddle.evaluation.sheet import label
    piece, at = window(read_input(args.input, args.frame), args.crop, args.context)
    tiles = [label(img, text) for text, img in panels(piece, at, args.crop, args.models)]
    blank = np.zeros_like(tiles[0])
    rows = [tiles[i:i + args.columns] for i in range(0, len(tiles), args.columns)]
    rows[-1] += [blank] * (args.columns - len(rows[-1]))
    sheet = np.vstack([np.hstack([np.pad(t, ((0, 4), (0, 4), (0, 0))) for t in r]) for r in rows])
    ok, buf = cv2.imencode('.jpg', sheet, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
    from realesrgan_paddle.utils.fileio import atomic_write_bytes
    atomic_write_bytes(args.output, buf.tobytes())
    print(f'wrote {args.output}: {sheet.shape[1]}x{sheet.shape[0]}, {len(buf) / 1024:.0f} KB')


if __name__ == '__main__':
    main()
