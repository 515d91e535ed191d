#!/usr/bin/env python
"""The legacy export's trace with and without ``inference.export.paddle_export.cheap_trace`` (Paddle's tracer
reading every frame's source and keeping each op's Python call stack), side by side: each trace in a fresh process
(Paddle numbers its tensors per process), the two ways alternated round by round, the tiny networks of
tests/models/tiny_archs.py with seeded weights. Prints the seconds of ``trace_save``, the graph's size and the
call-stack lines it holds.

    python benchmarks/export_trace.py                          # DCTLSA, GRL, DAT, SRVGGNetCompact; 2 rounds
    python benchmarks/export_trace.py --nets GRL --rounds 3
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)

ROOT = Path(__file__).resolve().parents[1]
ONE = '''
import contextlib, json, sys, time
sys.path.insert(0, {root!r})
import paddle
from realesrgan_paddle import models
from realesrgan_paddle.inference.export import paddle_export
from tests.models.tiny_archs import TINY_ARCHS
if {plain!r}:
    paddle_export.cheap_trace = contextlib.nullcontext
arch = TINY_ARCHS[{name!r}]
paddle.seed(0)
net = models.build_network(arch)
t = time.perf_counter()
paddle_export.trace_save(net, arch, {prefix!r})
print(json.dumps(time.perf_counter() - t))
'''


def stack_lines(graph):
    from paddle.base.proto import framework_pb2
    prog = framework_pb2.ProgramDesc()
    prog.ParseFromString(Path(graph).read_bytes())
    return sum(len(a.strings) for b in prog.blocks for op in b.ops for a in op.attrs if a.name == 'op_callstack')


def trace(name, plain, folder):
    prefix = str(Path(folder) / ('plain' if plain else 'cheap') / 'inference')
    code = ONE.format(root=str(ROOT), plain=plain, name=name, prefix=prefix)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=900)
    if r.returncode:
        sys.exit(f'{name}: the trace failed: {(r.stderr.strip().splitlines() or ["?"])[-1]}')
    graph = Path(prefix + '.pdmodel')
    return json.loads(r.stdout.strip().splitlines()[-1]), graph.stat().st_size, stack_lines(graph)


def main(argv=None):
    import tempfile
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--nets', nargs='+', default=['DCTLSA', 'GRL', 'DAT', 'SRVGGNetCompact'])
    ap.add_argument('--rounds', type=int, default=2)
    args = ap.parse_args(argv)
    print('| network | trace s, Paddle as is | with cheap_trace | x faster | graph KB as is | with | stack lines as is '
          '| with |\n|---|---|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets:
            rows = {True: [], False: []}
            for k in range(args.rounds):
                for plain in (True, False):
                    rows[plain].append(trace(name, plain, Path(tmp) / name / str(k)))
            (pt, pb, pl), (ct, cb, cl) = ([statistics.median(r[i] for r in rows[p]) for i in range(3)]
                                          for p in (True, False))
            print(f'| {name} | {pt:.2f} | {ct:.2f} | {pt / ct:.2f} | {pb / 1024:.0f} | {cb / 1024:.0f} | {pl:.0f} '
                  f'| {cl:.0f} |', flush=True)


if __name__ == '__main__':
    main()
