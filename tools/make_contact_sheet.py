"""Contact sheet of the second-order degradation on real photos: HR | LQ | parameters.

    python tools/make_contact_sheet.py --input HR_DIR --output sheet.png

Both are required: any folder of HR photos, any PNG path (the sheet in ``docs/`` is written only when asked
for by name).

Each row: a 256x256 centre crop of a photo, its LQ (x4 degraded by
``data.degrade.second_order.degrade_image`` with seed = row index, enlarged with nearest
neighbour for display) and the sampled parameters.
"""
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.evaluation.sheet import FONT, fit_text  # noqa: E402
from realesrgan_paddle.media.kinds import is_image  # noqa: E402
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, add_input, add_output, fail, returns_status)
from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.fileio import atomic_write_bytes  # noqa: E402
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, check_writable  # noqa: E402

runtime_env.setup()


def describe_kernel(k):
    if k['type'] == 'pulse':
        return 'none'
    if k['type'] == 'sinc':
        return f"sinc {k['size']} w={k['omega']:.2f}"
    s = f"{k['type']} {k['size']} s={k['sigma_x']:.2f}"
    if 'aniso' in k['type']:
        s += f"/{k['sigma_y']:.2f} th={k['theta']:.2f}"
    if 'beta' in k:
        s += f" b={k['beta']:.2f}"
    return s


def describe_noise(p, n):
    if p[f'noise{n}'] == 'gaussian':
        s = f"gauss s={p[f'noise_sigma{n}']:.1f}"
    else:
        s = f"poisson x{p[f'noise_scale{n}']:.2f}"
    return s + (' gray' if p[f'noise_gray{n}'] else '')


def param_lines(p):
    return [
        f"blur1: {describe_kernel(p['kernel1'])}",
        f"resize1: {p['resize1']} x{p['resize_scale1']:.2f} {p['resize_mode1']}",
        f"noise1: {describe_noise(p, 1)}",
        f"jpeg1: q{p['jpeg_quality1']}",
        f"blur2: {describe_kernel(p['kernel2']) if p['second_blur'] else 'skipped'}",
        f"resize2: {p['resize2']} x{p['resize_scale2']:.2f} {p['resize_mode2']}",
        f"noise2: {describe_noise(p, 2)}",
        f"final: {p['final_order']}",
        f"  sinc: {describe_kernel(p['sinc_kernel'])}, {p['final_resize_mode']}",
        f"  jpeg2: q{p['jpeg_quality2']}",
    ]


SHEET_NAMES = 'baboon,building,butterfly,coffee,face,xmp_test'


@returns_status
def main():
    ap = ArgumentParser(description=__doc__.split('\n\n')[0])
    add_input(ap, required=True, help='folder of HR photos')
    add_output(ap, required=True, help='the PNG to write')
    ap.add_argument('--names', default=None,
                    help='comma-separated photo stems to use (missing ones are skipped); default: those of the '
                         'sheet\'s six photos the folder has, filled up to six with its other images (by name)')
    ap.add_argument('--size', type=int, default=256, help='HR crop side per photo (default 256)')
    args = ap.parse_args()

    folder = Path(args.input)
    if not folder.is_dir():
        fail(None, f'--input {folder}: no such folder')
    names = args.names or SHEET_NAMES
    paths = [p for n in names.split(',') for p in sorted(folder.glob(f'{n}.*')) if is_image(p)]
    if args.names is None and len(paths) < 6:
        others = sorted(p for p in folder.iterdir() if p.is_file() and is_image(p) and p not in paths)
        paths += others[:6 - len(paths)]
    if not paths:
        fail(None, f'{folder}: no images' + (f' named {args.names}' if args.names else ''))
    try:  # never over a photo it reads; a path it cannot write is one line before the work
        check_no_clobber(paths, [Path(args.output)])
        check_writable(Path(args.output).parent)
    except OutputClash as exc:
        fail(None, str(exc))
    from realesrgan_paddle.data.degrade.second_order import degrade_image  # Paddle: after the checks
    s, text_w, scale = args.size, 430, 4
    rows = []
    for i, path in enumerate(paths):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            fail(None, f'{path}: not a readable image')
        h, w = img.shape[:2]
        if min(h, w) < s:
            img = cv2.resize(img, (max(w, s), max(h, s)), interpolation=cv2.INTER_CUBIC)
            h, w = img.shape[:2]
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        lq, params = degrade_image(crop, None, scale, seed=i)
        lq_big = cv2.resize(lq, (s, s), interpolation=cv2.INTER_NEAREST)
        panel = np.full((s, text_w, 3), 255, np.uint8)
        lines = [f'{path.stem} (seed {i})'] + param_lines(params)
        _text_lines(panel, lines, 8, 20, text_w - 16, 0.5, 22)
        rows.append(np.concatenate([crop, np.full((s, 4, 3), 255, np.uint8), lq_big, panel], axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    header = np.full((46, rows[0].shape[1], 3), 255, np.uint8)  # room for a label wrapped on two lines
    for x, label, width in ((8, f'HR ({s}x{s} crop)', s - 12), (s + 12, f'LQ x{scale} (nearest x{scale})', s - 12),
                            (2 * s + 12, 'sampled', text_w - 16)):
        _text_lines(header, [label], x, 18, width, 0.55, 20)
    sheet = np.concatenate([header] + rows, axis=0)
    ok, buf = cv2.imencode('.png', sheet)
    atomic_write_bytes(args.output, buf.tobytes())
    print(f'wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]}, {len(paths)} photos)')
    return 0


def _text_lines(img, lines, x, y, width, scale, step):
    """Black text lines from ``(x, y)`` down, each shrunk or wrapped to ``width`` px (evaluation.sheet.fit_text)
    so that none runs into the next column."""
    for line in lines:
        parts, sc = fit_text(line, width, scale)
        for part in parts:
            cv2.putText(img, part, (x, y), FONT, sc, (0, 0, 0), 1, cv2.LINE_AA)
            y += step


if __name__ == '__main__':
    sys.exit(main())
