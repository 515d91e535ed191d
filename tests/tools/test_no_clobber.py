"""Every tool refuses, before writing anything, an output that would overwrite an input or another output,
and answers bad values and unwritable paths with one line (subprocesses; past its first case, a parametrized
refusal calls the tool's main() in this process; real photos)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.crafted_images import png_declaring
from tests.nets import save_image_like as save_tiny
from tests.nets import srvgg

ROOT = Path(__file__).resolve().parents[2]


SRVGG4 = srvgg(num_feat=4)


def run(script, *args, timeout=300):
    path = ROOT / script if (ROOT / script).is_file() else ROOT / 'tools' / script
    res = subprocess.run([sys.executable, str(path), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    return res.returncode, res.stderr


def run_here(capsys, script, *args):
    """``tools/<script>``'s ``main(argv)`` in this process (no interpreter start, paddle loaded once), for the
    parametrized refusals whose first case runs in a process of its own: ``(status, stderr)``."""
    import importlib
    import logging
    import signal

    from realesrgan_paddle.utils.runtime_env import import_paddle_quietly
    kept = [(sig, signal.getsignal(sig)) for sig in (signal.SIGTERM, signal.SIGHUP)]
    log = logging.getLogger('inference')
    state = list(log.handlers), log.level, log.propagate
    try:
        import_paddle_quietly()  # loaded: the tool's CPU set-up never restarts this process
        name = script[:-3] if (ROOT / script).is_file() else f'tools.{script[:-3]}'  # make_lq_data.py: the root's
        rc = importlib.import_module(name).main([str(a) for a in args])
    except SystemExit as e:
        rc = e.code
    finally:  # the tool's signal handlers and log handlers are for its own process
        for sig, handler in kept:
            signal.signal(sig, handler)
        log.handlers[:], log.level, log.propagate = state
    return rc, capsys.readouterr().err


def one_error(err):
    """The single error line of a refusal (no traceback, nothing else from us)."""
    assert 'Traceback' not in err, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(Path(folder).rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def photo(hr_photos):
    return cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:24, :32]


@pytest.fixture(scope='module')
def export_dir(tmp_path_factory):
    """A tiny SRVGG (4 features) exported with tools/export_model.py."""
    d = tmp_path_factory.mktemp('srvgg4')
    save_tiny(d / 'srvgg4.pdparams', SRVGG4)
    rc, err = run('export_model.py', '-m', d / 'srvgg4.pdparams', '-o', d / 'exp', '--check', '0')
    assert rc == 0, err
    return d / 'exp'


@pytest.fixture
def readonly(tmp_path):
    """A folder nobody may write into (as root, chmod does not stop us: /sys does)."""
    if os.geteuid() != 0:
        d = tmp_path / 'ro'
        d.mkdir()
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    try:
        open('/sys/resr_probe', 'w').close()
    except OSError:
        yield Path('/sys')
        return
    pytest.skip('no read-only folder available')


# ---------------------------------------------------------------- predict / infer
def test_infer_output_folder_is_input_folder_with_x_out(tmp_path, photo, export_dir):
    d = tmp_path / 'd'
    d.mkdir()
    cv2.imwrite(str(d / 'x.png'), photo)
    cv2.imwrite(str(d / 'x_out.png'), photo[::-1])
    before = snapshot(d)
    rc, err = run('infer.py', '-i', d, '-o', d, '-m', export_dir, '-q')
    line = one_error(err)
    assert rc == 2 and str(d / 'x_out.png') in line and str(d / 'x.png') in line
    assert snapshot(d) == before


def test_predict_same_stem_with_empty_suffix(tmp_path, photo):
    d = tmp_path / 'd'
    d.mkdir()
    cv2.imwrite(str(d / 'a.jpg'), photo)
    cv2.imwrite(str(d / 'a.png'), photo)
    before = snapshot(d)
    rc, err = run('predict.py', '-i', d, '-o', d, '--suffix', '', '--ext', 'png', '-q')
    line = one_error(err)
    assert rc == 2 and str(d / 'a.png') in line and str(d / 'a.jpg') in line
    assert snapshot(d) == before
    rc, err = run('predict.py', '-i', d, '-o', tmp_path / 'o', '--ext', 'png', '-q')  # two inputs, one name
    assert rc == 2 and str(d / 'a.png') in one_error(err) and str(d / 'a.jpg') in one_error(err)
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('suffix', ['/../../X', '..\\..\\X', 'a\nb'])
def test_suffix_cannot_leave_the_output_folder(tmp_path, photo, suffix, capsys):
    """``--suffix /../../X`` wrote outside ``-o`` before: now one line and nothing written anywhere."""
    d = tmp_path / 'in' / 'deep'
    d.mkdir(parents=True)
    cv2.imwrite(str(d / 'a.png'), photo[:32, :32])
    before = snapshot(tmp_path)
    args = ('predict.py', '-i', d / 'a.png', '-o', d / 'o', '--suffix', suffix, '-q')
    rc, err = run(*args) if suffix == '/../../X' else run_here(capsys, *args)
    assert rc == 2 and one_error(err).startswith('error: --suffix') and 'may not hold' in one_error(err)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize('value', ['inf', '1e6', '0', '-2', 'nan'])
def test_absurd_outscale_is_refused(tmp_path, photo, value, capsys):
    cv2.imwrite(str(tmp_path / 'a.png'), photo)
    args = ('infer.py', '-i', tmp_path / 'a.png', '-o', tmp_path / 'o', '--outscale', value, '-q')
    rc, err = run(*args) if value == 'inf' else run_here(capsys, *args)
    assert rc == 2 and one_error(err).startswith('error: --outscale must be between 0.01 and 16')


def test_batch_goes_on_past_a_bomb_and_garbage(tmp_path, photo, export_dir):
    d = tmp_path / 'in'
    d.mkdir()
    (d / 'a_bomb.png').write_bytes(png_declaring(100000, 100000))
    (d / 'b_garbage.png').write_bytes(os.urandom(300))
    cv2.imwrite(str(d / 'c_good.png'), photo)
    (d / 'd_garbage.mp4').write_bytes(bytes(1000))
    rc, err = run('infer.py', '-i', d, '-o', tmp_path / 'out', '-m', export_dir, '-q')
    assert rc == 1 and 'Traceback' not in err
    failed = [ln for ln in err.splitlines() if ln.startswith('failed:')]
    assert len(failed) == 3
    assert failed[0].startswith(f'failed: {d / "a_bomb.png"}: declares 100000x100000 pixels')
    assert failed[1].startswith(f'failed: {d / "b_garbage.png"}: not an image')
    assert failed[2].startswith(f'failed: {d / "d_garbage.mp4"}: ')
    assert not any(ln.startswith(f'failed: {src}: {src}') for ln in failed for src in d.iterdir()), failed  # before
    assert '1 done, 3 failed' in err
    assert cv2.imread(str(tmp_path / 'out' / 'c_good_out.png')).shape == (96, 128, 3)


# ---------------------------------------------------------------- make_lq_data
def test_make_lq_output_is_inputs_parent(tmp_path, photo):
    inp = tmp_path / 'in'
    (inp / 'in').mkdir(parents=True)
    cv2.imwrite(str(inp / 'x.png'), photo)
    cv2.imwrite(str(inp / 'in' / 'x.png'), photo[::-1])
    before = snapshot(tmp_path)
    rc, err = run('make_lq_data.py', '--input', inp, '--output', tmp_path, '--mode', 'bicubic', '--scale', '2')
    assert rc == 2 and str(inp) in one_error(err)  # names the input folder inside the output
    assert snapshot(tmp_path) == before


def test_make_lq_batch_goes_on_past_a_bomb(tmp_path, photo):
    inp = tmp_path / 'hr'
    inp.mkdir()
    (inp / 'a_bomb.png').write_bytes(png_declaring(100000, 100000))
    cv2.imwrite(str(inp / 'b.png'), photo)
    rc, err = run('make_lq_data.py', '--input', inp, '--output', tmp_path / 'lq', '--mode', 'bicubic',
                  '--scale', '2')
    assert rc == 1 and 'Traceback' not in err
    failed = [ln for ln in err.splitlines() if ln.startswith('failed:')]
    assert len(failed) == 1 and 'a_bomb.png: declares 100000x100000 pixels' in failed[0]
    assert cv2.imread(str(tmp_path / 'lq' / 'b.png')).shape == (12, 16, 3)


# ---------------------------------------------------------------- generate_meta_info
def test_meta_info_onto_an_image_folder_or_readonly(tmp_path, photo, readonly):
    hr = tmp_path / 'hr'
    hr.mkdir()
    cv2.imwrite(str(hr / 'a.png'), photo)
    before = snapshot(hr)
    rc, err = run('generate_meta_info.py', '--input', hr, '--meta_info', hr / 'a.png')
    assert rc == 2 and f'it is the input {hr / "a.png"}' in one_error(err)
    assert snapshot(hr) == before
    rc, err = run('generate_meta_info.py', '--input', hr, '--meta_info', tmp_path)
    assert rc == 2 and 'is a folder' in one_error(err)
    rc, err = run('generate_meta_info.py', '--input', hr, '--meta_info', readonly / 'meta.txt')
    assert rc == 2 and one_error(err).startswith(f'error: --meta_info: cannot write {readonly / "meta.txt"}: ')


def test_meta_info_refuses_a_name_with_a_newline(tmp_path, photo):
    """It reported 2 lines and wrote 3 before (the newline split one name in two)."""
    hr = tmp_path / 'hr'
    hr.mkdir()
    cv2.imwrite(str(hr / 'a.png'), photo)
    cv2.imwrite(str(hr / 'b.png'), photo)
    (hr / 'b.png').rename(hr / 'two\nlines.png')
    rc, err = run('generate_meta_info.py', '--input', hr, '--meta_info', tmp_path / 'meta.txt')
    assert rc == 2 and "'hr/two\\nlines.png'" in one_error(err)
    assert not (tmp_path / 'meta.txt').exists()


# ---------------------------------------------------------------- extract_subimages / generate_multiscale
@pytest.mark.parametrize('tool', ['extract_subimages.py', 'generate_multiscale.py'])
def test_folder_tools_refuse_overlap_and_shared_names(tmp_path, photo, tool):
    big = cv2.resize(photo, (96, 96))
    inp = tmp_path / 'out' / 'hr'
    inp.mkdir(parents=True)
    cv2.imwrite(str(inp / 'x.png'), big)
    extra = ['--crop_size', '32', '--step', '32'] if tool == 'extract_subimages.py' else []
    rc, err = run(tool, '--input', inp, '--output', tmp_path / 'out', '--n_thread', '1', *extra)
    assert rc == 2 and str(inp) in one_error(err)  # names the input folder inside the output
    cv2.imwrite(str(inp / 'x.bmp'), big)  # x.png and x.bmp: both would write x_s001.png / xT0.png
    rc, err = run(tool, '--input', inp, '--output', tmp_path / 'o2', '--n_thread', '1', *extra)
    assert rc == 2 and 'x.png' in one_error(err) and 'x.bmp' in one_error(err)  # both inputs named
    assert not (tmp_path / 'o2').exists()


# ---------------------------------------------------------------- export_model
def test_export_refuses_to_overwrite_its_input(tmp_path, readonly):
    d = tmp_path / 'D'
    d.mkdir()
    save_tiny(d / 'inference.pdiparams', SRVGG4)
    before = snapshot(d)
    rc, err = run('export_model.py', '-m', d / 'inference.pdiparams', '-o', d, '--check', '0')
    assert rc == 2 and f'it is the input {d / "inference.pdiparams"}' in one_error(err)
    assert snapshot(d) == before
    shutil.copy(d / 'inference.pdiparams', tmp_path / 'w.pdparams')
    rc, err = run('export_model.py', '-m', tmp_path / 'w.pdparams', '-o', readonly / 'exp', '--check', '0')
    assert rc == 2 and one_error(err).startswith(f'error: cannot write {readonly / "exp"}: ')
    for bad in ('1', '-5', '100000'):
        rc, err = run('export_model.py', '-m', tmp_path / 'w.pdparams', '-o', tmp_path / 'e', '--check', bad)
        assert rc == 2 and one_error(err).startswith('error: --check must be 0 (skip) or between 8 and 1024')


# ---------------------------------------------------------------- extract_keyframes
@pytest.mark.parametrize('every', ['nan', 'inf', '0', '-1'])
def test_keyframes_every_must_be_a_positive_number(tmp_path, every):
    (tmp_path / 'v.mp4').write_bytes(b'\x00' * 64)
    rc, err = run('extract_keyframes.py', '-i', tmp_path / 'v.mp4', '-o', tmp_path / 'o', '--mode', 'interval',
                  '--every', every)
    assert rc == 2 and one_error(err).startswith('error: --every must be a number of seconds > 0')
    assert not (tmp_path / 'o').exists()


def test_keyframes_output_onto_an_input(tmp_path):
    v = tmp_path / 'v.mp4'
    v.write_bytes(b'\x00' * 64)
    rc, err = run('extract_keyframes.py', '-i', v, '-o', v)
    assert rc == 2 and str(v) in one_error(err)
    assert v.read_bytes() == b'\x00' * 64


@pytest.mark.parametrize('tool', ['infer.py', 'make_lq_data.py', 'generate_multiscale.py', 'extract_subimages.py'])
def test_unwritable_output_folder_is_one_line_up_front(tmp_path, photo, readonly, tool):
    inp = tmp_path / 'in'
    inp.mkdir()
    for name in ('a.png', 'b.png'):
        cv2.imwrite(str(inp / name), photo)
    extra = {'infer.py': ['-q'], 'make_lq_data.py': ['--mode', 'bicubic', '--scale', '2'],
             'extract_subimages.py': ['--crop_size', '8', '--step', '8', '--n_thread', '1'],
             'generate_multiscale.py': ['--n_thread', '1']}[tool]
    flags = ['-i', inp, '-o'] if tool == 'infer.py' else ['--input', inp, '--output']
    rc, err = run(tool, *flags, readonly / 'out', *extra)
    assert rc == 2 and one_error(err).startswith(f'error: cannot write {readonly / "out"}: not allowed')


@pytest.mark.parametrize('content,problem', [(b'a: [\n', 'not valid YAML'),
                                             (b'- a\n- b\n', 'expected a mapping of options, got a list')])
def test_make_lq_bad_opt_yaml_is_one_line(tmp_path, photo, content, problem):
    (tmp_path / 'hr').mkdir()
    cv2.imwrite(str(tmp_path / 'hr' / 'a.png'), photo)
    (tmp_path / 'opt.yml').write_bytes(content)
    rc, err = run('make_lq_data.py', '--input', tmp_path / 'hr', '--output', tmp_path / 'lq',
                  '--opt', tmp_path / 'opt.yml')
    assert rc == 2 and one_error(err).startswith(f'error: bad --opt: {tmp_path / "opt.yml"}: {problem}')


def test_temp_file_of_a_killed_write_is_removed_by_the_next_run(tmp_path, photo):
    """A kill -9 while an output is written leaves its .tmp beside it; the next predict into that folder
    removes it (its writer's pid is gone) and leaves nobody else's temp files alone."""
    out = tmp_path / 'o'
    out.mkdir()
    code = ('import os, sys\nfrom realesrgan_paddle.utils.fileio import atomic_write\n'
            'with atomic_write(sys.argv[1]) as f:\n    f.write(b"half an image")\n    f.flush()\n'
            '    os.kill(os.getpid(), 9)\n')
    res = subprocess.run([sys.executable, '-c', code, str(out / 'a_out.png')], cwd=ROOT, capture_output=True,
                         timeout=60)
    assert res.returncode == -9
    left = sorted(out.glob('.*.tmp'))
    assert len(left) == 1 and left[0].name.startswith('.a_out.png.')
    alive = out / f'.b_out.png.{os.getpid()}-abcdefgh.tmp'  # a writer that still runs (this test)
    alive.write_bytes(b'busy')
    cv2.imwrite(str(tmp_path / 'a.png'), photo)
    rc, err = run('predict.py', '-i', tmp_path / 'a.png', '-o', out, '--ext', 'png', '-q',
                  '--model_path', save_tiny(tmp_path / 'tiny.pdparams', SRVGG4))
    assert rc == 0, err[-2000:]
    assert not left[0].exists() and alive.exists() and (out / 'a_out.png').is_file()
    assert f'removed {left[0]}' in err


@pytest.mark.parametrize('tool', ['extract_keyframes.py', 'refit_skip.py', 'infer.py', 'make_lq_data.py',
                                  'export_model.py'])
@pytest.mark.parametrize('kind', ['under_a_file', 'broken_link'])
def test_output_through_a_file_or_a_broken_link_is_one_line(tmp_path, photo, tool, kind, capsys):
    """The reason is named (the file in the path, or the link and its target), not an errno."""
    inp = tmp_path / 'in'
    inp.mkdir()
    cv2.imwrite(str(inp / 'a.png'), photo)
    (tmp_path / 'v.mp4').write_bytes(b'\x00' * 64)
    model = save_tiny(tmp_path / 'm.pdparams', SRVGG4)
    if kind == 'under_a_file':
        (tmp_path / 'a_file').write_text('x')
        out, reason = tmp_path / 'a_file' / 'out', 'a part of the path is a file, not a folder'
    else:
        (tmp_path / 'out').symlink_to('gone')
        out, reason = tmp_path / 'out', f'{tmp_path / "out"} is a broken symbolic link (to gone, which does not exist)'
    argv = {'extract_keyframes.py': ['-i', tmp_path / 'v.mp4', '-o', out],
            'refit_skip.py': ['--model', model, '-o', out / 'r.pdparams'],
            'infer.py': ['--model_path', model, '-i', inp, '-o', out, '-q'],
            'make_lq_data.py': ['--input', inp, '--output', out, '--mode', 'bicubic', '--scale', '2'],
            'export_model.py': ['-m', model, '-o', out, '--check', '0']}[tool]
    rc, err = run(tool, *argv) if kind == 'under_a_file' else run_here(capsys, tool, *argv)  # a process each tool
    line = one_error(err)
    assert rc == 2 or (rc == 1 and tool == 'extract_keyframes.py'), (rc, err[-2000:])
    assert line.startswith('error: cannot write ') and line.endswith(reason), line
