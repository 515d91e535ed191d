"""Write a BasicSR-style meta_info file listing training images.

Single (GT only), one or more folders, each with its root:

    python tools/generate_meta_info.py --input datasets/DF2K/DF2K_HR datasets/DF2K/DF2K_multiscale \\
        --root datasets/DF2K datasets/DF2K --meta_info datasets/DF2K/meta_info/meta_info_DF2Kmultiscale.txt

Each line is an image path relative to its folder's root (default: the
folder's parent). Paired (GT, LQ) for the paired finetune:

    python tools/generate_meta_info.py --paired --input GT_DIR LQ_DIR \\
        [--root GT_ROOT LQ_ROOT] --meta_info meta_info_pair.txt

Each line is ``gt_rel, lq_rel``; LQ images pair with GT images by relative
path (any image extension). A GT image without an LQ partner is an error.
"""
import sys
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, add_input, add_output, fail, returns_status)
from realesrgan_paddle.data.builder.images import list_images  # noqa: E402
from realesrgan_paddle.utils.fileio import atomic_write_text  # noqa: E402
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, write_error  # noqa: E402


def rel_lines(folder, root):
    folder, root = Path(folder), Path(root)
    return [p.relative_to(root).as_posix() for p in list_images(folder)]


def single_lines(inputs, roots):
    lines = []
    for folder, root in zip(inputs, roots):
        lines += rel_lines(folder, root)
    return lines


def paired_lines(gt_dir, lq_dir, gt_root, lq_root):
    gt_dir, lq_dir = Path(gt_dir), Path(lq_dir)
    lq_by_key = {}
    for p in list_images(lq_dir):
        lq_by_key.setdefault(p.relative_to(lq_dir).with_suffix('').as_posix(), p)
    lines, missing = [], []
    for g in list_images(gt_dir):
        key = g.relative_to(gt_dir).with_suffix('').as_posix()
        q = lq_by_key.get(key)
        if q is None:
            missing.append(g.relative_to(gt_dir).as_posix())
            continue
        lines.append(f'{g.relative_to(gt_root).as_posix()}, {q.relative_to(lq_root).as_posix()}')
    return lines, missing


@returns_status
def main(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    add_input(p, nargs='+', required=True, help='image folders (paired: GT_DIR LQ_DIR)')
    p.add_argument('--root', nargs='+', default=None,
                   help="one root per input; lines are relative to it (default: each folder's parent)")
    add_output(p, aliases=('--meta_info',), required=True, help='the meta_info text file to write')
    p.add_argument('--paired', action='store_true', help='write "gt_rel, lq_rel" lines for GT_DIR LQ_DIR')
    args = p.parse_args(argv)
    inputs = [Path(i) for i in args.input]
    roots = [Path(r) for r in args.root] if args.root else [i.parent for i in inputs]
    if len(roots) != len(inputs):
        fail(None, f'{len(inputs)} --input folders but {len(roots)} --root values')
    for folder, root in zip(inputs, roots):
        if not folder.is_dir():
            fail(None, f'{folder}: no such folder')
        if folder.resolve() != root.resolve() and root.resolve() not in folder.resolve().parents:
            fail(None, f'{folder} is not inside its root {root}')
    if args.paired:
        if len(inputs) != 2:
            fail(None, '--paired needs exactly two --input folders: GT_DIR LQ_DIR')
        lines, missing = paired_lines(inputs[0], inputs[1], roots[0], roots[1])
        if missing:
            fail(None, f'{len(missing)} GT images have no LQ partner in {inputs[1]} (first: {missing[0]})', 1)
    else:
        lines = single_lines(inputs, roots)
    if not lines:
        fail(None, f'no images found in {", ".join(map(str, inputs))}')
    odd = next((line for line in lines if any(ord(c) < 32 for c in line)), None)
    if odd is not None:  # a newline in a name wrote one entry as two lines
        fail(None, f'{odd!r}: a file name with a line break or control character cannot be a meta_info line; '
                   'rename it')
    meta = Path(args.output)
    if meta.is_dir():
        fail(None, f'--meta_info {meta} is a folder: give the text file to write')
    try:
        check_no_clobber(inputs + [f for folder in inputs for f in list_images(folder)], [meta])
    except OutputClash as e:
        fail(None, f'--meta_info: {e}')
    try:
        atomic_write_text(meta, '\n'.join(lines) + '\n')
    except OSError as e:
        fail(None, f'--meta_info: {write_error(meta, e)}')
    print(f'meta_info: {len(lines)} lines -> {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
