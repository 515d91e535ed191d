"""Resuming a folder run of tools/infer.py and tools/predict.py, and stopping one cleanly on Ctrl-C.

Each output finished in a batch adds a line to ``.realesrgan_done.jsonl`` in the output folder: the input (path,
size, mtime), the output (name, size, mtime) and the run's fingerprint (the model file and every option that
changes the pixels). A re-run skips an input whose last line has the same fingerprint, whose input is unchanged
and whose output is still the file that was written; anything else is upscaled again. Ctrl-C during a batch
finishes the file in hand (written atomically, as always), then stops; a second Ctrl-C stops at once.
"""
import hashlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from realesrgan_paddle.utils.progress import write_line

DONE_NAME = '.realesrgan_done.jsonl'
# options that change nothing in the outputs' pixels or names
NEUTRAL = frozenset({'input', 'output', 'quiet', 'threads', 'model_path', 'model_name', 'gpu_id'})


def _stat(path):
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def _model_files(model_path):
    paths = model_path if isinstance(model_path, (list, tuple)) else [model_path]
    out = []
    for p in paths:
        p = Path(str(p))
        files = sorted(f for f in p.rglob('*') if f.is_file()) if p.is_dir() else [p]
        out += [[str(f.resolve()), *_stat(f)] if f.exists() else [str(f)] for f in files]
    return out


def run_fingerprint(args, up):
    """A short hash of what decides the outputs: the model files (path, size, mtime), the options that change
    pixels or names, and the precision and engine the run took."""
    keep = {k: v for k, v in sorted(vars(args).items()) if k not in NEUTRAL}
    backend = up.backend
    keep['_model'] = _model_files(up.model_path)
    keep['_backend'] = [backend.kind, backend.name, getattr(backend, 'engine', None),
                        getattr(backend, 'precision', None), up.scale]
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


class DoneLog:
    """The ``.realesrgan_done.jsonl`` of an output folder, for one run's fingerprint."""

    def __init__(self, folder, fingerprint):
        self.path = Path(folder) / DONE_NAME
        self.fingerprint = fingerprint
        self.entries = {}
        try:
            lines = self.path.read_text(errors='replace').splitlines()
        except OSError:
            lines = []
        for line in lines:  # a line cut by a kill is skipped; the last line of an input wins
            try:
                e = json.loads(line)
                self.entries[e['src']] = e
            except (ValueError, KeyError, TypeError):
                continue

    def complete(self, src):
        """The output of ``src`` written by a run with this fingerprint from this very input, untouched since."""
        e = self.entries.get(str(Path(src).resolve()))
        if not e or e.get('run') != self.fingerprint:
            return None
        out = self.path.parent / str(e.get('out', ''))
        try:
            if out.parent != self.path.parent or list(_stat(src)) != e.get('src_stat') \
                    or list(_stat(out)) != e.get('out_stat'):
                return None
        except OSError:
            return None
        return out

    def add(self, src, dst):
        """Record a finished output (one appended line; a torn last line is ignored on reading)."""
        dst = Path(dst)
        if dst.parent.resolve() != self.path.parent.resolve():
            return
        e = {'src': str(Path(src).resolve()), 'src_stat': list(_stat(src)), 'out': dst.name,
             'out_stat': list(_stat(dst)), 'run': self.fingerprint}
        self.entries[e['src']] = e
        try:
            with open(self.path, 'a') as f:
                f.write(json.dumps(e) + '\n')
        except OSError as exc:  # the outputs are written; only the next run's skipping is lost
            logging.getLogger('inference').warning('cannot record %s in %s: %s', dst.name, self.path, exc)


class StopAfterCurrent:
    """While active, the first Ctrl-C sets ``requested`` (the loop finishes the file in hand, then stops); the
    second raises KeyboardInterrupt as usual."""

    def __init__(self, active=True):
        self.active = active and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._prev = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        write_line('Ctrl-C: stopping after the file in hand (Ctrl-C again to stop now)', sys.stderr)

    def __enter__(self):
        if self.active:
            self._prev = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.signal(signal.SIGINT, self._prev)
        return False
