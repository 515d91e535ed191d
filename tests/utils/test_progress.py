"""utils.progress: step bars that say what they do, and log lines that never land inside a bar."""
import io
import logging

from tqdm import tqdm

from utils.progress import Steps, TqdmHandler


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _segments(text):
    return [seg for line in text.split('\n') for seg in line.split('\r')]


def test_steps_to_a_file_are_whole_lines():
    out = io.StringIO()
    with Steps('model.pdparams: one-time export', 2, stream=out) as bar:
        bar.step('loading the weights')
        bar.step('tracing and saving the static graph')
    lines = out.getvalue().splitlines()
    assert lines[:2] == ['model.pdparams: one-time export: 1/2 step, loading the weights',
                         'model.pdparams: one-time export: 2/2 step, tracing and saving the static graph']
    assert lines[2].startswith('model.pdparams: one-time export: done in ') and len(lines) == 3
    assert '\r' not in out.getvalue()


def test_many_steps_to_a_file_stay_about_ten_lines():
    out = io.StringIO()
    with Steps('tiles', 95, stream=out, unit='tile') as bar:
        for _ in range(95):
            bar.step('onednn')
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and lines[-2] == 'tiles: 95/95 tile, onednn'


def test_steps_on_a_terminal_draw_a_bar_that_ends_done():
    out = _Tty()
    with Steps('import', 1, stream=out) as bar:
        bar.step('reading x.bin')
    segs = _segments(out.getvalue())
    assert any('import: 0/1 step' in s and 'reading x.bin' in s for s in segs)
    assert any('import: 1/1 step' in s and 'done' in s for s in segs)


def test_disabled_steps_print_nothing():
    out = _Tty()
    with Steps('x', 3, enabled=False, stream=out) as bar:
        bar.step('a')
    assert out.getvalue() == ''


def _log_during_bar(handler_cls):
    out = io.StringIO()
    log = logging.getLogger(f'test_progress_{handler_cls.__name__}')
    log.handlers[:] = []
    h = handler_cls(out)
    h.setFormatter(logging.Formatter('%(levelname)s: %(message)s'))
    log.addHandler(h)
    log.propagate = False
    bar = tqdm(total=3, desc='files', file=out, mininterval=0)
    bar.update(1)
    log.warning('something happened')
    bar.update(1)
    bar.close()
    return out.getvalue()


def test_log_lines_get_a_line_of_their_own():
    assert 'WARNING: something happened' in _segments(_log_during_bar(TqdmHandler))
    # the plain handler glues the message onto the bar (what the handler is for)
    assert 'WARNING: something happened' not in _segments(_log_during_bar(logging.StreamHandler))
