"""Progress bars that keep moving during long single steps, and log lines that never break them.

* ``Steps(desc, steps, enabled)``: a tqdm bar over named steps (``step('exporting')``)
  whose elapsed time keeps ticking while one step runs (a refresh thread), so a
  20-second export does not look like a hang.
* ``counter(total, desc)``: a tqdm bar on a terminal; in a log (stderr redirected to a file), ``LogCounter``:
  a clean line every tenth of the total or every ``LOG_EVERY_S`` seconds, with the rate and the ETA.
* ``counted(items, desc, unit, enabled)``: iterate ``items`` through ``counter`` (a bar or log lines).
* ``log_lines(names)``: the named loggers' INFO lines on stderr through a ``TqdmHandler`` for a block (a CLI's
  one-time set-up, an export, says what it does in a log too).
* ``TqdmHandler``: a logging handler whose lines (``write_line``) clear and redraw
  an open bar, so a log line printed while a bar is on screen (or in a redirected
  stderr file) gets a line of its own instead of being glued to a bar fragment, and
  are written in one piece, so another process's line never lands inside one.
"""
import contextlib
import logging
import sys
import threading
import time
import weakref

from tqdm import tqdm


LOG_EVERY_S = 30.0  # a log counter's longest silence
_OPEN_COUNTERS = weakref.WeakSet()  # LogCounter objects not closed yet (one dropped unclosed leaves with it, as tqdm's)


def bars_active():
    """True while another (enabled) tqdm bar, or a log counter, is open, e.g. a video's frames around per-frame
    work."""
    tqdm = sys.modules.get('tqdm')
    return bool(_OPEN_COUNTERS or (tqdm is not None and getattr(tqdm.tqdm, '_instances', None)))


def is_tty(stream=None):
    stream = stream or sys.stderr
    return bool(hasattr(stream, 'isatty') and stream.isatty())


def write_line(line, stream=None):
    """Print ``line`` and its newline in one ``write`` (stderr is unbuffered: ``tqdm.write`` and ``print``
    write the newline separately, and another process, a data worker, can land between the two and glue
    its own line to this one). Open bars are cleared and redrawn around it."""
    stream = stream or sys.stderr
    if bars_active():
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



def _clock(seconds):
    """``12 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = int(round(max(seconds, 0)))
    if s < 60:
        return f'{s} s'
    if s < 3600:
        return f'{s // 60} min {s % 60:02d} s'
    return f'{s // 3600} h {s // 60 % 60:02d} min'


class LogCounter:
    """A counter for a log file, with tqdm's ``update`` / ``set_postfix_str`` / ``close``: one whole line
    (``write_line``) at the first unit ('started'), then whenever a tenth of ``total`` more is done or ``every_s``
    seconds have passed, whichever comes first, and a last line with the total time. Each line after the first:
    done/total, percent, rate, ETA (without a known total: the count and the rate). The rate counts the units
    made since the first one, over the time since then: not the set-up before it (a model's load, a resumed
    segment's pre-roll), nor ``initial``, the units already done (a resumed video's reused segments), which count
    in done/total only."""

    def __init__(self, total, desc, unit='frame', stream=None, every_s=None, initial=0):
        self.total = int(total) if total else None
        self.desc, self.unit, self.stream = desc, unit, stream or sys.stderr
        self.every_s = LOG_EVERY_S if every_s is None else float(every_s)
        self.n = self.initial = self._last_n = int(initial)
        self.postfix = ''
        self._t0 = self._last_t = time.perf_counter()
        self._first = True
        self._since = None  # (time, count) at the first unit: where the rate starts
        self._step = max(1, -(-self.total // 10)) if self.total else None
        _OPEN_COUNTERS.add(self)

    def set_postfix_str(self, text, refresh=False):
        self.postfix = str(text)

    def update(self, n=1):
        self.n += int(n)
        now = time.perf_counter()
        if self._since is None:
            self._since = (now, self.n)
        due = self._first or now - self._last_t >= self.every_s
        if self._step and self.n // self._step > self._last_n // self._step:
            due = True
        if due and (self.total is None or self.n < self.total):
            self._line(now)

    def _line(self, now):
        done = f'{self.unit} {self.n}/{self.total} ({100 * self.n // self.total} %)' if self.total else \
            f'{self.n} {self.unit}s'
        extra = f', {self.postfix}' if self.postfix else ''
        if self._first:
            before = f' ({self.initial} done before)' if self.initial else ''
            write_line(f'{self.desc}: {done}, started{before}{extra}', self.stream)
        else:
            t, n = self._since
            rate = (self.n - n) / (now - t) if now > t else 0.0
            eta = f', ETA {_clock((self.total - self.n) / rate)}' if self.total and rate > 0 else ''
            write_line(f'{self.desc}: {done}, {rate:.2f} {self.unit}/s{eta}{extra}', self.stream)
        self._last_t, self._last_n, self._first = now, self.n, False

    def close(self):
        if self not in _OPEN_COUNTERS:
            return
        _OPEN_COUNTERS.discard(self)
        if self.n > self.initial:
            elapsed = time.perf_counter() - self._t0
            reused = f', {self.initial} done before' if self.initial else ''
            write_line(f'{self.desc}: {self.n} {self.unit}s in {_clock(elapsed)} '
                       f'({(self.n - self.initial) / max(elapsed, 1e-9):.2f} {self.unit}/s{reused})', self.stream)


def counter(total, desc, unit='frame', enabled=True, stream=None, initial=0):
    """A progress counter over ``total`` units (``initial`` of them done already): a tqdm bar on a terminal, a
    ``LogCounter`` when ``stream`` (stderr) is a file or a pipe, None when not ``enabled``."""
    if not enabled:
        return None
    stream = stream or sys.stderr
    if is_tty(stream):
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, file=stream)
    return LogCounter(total, desc, unit, stream, initial=initial)


def counted(items, desc, unit='img', enabled=True, stream=None):
    """Yield each of ``items`` (a sized sequence), counting them on a ``counter``: a bar on a terminal, clean
    lines with the ETA in a log; nothing when not ``enabled``."""
    bar = counter(len(items), desc, unit=unit, enabled=enabled, stream=stream)
    try:
        for item in items:
            yield item
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def log_lines(names=('inference', 'models', 'store'), fmt='%(levelname)s: %(message)s'):
    """The INFO lines of the loggers ``names`` on stderr (one ``TqdmHandler``) for the block, each logger put back
    as it was after; a no-op when the first already has a handler (a caller that set up its own logging)."""
    logs = [logging.getLogger(name) for name in names]
    if logs[0].handlers:
        yield
        return
    h = TqdmHandler(sys.stderr)
    h.setFormatter(logging.Formatter(fmt))
    saved = [(log.level, log.propagate) for log in logs]
    for log in logs:
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False
    try:
        yield
    finally:
        for log, (level, propagate) in zip(logs, saved):
            log.removeHandler(h)
            log.setLevel(level)
            log.propagate = propagate
