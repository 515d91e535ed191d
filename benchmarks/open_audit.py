"""What one command loads and opens: a tool run as ``python tools/<name>.py ARGS`` would run, in this process, under
an audit hook on ``open``; at exit, the project's modules in ``sys.modules``.

    python benchmarks/open_audit.py infer -n realesr-animevideov3 --input assets/example_lq.png --output /tmp/x/

Run the command once before with the same ``REALESRGAN_PADDLE_HOME`` (a zoo model's one-time import and export),
so that the run measured is the warm one a user makes every time. Printed: the project's modules loaded (the .py
files of this clone outside tests/ and benchmarks/, the tool's own file included), then every weights file
(``.pdparams``, ``.pdiparams``) opened from Python with how many times, then one line
``audit: M project modules loaded, W weights files, most opens of one: K`` (``--json`` writes the same as a dict).
Opens made by Paddle's C++ (the predictor reading its parameters) raise no audit event and are not counted.
"""
import argparse
import json
import os
import runpy
import sys
from collections import Counter
from pathlib import Path

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)
from call_walk import loaded_files

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ('.pdparams', '.pdiparams')


class Opens:
    """The weights files opened from Python while the hook is on (``open`` and ``os.open`` raise ``open``)."""

    def __init__(self):
        self.counts, self.on = Counter(), True

    def hook(self, event, args):
        if self.on and event == 'open' and args and isinstance(args[0], (str, bytes, os.PathLike)):
            name = os.fsdecode(args[0])
            if name.endswith(WEIGHTS):
                self.counts[os.path.abspath(name)] += 1


def run_tool(tool, args):
    """``python tools/<tool>.py args`` in this process; its exit code."""
    script = ROOT / 'tools' / f'{tool}.py'
    saved = sys.argv
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name='__main__')
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = saved
    return 0


def audit(tool, args):
    """``{'returncode', 'modules', 'loaded', 'opens': {file: count}, 'most'}`` of one run of the tool."""
    opens = Opens()
    sys.addaudithook(opens.hook)  # an audit hook cannot be removed: switched off below
    code = run_tool(tool, args)
    opens.on = False
    mods = loaded_files(ROOT)
    return {'returncode': code, 'modules': mods, 'loaded': len(mods), 'opens': dict(opens.counts),
            'most': max(opens.counts.values(), default=0)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--json', help='also write the result to this file')
    p.add_argument('tool', help='a tool of tools/: infer, predict, ...')
    p.add_argument('args', nargs=argparse.REMAINDER, help="the tool's arguments")
    a = p.parse_args(argv)
    out = audit(a.tool, a.args)
    for rel in out['modules']:
        print(f'module  {rel}')
    for name, n in sorted(out['opens'].items()):
        print(f'opened  {n} x {name}')
    print(f"audit: {out['loaded']} project modules loaded, {len(out['opens'])} weights files, most opens of one: "
          f"{out['most']} (exit {out['returncode']})")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1), encoding='utf-8')
    return 0 if out['returncode'] in (0, None) else 1


if __name__ == '__main__':
    sys.exit(main())
