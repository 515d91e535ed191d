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

The flow is a list of stages (``SECOND_ORDER``: ``Blur``, ``RandomResize``, ``Noise``, ``Jpeg``, ...,
``FinalStep``). A new degradation is one ``Stage`` subclass (its draws, its op on a batch slice, its
parameters, its own options) placed with ``with_stage(stage, after=name)`` and given to
``SecondOrderDegradation(..., stages=...)``; tests/data/test_deg_stages.py adds one.
"""
import math

import numpy as np
import paddle

from realesrgan_paddle.data.degrade.blur_filters import filter2d
from realesrgan_paddle.data.degrade.codec import apply_codec, check_options, sample_codec
from realesrgan_paddle.data.degrade.jpeg import ROUND_MODES, diff_jpeg
from realesrgan_paddle.data.degrade.kernels import (
    KERNEL_TYPES, pad_kernel, pulse_kernel, random_mixed_kernel, sinc_kernel)
from realesrgan_paddle.data.degrade.noise import as_rng, gaussian_noise, poisson_noise
from realesrgan_paddle.data.degrade.resize import RESIZE_MODES, resize, scaled_size
from realesrgan_paddle.data.degrade.slicing import resolve_slices, run_sliced
from realesrgan_paddle.data.degrade.usm import usm_sharp
from realesrgan_paddle.media.image_io import chw_to_image, image_to_chw

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
    # the video codec (data.degrade.codec), applied last, to whole images (training: data.degrade.codec_cache)
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


def resolve_options(opt=None, stages=()):
    """Defaults overridden by ``opt`` (the YAML ``degradation:`` section), validated; ``stages`` add their own
    options (``Stage.defaults``, checked by ``Stage.check``).

    Raises ValueError naming the key for unknown keys and bad values.
    """
    if opt is not None and not isinstance(opt, dict):
        raise ValueError(f'degradation options must be a mapping, got {type(opt).__name__}')
    known = dict(DEFAULT_DEGRADATION)
    for stage in stages:
        known.update(stage.defaults)
    out = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in known.items()}
    for key, val in (opt or {}).items():
        if key not in known:
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
    check_options(out)
    for stage in stages:
        stage.check(out)
    out['_resolved'] = True
    return out


def _resolved(opt, stages=()):
    if isinstance(opt, dict) and opt.get('_resolved'):
        if all(k in opt for stage in stages for k in stage.defaults):
            return opt
        opt = {k: v for k, v in opt.items() if k != '_resolved'}
    return resolve_options(opt, stages)


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


# -- the flow as a list of stages ---------------------------------------------------------------------------
class Stage:
    """One step of the flow. ``draw`` makes its random choices for a batch of ``b`` (a dict merged into the
    plan; stages draw in flow order), ``draw_late`` those drawn after every stage's ``draw`` (a choice added to
    a published flow draws here, so that a seed keeps giving the bytes it gave), ``apply`` runs on a slice of
    the batch, ``params`` gives sample ``i``'s choices as flat JSON-able items. ``defaults``: the stage's own
    degradation options (accepted by ``resolve_options`` when the stage is in the flow), checked by ``check``.
    """
    name = 'stage'
    defaults = {}

    def draw(self, rng, b, opt):
        return {}

    def draw_late(self, rng, b, opt):
        return {}

    def apply(self, out, plan, ctx):
        raise NotImplementedError

    def params(self, plan, i):
        return {}

    def check(self, opt):
        """Raise ValueError (one line naming the key) for a bad value of the stage's options."""


class Slice:
    """What ``Stage.apply`` sees besides the tensor: the slice ``idx`` of the batch, its kernels, the GT size
    ``(h, w)``, the target size ``(th, tw)``, the options and the place."""

    def __init__(self, idx, kernels, size, target, opt, place):
        self.idx, self.kernels, self.size, self.target, self.opt, self.place = idx, kernels, size, target, opt, place


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


def _jpeg(out, q, use, round_mode):
    """JPEG at quality ``q`` on the samples where ``use`` is True; the others pass unchanged."""
    if not use.any():
        return out
    coded = diff_jpeg(out.clip(0, 1), q, round_mode)
    if use.all():
        return coded
    mask = paddle.to_tensor(use.astype(np.float32).reshape(-1, 1, 1, 1), place=out.place)
    return mask * coded + (1 - mask) * out


class Blur(Stage):
    """Blur with the per-sample ``kernel``; with ``prob``, only the samples a draw picks (the others keep a pulse)."""

    def __init__(self, kernel, prob=None, key=None):
        self.kernel, self.prob, self.key = kernel, prob, key
        self.name = key or f'blur_{kernel}'

    def draw(self, rng, b, opt):
        return {self.key: rng.uniform(size=b) < opt[self.prob]} if self.prob else {}

    def apply(self, out, plan, ctx):
        k = ctx.kernels[self.kernel]
        if not self.prob:
            return filter2d(out, k)
        use = plan[self.key][ctx.idx]
        if not use.any():
            return out
        if not use.all():
            mask = paddle.to_tensor(use.astype(np.float32).reshape(out.shape[0], 1, 1), place=ctx.place)
            k = mask * k + (1 - mask) * paddle.to_tensor(pulse_kernel(k.shape[-1]), place=ctx.place)
        return filter2d(out, k)

    def params(self, plan, i):
        return {'second_blur': bool(plan[self.key][i])} if self.prob else {}


class RandomResize(Stage):
    """Resize up, down or not (one scale and mode for the batch), relative to the GT size or the target size."""

    def __init__(self, sfx, relative_to):
        self.sfx, self.relative_to, self.name = sfx, relative_to, 'resize' + sfx

    def draw(self, rng, b, opt):
        s = '' if self.sfx == '1' else self.sfx  # the first order's options have no suffix
        kind = ('up', 'down', 'keep')[int(rng.choice(3, p=opt['resize_prob' + s]))]
        lo, hi = opt['resize_range' + s]
        scale = float(rng.uniform(1, hi)) if kind == 'up' else float(rng.uniform(lo, 1)) if kind == 'down' else 1.0
        return {self.name: {'resize': kind, 'resize_scale': scale,
                            'resize_mode': str(rng.choice(opt['resize_mode_list']))}}

    def apply(self, out, plan, ctx):
        r = plan[self.name]
        h, w = ctx.size if self.relative_to == 'gt' else ctx.target
        return resize(out, scaled_size(h, w, r['resize_scale']), r['resize_mode'])

    def params(self, plan, i):
        return {f'{k}{self.sfx}': v for k, v in plan[self.name].items()}


class Noise(Stage):
    """Gaussian or Poisson noise, colour or gray, type and strength per sample; clamped."""

    def __init__(self, sfx):
        self.sfx, self.name = sfx, 'noise' + sfx

    def draw(self, rng, b, opt):
        s = '' if self.sfx == '1' else self.sfx
        return {self.name: {'gauss': rng.uniform(size=b) < opt['gaussian_noise_prob' + s],
                            'gray': rng.uniform(size=b) < opt['gray_noise_prob' + s],
                            'sigma': rng.uniform(*opt['noise_range' + s], size=b),
                            'pscale': rng.uniform(*opt['poisson_scale_range' + s], size=b),
                            'seeds': rng.integers(0, 2 ** 63 - 1, size=b)}}

    def apply(self, out, plan, ctx):
        return _noise(out, plan[self.name], ctx.idx)

    def params(self, plan, i):
        n, s = plan[self.name], self.sfx
        p = {f'noise{s}': 'gaussian', f'noise_sigma{s}': float(n['sigma'][i])} if n['gauss'][i] else \
            {f'noise{s}': 'poisson', f'noise_scale{s}': float(n['pscale'][i])}
        p[f'noise_gray{s}'] = bool(n['gray'][i])
        return p


def _draw_jpeg_use(rng, b, opt, sfx):
    prob = opt['jpeg_prob' + sfx]  # drawn only when some samples skip the step (late: older seeds keep their bytes)
    return {'jpeg' + (sfx or '1'): rng.uniform(size=b) < prob if prob < 1 else np.ones(b, bool)}


class Jpeg(Stage):
    """JPEG at a quality per sample, on the samples the ``jpeg_prob`` draw keeps."""

    def __init__(self, sfx=''):
        self.sfx, self.name = sfx, 'jpeg' + (sfx or '1')

    def draw(self, rng, b, opt):
        return {'q' + (self.sfx or '1'): np.floor(rng.uniform(*opt['jpeg_range' + self.sfx], size=b))}

    def draw_late(self, rng, b, opt):
        return _draw_jpeg_use(rng, b, opt, self.sfx)

    def apply(self, out, plan, ctx):
        n = self.sfx or '1'
        return _jpeg(out, plan['q' + n][ctx.idx], plan['jpeg' + n][ctx.idx], ctx.opt['jpeg_round'])

    def params(self, plan, i):
        n = self.sfx or '1'
        return {f'jpeg_quality{n}': int(plan['q' + n][i]) if plan['jpeg' + n][i] else None}


class FinalStep(Stage):
    """[resize to the target size + the sinc blur] and [JPEG] in a random order (the sinc blur is skipped when
    every sample's kernel is a pulse)."""
    name = 'final'

    def draw(self, rng, b, opt):
        return {'final_mode': str(rng.choice(opt['resize_mode_list'])),
                'resize_first': bool(rng.uniform() < opt['final_resize_first_prob']),
                'q2': np.floor(rng.uniform(*opt['jpeg_range2'], size=b))}

    def draw_late(self, rng, b, opt):
        return _draw_jpeg_use(rng, b, opt, '2')

    def apply(self, out, plan, ctx):
        ks = ctx.kernels['sinc_kernel']
        final_blur = not bool(paddle.all(ks == paddle.to_tensor(pulse_kernel(ks.shape[-1]), place=ctx.place)))

        def resize_sinc(t):
            t = resize(t, ctx.target, plan['final_mode'])
            return filter2d(t, ks) if final_blur else t

        def jpeg(t):
            return _jpeg(t, plan['q2'][ctx.idx], plan['jpeg2'][ctx.idx], ctx.opt['jpeg_round'])
        return jpeg(resize_sinc(out)) if plan['resize_first'] else resize_sinc(jpeg(out))

    def params(self, plan, i):
        return {'jpeg_quality2': int(plan['q2'][i]) if plan['jpeg2'][i] else None,
                'final_resize_mode': plan['final_mode'],
                'final_order': 'resize+sinc, jpeg' if plan['resize_first'] else 'jpeg, resize+sinc'}


_PARAMS_LAST = ('jpeg_quality1', 'jpeg_quality2', 'second_blur', 'final_resize_mode', 'final_order')

# Real-ESRGAN's flow (the module docstring); a new degradation is one ``Stage`` placed with ``with_stage``.
SECOND_ORDER = (Blur('kernel1'), RandomResize('1', 'gt'), Noise('1'), Jpeg(''),
                Blur('kernel2', prob='second_blur_prob', key='use2'), RandomResize('2', 'target'), Noise('2'),
                FinalStep())


def with_stage(stage, after, stages=SECOND_ORDER):
    """``stages`` with ``stage`` inserted after the stage named ``after`` (ValueError naming the known ones)."""
    names = [s.name for s in stages]
    if after not in names:
        raise ValueError(f'no stage {after!r} in the flow; its stages: {", ".join(names)}')
    if stage.name in names:
        raise ValueError(f'the flow already has a stage {stage.name!r}')
    i = names.index(after) + 1
    return tuple(stages[:i]) + (stage,) + tuple(stages[i:])


class SecondOrderDegradation:
    """``SecondOrderDegradation(opt, scale)(gt, kernel1, kernel2, sinc_kernel, rng)`` -> LQ.

    All random choices are drawn first (:meth:`sample_plan`: every stage's ``draw`` in flow order, then their
    ``draw_late``), then the ``stages`` (default ``SECOND_ORDER``) run on the batch, and the result is clamped
    and rounded to 1/255. ``threads`` cuts the batch into that many slices run concurrently
    (:mod:`data.degrade.slicing`: most CPU kernels use one core); ``'auto'`` means one per
    CPU core on a CPU place and 1 on a GPU. Each sample's result does not depend
    on the slicing. :meth:`with_usm` also sharpens the GT inside the slices.
    """

    def __init__(self, opt=None, scale=4, threads='auto', stages=SECOND_ORDER):
        if not isinstance(scale, (int, np.integer)) or scale < 1:
            raise ValueError(f'scale must be a positive integer, got {scale!r}')
        if isinstance(threads, np.integer):
            threads = int(threads)
        resolve_slices(threads)  # validates
        self.stages = tuple(stages)
        self.opt = _resolved(opt, self.stages)
        self.scale = int(scale)
        self.threads = threads

    # -- random plan -----------------------------------------------------------
    def sample_plan(self, b, rng):
        """Every random choice for a batch of ``b``, in a fixed order."""
        plan = {}
        for stage in self.stages:
            plan.update(stage.draw(rng, b, self.opt))
        for stage in self.stages:
            plan.update(stage.draw_late(rng, b, self.opt))
        return plan

    def _apply(self, gt, k1, k2, ks, plan, idx):
        """Run the planned stages on the samples ``idx`` (a slice of the batch)."""
        _, _, h, w = gt.shape
        ctx = Slice(idx, {'kernel1': k1, 'kernel2': k2, 'sinc_kernel': ks}, (h, w),
                    (h // self.scale, w // self.scale), self.opt, gt.place)
        out = gt
        for stage in self.stages:
            out = stage.apply(out, plan, ctx)
        return paddle.round(out.clip(0, 1) * 255.0) / 255.0

    def plan_params(self, plan, i):
        """The parameters of sample ``i`` as a flat JSON-able dict."""
        p = {}
        for stage in self.stages:
            p.update(stage.params(plan, i))
        return {**{k: v for k, v in p.items() if k not in _PARAMS_LAST},  # the order params files have always had
                **{k: p[k] for k in _PARAMS_LAST if k in p}}

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
    draw = sample_codec(opt, rng)  # the last draw: options without the codec keep their random stream
    if draw is not None:
        out = apply_codec([[out]], [draw], [opt])[0][0]
        params.update({'codec': draw['codec'], 'codec_crf': draw['crf'], 'codec_preset': opt['codec_preset']})
    params.update({'seed': seed if seed is None else int(seed), 'scale': int(scale),
                   'hr_size': [int(gt.shape[2]), int(gt.shape[3])],
                   'lq_size': [int(out.shape[0]), int(out.shape[1])]})
    return np.ascontiguousarray(out), params
