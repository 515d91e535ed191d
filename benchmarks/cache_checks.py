"""What it costs to trust no file of the user cache (issue 73), on the real x4plus and animevideov3 weights.

    python benchmarks/cache_checks.py                 # a cache of its own in a temp folder, 7 repetitions
    python benchmarks/cache_checks.py --home DIR --reps 15

Each check keeps what passed in the process's memory only, so its cost is paid once per process: the first use in a
process ("cold", the memories emptied before each repetition: what every CLI run pays) is printed beside a later use
in the same process ("warm": what a stamped graph and a trusted cache cost before, when nothing was read again).
The files are in the page cache, as in a run that follows another. Printed: the median of ``--reps`` CPU times
of

- the graph check of x4plus's export (0.52 MB, 1,866 ops; before: skipped when ``graph_ok/<sha>-1`` existed);
- ``open_cached_export`` of x4plus: the store's check of the export (its record, the 67 MB of parameters hashed,
  the parameters' header walk and the graph check on the same bytes);
- the store's check of x4plus's cached weights (``store.open``: the 67 MB file hashed, its record's facts compared);
- the check of the kept oneDNN-optimised graph of x4plus (``OptimizedGraphCache.ready``: the store's, graph checked);
- a cached DNI blend of animevideov3 with a copy of itself (computed again and compared);
beside the sha256 of the weights file, which every run paid before (the export's cache key).
"""
import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)


def median_time(fn, reps, reset=None):
    times = []
    for _ in range(reps):
        if reset is not None:
            reset()
        t = time.process_time()  # CPU seconds of this process: the checks run on one thread, and a busy machine
        fn()  # changes them less than the wall time
        times.append(time.process_time() - t)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--home', default=None, help='the model cache to use (default: a temp folder of its own)')
    ap.add_argument('--reps', type=int, default=7)
    args = ap.parse_args(argv)
    os.environ['REALESRGAN_PADDLE_HOME'] = args.home or tempfile.mkdtemp(prefix='cache_checks_')
    logging.disable(logging.WARNING)
    from realesrgan_paddle.inference.export import paddle_export as ex
    from realesrgan_paddle.checkpoint_io import graph_check as gc
    from realesrgan_paddle.inference.backends import OptimizedGraphCache, PredictorBackend
    from realesrgan_paddle.models import dni, zoo
    from realesrgan_paddle.store import ownership
    from realesrgan_paddle.utils.fileio import cache_root, sha256_file

    home = cache_root()
    entry = zoo.get_entry('x4plus')
    weights = zoo.fetch_entry(entry, 'ncnn', progress=False)
    digest = sha256_file(weights)
    folder = ex.open_cached_export(weights, user_cache=home).dir
    PredictorBackend(ex.open_export(folder, home), engine='onednn', precision='fp32')  # keeps the optimised graph
    opt = OptimizedGraphCache(ex.open_export(folder, home))

    def forget():
        gc._CHECKED.clear()
        gc._WALKED.clear()
        ownership._DIGESTS.clear()
        ownership._RECORDS.clear()

    rows = [('sha256 of the weights file (paid before too)', median_time(lambda: sha256_file(weights), args.reps),
             None)]
    graph = folder / 'inference.pdmodel'
    rows.append(('graph check, x4plus', median_time(lambda: gc.check_graph_file(graph), args.reps, forget),
                 median_time(lambda: gc.check_graph_file(graph), args.reps)))
    opened = lambda: ex.open_cached_export(weights, user_cache=home, digest=digest, cache_root=home)  # noqa: E731
    rows.append(('open_cached_export, x4plus', median_time(opened, args.reps, forget), median_time(opened, args.reps)))
    fetch = lambda: zoo.fetch_entry(entry, 'ncnn', progress=False)  # noqa: E731
    rows.append(('zoo cache check, x4plus', median_time(fetch, args.reps, forget), median_time(fetch, args.reps)))
    rows.append(('oneDNN graph kept, check', median_time(opt.ready, args.reps, forget),
                 median_time(opt.ready, args.reps)))
    anime = zoo.fetch_entry(zoo.get_entry('animevideov3'), 'ncnn', progress=False)
    copy = Path(tempfile.mkdtemp()) / 'copy.pdparams'
    copy.write_bytes(anime.read_bytes())
    dni.blend(anime, copy, 0.5)
    rows.append(('DNI blend kept, animevideov3', median_time(lambda: dni.blend(anime, copy, 0.5), args.reps), None))
    print(f'x4plus: {weights.stat().st_size / 2**20:.0f} MB weights, graph {graph.stat().st_size / 2**20:.2f} MB; '
          f'median of {args.reps}; cold: first use in a process (every run now), warm: a later use (no file read)')
    print(f'{"check (CPU s)":46s} {"cold":>8s} {"warm":>8s} {"cold/warm":>9s}')
    for name, cold, warm in rows:
        ratio = f'{cold / warm:9.1f}' if warm else f'{"-":>9s}'
        print(f'{name:46s} {cold:8.4f} {warm if warm is not None else float("nan"):8.4f} {ratio}')


if __name__ == '__main__':
    main()
