"""Finding the videos to process (pure Python: usable before heavy imports)."""
from pathlib import Path

from realesrgan_paddle.utils.fileio import is_regular_file, require_regular_file
from realesrgan_paddle.media.kinds import is_video


def find_videos(inputs, out_dir=None):
    """Video files from files and folders (folders: recursive, by extension)."""
    out_dir = Path(out_dir).resolve() if out_dir else None
    found = []
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            for f in sorted(p.rglob('*')):
                if out_dir and out_dir in f.resolve().parents:
                    continue
                if is_video(f) and is_regular_file(f):  # a FIFO or a link to a device named x.mp4: skipped
                    found.append(f)
        elif p.exists():  # named explicitly: tried whatever its extension, if a regular file
            require_regular_file(p, FileNotFoundError)  # a FIFO or a device: the callers' one-line error
            found.append(p)
        else:
            raise FileNotFoundError(f'{p}: no such file or folder')
    seen, uniq = set(), []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(f)
    return uniq
