"""Careless values and paths found by a probe of the tools, each refused in one line before any work (or, for
what only the run can tell, said in one line): evaluate's numbers and output paths, a GT without its LQ,
images the border crop empties, make_lq_data's alias bomb, the web app's port and output folder, train.py given
a folder, the inference tools' -dn and --crf, and the zoo's warning that -dn was ignored."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation.evaluate_cli import main as evaluate
from tests.cli_checks import a_line, one_line, watched_run
from tests.pairs import centre_crop, write_pairs
from realesrgan_paddle.utils.cli_parser import MAX_LINE, Failed, clip_line, fail, int_in

ROOT = Path(__file__).resolve().parents[2]
PADDLE_NOTICE = ('WARNING: OMP_NUM_THREADS', 'PLEASE USE OMP_NUM_THREADS')  # Paddle's own, once per process


def _lines(text):
    """The lines of ``text`` (or the list of lines) less Paddle's own notice."""
    return [ln for ln in (text.strip().splitlines() if isinstance(text, str) else text)
            if not ln.startswith(PADDLE_NOTICE)]


def _tool(script, *args, timeout=120):
    r = subprocess.run([sys.executable, script, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stderr.strip().splitlines()


@pytest.fixture(scope='module')
def pairs(tmp_path_factory, hr_photos):
    return write_pairs(tmp_path_factory.mktemp('careless'), hr_photos[:2], lambda img: centre_crop(img, 64, 64))


def test_int_in_and_clip_line(capsys):
    assert int_in(1)('3') == 3 and int_in(0, 51)('51') == 51
    for parse, text in ((int_in(1), '0'), (int_in(0, 51), '52'), (int_in(1), 'x')):
        with pytest.raises(Exception, match='expected a whole number'):
            parse(text)
    assert clip_line('abc') == 'abc'
    long = 'v' * (MAX_LINE + 500)
    assert clip_line(long) == 'v' * MAX_LINE + '... (500 more characters cut)'
    with pytest.raises(Failed):
        fail(None, long)
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and len(err) < MAX_LINE + 100


def _status(argv):
    """evaluate's exit status: returned for its own checks, raised by argparse for a bad flag value."""
    try:
        return evaluate(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize('args', [['--scale', '0'], ['--sheet-images', '0'], ['--sheet-crop', '-5'],
                                  ['--crop-border', '-3'], ['--crop-border', '40']])
def test_evaluate_refuses_careless_numbers_in_one_line(pairs, args, capsys, tmp_path):
    gt, lq = pairs
    csv = tmp_path / 'scores.csv'
    assert _status(['--gt', str(gt), '--lq', str(lq), '--models', 'b=bicubic', '-q', '--no-iqa', '--csv', str(csv),
                    *args]) == 2
    one_line(_lines(capsys.readouterr().err), *args)  # the flag and the value it refuses
    assert not csv.exists()


def test_evaluate_refuses_a_folder_for_csv_or_json_before_the_run(pairs, tmp_path, capsys):
    gt, lq = pairs
    for flag in ('--csv', '--json', '--sheet'):
        assert evaluate(['--gt', str(gt), '--lq', str(lq), '--models', 'b=bicubic', '-q', flag, str(tmp_path)]) == 2
        one_line(_lines(capsys.readouterr().err), tmp_path, flag)
        assert list(tmp_path.iterdir()) == []  # refused before the run: nothing written into the folder


def test_evaluate_names_the_gt_images_without_an_lq(pairs, tmp_path, capsys):
    gt, lq = pairs
    extra = tmp_path / 'gt'
    extra.mkdir()
    for p in gt.iterdir():
        (extra / p.name).write_bytes(p.read_bytes())
    cv2.imwrite(str(extra / 'zz_alone.png'), np.full((64, 64, 3), 90, np.uint8))
    assert evaluate(['--gt', str(extra), '--lq', str(lq), '--models', 'b=bicubic', '-q', '--no-iqa']) == 0
    out = capsys.readouterr().out
    a_line(out, lq, 'zz_alone.png')  # the LQ folder and the GT image left out


def test_make_lq_data_refuses_an_alias_bomb_quickly(tmp_path, hr_photos):
    hr = tmp_path / 'hr'
    hr.mkdir()
    cv2.imwrite(str(hr / 'a.png'), cv2.imread(str(hr_photos[0]))[:64, :64])
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f'{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]' for p, c in zip('abcdefgh', 'bcdefghi')]
    (tmp_path / 'bomb.yml').write_text('\n'.join(levels) + '\ndegradation: {resize_prob: *i}\n')
    code, err, run = watched_run('make_lq_data.py', '--input', hr, '--output', tmp_path / 'lq', '--scale', 4,
                                 '--opt', tmp_path / 'bomb.yml', cwd=ROOT)
    assert code == 2 and len(one_line(err, 'alias')) < 400, err
    # 9^9 aliases expanded take gigabytes: refused in bounded memory (paddle, loaded first, is most of it), nothing
    # written
    assert run['peak_mb'] < 600 and not (tmp_path / 'lq').exists(), run


def test_webui_port_range_and_an_output_that_is_a_file(tmp_path):
    code, err = _tool('tools/webui.py', '--port', 70000, '-o', tmp_path / 'out')
    assert code == 2
    one_line(err, '--port', '70000')
    f = tmp_path / 'a.png'
    f.write_bytes(b'x')
    code, err = _tool('tools/webui.py', '--port', 7860, '-o', f)
    assert code == 2
    one_line(err, f)
    assert f.read_bytes() == b'x'


def test_train_given_a_folder_says_so(tmp_path):
    code, err = _tool('train.py', '--yml_path', tmp_path)
    assert code == 2
    one_line(err, tmp_path)


def test_inference_flags_and_the_ignored_denoise_warning(tmp_path, hr_photos):
    img = tmp_path / 'in.png'
    cv2.imwrite(str(img), cv2.imread(str(hr_photos[0]))[:24, :24])
    code, err = _tool('tools/predict.py', '-i', img, '-o', tmp_path / 'o', '-dn', 5)
    assert code == 2 and not (tmp_path / 'o').exists()
    one_line(_lines(err), '-dn', '5')
    code, err = _tool('tools/infer.py', '-i', img, '-o', tmp_path / 'o', '--crf', 99)
    assert code == 2 and not (tmp_path / 'o').exists()
    one_line(_lines(err), '--crf', '99')
    code, err = _tool('tools/predict.py', '-i', img, '-o', tmp_path / 'o', '-m', 'realesr-animevideov3', '-dn', 0.5)
    assert code == 0 and (tmp_path / 'o').is_dir()
    a_line(err, 'WARNING', '--denoise_strength', 'realesr-animevideov3')
    bad = tmp_path / 'bad.png'
    bad.write_text('not an image')
    code, err = _tool('tools/predict.py', '-i', bad, '-o', tmp_path / 'o2', '-m', 'realesr-animevideov3')
    assert code == 1 and '1 failed' in err[-1], err  # the run's summary counts the bad file
    a_line(err, bad.name)
