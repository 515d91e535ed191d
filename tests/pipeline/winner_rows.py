"""Per-frame rows and an evaluate stage's metrics.json, constructed from a table of means: shared by the tests of
the rule on both axes (pipeline/choice/winner.py) and of benchmarks/choice_frames.py."""
import numpy as np


# a broadcast soccer run's table (Y PSNR, LPIPS-alex on the held-out real frames): iter_450 and iter_600 beat x4plus and
# the base on both axes; bicubic has more PSNR than every point but iter_150 and the partner
SOCCER = {'bicubic': (24.06, 0.447), 'base': (23.71, 0.356), 'x4plus': (23.29, 0.232),
          'iter_150': (23.92, 0.282), 'iter_300': (23.87, 0.246), 'iter_450': (23.75, 0.226),
          'iter_600': (23.69, 0.218)}


def rows_of(means, frames, spread=1.5, noise=0.02, seed=0):
    """Per-frame rows whose means are ``means`` ({name: (psnr, lpips)}): each frame shifts every model alike (scenes
    differ: ``spread`` dB, a tenth of it in LPIPS), plus a small per-model jitter ``noise`` (dB; a hundredth in
    LPIPS), centred so the means are exact."""
    rng = np.random.default_rng(seed)
    scene = rng.normal(0, spread, frames)
    scene -= scene.mean()
    rows = [{'image': f'f{k:03d}.png'} for k in range(frames)]
    for name, (p, lp) in means.items():
        jp, jl = rng.normal(0, noise, frames), rng.normal(0, noise / 100, frames)
        jp, jl = jp - jp.mean(), jl - jl.mean()
        for k, r in enumerate(rows):
            r[f'{name}_psnr'] = p + scene[k] + jp[k]
            r[f'{name}_lpips'] = lp + scene[k] / 10 * 0.01 + jl[k]
    return rows


def summ(rows, names):
    return {n: {'psnr': float(np.mean([r[f'{n}_psnr'] for r in rows])), 'ssim': 0.7, 'detail': 0.3, 'niqe': 7.0,
                'lpips': float(np.mean([r[f'{n}_lpips'] for r in rows]))} for n in names}


def metrics_of(points, frames, chosen, compare=('x4plus',)):
    """An evaluate stage's metrics.json, constructed: paired real LQ frames holding bicubic, the base, the compared
    models and iter_450; the DNI blends with the partner on them."""
    rows = rows_of(points, frames)
    refs = {'bicubic', 'base', 'iter_450', *compare}
    real_rows = [{k: v for k, v in r.items() if k == 'image' or k.rsplit('_', 1)[0] in refs} for r in rows]
    blend_rows = [{k: v for k, v in r.items() if k == 'image' or k.startswith('dni_')} for r in rows]
    return {'models': {'bicubic': 'bicubic', 'base': 'b', 'finetuned': 'f', **{m: m for m in compare}},
            'real': {'paired': True, 'frames': frames, 'rows': real_rows, 'summary': summ(rows, refs)},
            'selection': {'rows': [], 'summary': {}},
            'dni': {'chosen': chosen, 'other': 'partner', 'finetune': 'iter_450', 'rows': [],
                    'real': {'rows': blend_rows}}}
