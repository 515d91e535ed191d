"""tools/evaluate.py and the evaluation.evaluator library: paired and no-reference modes on real photos."""
import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation import evaluator as E
from realesrgan_paddle.evaluation import metrics as M
from realesrgan_paddle.evaluation.evaluate_cli import main
from tests.nets import save_tiny, srvgg
from tests.pairs import centre_crop, write_pairs
from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def data(tmp_path_factory, hr_photos):
    d = tmp_path_factory.mktemp('evaluate')
    write_pairs(d, hr_photos[:3], lambda img: centre_crop(img, 200, 208))  # LQ 50x52
    save_tiny(d / 'tiny.pdparams', srvgg())
    return d


def test_paired_cli_tables_verdicts_and_files(data, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    argv = ['--gt', data / 'gt', '--lq', data / 'lq', '--models', 'bicubic=bicubic', f'tiny={data / "tiny.pdparams"}',
            '--backend', 'dynamic', '--sheet', out / 'sheet.png', '--sheet-images', 2, '--sheet-crop', 96,
            '--csv', out / 'm.csv', '--json', out / 'm.json', '--no-iqa']
    assert main([str(a) for a in argv]) == 0
    text = capsys.readouterr().out
    assert '| bicubic | ' in text and '| tiny | ' in text
    assert 'distortion: ' in text and 'perception: ' in text
    assert f'contact sheet: {out / "sheet.png"} (captions: dB: PSNR against the GT' in text  # the legend
    doc = json.loads((out / 'm.json').read_text())
    assert len(doc['rows']) == 3 and set(doc['summary']) == {'bicubic', 'tiny'}
    assert len(doc['verdict']) == 2
    row = doc['rows'][0]
    for key in ('psnr', 'ssim', 'niqe', 'detail', 'artefact'):
        assert f'tiny_{key}' in row and f'bicubic_{key}' in row
    name = row['image']
    gt = cv2.imread(str(data / 'gt' / name))
    lq = cv2.imread(str(data / 'lq' / name))
    bic = cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC)
    assert row['bicubic_psnr'] == pytest.approx(M.psnr(bic, gt, 4, test_y=True))
    assert row['bicubic_detail'] == pytest.approx(M.detail_ratio(bic, gt))
    assert row['bicubic_detail'] < 0.5  # bicubic x4 is blurry on real photos
    assert row['input_detail'] == pytest.approx(M.input_detail(lq, gt, 1))
    assert row['input_detail'] == pytest.approx(1.0, rel=0.05)  # the LQ here is the GT's own area shrink
    for r in doc['rows']:  # the image's row of the table ends with its GT NIQE and input detail
        cells = next(ln for ln in text.splitlines() if ln.startswith(f'| {r["image"]} |')).strip('| ').split(' | ')
        assert cells[-2:] == [E.format_metric('niqe', r['gt_niqe']), E.format_metric('detail', r['input_detail'])], cells
    details = [r['input_detail'] for r in doc['rows']]
    low = sum(v < E.INPUT_LOW for v in details)
    assert low == 0  # the area-shrunk inputs keep their GT's detail
    notes = [ln for ln in text.splitlines() if ln and not ln.startswith('|')]
    note = next(ln for ln in notes if f'{M.geometric_mean(details):.3f}' in ln)
    assert re.search(rf'\b{low} of {len(details)}\b', note) and str(E.INPUT_LOW) in note
    assert row['bicubic_psnr_at_detail'] == pytest.approx(M.invented_texture_psnr(bic, gt, 0.7, 4))
    assert row['bicubic_psnr_at_detail'] < row['bicubic_psnr']  # bicubic is below detail 0.7: texture costs
    est = np.mean([r['bicubic_psnr_at_detail'] for r in doc['rows']])
    now = np.mean([r['bicubic_psnr'] for r in doc['rows']])
    note = next(ln for ln in notes if f'{est:.2f}' in ln)  # the estimate, next to the PSNR now
    assert f'{now:.2f}' in note and str(E.TEXTURE_DETAIL) in note
    assert 'psnr_at_detail' not in doc['summary']['tiny']  # on no axis: no column, no vote
    lines = (out / 'm.csv').read_text().splitlines()
    assert len(lines) == 5 and lines[-1].startswith('mean,')
    sheet = cv2.imread(str(out / 'sheet.png'))
    assert sheet.shape[1] == 4 * 96 and sheet.shape[0] >= 2 * 96  # LQ | bicubic | tiny | GT
    band = sheet[-12:]  # the legend under the rows: white text on black, what the captions' dB, d, N and x are
    assert band.max() > 200 and np.mean(band < 40) > 0.5


def test_no_reference_mode(data, capsys):
    argv = ['--input', str(data / 'lq'), '--models', 'bicubic=bicubic', f'tiny={data / "tiny.pdparams"}',
            '--backend', 'dynamic']
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert 'DETAIL_VS_BICUBIC' in text and 'LAPL' in text and 'perception' in text
    rows = E.evaluate_noref({'bicubic': 'bicubic'}, data / 'lq', progress=False)
    assert len(rows) == 3 and all(r['bicubic_detail_vs_bicubic'] == pytest.approx(1.0) for r in rows)
    assert all(math.isfinite(r['bicubic_niqe']) and r['bicubic_lapl'] > 0 for r in rows)


def test_library_contract(data):
    """The keyword contract the finetuning pipeline codes against."""
    notes = []
    rows = E.evaluate({'bicubic': 'bicubic'}, data / 'gt', data / 'lq', scale=4, crop_border=4, sheet=None,
                      sheet_images=3, crop=None, notes=notes, progress=False)
    assert [r['image'] for r in rows] == sorted(p.name for p in (data / 'gt').iterdir())
    summary = E.summarize(rows, ['bicubic'])
    assert summary['bicubic']['detail'] == pytest.approx(M.geometric_mean([r['bicubic_detail'] for r in rows]))
    assert summary['bicubic']['psnr'] == pytest.approx(np.mean([r['bicubic_psnr'] for r in rows]))
    assert all(n.endswith('fetches them once from the package index)') for n in notes) or 'lpips' in summary['bicubic']


def test_summarize_verdict_best():
    rows = [{'image': 'a', 'x_psnr': 30.0, 'x_ssim': 0.9, 'x_niqe': 5.0, 'x_detail': 0.25, 'x_artefact': 1.0,
             'y_psnr': 28.0, 'y_ssim': 0.8, 'y_niqe': 4.0, 'y_detail': 1.0, 'y_artefact': 2.0},
            {'image': 'b', 'x_psnr': 32.0, 'x_ssim': 0.9, 'x_niqe': 5.0, 'x_detail': 0.25, 'x_artefact': 1.0,
             'y_psnr': 29.0, 'y_ssim': 0.8, 'y_niqe': 6.0, 'y_detail': 4.0, 'y_artefact': 2.0}]
    s = E.summarize(rows, ['x', 'y'])
    assert s['x']['psnr'] == 31.0 and s['y']['detail'] == pytest.approx(2.0) and s['x']['detail'] == 0.25
    dist, perc = E.verdict(s, 'x', 'y')
    assert dist.startswith('distortion: x is better')
    # perception: NIQE 5 vs 5 (tie), detail 2.0 beats 0.25 (|log 2| < |log 0.25|), artefact x: the metrics disagree
    assert perc.startswith('perception: mixed: y better on DETAIL, x on ARTEFACT (x -> y)') and \
        'NIQE 5.00 -> 5.00 (tie)' in perc
    s['y']['niqe'] = 4.5  # two of three for y: still mixed, never 'y is better' beside a metric that favours x
    assert E.verdict(s, 'x', 'y')[1].startswith('perception: mixed: y better on NIQE, DETAIL, x on ARTEFACT')
    best = E.best(s, ['x', 'y'])
    assert best[0].startswith('distortion (PSNR/SSIM): best: x') and 'best: y' in best[1]
    s['y']['artefact'] = 1.0  # a tie on artefact: every metric that decides favours y
    assert E.verdict(s, 'x', 'y')[1].startswith('perception: y is better')
    s['x']['niqe'] = s['y']['niqe'] = 5.0
    s['x']['detail'], s['y']['detail'] = 1.0, 1.0
    assert E.verdict(s, 'x', 'y')[1].startswith('perception: no clear winner')


@pytest.mark.parametrize('args,msg', [
    (['--models', 'a=bicubic'], 'give --gt and --lq'),
    (['--gt', 'G', '--lq', 'L', '--input', 'L', '--models', 'a=bicubic'], 'not both'),
    (['--gt', 'G', '--lq', 'L', '--models', 'nolabel'], 'NAME=MODEL'),
    (['--gt', 'G', '--lq', 'L', '--models', 'a=bicubic', 'a=bicubic'], 'given twice'),
    (['--gt', 'G', '--lq', 'L', '--models', 'a=realesrgan-x8'], 'unknown model'),
    (['--gt', 'G', '--lq', 'L', '--models', 'a=missing.pdparams'], 'missing.pdparams: no such model'),
    (['--gt', 'NOPE', '--lq', 'L', '--models', 'a=bicubic'], 'nope: not a folder'),
    (['--gt', 'G', '--lq', 'EMPTY', '--models', 'a=bicubic'], 'no GT/LQ pairs'),
    (['--gt', 'G', '--lq', 'L', '--models', 'a=bicubic', '--csv', 'NODIR/x.csv'], 'nodir does not exist'),
    (['--gt', 'G', '--lq', 'L', '--models', 'a=bicubic', '--csv', 'FILE/x.csv'], 'its folder {t}/a_file is a file'),
])
def test_bad_input_is_one_line_and_exit_2(data, tmp_path, capsys, args, msg):
    (tmp_path / 'EMPTY').mkdir()
    (tmp_path / 'a_file').write_text('x')
    subst = {'G': str(data / 'gt'), 'L': str(data / 'lq'), 'NOPE': str(tmp_path / 'nope'),
             'EMPTY': str(tmp_path / 'EMPTY'), 'NODIR/x.csv': str(tmp_path / 'nodir' / 'x.csv'),
             'FILE/x.csv': str(tmp_path / 'a_file' / 'x.csv')}
    assert main([subst.get(a, a) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg.format(t=tmp_path) in err[0], err


def test_images_too_small_for_niqe(capsys):
    val = ROOT / 'tests' / 'data' / 'images' / 'val'  # 96x96 GT: less than one NIQE block after the crop
    assert main(['--gt', str(val / 'gt'), '--lq', str(val / 'lq'), '--models', 'a=bicubic', '--no-iqa']) == 0
    out = capsys.readouterr().out
    gt_row = [line for line in out.splitlines() if line.startswith('| GT |')]
    assert '| a | ' in out and len(gt_row) == 1 and 'n/a' in gt_row[0]


def test_corrupt_image_names_the_file(data, tmp_path, capsys):
    for sub in ('gt', 'lq'):
        (tmp_path / sub).mkdir()
    (tmp_path / 'gt' / 'x.png').write_bytes(b'not a png')
    (tmp_path / 'lq' / 'x.png').write_bytes(b'not a png')
    assert main(['--gt', str(tmp_path / 'gt'), '--lq', str(tmp_path / 'lq'), '--models', 'a=bicubic',
                         '--no-iqa']) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if 'error' in line]
    assert len(err) == 1 and 'x.png: not an image' in err[0], err


@pytest.mark.parametrize('flag, target', [('--csv', 'gt'), ('--json', 'gt'), ('--sheet', 'lq'), ('--csv', 'model'),
                                          ('--json', 'same')])
def test_outputs_never_overwrite_inputs(data, tmp_path, capsys, flag, target):
    """--csv/--json/--sheet on a GT or LQ image or on the model file: one line, exit 2, the input unchanged
    (they were replaced with exit 0 before)."""
    name = sorted(p.name for p in (data / 'gt').iterdir())[0]
    path = {'gt': data / 'gt' / name, 'lq': data / 'lq' / name, 'model': data / 'tiny.pdparams',
            'same': tmp_path / 'both.out'}[target]
    before = path.read_bytes() if path.exists() else None
    extra = ['--csv', str(path)] if target == 'same' else []
    argv = ['--gt', str(data / 'gt'), '--lq', str(data / 'lq'), '--models', f'm={data / "tiny.pdparams"}',
            '--no-iqa', flag, str(path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    one_line(err, path)
    assert (path.read_bytes() if path.exists() else None) == before


def _bicubic_outputs(data, folder, ext='.png'):
    """Bicubic x4 of each LQ image of ``data``, written to ``folder`` under the LQ's stem with ``ext``."""
    folder.mkdir()
    for p in sorted((data / 'lq').iterdir()):
        lq = cv2.imread(str(p))
        cv2.imwrite(str(folder / (p.stem + ext)), cv2.resize(lq, (lq.shape[1] * 4, lq.shape[0] * 4),
                                                             interpolation=cv2.INTER_CUBIC))


def test_outputs_folder_scores_finished_outputs_like_the_model(data, tmp_path, capsys):
    """``outputs:DIR`` scores a folder of finished outputs (another method's shipped results) without running
    anything: bicubic's outputs written to a folder (as PNG, and as another extension with the same stem) score
    exactly as the bicubic model; with --input it gives the no-reference rows too."""
    _bicubic_outputs(data, tmp_path / 'png')
    _bicubic_outputs(data, tmp_path / 'bmp', '.bmp')
    js = tmp_path / 'm.json'
    argv = ['--gt', data / 'gt', '--lq', data / 'lq', '--models', 'bicubic=bicubic', f'shipped=outputs:{tmp_path / "png"}',
            f'other=outputs:{tmp_path / "bmp"}', '--no-iqa', '--json', js, '--sheet', tmp_path / 's.png']
    assert main([str(a) for a in argv]) == 0
    assert '| shipped | ' in capsys.readouterr().out
    doc = json.loads(js.read_text())
    for m in ('psnr', 'ssim', 'niqe', 'detail', 'texture'):
        assert doc['summary']['shipped'][m] == pytest.approx(doc['summary']['bicubic'][m]), m
        assert doc['summary']['other'][m] == pytest.approx(doc['summary']['bicubic'][m]), m
    assert main(['--input', str(data / 'lq'), '--models', 'bicubic=bicubic', f'shipped=outputs:{tmp_path / "png"}']) == 0
    assert '| shipped | ' in capsys.readouterr().out


@pytest.mark.parametrize('case, msg', [('nofolder', 'is not a folder'), ('missing', 'no output for {name}'),
                                       ('size', 'expected x4 of its LQ image')])
def test_outputs_folder_bad_input_is_one_line(data, tmp_path, capsys, case, msg):
    """A missing folder, a missing output or an output of the wrong size: one line naming it, exit 2."""
    out = tmp_path / 'out'
    _bicubic_outputs(data, out)
    name = sorted(p.name for p in out.iterdir())[0]
    if case == 'missing':
        (out / name).unlink()
    elif case == 'size':
        cv2.imwrite(str(out / name), np.zeros((40, 40, 3), np.uint8))
    spec = f'outputs:{tmp_path / "nope"}' if case == 'nofolder' else f'outputs:{out}'
    assert main(['--gt', str(data / 'gt'), '--lq', str(data / 'lq'), '--models', f'm={spec}', '--no-iqa', '-q']) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln]
    assert len(err) == 1 and msg.format(name=name) in err[0], err


@pytest.mark.parametrize('where', ['gt', 'lq', 'outputs', 'input'])
def test_a_link_out_of_a_named_folder_is_one_line(data, tmp_path, capsys, where):
    """A symbolic link in --gt, --lq, --input or an outputs:DIR folder, to a file outside it, was read as one of
    its images (issue 64, E02): one line naming the link and its target, exit 2, nothing written."""
    import shutil
    for sub in ('gt', 'lq'):
        shutil.copytree(data / sub, tmp_path / sub)
    _bicubic_outputs(data, tmp_path / 'outputs')
    folder = tmp_path / ('lq' if where == 'input' else where)
    name = sorted(p.name for p in folder.iterdir())[0]
    secret = tmp_path / 'private' / name
    secret.parent.mkdir()
    (folder / name).rename(secret)
    (folder / name).symlink_to(secret)
    js = tmp_path / 'm.json'
    pair = ['--input', str(tmp_path / 'lq')] if where == 'input' else ['--gt', str(tmp_path / 'gt'), '--lq',
                                                                        str(tmp_path / 'lq')]
    argv = [*pair, '--models', 'b=bicubic', f'o=outputs:{tmp_path / "outputs"}', '--no-iqa', '-q', '--json', str(js)]
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err, folder / name, secret)
    assert 'outside the folder' in line and not js.exists()
