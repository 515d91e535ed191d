"""evaluation/metrics.py ``blocks``: the tiles of an x4 output on its upscaling grid, on real photos, and how the
evaluator and the pipeline's report carry it."""
import math

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation import evaluator as E
from realesrgan_paddle.evaluation import metrics as M
from realesrgan_paddle.pipeline.choice.select import losses


@pytest.fixture(scope='module')
def photos(photo_crops):
    return photo_crops(3, 256)


def _up(img, how):
    h, w = img.shape[:2]
    return cv2.resize(img, (4 * w, 4 * h), interpolation=how)


def _small(img):
    return cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA)


def _tiled(img, amplitude, seed=0):
    """A smooth x4 upscale plus a constant offset per 4x4 cell: the tiles of a compact network's leaked skip."""
    small = _small(img)
    rng = np.random.default_rng(seed)
    cells = rng.normal(0, amplitude, small.shape[:2])
    offset = np.kron(cells, np.ones((4, 4)))[..., None]
    return np.clip(_up(small, cv2.INTER_CUBIC) + offset, 0, 255).astype(np.uint8)


def test_a_photo_and_smooth_upscales_have_no_grid(photos):
    for img in photos:
        assert 0.9 < M.blocks(img) < 1.1
        for how in (cv2.INTER_CUBIC, cv2.INTER_LINEAR):
            assert 0.85 < M.blocks(_up(_small(img), how)) < 1.15


def test_tiles_score_high_and_more_with_their_amplitude(photos):
    for img in photos:
        weak, strong = M.blocks(_tiled(img, 2)), M.blocks(_tiled(img, 6))
        assert 1.1 < weak < strong and strong > 1.5
        assert M.blocks(_up(_small(img), cv2.INTER_NEAREST)) > strong  # flat cells: steps only on the lines


def test_the_grid_is_counted_from_the_top_left_and_the_crop_keeps_it(photos):
    tiled = _tiled(photos[0], 6)
    assert M.blocks(tiled, crop_border=3) == M.blocks(tiled, crop_border=4)  # rounded up to 4
    assert M.blocks(tiled[2:, 2:], crop_border=0) < 1.1  # the grid moved: its lines are inside the cells measured
    assert M.blocks(tiled, period=2) < M.blocks(tiled, period=4)


def test_bad_input_and_degenerate_images():
    with pytest.raises(ValueError, match='period must be at least 2'):
        M.blocks(np.zeros((32, 32, 3), np.uint8), period=1)
    with pytest.raises(ValueError, match='expected an HxW or HxWxC image'):
        M.blocks(np.zeros(64, np.uint8))
    assert math.isnan(M.blocks(np.full((64, 64, 3), 90, np.uint8)))  # flat
    assert math.isnan(M.blocks(np.zeros((12, 12), np.uint8)))  # fewer than two cells after the border


class _Tiler:
    """An x4 'model' that draws tiles: bicubic plus a per-cell offset."""
    scale = 4

    def upscale(self, lq):
        rng = np.random.default_rng(0)
        offset = np.kron(rng.normal(0, 6, lq.shape[:2]), np.ones((4, 4)))[..., None]
        return np.clip(_up(lq, cv2.INTER_CUBIC) + offset, 0, 255).astype(np.uint8)


def test_the_evaluator_reports_blocks_on_both_modes_and_names_the_tiles(photos, tmp_path):
    gt_dir, lq_dir = tmp_path / 'gt', tmp_path / 'lq'
    gt_dir.mkdir(), lq_dir.mkdir()
    for i, img in enumerate(photos):
        cv2.imwrite(str(gt_dir / f'{i}.png'), img)
        cv2.imwrite(str(lq_dir / f'{i}.png'), _small(img))
    rows = E.evaluate({'bicubic': 'bicubic', 'tiler': _Tiler()}, gt_dir, lq_dir, iqa=None, progress=False)
    summary = E.summarize(rows, ['bicubic', 'tiler'])
    assert summary['bicubic']['blocks'] < 1.15 < 1.4 < summary['tiler']['blocks']
    assert any(line.startswith('perception') and 'BLOCKS' in line and '(bicubic)' in line.split('BLOCKS')[1]
               for line in E.verdict(summary, 'bicubic', 'tiler'))
    lines = losses(summary, 'tiler', ['bicubic'])
    assert any('4 px' in line and 'perception' in line for line in lines)  # the axis and the grid it lost on
    assert not any('tiles' in line for line in losses(summary, 'bicubic', ['tiler']))
    noref = E.summarize(E.evaluate_noref({'tiler': _Tiler()}, lq_dir, progress=False), ['tiler'])
    assert noref['tiler']['blocks'] == pytest.approx(summary['tiler']['blocks'])
    assert math.isnan(E.image_metrics(photos[0], photos[0], scale=1)['blocks'])  # x1: no grid
