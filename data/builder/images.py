"""Image-folder helpers shared by the dataset tools (multiscale, sub-images, meta_info)."""
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from realesrgan_paddle.utils.fileio import atomic_write_bytes, is_regular_file
from realesrgan_paddle.media.kinds import is_image
from realesrgan_paddle.utils.outputs import check_folder_pair, check_no_clobber, check_writable
from realesrgan_paddle.utils.progress import write_line


def list_images(folder, recursive=True):
    """Image files under ``folder`` (sorted, hidden temp files skipped)."""
    folder = Path(folder)
    it = folder.rglob('*') if recursive else folder.iterdir()
    return sorted(p for p in it if is_image(p) and not p.name.startswith('.') and is_regular_file(p))


def input_images(inp, out):
    """The images under folder ``inp`` for a tool writing into ``out``; ValueError (one line) when
    ``inp`` is missing or empty, or ``out`` would lie inside it."""
    inp, out = Path(inp), Path(out)
    if not inp.is_dir():
        raise ValueError(f'{inp}: no such folder')
    if out.resolve() == inp.resolve() or inp.resolve() in out.resolve().parents:
        raise ValueError(f'{out}: the output must not be inside the input folder')
    files = list_images(inp)
    if not files:
        raise ValueError(f'{inp}: no images found')
    return files


def checked_folders(inp, out, first_output):
    """``input_images(inp, out)``, once ``out`` is known to be a writable folder apart from ``inp`` and no
    two inputs would write the same file: ``first_output(f)`` is the first file input ``f`` gives.
    ValueError (one line) otherwise."""
    files = input_images(inp, out)
    check_folder_pair(Path(inp), Path(out))
    check_no_clobber(files, [(first_output(f), f) for f in files])
    check_writable(Path(out))
    return files


def write_image(path, img, png_level=3):
    """Encode by extension and write atomically (temp file beside the target, then rename)."""
    path = Path(path)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)] if ext == '.png' else []
    if ext in ('.jpg', '.jpeg'):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise OSError(f'{path}: encoding failed')
    atomic_write_bytes(path, buf, fsync=False)


def resize_lanczos(img, width, height):
    """Resize with PIL's antialiased Lanczos (the filter used to build DF2K's multiscale set).

    8-bit RGB/gray goes through PIL directly; other depths and channel counts
    are resized channel by channel in float (PIL mode 'F') and rounded back.
    """
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] == 3):
        if img.ndim == 2:
            return np.asarray(Image.fromarray(img).resize((width, height), Image.LANCZOS))
        rgb = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
        return np.ascontiguousarray(np.asarray(rgb.resize((width, height), Image.LANCZOS))[:, :, ::-1])
    chans = [img] if img.ndim == 2 else [img[:, :, c] for c in range(img.shape[2])]
    info = np.iinfo(img.dtype) if np.issubdtype(img.dtype, np.integer) else None
    out = []
    for ch in chans:
        r = np.asarray(Image.fromarray(ch.astype(np.float32), mode='F').resize((width, height), Image.LANCZOS))
        if info is not None:
            r = np.clip(np.rint(r), info.min, info.max)
        out.append(r.astype(img.dtype))
    return out[0] if img.ndim == 2 else np.stack(out, axis=2)


def run_pool(process, jobs, n_thread, desc, quiet=False):
    """Map ``process`` over ``jobs`` in ``n_thread`` processes with a progress bar (none when ``quiet``).

    ``process`` returns ``(*counts, error_or_None)``. Returns the summed counts and the
    error lines (each already printed as ``error: ...``).
    """
    totals, errors = None, []
    with Pool(max(1, n_thread)) as pool:
        for *counts, err in tqdm(pool.imap_unordered(process, jobs), total=len(jobs), unit='img', desc=desc,
                                    disable=True if quiet else None):
            totals = counts if totals is None else [a + b for a, b in zip(totals, counts)]
            if err:
                errors.append(err)
                write_line(f'error: {err}', sys.stderr)  # whole, beside the workers' own lines
    return totals, errors
