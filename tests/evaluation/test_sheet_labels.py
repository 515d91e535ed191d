"""Contact sheet labels stay inside their column: evaluation.sheet's captions shrink or wrap to the panel, and
tools/make_contact_sheet.py's header and parameter lines to theirs (looked at: a 96 px sheet and 128 px panels)."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation.sheet import FONT, fit_text, label
from tests.user_path import ROOT

CAPTIONS = ['iter_1000 27.43dB d0.85 N5.12', 'dni_0.30 27.43dB d0.85 N5.12', 'bicubic', 'x' * 60]


@pytest.mark.parametrize('width', [48, 96, 128, 192, 256])
def test_every_line_fits_its_width(width):
    for text in CAPTIONS:
        lines, scale = fit_text(text, width - 8)
        assert 0.3 <= scale <= 0.45 and lines
        assert all(cv2.getTextSize(t, FONT, scale, 1)[0][0] <= width - 8 for t in lines), (text, lines)
        if cv2.getTextSize(text, FONT, 0.45, 1)[0][0] <= width - 8:
            assert (lines, scale) == ([text], 0.45)  # what fits keeps its size


def test_a_label_never_reaches_past_its_panel(photo_crops):
    img = photo_crops(1, 128)[0]
    for text in CAPTIONS:
        out = label(img, text)
        assert out.shape == img.shape
        assert np.array_equal(out[:, -1], img[:, -1])  # the panel's last column is the photo's: no box, no text
    assert not np.array_equal(label(img, CAPTIONS[0])[30:40, :100], img[30:40, :100])  # wrapped to a second line


def test_the_degradation_sheet_header_stays_in_its_columns(hr_photos, tmp_path):
    out = tmp_path / 'sheet.png'
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_contact_sheet.py'), '-i',
                          str(hr_photos[0].parent), '-o', str(out), '--size', '96'], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    sheet = cv2.imread(str(out))
    assert (sheet[:46, 90:108] == 255).all()  # between the HR and the LQ column headers: nothing written
    assert (sheet[:46, 186:204] == 255).all()  # between the LQ header and the panel's
