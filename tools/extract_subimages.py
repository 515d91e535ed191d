"""Cut HR images into overlapping sub-images for faster training I/O.

    python tools/extract_subimages.py --input HR_DIR --output SUB_DIR \\
        --crop_size 400 --step 200 --thresh_size 0 --workers 2

Crops start every ``--step`` pixels; when the remainder at the right or
bottom edge is larger than ``--thresh_size``, one more crop is aligned to that
edge. Crops are named ``<name>_s001.png, _s002, ...`` (row-major). Images
smaller than the crop size are skipped and counted. Existing crops are kept,
so an interrupted run resumes; every crop is written atomically.
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
from realesrgan_paddle.data.builder.images import checked_folders, run_pool, write_image  # noqa: E402
from realesrgan_paddle.media.kinds import JPEG_EXTS  # noqa: E402


def positions(size, crop, step, thresh):
    """Start offsets along one axis (empty when ``size < crop``)."""
    if size < crop:
        return []
    pos = list(range(0, size - crop + 1, step))
    if size - (pos[-1] + crop) > thresh:
        pos.append(size - crop)
    return pos


def crop_boxes(h, w, crop, step, thresh):
    """``[(y, x)]`` top-left corners, row-major."""
    return [(y, x) for y in positions(h, crop, step, thresh) for x in positions(w, crop, step, thresh)]


def crop_ext(src):
    return src.suffix.lower() if src.suffix.lower() in ('.png', *JPEG_EXTS) else '.png'


def process(job):
    src, rel, out_dir, crop, step, thresh, level = job
    try:
        img = read_image(src)
        boxes = crop_boxes(img.shape[0], img.shape[1], crop, step, thresh)
        if not boxes:
            return 0, 0, 1, None
        ext = crop_ext(src)
        written = kept = 0
        for i, (y, x) in enumerate(boxes, 1):
            dst = Path(out_dir) / rel.parent / f'{rel.stem}_s{i:03d}{ext}'
            if dst.exists():
                kept += 1
                continue
            write_image(dst, img[y:y + crop, x:x + crop], level)
            written += 1
        return written, kept, 0, None
    except (ValueError, OSError) as e:
        return 0, 0, 0, str(e)
    except Exception as e:  # a decoder/encoder error on this file: one line, the others go on
        return 0, 0, 0, f'{src}: {(str(e).strip().splitlines() or [type(e).__name__])[0]}'


@returns_status
def main(argv=None):
    p = folders_parser(__doc__, 'folder of images', 'folder for the sub-images')
    p.add_argument('--crop_size', type=int, default=400, help='side of the square sub-images (default 400)')
    p.add_argument('--step', type=int, default=200, help='stride between sub-images (default 200)')
    p.add_argument('--thresh_size', type=int, default=0,
                   help='an edge remainder larger than this gets one more edge-aligned crop')
    add_workers(p, 2, 'worker processes', aliases=('--n_thread',))
    p.add_argument('--compression_level', type=int, default=3, help='PNG zlib level 0-9')
    add_quiet(p)
    args = p.parse_args(argv)
    inp, out = Path(args.input), Path(args.output)
    if args.crop_size <= 0 or args.step <= 0 or args.thresh_size < 0:
        fail(None, '--crop_size and --step must be > 0 and --thresh_size >= 0')
    try:  # two inputs whose crops share names (x.png and x.bmp both give x_s001.png): refuse up front
        files = checked_folders(inp, out, lambda f: out / f.relative_to(inp).parent / f'{f.stem}_s001{crop_ext(f)}')
    except ValueError as e:
        fail(None, e)
    jobs = [(f, f.relative_to(inp), out, args.crop_size, args.step, args.thresh_size, args.compression_level)
            for f in files]
    totals, errors = run_pool(process, jobs, args.workers, 'crops', args.quiet)
    written, kept, small = totals or (0, 0, 0)
    print(f'sub-images: {len(files)} images -> {written} crops written, {kept} already there, '
          f'{small} images smaller than {args.crop_size} skipped, {len(errors)} unreadable -> {out}')
    if files and small * 2 > len(files):
        print(f'warning: {small} of {len(files)} images are smaller than --crop_size {args.crop_size} and give no '
              f'crop: use a smaller --crop_size (at least the training gt_size)', file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
