"""evaluation.evaluator: before/after comparison on a paired folder, as used for the finetune demo."""
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.evaluation.evaluate_cli import main
from realesrgan_paddle.evaluation.evaluator import evaluate
from realesrgan_paddle.evaluation import metrics as M
from tests.nets import save_tiny, srvgg

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / 'tests' / 'data' / 'images' / 'val'


def test_bicubic_row_matches_direct_metrics_and_sheet(tmp_path):
    w = save_tiny(tmp_path / 'tiny.pdparams', srvgg())
    sheet = tmp_path / 'sheet.png'
    rows = evaluate({'bicubic': 'bicubic', 'tiny': str(w)}, VAL / 'gt', VAL / 'lq', sheet=sheet, sheet_images=2)
    assert [r['image'] for r in rows] == ['chelsea_crop.png', 'rocket_crop.png']
    gt = cv2.imread(str(VAL / 'gt' / 'rocket_crop.png'))
    lq = cv2.imread(str(VAL / 'lq' / 'rocket_crop.png'))
    bic = cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC)
    assert rows[1]['bicubic_psnr'] == M.psnr(bic, gt, 4, test_y=True)
    assert np.isfinite(rows[1]['tiny_psnr']) and rows[1]['tiny_psnr'] != rows[1]['bicubic_psnr']
    img = cv2.imread(str(sheet))
    assert img.shape[1] == 4 * gt.shape[1] and img.shape[0] >= 2 * gt.shape[0]  # LQ | bicubic | tiny | GT


def test_cli_bad_arguments(tmp_path, capsys):
    assert main(['--gt', str(VAL / 'gt'), '--lq', str(VAL / 'lq'), '--models', 'nolabel']) == 2
    assert main(['--gt', str(tmp_path / 'x'), '--lq', str(VAL / 'lq'), '--models', 'a=bicubic']) == 2
    assert main(['--gt', str(VAL / 'gt'), '--lq', str(VAL / 'lq'), '--models', f'a={tmp_path / "no.pdparams"}']) == 2
    err = capsys.readouterr().err
    assert 'NAME=MODEL' in err and str(tmp_path / 'x') in err and 'no.pdparams' in err


def _each_metric_on_the_images(sr, gt, crop=4, scale=4):
    """What ``image_metrics`` computed before its Y planes: every classic metric on the images themselves."""
    from realesrgan_paddle.evaluation.evaluator import TEXTURE_DETAIL, blocks_or_nan, niqe_or_nan
    return {'psnr': M.psnr(sr, gt, crop, test_y=True), 'ssim': M.ssim(sr, gt, crop, test_y=True),
            'niqe': niqe_or_nan(sr, crop), 'detail': M.detail_ratio(sr, gt, crop),
            'texture': M.texture_ratio(sr, gt, scale, crop), 'artefact': M.artefact(sr, gt, crop),
            'blocks': blocks_or_nan(sr, scale, crop), 'psnr_at_detail': M.invented_texture_psnr(sr, gt, TEXTURE_DETAIL, crop)}


def test_the_y_planes_give_every_metric_to_the_bit(photo_crops):
    """``image_metrics`` converts the output and the GT to Y once for its seven classic metrics (each converted them
    itself before): on real photos, in colour, with alpha, in gray and as 16-bit, every value is the one each metric
    gives on the images themselves, and a GT's plane made once for several outputs (``gt_y``) gives the same."""
    from realesrgan_paddle.evaluation.evaluator import image_metrics, y_plane
    gt, other = photo_crops(2, 128)
    sr = cv2.GaussianBlur(gt, (0, 0), 1.3)
    sr[::9] = other[::9]  # a false texture the artefact and texture terms see
    cases = {'colour': (sr, gt), 'alpha': tuple(np.dstack([a, np.full(a.shape[:2], 255, np.uint8)]) for a in (sr, gt)),
             'gray': tuple(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY) for a in (sr, gt)),
             'one channel': tuple(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)[..., None] for a in (sr, gt)),
             '16-bit': tuple(a.astype(np.uint16) * 257 for a in (sr, gt))}
    for case, (a, b) in cases.items():
        want = _each_metric_on_the_images(a, b)
        assert all(np.isfinite(v) for v in want.values()), (case, want)
        assert image_metrics(a, b) == want, case
        assert image_metrics(a, b, gt_y=y_plane(b)) == want, case
