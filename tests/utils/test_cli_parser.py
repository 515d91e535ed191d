"""utils/cli_parser.py: both spellings of a long flag, the canonical flag helpers with their aliases, and fail()."""
import pytest

from realesrgan_paddle.utils.cli_parser import (
    ArgumentParser, Failed, add_device, add_input, add_output, add_quiet, add_workers, fail,
    other_spelling, returns_status)


def test_other_spelling():
    assert other_spelling('--tile_pad') == '--tile-pad' and other_spelling('--tile-pad') == '--tile_pad'
    assert other_spelling('--tile') is None and other_spelling('-t') is None


def test_both_spellings_parse_and_help_shows_only_the_declared_one():
    p = ArgumentParser(prog='t')
    p.add_argument('--tile_pad', type=int, default=10, help='pad')
    p.add_argument('--no-bars', action='store_true', help='bars')
    assert p.parse_args(['--tile-pad', '3']).tile_pad == p.parse_args(['--tile_pad', '3']).tile_pad == 3
    assert p.parse_args(['--no_bars']).no_bars is True
    text = p.format_help()
    assert '--tile_pad' in text and '--tile-pad' not in text and '--no_bars' not in text


def test_a_declared_pair_is_not_doubled():
    p = ArgumentParser(prog='t')
    a = p.add_argument('--models-dir', '--models_dir', dest='models_dir', help='x')
    assert a.auto_spellings == () and sorted(a.option_strings) == ['--models-dir', '--models_dir']


def _tool():
    p = ArgumentParser(prog='t')
    add_input(p, nargs='+', required=True, help='in')
    add_output(p, aliases=('--save-inference-dir',), default='./infer', help='out')
    add_workers(p, 2, 'processes', aliases=('--n_thread',))
    add_device(p)
    add_quiet(p)
    return p


@pytest.mark.parametrize('canonical, alias', [
    (['-i', 'a', 'b'], ['--input', 'a', 'b']),
    (['-i', 'a', '-o', 'x'], ['-i', 'a', '--save-inference-dir', 'x']),
    (['-i', 'a', '--output', 'x'], ['-i', 'a', '--save_inference_dir', 'x']),
    (['-i', 'a', '--workers', '3'], ['-i', 'a', '--n_thread', '3']),
    (['-i', 'a', '--workers', '3'], ['-i', 'a', '--n-thread', '3']),
    (['-i', 'a', '-q'], ['-i', 'a', '--no-progress']),
])
def test_an_alias_gives_the_same_result_as_the_canonical_flag(canonical, alias):
    p = _tool()
    assert vars(p.parse_args(canonical)) == vars(p.parse_args(alias))


def test_canonical_defaults_and_help():
    p = _tool()
    a = p.parse_args(['-i', 'a'])
    assert (a.input, a.output, a.workers, a.device, a.quiet) == (['a'], './infer', 2, 'cpu', False)
    text = p.format_help()
    assert '--output OUTPUT, --save-inference-dir OUTPUT' in text and '--workers N, --n_thread N' in text
    assert 'cpu, gpu or gpu:N' in text


def test_device_choices_narrow_it():
    p = ArgumentParser(prog='t')
    add_device(p, choices=('cpu', 'gpu'))
    assert p.parse_args(['--device', 'gpu']).device == 'gpu'
    with pytest.raises(SystemExit) as e:
        p.parse_args(['--device', 'gpu:1'])
    assert e.value.code == 2


def test_fail_prints_one_line_per_problem_and_exits(capsys):
    with pytest.raises(Failed) as e:
        fail(None, 'x.png: not an image')
    assert e.value.code == 2 and capsys.readouterr().err == 'error: x.png: not an image\n'
    with pytest.raises(SystemExit) as e:  # a plain SystemExit to whoever does not know Failed
        fail('tool.py', ValueError('bad'), 1)
    assert e.value.code == 1 and capsys.readouterr().err == 'tool.py: error: bad\n'
    with pytest.raises(Failed):
        fail(None, ['a.yml: one', 'a.yml: two'])
    assert capsys.readouterr().err == 'error: a.yml: one\nerror: a.yml: two\n'


def test_returns_status_turns_fail_into_the_exit_status(capsys):
    @returns_status
    def main(argv=None):
        if argv:
            fail(None, f'{argv[0]}: no such folder', 3)
        return 0

    assert main() == 0 and main(['nope']) == 3
    assert capsys.readouterr().err == 'error: nope: no such folder\n'
    assert main.__name__ == 'main'


def test_without_flag_takes_out_both_spellings_and_keeps_the_rest():
    from realesrgan_paddle.utils.cli_parser import without_flag
    argv = ['--work', 'W', '--stop-after', 'export', '-o', 'a=1', '--stop-after=report', '--stop-after-x', 'y']
    assert without_flag(argv, '--stop-after') == ['--work', 'W', '-o', 'a=1', '--stop-after-x', 'y']
    assert without_flag(['--gpus'], '--gpus') == [] and without_flag([], '--gpus') == []
