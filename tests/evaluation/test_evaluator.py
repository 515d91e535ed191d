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
