"""Compare generators on a paired (GT, LQ) folder: PSNR/SSIM on Y with a border crop, per image
and on average, plus an optional side-by-side sheet (LQ | model A | model B | ... | GT).

    python -m training.evaluate --gt VAL_GT --lq VAL_LQ --models before=realesr-animevideov3 \
        after=experiments/NAME/models/net_g_600.pdparams [--sheet docs/x.png --sheet-images 3]
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


def _run(net, lq_bgr):
    import paddle
    x = paddle.to_tensor(np.ascontiguousarray(lq_bgr[..., ::-1].transpose(2, 0, 1))[None].astype('float32') / 255.0)
    with paddle.no_grad():
        y = net(x)[0].numpy()
    return (np.clip(y.transpose(1, 2, 0), 0, 1) * 255.0).round().astype(np.uint8)[..., ::-1]


def _label(img, text):
    out = img.copy()
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
    cv2.putText(out, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def evaluate(models, gt_dir, lq_dir, scale=4, crop_border=4, sheet=None, sheet_images=3, crop=None):
    from models import load_network
    from models.zoo import resolve
    from utils import metrics as M
    from utils.img_io import imread, imwrite
    nets = {name: ('bicubic' if path == 'bicubic' else load_network(resolve(path), param_key='params_ema')[0])
            for name, path in models.items()}
    gts = sorted(p for p in Path(gt_dir).iterdir() if p.suffix.lower() in ('.png', '.jpg', '.jpeg', '.bmp'))
    rows, tiles = [], []
    pick = set(np.linspace(0, len(gts) - 1, sheet_images).round().astype(int).tolist()) if sheet else set()
    for idx, gp in enumerate(gts):
        lp = Path(lq_dir) / gp.name
        if not lp.is_file():
            continue
        gt, lq = imread(gp)[..., :3], imread(lp)[..., :3]
        gt = gt[:lq.shape[0] * scale, :lq.shape[1] * scale]
        row = {'image': gp.name}
        outs = {}
        for name, net in nets.items():
            sr = (cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC) if net == 'bicubic'
                  else _run(net, lq))
            outs[name] = sr
            row[f'{name}_psnr'] = M.psnr(sr, gt, crop_border, test_y=True)
            row[f'{name}_ssim'] = M.ssim(sr, gt, crop_border, test_y=True)
        rows.append(row)
        if idx in pick:
            up = cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_NEAREST)
            panel = [up] + [outs[n] for n in nets] + [gt]
            labels = ['LQ (nearest)'] + [f'{n} {row[f"{n}_psnr"]:.2f} dB' for n in nets] + ['GT']
            if crop:
                h, w = gt.shape[:2]
                ch, cw = min(crop, h), min(crop, w)
                y0, x0 = (h - ch) // 2, (w - cw) // 2
                panel = [p[y0:y0 + ch, x0:x0 + cw] for p in panel]
            tiles.append(np.hstack([_label(p, t) for p, t in zip(panel, labels)]))
    if sheet and tiles:
        width = max(t.shape[1] for t in tiles)
        tiles = [np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0))) for t in tiles]
        imwrite(sheet, np.vstack(tiles))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--gt', required=True)
    ap.add_argument('--lq', required=True)
    ap.add_argument('--models', nargs='+', required=True, metavar='NAME=WEIGHTS',
                    help='weights file or model-zoo name per label (params_ema is used when present); '
                         '"bicubic" for plain bicubic upscaling')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--crop_border', type=int, default=4)
    ap.add_argument('--sheet', default=None, help='write a side-by-side PNG here')
    ap.add_argument('--sheet-images', type=int, default=3)
    ap.add_argument('--sheet-crop', type=int, default=None, help='centre crop (GT pixels) of each sheet tile')
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from utils.runtime_env import setup
    setup()
    models = {}
    for item in args.models:
        if '=' not in item:
            print(f'error: --models expects NAME=WEIGHTS, got {item!r}', file=sys.stderr)
            return 2
        k, v = item.split('=', 1)
        models[k] = v
    for d in (args.gt, args.lq):
        if not Path(d).is_dir():
            print(f'error: {d}: not a folder', file=sys.stderr)
            return 2
    try:
        rows = evaluate(models, args.gt, args.lq, args.scale, args.crop_border, args.sheet, args.sheet_images,
                        args.sheet_crop)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    if not rows:
        print(f'error: no GT/LQ pairs with equal names in {args.gt} and {args.lq}', file=sys.stderr)
        return 1
    names = list(models)
    print('| image | ' + ' | '.join(f'{n} PSNR | {n} SSIM' for n in names) + ' |')
    print('|---' * (1 + 2 * len(names)) + '|')
    for r in rows:
        print(f'| {r["image"]} | ' + ' | '.join(f'{r[n + "_psnr"]:.2f} | {r[n + "_ssim"]:.4f}' for n in names) + ' |')
    print('| **mean** | ' + ' | '.join(f'**{np.mean([r[n + "_psnr"] for r in rows]):.2f}** | '
                                       f'**{np.mean([r[n + "_ssim"] for r in rows]):.4f}**' for n in names) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
