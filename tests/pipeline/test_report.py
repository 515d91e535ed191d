"""pipeline/report.py: the per-scene table from per-image rows."""
import math

import pytest

from pipeline.report import scene_rows


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
    from pipeline.doc import Doc
    from pipeline.report import choice_section
    from pipeline.select import choose

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
