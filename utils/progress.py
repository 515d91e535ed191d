"""Progress bars that keep moving during long single steps, and log lines that never break them.

* ``Steps(desc, steps, enabled)``: a tqdm bar over named steps (``step('exporting')``)
  whose elapsed time keeps ticking while one step runs (a refresh thread), so a
  20-second export does not look like a hang.
* ``TqdmHandler``: a logging handler whose lines (``write_line``) clear and redraw
  an open bar, so a log line printed while a bar is on screen (or in a redirected
  stderr file) gets a line of its own instead of being glued to a bar fragment, and
  are written in one piece, so another process's line never lands inside one.
"""
import logging
import sys
import threading
import time


def bars_active():
    """True while another (enabled) tqdm bar is open, e.g. a video's frame bar around per-frame work."""
    tqdm = sys.modules.get('tqdm')
    return bool(tqdm is not None and getattr(tqdm.tqdm, '_instances', None))


def is_tty(stream=None):
    stream = stream or sys.stderr
    return bool(hasattr(stream, 'isatty') and stream.isatty())


def write_line(line, stream=None):
    """Print ``line`` and its newline in one ``write`` (stderr is unbuffered: ``tqdm.write`` and ``print``
    write the newline separately, and another process, a data worker, can land between the two and glue
    its own line to this one). Open bars are cleared and redrawn around it."""
    stream = stream or sys.stderr
    if bars_active():
        from tqdm import tqdm
        with tqdm.external_write_mode(file=stream):
            stream.write(f'{line}\n')
    else:
        stream.write(f'{line}\n')
    stream.flush()


class TqdmHandler(logging.StreamHandler):
    """``logging.StreamHandler`` whose lines never break a tqdm bar (bars are cleared and redrawn) and are
    written whole (``write_line``)."""

    def emit(self, record):
        try:
            write_line(self.format(record), self.stream or sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


class Steps:
    """A bar over ``steps`` named steps, refreshed twice a second while a step runs.

    Use as a context manager; ``step(text)`` starts the next step (the previous one
    counts as done); leaving the block completes the bar. Disabled: does nothing.
    When stderr is not a terminal (a log file), there is no bar: one line per step
    and one at the end, with the elapsed time.
    """

    def __init__(self, desc, steps, enabled=True, unit='step', leave=True, stream=None):
        self.enabled = bool(enabled)
        self.desc, self.total, self.unit = desc, int(steps), unit
        self.stream = stream or sys.stderr
        self.bar = None
        self._started = 0
        self._stop = threading.Event()
        self._thread = None
        self._t0 = time.perf_counter()
        self._tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
        if self.enabled and self._tty:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc=desc, unit=unit, leave=leave, file=self.stream,
                            bar_format='{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}]{postfix}')

    def step(self, text):
        if not self.enabled:
            return
        self._started += 1
        if self.bar is None:  # a file: one plain line per step
            every = max(1, -(-self.total // 10))  # at most about ten lines
            if self._started == 1 or self._started % every == 0 or self._started == self.total:
                write_line(f'{self.desc}: {self._started}/{self.total} {self.unit}, {text}', self.stream)
            return
        if self._started > 1:
            self.bar.update(1)
        self.bar.set_postfix_str(text, refresh=True)
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def _tick(self):
        while not self._stop.wait(0.5):
            try:
                self.bar.refresh()
            except Exception:  # the bar was closed meanwhile
                return

    def close(self, ok=True):
        if not self.enabled:
            return
        self.enabled = False
        if self.bar is None:
            if ok and self._started:
                write_line(f'{self.desc}: done in {time.perf_counter() - self._t0:.1f} s', self.stream)
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if ok and self._started:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.set_postfix_str('done', refresh=True)
        self.bar.close()
        self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(ok=exc_type is None)
        return False

