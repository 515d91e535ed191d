"""PATH without the system ffmpeg/ffprobe, for the tests that must also pass with imageio-ffmpeg's binary alone."""
import os
from pathlib import Path


def no_system_ffmpeg_path(tmp_path):
    """PATH with every directory that holds ffmpeg/ffprobe replaced by a copy of it without them (.ci/run)."""
    dirs = []
    for i, d in enumerate(os.environ.get('PATH', '').split(os.pathsep)):
        if d and (Path(d, 'ffmpeg').exists() or Path(d, 'ffprobe').exists()):
            link = tmp_path / f'path{i}'
            link.mkdir()
            for f in Path(d).iterdir():
                if f.name not in ('ffmpeg', 'ffprobe'):
                    (link / f.name).symlink_to(f)
            d = str(link)
        dirs.append(d)
    return os.pathsep.join(dirs)
