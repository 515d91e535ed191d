"""utils/outputs.py: the output planner that keeps a run from overwriting its inputs or its own outputs,
and utils/fileio.py's stale temp-file cleanup."""
import os
import subprocess
import sys

import pytest

from realesrgan_paddle.utils.fileio import atomic_write_bytes, remove_stale_temps, stale_temps, temp_beside
from realesrgan_paddle.utils.outputs import (
    OutputClash, OutputPlan, check_folder_pair, check_no_clobber, os_error_line, write_error)
from tests.cli_checks import one_line


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / 'd'
    d.mkdir()
    for name in ('x.png', 'x_out.png', 'a.jpg'):
        (d / name).write_bytes(b'input ' + name.encode())
    return d


def test_output_that_is_another_input_is_refused(folder):
    files = sorted(folder.iterdir())
    with pytest.raises(OutputClash) as e:
        check_no_clobber(files, [(folder / f'{f.stem}_out{f.suffix}', f) for f in files])
    msg = str(e.value)
    assert '\n' not in msg and str(folder / 'x_out.png') in msg and str(folder / 'x.png') in msg


def test_aliases_of_an_input_are_refused(folder, tmp_path):
    link = tmp_path / 'link'
    link.symlink_to(folder)
    hard = tmp_path / 'hard.png'
    os.link(folder / 'x.png', hard)
    for alias in (link / 'x.png', folder / 'sub' / '..' / 'x.png', hard):
        with pytest.raises(OutputClash, match='it is the input'):
            check_no_clobber([folder / 'x.png'], [alias])


def test_two_outputs_on_one_path_or_differing_by_case(folder, tmp_path):
    out = tmp_path / 'o'
    with pytest.raises(OutputClash, match=r'both .*a\.jpg and .*x\.png would write it'):
        check_no_clobber([folder / 'a.jpg', folder / 'x.png'], [(out / 'a.png', folder / 'a.jpg'),
                                                                  (out / 'a.png', folder / 'x.png')])
    with pytest.raises(OutputClash, match='differs only by letter case'):
        check_no_clobber([], [out / 'A_out.png', out / 'a_out.png'])
    plan = check_no_clobber([], [out / 'a_out.png', out / 'b_out.png'])  # distinct names are fine
    assert out / 'a_out.png' in plan


def test_output_that_is_a_folder_holding_inputs_or_inside_an_input_file(folder):
    with pytest.raises(OutputClash, match='folder holding the input'):
        check_no_clobber([folder / 'x.png'], [folder])
    with pytest.raises(OutputClash, match='is an input file'):
        check_no_clobber([folder / 'x.png'], [folder / 'x.png' / 'x_out.png'])


def test_folder_pair_both_ways(tmp_path):
    inp = tmp_path / 'P' / 'in'
    inp.mkdir(parents=True)
    with pytest.raises(OutputClash, match='holds the input folder'):
        check_folder_pair(inp, tmp_path / 'P')
    with pytest.raises(OutputClash, match='must not be inside'):
        check_folder_pair(inp, inp / 'lq')
    with pytest.raises(OutputClash, match='must not be inside'):
        check_folder_pair(inp, inp)
    check_folder_pair(inp, tmp_path / 'P' / 'out')  # siblings are fine


def test_plan_add_later(folder, tmp_path):
    plan = OutputPlan([folder / 'x.png'])
    plan.add(tmp_path / 'o' / 'x_out.jpg', folder / 'x.png')
    with pytest.raises(OutputClash):
        plan.add(tmp_path / 'o' / 'x_out.jpg', folder / 'a.jpg')


def test_write_error_lines(tmp_path):
    f = tmp_path / 'file'
    f.write_text('x')
    for exc in (IsADirectoryError(21, 'Is a directory'), NotADirectoryError(20, 'Not a directory'),
                PermissionError(13, 'Permission denied'), OSError(28, 'No space left on device')):
        line = write_error(f, exc)
        assert line.startswith(f'cannot write {f}: ') and '\n' not in line


def test_write_error_names_a_broken_link(tmp_path):
    """A copied work folder whose relative links point nowhere: the line names the link, not a file."""
    link = tmp_path / 'work' / 'lq_0'
    link.parent.mkdir()
    link.symlink_to('../gone')
    with pytest.raises(FileExistsError) as info:
        (link / 'sub').parent.mkdir(parents=True, exist_ok=True)
    line = write_error(link / 'sub', info.value)
    assert line == f'cannot write {link / "sub"}: {link} is a broken symbolic link (to ../gone, which does not exist)'
    real = tmp_path / 'file'
    real.write_text('x')
    one_line(write_error(real / 'sub', NotADirectoryError(20, 'Not a directory')), real / 'sub', 'file')


def test_os_error_line_tells_an_output_from_an_input(tmp_path):
    out = tmp_path / 'out'
    full = OSError(28, 'No space left on device', str(out / 'a.png'))
    assert os_error_line(full, out) == f'cannot write {out / "a.png"}: No space left on device'
    assert os_error_line(OSError(28, 'No space left on device'), out) == f'cannot write {out}: No space left on device'
    src = tmp_path / 'in' / 'v.mp4'  # a read error on an input is not called a write
    assert os_error_line(PermissionError(13, 'Permission denied', str(src)), out) == f'{src}: Permission denied'


def _dead_pid():
    p = subprocess.Popen([sys.executable, '-c', 'pass'])
    p.wait()
    return p.pid


def test_stale_temps_are_those_of_dead_writers(tmp_path):
    models = tmp_path / 'exp' / 'models'
    models.mkdir(parents=True)
    dead = models / f'.net_g_5.pdparams.{_dead_pid()}-abcd1234.tmp'
    dead.write_bytes(b'half')
    mine = models / f'.net_g_6.pdparams.{os.getpid()}-abcd1234.tmp'  # a write in progress: kept
    mine.write_bytes(b'half')
    old = models / '.5.pdstates.zz_12345.tmp'  # the name used before pids: kept while recent
    old.write_bytes(b'half')
    other = models / 'notes.tmp'  # not ours
    other.write_bytes(b'x')
    assert stale_temps(tmp_path / 'exp') == [dead]
    os.utime(old, (1, 1))
    assert remove_stale_temps(tmp_path / 'exp') == sorted([dead, old])
    assert not dead.exists() and not old.exists() and mine.exists() and other.exists()


def test_atomic_write_temp_names_carry_the_pid(tmp_path):
    fd, tmp = temp_beside(tmp_path / 'a.bin')
    os.close(fd)
    assert os.path.basename(tmp).startswith(f'.a.bin.{os.getpid()}-') and tmp.endswith('.tmp')
    atomic_write_bytes(tmp_path / 'b.bin', b'ok')
    assert (tmp_path / 'b.bin').read_bytes() == b'ok'
