"""pipeline/choice/sharpen_knob.py: the sharpening knob after the DNI rule. On a tiny network and real held-out pairs the
rule's point is scored with the unsharp mask at every amount, through the same network the export writes; on
constructed rows the rule on both axes keeps a variant only when it beats the references; a variant that flickers
is refused; the report's first line, the frontier table and the export name the sharpened point."""
from types import SimpleNamespace

import numpy as np
import pytest

from realesrgan_paddle.pipeline.choice import dni_sweep as S
from realesrgan_paddle.pipeline.choice import sharpen_knob as SH
from tests.pipeline.lpips_metric import lpips_metric
from tests.pipeline.winner_rows import rows_of, summ


def _ctx(said, allow_flicker=False):
    return SimpleNamespace(s=SimpleNamespace(quiet=True, compare={}, allow_flicker=allow_flicker), say=said.append)


def _evaluate(pairs, nets, tmp_path):
    """The selection pass with an LPIPS metric, then the sweep with its sharpening: ``(res, sweep result, said)``."""
    from realesrgan_paddle.evaluation import model_cache as MT
    from realesrgan_paddle.pipeline.stages.judge import _select
    base, ft = nets
    gt, lq = pairs
    said, iqa = [], {'lpips': lpips_metric()}
    models = MT.Models('compact', tmp_path / 'exports')
    sel = _select(_ctx(said), models, {'base': str(base), 'iter_2': str(ft)}, {'iter_2': 2}, gt, lq, None, None, iqa)
    res = {'selection': sel, 'exported': {'name': sel['chosen']}, 'real': None}
    out = S.run_sweep(_ctx(said), models, str(base), {'iter_2': str(ft)}, res, gt, lq, tmp_path / 'dni.tmp', iqa=iqa)
    return res, out, said


def test_the_rules_point_is_scored_sharpened_through_the_network_the_export_writes(small_pairs, two_nets, tmp_path):
    pairs, nets = small_pairs, two_nets
    from realesrgan_paddle.evaluation import model_cache as MT
    base, ft = nets
    gt, lq = pairs
    res, out, said = _evaluate(pairs, nets, tmp_path)
    sh = out['sharpen']
    assert sh['grid'] == [list(g) for g in SH.GRID] and len({s for s, _ in SH.GRID}) >= 2
    assert (sh['chosen'], sh['sigma']) in [(0.0, SH.SIGMA), *((a, s) for s, a in SH.GRID)] and sh['reason']
    point = sh['point']
    names = [SH.sharp_name(point, a, s) for s, a in SH.GRID]
    assert len(set(names)) == len(SH.GRID) and SH.sharp_name(point, 0.5) == f'{point}+usm0.5'
    assert all(out['summary'][n]['lpips'] > 0 for n in names)
    assert all(f'{n}_lpips' in out['rows'][0] for n in names)
    plain = out['summary'][point]
    assert all(out['summary'][n]['psnr'] != pytest.approx(plain['psnr'], abs=1e-3) for n in names)
    assert any('sharpening rule: amount' in line for line in said)
    assert not (tmp_path / 'sharpen.tmp').exists()  # the variants' files are temporary
    # the variant at 0.5 is the network export_choice writes for that amount, scored the same
    dni = dict(out, sharpen=dict(sh, chosen=0.5, sigma=SH.SIGMA))
    src, info = S.export_choice({'dni': dni}, {'iter_2': str(ft)}, str(base), None, tmp_path / 'model.pdparams')
    assert src == tmp_path / 'model.pdparams' and info['sharpen'] == 0.5 and info['name'] == SH.sharp_name(
        S.blend_name(out['chosen']), 0.5)
    assert 'with an unsharp mask after it (amount 0.5, sigma 1.5 px)' in S.describe(info)
    assert sorted(p.name for p in tmp_path.glob('model*')) == ['model.pdparams']  # no blend left beside it
    again = MT.summarize(MT.evaluate(MT.Models('compact', tmp_path / 'e2').get({'x': str(src)}, own=['x']), gt, lq,
                                     iqa={'lpips': lpips_metric()}, progress=False), ['x'])['x']
    assert again['psnr'] == pytest.approx(out['summary'][SH.sharp_name(point, 0.5)]['psnr'], abs=1e-4)
    # a finer sigma is named, written into the arch and scored the same
    fine = min(s for s, _ in SH.GRID)
    dni_f = dict(out, sharpen=dict(sh, chosen=0.5, sigma=fine))
    src_f, info_f = S.export_choice({'dni': dni_f}, {'iter_2': str(ft)}, str(base), None, tmp_path / 'mf.pdparams')
    assert info_f['name'] == SH.sharp_name(S.blend_name(out['chosen']), 0.5, fine) != info['name']
    assert f'amount 0.5, sigma {fine:g} px' in S.describe(info_f)
    again = MT.summarize(MT.evaluate(MT.Models('compact', tmp_path / 'e3').get({'x': str(src_f)}, own=['x']), gt, lq,
                                     iqa={'lpips': lpips_metric()}, progress=False), ['x'])['x']
    assert again['psnr'] == pytest.approx(out['summary'][SH.sharp_name(point, 0.5, fine)]['psnr'], abs=1e-4)
    # --dni-weight exports the user's weight as it is
    src2, info2 = S.export_choice({'dni': dni}, {'iter_2': str(ft)}, str(base), 1.0, tmp_path / 'm2.pdparams')
    assert info2['sharpen'] == 0.0 and src2 == ft


def _metric():
    return lpips_metric()


def test_the_exported_weights_apply_the_mask_after_the_network(two_nets, tmp_path):
    nets = two_nets
    import paddle
    from scipy.ndimage import gaussian_filter

    from realesrgan_paddle.models import load_network, read_checkpoint
    base, ft = nets
    dni = {'chosen': 1.0, 'finetune': 'iter_2', 'summary': {}, 'sharpen': {'chosen': 0.75, 'sigma': SH.SIGMA}}
    src, _ = S.export_choice({'dni': dni}, {'iter_2': str(ft)}, str(base), None, tmp_path / 'model.pdparams')
    arch = read_checkpoint(src)[1]
    assert arch['sharpen'] == 0.75 and arch['sharpen_sigma'] == SH.SIGMA
    x = paddle.to_tensor(np.random.default_rng(0).random((1, 3, 12, 10), dtype=np.float32))
    with paddle.no_grad():
        plain = load_network(str(ft))[0](x).numpy()[0]
        sharp = load_network(str(src))[0](x).numpy()[0]
    blur = np.stack([gaussian_filter(c, SH.SIGMA, mode='nearest', truncate=3.0) for c in plain])
    np.testing.assert_allclose(sharp, plain + 0.75 * (plain - blur), atol=1e-4)


def _rows(variants, frames=30):
    """x4plus sharp and low on PSNR, the base soft; the DNI rule's point ``dni_1.00`` between; ``variants``:
    {amount: (psnr, lpips)} of its sharpened copies."""
    means = {'base': (29.7, 0.262), 'x4plus': (29.6, 0.206), 'dni_1.00': (30.6, 0.240),
             **{SH.sharp_name('dni_1.00', a): v for a, v in variants.items()}}
    return rows_of(means, frames, noise=0.01)


def test_a_variant_is_kept_only_when_the_rule_on_both_axes_prefers_it():
    names = {SH.sharp_name('dni_1.00', a): (SH.SIGMA, a) for a in SH.AMOUNTS}
    # 0.5 beats x4plus on both axes; 0.75 has the lowest LPIPS but falls under x4plus's PSNR
    rows = _rows({0.25: (30.4, 0.222), 0.5: (30.2, 0.204), 0.75: (29.4, 0.195)})
    amount, sigma, why = SH._decide({}, 'dni_1.00', names, (rows, 'on the real LQ frames'), ['x4plus'])
    assert (amount, sigma) == (0.5, SH.SIGMA) and why.startswith('dni_1.00+usm0.5 beats x4plus and base on both axes')
    # no variant does, and none comes nearer than the point (a mask that costs PSNR and LPIPS): the point is kept
    rows = _rows({0.25: (30.3, 0.245), 0.5: (30.0, 0.250), 0.75: (29.7, 0.260)})
    amount, sigma, why = SH._decide({}, 'dni_1.00', names, (rows, 'on the real LQ frames'), ['x4plus'])
    assert amount == 0.0 and 'no point beats x4plus and base' in why


def test_the_rule_picks_the_sigma_as_well_as_the_amount():
    fine = SH.sharp_name('dni_1.00', 0.5, 0.75)
    names = {**{SH.sharp_name('dni_1.00', a): (SH.SIGMA, a) for a in SH.AMOUNTS}, fine: (0.75, 0.5)}
    # at sigma 1.5 no amount beats x4plus on both axes; the finer mask at 0.5 does
    means = {0.25: (30.3, 0.222), 0.5: (29.9, 0.212), 0.75: (29.4, 0.205)}
    rows = rows_of({'base': (29.7, 0.262), 'x4plus': (29.6, 0.206), 'dni_1.00': (30.6, 0.240), fine: (30.0, 0.203),
                    **{SH.sharp_name('dni_1.00', a): v for a, v in means.items()}}, 30, noise=0.01)
    amount, sigma, why = SH._decide({}, 'dni_1.00', names, (rows, 'on the real LQ frames'), ['x4plus'])
    assert (amount, sigma) == (0.5, 0.75) and why.startswith(f'{fine} beats x4plus and base on both axes')


def test_a_variant_whose_detail_passes_the_gts_is_refused():
    names = [SH.sharp_name('dni_1.00', a) for a in SH.AMOUNTS]
    summary = {names[0]: {'detail': 0.8}, names[1]: {'detail': SH.DETAIL_CAP}, names[2]: {'detail': 1.44},
               'dni_1.00': {'detail': 2.0}}
    got = SH.overshoots(summary, names)
    assert list(got) == [names[2]] and 'detail 1.44, past the GT\'s' in got[names[2]]
    assert SH.overshoots({names[0]: {'detail': float('nan')}}, names) == {}
    # the frames that decide: the real LQ frames when they have HR frames, else the held-out pairs
    out = {'summary': {'a': 1}, 'real': {'summary': {'b': 2}}}
    assert SH._deciding_summary(out, {'gt': 'x'}) == {'b': 2}
    assert SH._deciding_summary(out, {'gt': None}) == {'a': 1} == SH._deciding_summary(out, None)


def test_a_variant_that_flickers_more_than_the_base_allows_is_refused():
    said = []
    names = [SH.sharp_name('dni_1.00', a) for a in SH.AMOUNTS]
    out = {'flicker': {names[0]: {'static': 1.5, 'warp': 1.1}, names[2]: {'static': 4.0, 'warp': 2.5}}}
    flicker = {'ratios': {'base': {'static': 1.6, 'warp': 1.08}}}
    refused = SH._refused(_ctx(said), out, flicker, names)
    assert list(refused) == [names[2]] and 'flickers' in said[0] and 'refused' in said[0]
    assert SH._refused(_ctx([], allow_flicker=True), out, flicker, names) == {}
    assert SH._refused(_ctx([]), out, None, names) == {}


def test_the_first_line_and_the_frontier_name_the_sharpened_export():
    from realesrgan_paddle.pipeline.choice.vs_bicubic import export_verdict, exported_point
    from realesrgan_paddle.pipeline.report.frontier import COL, frontier_rows
    s_fine = min(s for s, _ in SH.GRID)
    v, fine = SH.sharp_name('dni_1.00', 0.5), SH.sharp_name('dni_1.00', 0.5, s_fine)
    rows = _rows({0.25: (30.4, 0.222), 0.5: (30.2, 0.204), 0.75: (29.4, 0.195)}, frames=20)
    rows = [dict(r, **{f'{fine}_psnr': r[f'{v}_psnr'] - 0.1, f'{fine}_lpips': r[f'{v}_lpips'] - 0.003}) for r in rows]
    names = ['bicubic', 'base', 'x4plus', 'iter_2']
    rows = [dict(r, bicubic_psnr=29.0, bicubic_lpips=0.36, iter_2_psnr=r['dni_1.00_psnr'],
                 iter_2_lpips=r['dni_1.00_lpips']) for r in rows]
    stage = [{k: x for k, x in r.items() if k == 'image' or k.rsplit('_', 1)[0] in names} for r in rows]
    blends = [{k: x for k, x in r.items() if k == 'image' or k.startswith('dni_')} for r in rows]
    sweep_names = ['dni_1.00', *(SH.sharp_name('dni_1.00', a) for a in SH.AMOUNTS), fine]
    res = {'models': {'bicubic': 'bicubic', 'base': 'b', 'finetuned': 'f', 'x4plus': 'x'},
           'summary': summ(stage, names), 'selection': {'rows': [], 'summary': summ(stage, names),
                                                        'candidates': {'iter_2': 2}},
           'real': {'paired': True, 'frames': 20, 'rows': stage, 'summary': summ(stage, names)},
           'dni': {'chosen': 1.0, 'finetune': 'iter_2', 'weights': [0.0, 1.0], 'summary': summ(blends, sweep_names),
                   'rows': [], 'real': {'rows': blends, 'summary': summ(blends, sweep_names)},
                   'sharpen': {'chosen': 0.5, 'grid': [list(g) for g in SH.GRID], 'sigma': SH.SIGMA,
                               'point': 'dni_1.00'}}}
    line = export_verdict(res, 1.0, 0.5)
    assert line.startswith('The export beats x4plus and base on both axes on the 20 held-out real LQ frames: '
                           'PSNR 30.20 dB') and 'LPIPS 0.2040' in line
    assert 'LPIPS 0.2400' in export_verdict(res, 1.0, 0.0)  # the point itself, unsharpened
    assert 'Flicker' not in line  # not measured: no video
    # with --lq-videos the third axis closes the line: the export's flicker beside its references'
    res['selection']['flicker'] = {'ratios': {'x4plus': {'static': 3.74, 'warp': 1.5}, 'base': {'static': 1.62,
                                                                                                'warp': 1.08},
                                              'iter_2': {'static': 1.94, 'warp': 1.2}}}
    res['dni']['flicker'] = {v: {'static': 2.15, 'warp': 1.28}}
    assert export_verdict(res, 1.0, 0.5).endswith(
        'Flicker (static / warp, against bicubic): 2.15 / 1.28 (x4plus 3.74 / 1.50, base 1.62 / 1.08).')
    assert export_verdict(res, 1.0, 0.0).endswith('Flicker (static / warp, against bicubic): 1.94 / 1.20 '
                                                  '(x4plus 3.74 / 1.50, base 1.62 / 1.08).')
    assert exported_point(res)[0] == v and exported_point(res, 1.0)[0] == 'finetuned'
    table = frontier_rows(res, {'weight': 1.0, 'sharpen': 0.5})
    sharp = [r for r in table if r[COL['kind']] == 'sharpened']
    assert [r[COL['point']] for r in sharp] == [SH.sharp_name('dni_1.00', a, s) for s, a in SH.GRID
                                                 if (s, a) == (s_fine, 0.5) or s == SH.SIGMA]
    assert [r[COL['point']] for r in table if r[COL['exported']]] == [v]
    # the rule's variant at the finer sigma: the first line, the exported point and the frontier name it
    res['dni']['sharpen']['sigma'] = s_fine
    assert 'LPIPS 0.2010' in export_verdict(res, 1.0, 0.5) and exported_point(res)[0] == fine
    table = frontier_rows(res, {'weight': 1.0, 'sharpen': 0.5, 'sigma': s_fine})
    assert [r[COL['point']] for r in table if r[COL['exported']]] == [fine]
    assert [r[COL['iteration / weight']] for r in table if r[COL['point']] == fine] == [
        f'dni_1.00 + mask 0.5 (sigma {s_fine:g})']


def test_the_real_frames_sheet_shows_the_sharpened_export(small_pairs, two_nets, tmp_path):
    """When the rule exports another point than the finetuned checkpoint (here its sharpened variant), the real frames'
    sheet the report opens with is drawn again with an 'export' column beside 'finetuned', and the report's columns
    say what it is; when the export is the checkpoint itself, the sheet is left as it was."""
    import cv2
    from realesrgan_paddle.evaluation import model_cache as MT
    from realesrgan_paddle.pipeline.inputs.real_lq import score_frames
    from realesrgan_paddle.pipeline.report.doc import Doc
    from realesrgan_paddle.pipeline.report.page import real_section
    from realesrgan_paddle.pipeline.stages import judge as J
    (gt, lq), (base, ft) = small_pairs, two_nets
    res, out, said = _evaluate(small_pairs, two_nets, tmp_path)
    res['selection']['shown'] = 'iter_2'
    res['dni'] = dict(out, chosen=1.0, finetune='iter_2', sharpen=dict(out['sharpen'], chosen=0.5, sigma=SH.SIGMA))
    res['real'] = {'lq': str(lq), 'gt': str(gt), 'paired': True, 'frames': 2, 'rows': [],
                   'models': ['bicubic', 'base', 'finetuned'],
                   'summary': {m: {'psnr': 30.0, 'ssim': 0.8, 'niqe': 7.0, 'detail': 1.0} for m in ('bicubic', 'base',
                                                                                                 'finetuned')}}
    part = tmp_path / 'part'
    part.mkdir()
    nets = MT.Models('compact', tmp_path / 'sheet_exports')
    plain = nets.get({'bicubic': 'bicubic', 'base': str(base), 'finetuned': str(ft)}, own=['base', 'finetuned'])
    score_frames(plain, str(lq), str(gt), False, sheet=str(part / 'plain.png'), sheet_images=J.SHEET_FRAMES, crop=256)
    J._export_sheet(_ctx(said), part, res, nets, (str(base), str(ft), None), {'iter_2': str(ft)})
    assert res['real']['sheet_models'] == ['bicubic', 'base', 'finetuned', 'export']
    assert 'with an unsharp mask after it (amount 0.5, sigma 1.5 px)' in res['real']['export']
    sheet, before = cv2.imread(str(part / 'real_sheet.png')), cv2.imread(str(part / 'plain.png'))
    assert sheet.shape[0] == before.shape[0] and sheet.shape[1] * 5 == before.shape[1] * 6  # LQ, 4 models, GT
    assert not (part / 'sheet.tmp').exists() and any('sheet again with the export' in line for line in said)
    d = Doc()
    real_section(d, res, part, part / 'real_sheet.png')
    text = ' '.join(str(b) for b in d.blocks)
    assert 'LQ (nearest) | bicubic | base | finetuned | export | HR' in text and 'export = iter_2 with an unsharp' in text
    # the checkpoint itself exported: the sheet already shows it
    (part / 'real_sheet.png').unlink()
    res['dni'] = dict(res['dni'], sharpen=dict(out['sharpen'], chosen=0.0))
    J._export_sheet(_ctx(said), part, res, nets, (str(base), str(ft), None), {'iter_2': str(ft)})
    assert not (part / 'real_sheet.png').exists()
