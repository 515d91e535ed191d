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
