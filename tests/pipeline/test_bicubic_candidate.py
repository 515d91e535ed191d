"""Bicubic is a candidate: the one command never hands over a model that loses to bicubic on both axes (PSNR, and
NIQE or detail) without --force-export; with it, the export and the report say so."""
from types import SimpleNamespace

import pytest

from realesrgan_paddle.pipeline.context import DomainError
from realesrgan_paddle.pipeline.choice.select import loses_to_bicubic
from realesrgan_paddle.pipeline.choice.vs_bicubic import exported_vs_bicubic
from realesrgan_paddle.pipeline.stages.finetune import check_beats_bicubic

BIC = {'psnr': 27.0, 'ssim': 0.80, 'detail': 0.40, 'niqe': 6.0, 'blocks': 1.0}


def test_losing_on_both_axes_is_named_by_axis():
    # the walk's case: below bicubic on PSNR, NIQE and BLOCKS (its detail nearer the GT's than bicubic's)
    walk = {'psnr': 26.4, 'ssim': 0.78, 'detail': 0.9, 'niqe': 6.6, 'blocks': 1.4}
    assert loses_to_bicubic({'bicubic': BIC, 'base': walk}, 'base') == {
        'distortion': ['PSNR 26.40 vs 27.00 dB'],
        'perception': ['NIQE 6.60 vs 6.00', 'tiles on the 4 px grid 1.40 vs 1.00 (BLOCKS, 1 is none)']}
    assert loses_to_bicubic({'bicubic': BIC, 'm': dict(walk, niqe=5.0)}, 'm') is None  # wins on perception
    assert loses_to_bicubic({'bicubic': BIC, 'm': dict(walk, psnr=27.2)}, 'm') is None  # wins on distortion
    assert loses_to_bicubic({'bicubic': BIC, 'm': dict(walk, niqe=float('nan'), detail=0.2)}, 'm')['perception'] \
        == ['detail ratio 0.200 vs 0.400 (further from 1)', 'tiles on the 4 px grid 1.40 vs 1.00 (BLOCKS, 1 is none)']
    assert loses_to_bicubic({'m': walk}, 'm') is None  # no bicubic row: nothing to say


def _res(finetuned, real=None):
    return {'summary': {'bicubic': BIC, 'base': dict(BIC, psnr=27.5, niqe=5.0), 'finetuned': finetuned},
            'dni': {'chosen': 1.0, 'summary': {}}, 'real': real}


def test_the_export_refuses_without_force_export_and_says_why():
    loser = {'psnr': 26.4, 'ssim': 0.78, 'detail': 0.9, 'niqe': 6.6, 'blocks': 1.4}
    res = _res(loser)
    res['vs_bicubic'] = exported_vs_bicubic(res)
    assert res['vs_bicubic']['name'] == 'finetuned' and res['vs_bicubic']['where'] == 'on the held-out pairs'
    said = []
    ctx = SimpleNamespace(s=SimpleNamespace(force_export=False, dni_weight=None), say=said.append)
    with pytest.raises(DomainError) as exc:
        check_beats_bicubic(ctx, res)
    assert exc.value.code == 1 and str(exc.value) == (
        'export refused: finetuned loses to bicubic on both axes on the held-out pairs: PSNR 26.40 vs 27.00 dB; '
        'NIQE 6.60 vs 6.00; tiles on the 4 px grid 1.40 vs 1.00 (BLOCKS, 1 is none); bicubic serves better (more '
        'training, more footage or another --base may help; --force-export exports it anyway)')
    ctx.s.force_export = True
    line = check_beats_bicubic(ctx, res)
    assert line.startswith('finetuned loses to bicubic on both axes') and said == [f'export: --force-export: {line}']
    res_ok = _res(dict(loser, psnr=27.3))
    res_ok['vs_bicubic'] = exported_vs_bicubic(res_ok)
    assert res_ok['vs_bicubic'] is None and check_beats_bicubic(ctx, res_ok) is None


def test_paired_real_frames_decide():
    loser = {'psnr': 26.4, 'ssim': 0.78, 'detail': 0.9, 'niqe': 6.6, 'blocks': 1.0}
    real = {'paired': True, 'summary': {'bicubic': BIC, 'finetuned': dict(loser, psnr=27.4)}, 'models': []}
    assert exported_vs_bicubic(_res(loser, real)) is None  # it beats bicubic on PSNR on the real frames
    real['summary']['finetuned'] = loser
    assert exported_vs_bicubic(_res(dict(loser, psnr=28.0), real))['where'] == 'on the real LQ frames'


def test_the_point_dni_weight_exports_is_the_one_judged():
    loser = {'psnr': 26.4, 'ssim': 0.78, 'detail': 0.9, 'niqe': 6.6, 'blocks': 1.0}
    res = _res(dict(loser, psnr=28.0))  # the rule's point (the finetune) beats bicubic on PSNR
    res['dni']['summary'] = {'dni_0.40': loser}
    assert exported_vs_bicubic(res) is None
    assert exported_vs_bicubic(res, 0.4)['name'] == 'dni_0.40'
    assert exported_vs_bicubic(res, 0.55) is None  # a weight off the swept grid: not measured, nothing to say
