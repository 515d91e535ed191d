"""Per-image numpy/OpenCV version of the second-order degradation (benchmark reference).

The same steps and distributions as ``data.degrade.second_order`` (which is what most ports
run in their data loaders, one image at a time): cv2.filter2D blur with the
sampled kernels, cv2.resize, numpy Gaussian/Poisson noise, libjpeg through
cv2.imencode/imdecode, USM with cv2.GaussianBlur. Images are HWC float32 in [0, 1].
"""
import cv2
import numpy as np

_CV_MODES = {'area': cv2.INTER_AREA, 'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}


def usm_sharp_np(img, weight=0.5, radius=50, threshold=10):
    if radius % 2 == 0:
        radius += 1
    blur = cv2.GaussianBlur(img, (radius, radius), 0)
    residual = img - blur
    mask = (np.abs(residual) * 255 > threshold).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (radius, radius), 0)
    return soft * np.clip(img + weight * residual, 0, 1) + (1 - soft) * img


def _resize(img, opt, rng, sfx, ref_hw):
    kind = ('up', 'down', 'keep')[int(rng.choice(3, p=opt['resize_prob' + sfx]))]
    lo, hi = opt['resize_range' + sfx]
    s = rng.uniform(1, hi) if kind == 'up' else rng.uniform(lo, 1) if kind == 'down' else 1.0
    mode = str(rng.choice(opt['resize_mode_list']))
    h, w = max(1, int(ref_hw[0] * s)), max(1, int(ref_hw[1] * s))
    return cv2.resize(img, (w, h), interpolation=_CV_MODES[mode])


def _noise(img, opt, rng, sfx):
    gray = rng.uniform() < opt['gray_noise_prob' + sfx]
    if rng.uniform() < opt['gaussian_noise_prob' + sfx]:
        sigma = rng.uniform(*opt['noise_range' + sfx]) / 255.0
        if gray:
            noise = np.repeat(rng.standard_normal(img.shape[:2], dtype=np.float32)[:, :, None], 3, axis=2)
        else:
            noise = rng.standard_normal(img.shape, dtype=np.float32)
        out = img + noise * np.float32(sigma)
    else:
        scale = rng.uniform(*opt['poisson_scale_range' + sfx])
        src = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None] if gray else img
        q = np.clip(np.rint(src * 255), 0, 255) / 255.0
        vals = 2 ** np.ceil(np.log2(len(np.unique(q))))
        noise = (rng.poisson(q * vals) / vals - q).astype(np.float32) * np.float32(scale)
        out = img + (np.repeat(noise, 3, axis=2) if gray else noise)
    return np.clip(out, 0, 1)


def _jpeg(img, opt, rng, sfx):
    q = int(rng.uniform(*opt['jpeg_range' + sfx]))
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode('.jpg', u8, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0


def degrade_np(img, kernel1, kernel2, sinc_kernel, opt, scale, rng):
    """One HWC float32 RGB image in [0, 1] -> LQ (H/scale, W/scale, 3)."""
    h, w = img.shape[:2]
    th, tw = h // scale, w // scale
    out = cv2.filter2D(img, -1, kernel1, borderType=cv2.BORDER_REFLECT_101)
    out = _resize(out, opt, rng, '', (h, w))
    out = _noise(out, opt, rng, '')
    out = _jpeg(out, opt, rng, '')
    if rng.uniform() < opt['second_blur_prob']:
        out = cv2.filter2D(out, -1, kernel2, borderType=cv2.BORDER_REFLECT_101)
    out = _resize(out, opt, rng, '2', (th, tw))
    out = _noise(out, opt, rng, '2')
    mode = _CV_MODES[str(rng.choice(opt['resize_mode_list']))]
    if rng.uniform() < opt['final_resize_first_prob']:
        out = cv2.resize(out, (tw, th), interpolation=mode)
        out = cv2.filter2D(out, -1, sinc_kernel, borderType=cv2.BORDER_REFLECT_101)
        out = _jpeg(np.clip(out, 0, 1), opt, rng, '2')
    else:
        out = _jpeg(out, opt, rng, '2')
        out = cv2.resize(out, (tw, th), interpolation=mode)
        out = cv2.filter2D(out, -1, sinc_kernel, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(np.rint(out * 255), 0, 255) / 255.0
