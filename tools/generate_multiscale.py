"""Make DF2K-style multiscale copies of HR images.

    python tools/generate_multiscale.py --input HR_DIR --output MULTISCALE_DIR

Every image gets copies scaled by 0.75, 0.5 and 1/3 (``<name>T0..T2.png``)
and one whose short side is 400 px (``<name>T3.png``, skipped for images whose
short side is already <= 400), all with antialiased Lanczos. Existing outputs
are skipped, so an interrupted run resumes; files are written atomically.
"""
import sys
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    add_quiet, add_workers, fail, folders_parser, returns_status)

from realesrgan_paddle.media.image_io import imread as read_image  # noqa: E402  (one clear ValueError per bad file)
from realesrgan_paddle.data.builder.images import checked_folders, resize_lanczos, run_pool, write_image  # noqa: E402

SCALES = (0.75, 0.5, 1 / 3)
SHORT_SIDE = 400


def targets(h, w, scales=SCALES, short_side=SHORT_SIDE):
    """``[(suffix, width, height)]`` of the copies of an (h, w) image."""
    out = [(f'T{i}', max(1, int(round(w * s))), max(1, int(round(h * s)))) for i, s in enumerate(scales)]
    if short_side and min(h, w) > short_side:
        r = short_side / min(h, w)
        out.append((f'T{len(scales)}', max(1, int(round(w * r))), max(1, int(round(h * r)))))
    return out


def process(job):
    src, rel, out_dir, scales, short_side, level = job
    try:
        done = skipped = 0
        img = read_image(src)
        for suffix, w, h in targets(img.shape[0], img.shape[1], scales, short_side):
            dst = Path(out_dir) / rel.parent / f'{rel.stem}{suffix}.png'
            if dst.exists():
                skipped += 1
                continue
            write_image(dst, resize_lanczos(img, w, h), level)
            done += 1
        return done, skipped, None
    except (ValueError, OSError) as e:
        return 0, 0, str(e)
    except Exception as e:  # a decoder/encoder error on this file: one line, the others go on
        return 0, 0, f'{src}: {(str(e).strip().splitlines() or [type(e).__name__])[0]}'


@returns_status
def main(argv=None):
    p = folders_parser(__doc__, 'folder of HR images', 'folder for the scaled copies')
    p.add_argument('--scales', type=float, nargs='+', default=list(SCALES), help='scale factors (T0, T1, ...)')
    p.add_argument('--short_side', type=int, default=SHORT_SIDE, help='short side of the last copy; 0 disables')
    add_workers(p, 2, 'worker processes', aliases=('--n_thread',))
    p.add_argument('--compression_level', type=int, default=3, help='PNG zlib level 0-9')
    add_quiet(p)
    args = p.parse_args(argv)
    inp, out = Path(args.input), Path(args.output)
    try:  # x.png and x.jpg would both write xT0.png ...: refuse up front
        files = checked_folders(inp, out, lambda f: out / f.relative_to(inp).parent / f'{f.stem}T0.png')
    except ValueError as e:
        fail(None, e)
    jobs = [(f, f.relative_to(inp), out, tuple(args.scales), args.short_side, args.compression_level) for f in files]
    totals, errors = run_pool(process, jobs, args.workers, 'multiscale', args.quiet)
    written, skipped = totals or (0, 0)
    print(f'multiscale: {len(files)} images, {written} copies written, {skipped} already there, '
          f'{len(errors)} unreadable -> {out}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
