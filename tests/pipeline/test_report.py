"""pipeline/report/page.py: the per-scene table from per-image rows."""
import math

import pytest

from realesrgan_paddle.pipeline.report.page import scene_rows


def test_scene_rows_group_by_video_with_mean_psnr_and_geometric_detail():
    rows = [{'image': 'a_1.png', 'input_detail': 0.5, 'm_psnr': 20.0, 'm_detail': 0.25},
            {'image': 'a_2.png', 'input_detail': 0.02, 'm_psnr': 30.0, 'm_detail': 1.0},
            {'image': 'b_1.png', 'input_detail': 1.5, 'm_psnr': 25.0, 'm_detail': 2.0},
            {'image': 'stray.png', 'm_psnr': 22.0, 'm_detail': float('nan')}]
    out = scene_rows(rows, {'a_1.png': 'a', 'a_2.png': 'a', 'b_1.png': 'b'}, ['m'])
    assert [r[:2] for r in out] == [['?', 1], ['a', 2], ['b', 1]]
    assert out[1][2] == pytest.approx(0.1) and out[1][3] == pytest.approx(25.0) and out[1][4] == pytest.approx(0.5)
    assert out[2][2:] == pytest.approx([1.5, 25.0, 2.0])
    assert math.isnan(out[0][2]) and math.isnan(out[0][4]) and out[0][3] == 22.0  # no input detail, NaN detail


def test_the_choice_table_shows_the_real_frames_numbers_that_voted():
    from realesrgan_paddle.pipeline.report.doc import Doc
    from realesrgan_paddle.pipeline.report.page import choice_section
    from realesrgan_paddle.pipeline.choice.select import choose

    def s(psnr, detail, niqe):
        return {'psnr': psnr, 'ssim': 0.7, 'detail': detail, 'niqe': niqe}
    pairs = {'base': s(28.0, 0.05, 8.8), 'iter_2': s(28.3, 0.4, 8.0)}
    real = {'paired': True, 'summary': {'base': s(27.5, 0.05, 8.7), 'iter_2': s(27.8, 0.4, 9.5)}}
    _, table, _ = choose(pairs, 'base', {'iter_2': 2}, real)
    res = {'selection': {'summary': pairs, 'table': table, 'candidates': {'iter_2': 2}}, 'real': real}
    d = Doc()
    choice_section(d, res)
    (head, rows), = [b[1:3] for b in d.blocks if b[0] == 'table']
    assert head[6:10] == ['real PSNR', 'real SSIM', 'real detail', 'real NIQE']
    assert rows[1][6] == '27.80' and rows[1][-2] == 'no' and rows[1][-1] == 'real LQ frames: NIQE 9.50 vs 8.70'
    assert any('they have HR frames' in b[1] for b in d.blocks if b[0] == 'p')
    real['paired'] = False
    real['summary'] = {k: {'niqe': v['niqe'], 'detail_vs_bicubic': 3.0} for k, v in real['summary'].items()}
    d = Doc()
    choice_section(d, res)
    (head, rows), = [b[1:3] for b in d.blocks if b[0] == 'table']
    assert head[6:8] == ['real NIQE', 'real detail vs bicubic'] and rows[1][6] == '9.5000'


def test_scene_of_takes_the_split_record_first_then_strips_the_time():
    from realesrgan_paddle.pipeline.report.page import scene_of
    assert scene_of('bikes_000008.400.png') == 'bikes'
    assert scene_of('my_clip_2_0000012.000.png') == 'my_clip_2'
    assert scene_of('frame.png') == 'frame'
    assert scene_of('x_1.png', {'x_1.png': 'other'}) == 'other'


def test_real_frames_per_scene_in_long_form_with_geometric_ratios():
    from realesrgan_paddle.pipeline.report.page import REAL_KEYS, real_scene_rows
    rows = [{'image': 'a_0001.000.png', 'f_psnr': 20.0, 'f_ssim': 0.5, 'f_detail': 0.25, 'f_niqe': 6.0},
            {'image': 'a_0002.000.png', 'f_psnr': 30.0, 'f_ssim': 0.7, 'f_detail': 1.0, 'f_niqe': 8.0},
            {'image': 'b_0001.000.png', 'f_psnr': 25.0, 'f_ssim': 0.9, 'f_detail': 2.0, 'f_niqe': 5.0}]
    out = real_scene_rows(rows, ['f'], REAL_KEYS[True])
    assert [r[:3] for r in out] == [['a', 'f', 2], ['b', 'f', 1]]
    assert out[0][3:] == pytest.approx([25.0, 0.6, 0.5, 7.0])  # detail: sqrt(0.25 x 1)
    unpaired = [{'image': r['image'], 'f_niqe': r['f_niqe'], 'f_detail_vs_bicubic': 4 * r['f_detail']} for r in rows]
    out = real_scene_rows(unpaired, ['f'], REAL_KEYS[False])
    assert out[0][3:] == pytest.approx([7.0, 2.0])


def test_the_real_section_adds_the_per_scene_table_only_for_several_clips(tmp_path):
    from realesrgan_paddle.pipeline.report.doc import Doc
    from realesrgan_paddle.pipeline.report.page import real_section

    def row(name, p):
        return {'image': name, **{f'{m}_{k}': v for m in ('base', 'f') for k, v in
                                  (('psnr', p), ('ssim', 0.7), ('detail', 0.5), ('niqe', 7.0))}}
    summ = {m: {'psnr': 25.0, 'ssim': 0.7, 'detail': 0.5, 'niqe': 7.0} for m in ('base', 'f')}
    res = {'real': {'frames': 2, 'paired': True, 'models': ['base', 'f'], 'summary': summ,
                    'rows': [row('a_1.000.png', 24.0), row('b_1.000.png', 26.0)]},
           'selection': {'shown': 'f'}}
    d = Doc()
    real_section(d, res, tmp_path, tmp_path / 'no_sheet.png')
    tables = [b[1:3] for b in d.blocks if b[0] == 'table']
    assert len(tables) == 2 and tables[1][0] == ['scene', 'model', 'frames', 'PSNR', 'SSIM', 'detail', 'NIQE']
    assert [r[:2] for r in tables[1][1]] == [['a', 'base'], ['a', 'f'], ['b', 'base'], ['b', 'f']]
    res['real']['rows'] = res['real']['rows'][:1]
    d = Doc()
    real_section(d, res, tmp_path, tmp_path / 'no_sheet.png')
    assert len([b for b in d.blocks if b[0] == 'table']) == 1


def test_the_real_table_shows_texture_lpips_and_dists_when_measured(tmp_path):
    """The real frames' table carries every measured axis: DISTS (a metric the recipe does not train on) and
    texture beside PSNR and LPIPS; a metric no model has is not a column."""
    from realesrgan_paddle.pipeline.report.doc import Doc
    from realesrgan_paddle.pipeline.report.page import real_section

    summ = {'base': {'psnr': 25.0, 'ssim': 0.7, 'detail': 0.5, 'niqe': 7.0, 'texture': 0.4, 'lpips': 0.3,
                     'dists': 0.2},
            'f': {'psnr': 26.0, 'ssim': 0.7, 'detail': 0.6, 'niqe': 6.0, 'texture': 0.5, 'lpips': 0.25,
                  'dists': None}}
    res = {'real': {'frames': 1, 'paired': True, 'models': ['base', 'f'], 'summary': summ, 'rows': []},
           'selection': {'shown': 'f'}}
    d = Doc()
    real_section(d, res, tmp_path, tmp_path / 'no_sheet.png')
    head, rows = [b[1:3] for b in d.blocks if b[0] == 'table'][0]
    assert head == ['model', 'PSNR', 'SSIM', 'detail', 'NIQE', 'texture', 'LPIPS', 'DISTS']
    assert rows[0][-3:] == ['0.4000', '0.3000', '0.2000'] and rows[1][-1] in ('', '-', None)
    for s in summ.values():
        s.pop('dists'), s.pop('texture')
    d = Doc()
    real_section(d, res, tmp_path, tmp_path / 'no_sheet.png')
    assert [b[1] for b in d.blocks if b[0] == 'table'][0] == ['model', 'PSNR', 'SSIM', 'detail', 'NIQE', 'LPIPS']
