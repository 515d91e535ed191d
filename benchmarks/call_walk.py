"""Which of the project's files one command enters: a tool's ``main`` run in this process under ``sys.settrace``.

    python benchmarks/call_walk.py infer -i assets/example_lq.png -o out.png -n realesr-animevideov3
    python benchmarks/call_walk.py --json walk.json infer -i clip.mp4 -o out.mp4 -n realesr-animevideov3

The first argument names a tool (``tools/<name>.py``, imported as ``realesrgan_paddle.tools.<name>``), the rest
are its arguments. Run the command once before (a zoo model's one-time import and export, a video's bf16 check),
with the same ``REALESRGAN_PADDLE_HOME``, so that the walk measured is the one a user makes every time.

A file is *entered* when one of its functions is called while the tool's ``main`` runs (every thread); the code
a module runs when it is imported (its body and what that calls) does not count, as for the options walk of
docs/DESIGN.md. The project's files are the .py files of this clone outside tests/ and benchmarks/ (the tool's
own file included). A *visit* is a run of calls into one file, in one thread. *Loaded* counts the project's
files imported when ``main`` returns (the tool's own imports included), whether entered or not.

Printed: the files in the order first entered, each with its room (top-level folder), visits and calls, then one
line ``walk: N files entered, R rooms, V visits, L files loaded`` (``--json`` writes the same as a dict);
``--apart cache_mismatch`` also the walk without what that function calls (its files, and the rest's counts). To
measure another tree (an older commit), copy this file and ``_bootstrap.py`` into its ``benchmarks/``.
"""
import argparse
import importlib
import json
import sys
import threading
from pathlib import Path

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ('tests', 'benchmarks')


def product_path(filename, root=ROOT):
    """``filename`` relative to the clone when it is one of the project's files, else None."""
    try:
        rel = Path(filename).resolve().relative_to(root)
    except ValueError:
        return None
    if rel.suffix != '.py' or rel.parts[0] in OUTSIDE or any(p.startswith('.') for p in rel.parts):
        return None
    return rel.as_posix()


class Walk:
    """Records, per thread, the project's functions called below ``start`` frames, module bodies left out."""

    def __init__(self, root=ROOT, below=None):
        self.root, self.below, self.known, self.calls, self.stop = root, below, {}, [], None

    def _product(self, filename):
        if filename not in self.known:
            self.known[filename] = product_path(filename, self.root)
        return self.known[filename]

    def _stack(self, frame):
        """``(importing, below)``: whether a module body runs between ``frame`` and the start of the walk (an
        import, not the path), and whether a function named ``self.below`` does."""
        below = False
        while frame is not None and frame is not self.stop:
            if frame.f_code.co_name == '<module>':
                return True, below
            below = below or frame.f_code.co_name == self.below
            frame = frame.f_back
        return False, below

    def trace(self, frame, event, arg):
        if event == 'call':
            rel = self._product(frame.f_code.co_filename)
            if rel is not None:
                importing, below = self._stack(frame)
                if not importing:
                    self.calls.append((threading.get_ident(), rel, frame.f_code.co_name, below))
        return None  # no line events

    def run(self, fn):
        """``fn()`` under the trace; its result."""
        self.stop = sys._getframe()
        threading.settrace(self.trace)
        sys.settrace(self.trace)
        try:
            return fn()
        finally:
            sys.settrace(None)
            threading.settrace(None)


def summary(calls, loaded):
    """``{'files': [[path, room, visits, calls], ...] in order first entered, 'entered', 'rooms', 'visits',
    'loaded'}``."""
    files, last = {}, {}
    for thread, rel, *_ in calls:
        row = files.setdefault(rel, [rel, rel.split('/')[0] if '/' in rel else '.', 0, 0])
        row[3] += 1
        if last.get(thread) != rel:
            row[2] += 1
            last[thread] = rel
    rows = list(files.values())
    return {'files': rows, 'entered': len(rows), 'rooms': len({r[1] for r in rows}),
            'visits': sum(r[2] for r in rows), 'loaded': len(loaded), 'loaded_files': loaded}


def loaded_files(root=ROOT):
    """The project's files imported in this process."""
    out = set()
    for mod in list(sys.modules.values()):
        rel = product_path(getattr(mod, '__file__', None) or '', root)
        if rel is not None:
            out.add(rel)
    return sorted(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--json', help='also write the summary to this file')
    p.add_argument('--apart', metavar='FUNCTION', help='also the walk without the calls made under the functions '
                   'of this name (the files entered only there, and what is left)')
    p.add_argument('tool', help='a tool of tools/: infer, predict, ...')
    p.add_argument('args', nargs=argparse.REMAINDER, help="the tool's arguments")
    a = p.parse_args(argv)
    tool = importlib.import_module(f'realesrgan_paddle.tools.{a.tool}')
    walk = Walk(below=a.apart)
    try:
        code = walk.run(lambda: tool.main(a.args))
    except SystemExit as e:
        code = e.code
    out = summary(walk.calls, loaded_files())
    out['returncode'] = code
    for rel, room, visits, calls in out['files']:
        print(f'{room:<15} {rel:<55} {visits:>5} visits {calls:>7} calls')
    print(f"walk: {out['entered']} files entered, {out['rooms']} rooms, {out['visits']} visits, "
          f"{out['loaded']} files loaded (exit {code})")
    if a.apart:
        rest = summary([c for c in walk.calls if not c[3]], [])
        only = sorted({c[1] for c in walk.calls if c[3]} - {r[0] for r in rest['files']})
        out['apart'] = {'function': a.apart, 'only_there': only, 'entered': rest['entered'],
                        'rooms': rest['rooms'], 'visits': rest['visits']}
        print(f"entered only under {a.apart}(): {len(only)} files: {', '.join(only)}")
        print(f"walk without {a.apart}(): {rest['entered']} files entered, {rest['rooms']} rooms, "
              f"{rest['visits']} visits")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1), encoding='utf-8')
    return 0 if code in (0, None) else 1


if __name__ == '__main__':
    sys.exit(main())
