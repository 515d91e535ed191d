"""Finding the videos to process (pure Python: usable before heavy imports)."""
from pathlib import Path

from utils.media import is_video


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
                if f.is_file() and is_video(f):
                    found.append(f)
        elif p.is_file():
            found.append(p)  # named explicitly: tried whatever its extension
        else:
            raise FileNotFoundError(f'{p}: no such file or folder')
    seen, uniq = set(), []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(f)
    return uniq
