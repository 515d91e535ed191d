"""Real-ESRGAN second-order degradation, batched in Paddle.

Flow for a batch of GT images (NCHW RGB in [0, 1]), after the paper:

1. blur with per-sample ``kernel1``; random resize (up/down/keep, one scale and
   mode for the batch); Gaussian or Poisson noise (type, strength, gray per
   sample); clamp; JPEG with a quality per sample.
2. blur with ``kernel2`` (per sample, with probability ``second_blur_prob``);
   random resize relative to the target size; noise; clamp.
3. in random order: [resize to H/scale x W/scale + blur with ``sinc_kernel``] and
   [clamp + JPEG]; finally clamp and round to 1/255.

Every random choice comes from one numpy Generator in a fixed order, so a seed
reproduces the result byte for byte on CPU.
"""
import math

import numpy as np
import paddle

from data.filters import filter2d
from data.jpeg import ROUND_MODES, diff_jpeg
from data.kernels import KERNEL_TYPES, pad_kernel, pulse_kernel, random_mixed_kernel, sinc_kernel
from data.noise import as_rng, gaussian_noise, poisson_noise
from data.resize import RESIZE_MODES, resize, scaled_size
from data.slicing import resolve_slices, run_sliced
from data.usm import usm_sharp
from utils.img_io import chw_to_image, image_to_chw

KERNEL_PAD = 21


def _blur_defaults(order, sigma):
    """Real-ESRGAN's blur options of the first (``order`` '') or second (``'2'``) degradation."""
    return {f'blur_kernel_size{order}': 21, f'kernel_list{order}': list(KERNEL_TYPES),
            f'kernel_prob{order}': [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], f'sinc_prob{order}': 0.1,
            f'blur_sigma{order}': sigma, f'betag_range{order}': [0.5, 4.0], f'betap_range{order}': [1.0, 2.0]}


DEFAULT_DEGRADATION = {
    **_blur_defaults('', [0.2, 3.0]),  # first-order blur
    **_blur_defaults('2', [0.2, 1.5]),  # second-order blur
    'final_sinc_prob': 0.8,
    # first stage
    'resize_prob': [0.2, 0.7, 0.1],  # up, down, keep
    'resize_range': [0.15, 1.5],
    'resize_mode_list': list(RESIZE_MODES),
    'gaussian_noise_prob': 0.5,
    'noise_range': [1.0, 30.0],
    'poisson_scale_range': [0.05, 3.0],
    'gray_noise_prob': 0.4,
    'jpeg_range': [30, 95],
    # second stage
    'second_blur_prob': 0.8,
    'resize_prob2': [0.3, 0.4, 0.3],
    'resize_range2': [0.3, 1.2],
    'gaussian_noise_prob2': 0.5,
    'noise_range2': [1.0, 25.0],
    'poisson_scale_range2': [0.05, 2.5],
    'gray_noise_prob2': 0.4,
    'jpeg_range2': [30, 95],
    'final_resize_first_prob': 0.5,  # [resize + sinc] before JPEG
    'jpeg_round': 'ste',
    # switching the JPEG steps off per sample (1 = always, as in Real-ESRGAN)
    'jpeg_prob': 1.0,
    'jpeg_prob2': 1.0,
    # the video codec (data.codec), applied last, to whole images (training: data.codec_cache)
    'codec_prob': 0.0,
    'codec_list': ['libx264'],
    'codec_crf_range': [18, 35],
    'codec_preset': 'medium',
    'codec_clip': 1,     # consecutive images of one source encoded as one clip (1: each image alone)
    'codec_reuse': 10,   # training: uses of each cached LQ image, on average, before the cache is rebuilt
    'codec_pan': 0,      # > 0: each image is coded as a P frame after this many frames of a pan over it
    'codec_pan_px': 1.0,  # the pan's speed, LQ pixels per frame (random direction per image)
    # USM-sharpened GT (Real-ESRGAN+) and which losses use it
    'usm_weight': 0.5,
    'usm_radius': 50,
    'usm_threshold': 10,
    'l1_gt_usm': True,
    'percep_gt_usm': True,
    'gan_gt_usm': False,
}

_PROB_KEYS = ('sinc_prob', 'sinc_prob2', 'final_sinc_prob', 'gaussian_noise_prob', 'gray_noise_prob',
              'second_blur_prob', 'gaussian_noise_prob2', 'gray_noise_prob2', 'final_resize_first_prob',
              'jpeg_prob', 'jpeg_prob2', 'codec_prob')
_RANGE_KEYS = {  # key: (min allowed, max allowed)
    'blur_sigma': (1e-6, 100), 'blur_sigma2': (1e-6, 100), 'betag_range': (1e-6, 100),
    'betag_range2': (1e-6, 100), 'betap_range': (1e-6, 100), 'betap_range2': (1e-6, 100),
    'resize_range': (1e-3, 100), 'resize_range2': (1e-3, 100), 'noise_range': (0, 255),
    'noise_range2': (0, 255), 'poisson_scale_range': (0, 100), 'poisson_scale_range2': (0, 100),
    'jpeg_range': (1, 100), 'jpeg_range2': (1, 100), 'codec_crf_range': (0, 51)}
_DIST_KEYS = {'kernel_prob': 'kernel_list', 'kernel_prob2': 'kernel_list2', 'resize_prob': None,
              'resize_prob2': None}


def _is_num(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def resolve_options(opt=None):
    """Defaults overridden by ``opt`` (the YAML ``degradation:`` section), validated.

    Raises ValueError naming the key for unknown keys and bad values.
    """
    if opt is not None and not isinstance(opt, dict):
        raise ValueError(f'degradation options must be a mapping, got {type(opt).__name__}')
    out = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in DEFAULT_DEGRADATION.items()}
    for key, val in (opt or {}).items():
        if key not in DEFAULT_DEGRADATION:
            raise ValueError(f'unknown degradation option {key!r}')
        out[key] = list(val) if isinstance(val, (list, tuple)) else val
    for key in _PROB_KEYS:
        v = out[key]
        if not _is_num(v) or not 0 <= v <= 1:
            raise ValueError(f'degradation option {key!r} must be a probability in [0, 1], got {v!r}')
    for key, (lo, hi) in _RANGE_KEYS.items():
        v = out[key]
        if (not isinstance(v, list) or len(v) != 2 or not all(_is_num(x) for x in v)
                or not lo <= v[0] <= v[1] <= hi):
            raise ValueError(f'degradation option {key!r} must be [low, high] with {lo} <= low <= high <= {hi}, '
                             f'got {v!r}')
    for key in ('blur_kernel_size', 'blur_kernel_size2'):
        v = out[key]
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v % 2 == 0 or not 7 <= v <= KERNEL_PAD:
            raise ValueError(f'degradation option {key!r} must be an odd integer in [7, {KERNEL_PAD}], got {v!r}')
    for key in ('kernel_list', 'kernel_list2'):
        bad = [k for k in out[key] if k not in KERNEL_TYPES] if isinstance(out[key], list) else [out[key]]
        if bad or not out[key]:
            raise ValueError(f'degradation option {key!r}: unknown kernel type(s) {bad}; '
                             f'known: {", ".join(KERNEL_TYPES)}')
    for key, list_key in _DIST_KEYS.items():
        v = out[key]
        n = len(out[list_key]) if list_key else 3
        if (not isinstance(v, list) or len(v) != n or not all(_is_num(x) and x >= 0 for x in v)
                or abs(sum(v) - 1) > 1e-4):
            raise ValueError(f'degradation option {key!r} must be {n} non-negative probabilities summing to 1, '
                             f'got {v!r}')
    modes = out['resize_mode_list']
    if not isinstance(modes, list) or not modes or any(m not in RESIZE_MODES for m in modes):
        raise ValueError(f'degradation option \'resize_mode_list\' must list modes from {RESIZE_MODES}, got {modes!r}')
    if out['jpeg_round'] not in ROUND_MODES:
        raise ValueError(f'degradation option \'jpeg_round\' must be one of {ROUND_MODES}, got {out["jpeg_round"]!r}')
    for key in ('usm_weight', 'usm_threshold'):
        if not _is_num(out[key]) or out[key] < 0:
            raise ValueError(f'degradation option {key!r} must be a number >= 0, got {out[key]!r}')
    if not isinstance(out['usm_radius'], (int, np.integer)) or out['usm_radius'] < 1:
        raise ValueError(f'degradation option \'usm_radius\' must be a positive integer, got {out["usm_radius"]!r}')
    for key in ('l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm'):
        if not isinstance(out[key], bool):
            raise ValueError(f'degradation option {key!r} must be true or false, got {out[key]!r}')
    from data.codec import check_options
    check_options(out)
    out['_resolved'] = True
    return out


def _resolved(opt):
    return opt if isinstance(opt, dict) and opt.get('_resolved') else resolve_options(opt)


def _stage_kernel(opt, rng, sfx):
    sizes = list(range(7, opt['blur_kernel_size' + sfx] + 1, 2))
    size = int(rng.choice(sizes))
    if rng.uniform() < opt['sinc_prob' + sfx]:
        omega = float(rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi))
        kernel, params = sinc_kernel(size, omega), {'type': 'sinc', 'size': size, 'omega': omega}
    else:
        kernel, params = random_mixed_kernel(rng, size, opt['kernel_list' + sfx], opt['kernel_prob' + sfx],
                                             opt['blur_sigma' + sfx], opt['betag_range' + sfx],
                                             opt['betap_range' + sfx])
    return pad_kernel(kernel, KERNEL_PAD), params


def sample_kernels(opt, rng=None, return_params=False):
    """Per-sample kernels ``dict(kernel1, kernel2, sinc_kernel)``, numpy float32 21x21.

    With ``return_params=True`` returns ``(kernels, params)``.
    """
    opt = _resolved(opt)
    rng = as_rng(rng)
    k1, p1 = _stage_kernel(opt, rng, '')
    k2, p2 = _stage_kernel(opt, rng, '2')
    if rng.uniform() < opt['final_sinc_prob']:
        size = int(rng.choice(list(range(7, KERNEL_PAD + 1, 2))))
        omega = float(rng.uniform(math.pi / 3, math.pi))
        ks, ps = pad_kernel(sinc_kernel(size, omega), KERNEL_PAD), {'type': 'sinc', 'size': size, 'omega': omega}
    else:
        ks, ps = pulse_kernel(KERNEL_PAD), {'type': 'pulse'}
    kernels = {'kernel1': k1, 'kernel2': k2, 'sinc_kernel': ks}
    if return_params:
        return kernels, {'kernel1': p1, 'kernel2': p2, 'sinc_kernel': ps}
    return kernels


def _as_kernel_tensor(k, b, place, name):
    if isinstance(k, paddle.Tensor):
        t = k.astype('float32')
        if str(t.place) != str(place):
            t = paddle.to_tensor(t, place=place)
    else:
        t = paddle.to_tensor(np.asarray(k, dtype=np.float32), place=place)
    if t.ndim == 2:
        t = t.unsqueeze(0).expand([b, t.shape[0], t.shape[1]])
    if t.ndim != 3 or t.shape[0] != b:
        raise ValueError(f'{name} must be (B, k, k) with B={b}, got shape {list(t.shape)}')
    return t


class SecondOrderDegradation:
    """``SecondOrderDegradation(opt, scale)(gt, kernel1, kernel2, sinc_kernel, rng)`` -> LQ.

    All random choices are drawn first (:meth:`sample_plan`), then the ops run on
    the batch. ``threads`` cuts the batch into that many slices run concurrently
    (:mod:`data.slicing`: most CPU kernels use one core); ``'auto'`` means one per
    CPU core on a CPU place and 1 on a GPU. Each sample's result does not depend
    on the slicing. :meth:`with_usm` also sharpens the GT inside the slices.
    """

    def __init__(self, opt=None, scale=4, threads='auto'):
        if not isinstance(scale, (int, np.integer)) or scale < 1:
            raise ValueError(f'scale must be a positive integer, got {scale!r}')
        if isinstance(threads, np.integer):
            threads = int(threads)
        resolve_slices(threads)  # validates
        self.opt = _resolved(opt)
        self.scale = int(scale)
        self.threads = threads

    # -- random plan -----------------------------------------------------------
    def _plan_resize(self, rng, sfx):
        o = self.opt
        kind = ('up', 'down', 'keep')[int(rng.choice(3, p=o['resize_prob' + sfx]))]
        lo, hi = o['resize_range' + sfx]
        s = float(rng.uniform(1, hi)) if kind == 'up' else float(rng.uniform(lo, 1)) if kind == 'down' else 1.0
        return {'resize': kind, 'resize_scale': s, 'resize_mode': str(rng.choice(o['resize_mode_list']))}

    def _plan_noise(self, rng, sfx, b):
        o = self.opt
        return {'gauss': rng.uniform(size=b) < o['gaussian_noise_prob' + sfx],
                'gray': rng.uniform(size=b) < o['gray_noise_prob' + sfx],
                'sigma': rng.uniform(*o['noise_range' + sfx], size=b),
                'pscale': rng.uniform(*o['poisson_scale_range' + sfx], size=b),
                'seeds': rng.integers(0, 2 ** 63 - 1, size=b)}

    def sample_plan(self, b, rng):
        """Every random choice for a batch of ``b``, in a fixed order."""
        o = self.opt
        plan = {'resize1': self._plan_resize(rng, ''), 'noise1': self._plan_noise(rng, '', b),
                'q1': np.floor(rng.uniform(*o['jpeg_range'], size=b)),
                'use2': rng.uniform(size=b) < o['second_blur_prob'],
                'resize2': self._plan_resize(rng, '2'), 'noise2': self._plan_noise(rng, '2', b),
                'final_mode': str(rng.choice(o['resize_mode_list'])),
                'resize_first': bool(rng.uniform() < o['final_resize_first_prob']),
                'q2': np.floor(rng.uniform(*o['jpeg_range2'], size=b))}
        for key, prob in (('jpeg1', 'jpeg_prob'), ('jpeg2', 'jpeg_prob2')):  # drawn only when some are off
            plan[key] = rng.uniform(size=b) < o[prob] if o[prob] < 1 else np.ones(b, bool)
        return plan

    # -- ops -------------------------------------------------------------------
    @staticmethod
    def _noise(out, npl, idx):
        gauss, gray = npl['gauss'][idx], npl['gray'][idx]
        sigma, pscale, seeds = npl['sigma'][idx], npl['pscale'][idx], npl['seeds'][idx]
        b = out.shape[0]
        gi, pi = np.flatnonzero(gauss), np.flatnonzero(~gauss)
        noise = np.empty(out.shape, dtype=np.float32)
        if gi.size:
            noise[gi] = gaussian_noise([gi.size] + list(out.shape[1:]), sigma[gi], gray[gi], seeds=seeds[gi])
        if pi.size:
            sub = out if pi.size == b else paddle.index_select(out, paddle.to_tensor(pi, place=out.place))
            noise[pi] = poisson_noise(sub.numpy(), pscale[pi], gray[pi], seeds=seeds[pi])
        return (out + paddle.to_tensor(noise, place=out.place)).clip(0, 1)

    def _jpeg(self, out, q, use):
        """JPEG at quality ``q`` on the samples where ``use`` is True; the others pass unchanged."""
        if not use.any():
            return out
        coded = diff_jpeg(out.clip(0, 1), q, self.opt['jpeg_round'])
        if use.all():
            return coded
        mask = paddle.to_tensor(use.astype(np.float32).reshape(-1, 1, 1, 1), place=out.place)
        return mask * coded + (1 - mask) * out

    def _apply(self, gt, k1, k2, ks, plan, idx):
        """Run the planned ops on the samples ``idx`` (a slice of the batch)."""
        _, _, h, w = gt.shape
        th, tw = h // self.scale, w // self.scale
        place = gt.place
        b = gt.shape[0]
        # first order
        out = filter2d(gt, k1)
        r = plan['resize1']
        out = resize(out, scaled_size(h, w, r['resize_scale']), r['resize_mode'])
        out = self._noise(out, plan['noise1'], idx)
        out = self._jpeg(out, plan['q1'][idx], plan['jpeg1'][idx])
        # second order
        use2 = plan['use2'][idx]
        if use2.any():
            if not use2.all():
                mask = paddle.to_tensor(use2.astype(np.float32).reshape(b, 1, 1), place=place)
                pulse = paddle.to_tensor(pulse_kernel(k2.shape[-1]), place=place)
                k2 = mask * k2 + (1 - mask) * pulse
            out = filter2d(out, k2)
        r = plan['resize2']
        out = resize(out, scaled_size(th, tw, r['resize_scale']), r['resize_mode'])
        out = self._noise(out, plan['noise2'], idx)
        # final: [resize + sinc] and JPEG in random order; the sinc blur is skipped when all are pulses
        final_blur = not bool(paddle.all(ks == paddle.to_tensor(pulse_kernel(ks.shape[-1]), place=place)))

        def resize_sinc(t):
            t = resize(t, (th, tw), plan['final_mode'])
            return filter2d(t, ks) if final_blur else t
        q2, use2 = plan['q2'][idx], plan['jpeg2'][idx]
        if plan['resize_first']:
            out = self._jpeg(resize_sinc(out), q2, use2)
        else:
            out = resize_sinc(self._jpeg(out, q2, use2))
        return paddle.round(out.clip(0, 1) * 255.0) / 255.0

    @staticmethod
    def plan_params(plan, i):
        """The parameters of sample ``i`` as a flat JSON-able dict."""
        p = {}
        for st in ('1', '2'):
            p.update({f'{k}{st}': v for k, v in plan['resize' + st].items()})
            n = plan['noise' + st]
            if n['gauss'][i]:
                p.update({f'noise{st}': 'gaussian', f'noise_sigma{st}': float(n['sigma'][i])})
            else:
                p.update({f'noise{st}': 'poisson', f'noise_scale{st}': float(n['pscale'][i])})
            p[f'noise_gray{st}'] = bool(n['gray'][i])
        p.update({'jpeg_quality1': int(plan['q1'][i]) if plan['jpeg1'][i] else None,
                  'jpeg_quality2': int(plan['q2'][i]) if plan['jpeg2'][i] else None,
                  'second_blur': bool(plan['use2'][i]), 'final_resize_mode': plan['final_mode'],
                  'final_order': 'resize+sinc, jpeg' if plan['resize_first'] else 'jpeg, resize+sinc'})
        return p

    # -- main ------------------------------------------------------------------
    def _prepare(self, gt, kernel1, kernel2, sinc_kernel, rng):
        if not isinstance(gt, paddle.Tensor) or gt.ndim != 4 or gt.shape[1] != 3:
            raise ValueError(f'gt must be an RGB NCHW paddle.Tensor, got {getattr(gt, "shape", type(gt))}')
        rng = as_rng(rng)
        b, _, h, w = gt.shape
        if h // self.scale < 1 or w // self.scale < 1:
            raise ValueError(f'gt {h}x{w} is smaller than the scale {self.scale}')
        place = gt.place
        ks = tuple(_as_kernel_tensor(k, b, place, name) for k, name in
                   ((kernel1, 'kernel1'), (kernel2, 'kernel2'), (sinc_kernel, 'sinc_kernel')))
        return ks, self.sample_plan(b, rng), resolve_slices(self.threads, place)

    def __call__(self, gt, kernel1, kernel2, sinc_kernel, rng=None, return_params=False):
        (k1, k2, ks), plan, n = self._prepare(gt, kernel1, kernel2, sinc_kernel, rng)
        b = gt.shape[0]
        lq = run_sliced(lambda s, e: self._apply(gt[s:e], k1[s:e], k2[s:e], ks[s:e], plan, slice(s, e)), b, n)
        if not return_params:
            return lq
        return lq, [self.plan_params(plan, i) for i in range(b)]

    def with_usm(self, gt, kernel1, kernel2, sinc_kernel, rng=None):
        """``(gt_usm, lq)``: the GT sharpened with the options' USM settings and the LQ
        degraded from it (as Real-ESRGAN does), both made slice by slice."""
        (k1, k2, ks), plan, n = self._prepare(gt, kernel1, kernel2, sinc_kernel, rng)
        o = self.opt

        def part(s, e):
            sharp = usm_sharp(gt[s:e], o['usm_weight'], o['usm_radius'], o['usm_threshold'])
            return sharp, self._apply(sharp, k1[s:e], k2[s:e], ks[s:e], plan, slice(s, e))
        return run_sliced(part, gt.shape[0], n)


def image_to_tensor(img):
    """uint8/uint16 HWC BGR (or HW gray, or BGRA) -> (1, 3, H, W) RGB float32 tensor in [0, 1]."""
    img = np.asarray(img)
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'image must be uint8 or uint16, got {img.dtype}')
    return paddle.to_tensor(image_to_chw(img)[None])


def degrade_image(img, opt=None, scale=4, seed=0):
    """One image through the full pipeline, and the codec step when drawn: ``(lq uint8 HWC BGR, params dict)``.

    ``img`` is uint8/uint16 HWC BGR (gray and BGRA are converted). The same seed
    gives the same bytes. The codec encodes the image alone (one intra frame).
    """
    opt = _resolved(opt)
    rng = np.random.default_rng(seed)
    kernels, kparams = sample_kernels(opt, rng, return_params=True)
    gt = image_to_tensor(img)
    lq, params = SecondOrderDegradation(opt, scale)(
        gt, kernels['kernel1'][None], kernels['kernel2'][None], kernels['sinc_kernel'][None],
        rng=rng, return_params=True)
    out = chw_to_image(lq)
    params = dict(params[0])
    params.update(kparams)
    from data.codec import apply_codec, sample_codec
    draw = sample_codec(opt, rng)  # the last draw: options without the codec keep their random stream
    if draw is not None:
        out = apply_codec([[out]], [draw], [opt])[0][0]
        params.update({'codec': draw['codec'], 'codec_crf': draw['crf'], 'codec_preset': opt['codec_preset']})
    params.update({'seed': seed if seed is None else int(seed), 'scale': int(scale),
                   'hr_size': [int(gt.shape[2]), int(gt.shape[3])],
                   'lq_size': [int(out.shape[0]), int(out.shape[1])]})
    return np.ascontiguousarray(out), params
