"""The keyframe manifest: one JSON object per line in ``OUTPUT/manifest.jsonl``.

Records (field ``type``):

- ``settings``: the first line; the mode and filter settings of this output
  folder. A re-run with other settings is refused (mixing them would make the
  dataset inconsistent).
- ``frame``: one per selected frame, kept or rejected: ``source``, ``video``
  (the name prefix), ``time`` (s), ``frame_index``, ``pts``, ``pict_type``,
  ``src_size`` [w, h], ``crop`` [x, y, w, h], ``size`` [w, h], the scores
  ``blur``, ``mean``, ``std``, ``phash``, ``kept``, ``reason`` and ``file``
  (the PNG, kept frames only). A kept frame's line is written after its PNG.
- ``video``: written when a video is finished: ``source``, ``key`` (path,
  size, content sample hash), ``status`` (``done`` or ``failed``), counts, ``error``.

Lines are appended and flushed one at a time, so an interrupted run leaves at
most one torn last line, which the reader ignores. The state rebuilt from the
file drives resuming: finished videos are skipped, frames already recorded
are not processed again, and kept frames' hashes seed the duplicate index.
"""
import hashlib
import json
import os
from pathlib import Path

MANIFEST = 'manifest.jsonl'
_SAMPLE = 1 << 20  # bytes read at each of the three sample points


def content_fingerprint(path, size=None):
    """sha256 (16 hex digits) of the file's size and of 1 MiB at its start, middle and end.

    The same for a copy, a touched file or a re-materialised folder (where a modification time changes
    with nothing else), and different when the file is re-encoded, cut or replaced; reading three
    samples keeps it instant on hours of footage."""
    size = os.stat(path).st_size if size is None else size
    h = hashlib.sha256(str(size).encode())
    with open(path, 'rb') as f:
        for offset in sorted({0, max(0, size // 2 - _SAMPLE // 2), max(0, size - _SAMPLE)}):
            f.seek(offset)
            h.update(f.read(_SAMPLE))
    return h.hexdigest()[:16]


def video_key(path):
    """``path|size|content fingerprint``: what decides whether a video was already extracted."""
    size = os.stat(path).st_size
    return f'{Path(path).resolve()}|{size}|{content_fingerprint(path, size)}'


def frame_key(info):
    return info['pts'] if info.get('pts') is not None else f"n{info['n']}"


class Manifest:
    def __init__(self, out_dir):
        self.path = Path(out_dir) / MANIFEST
        self.settings = None
        self.done_videos = {}        # video key -> record
        self.frames = {}             # (source, frame key) -> record
        self.prefixes = {}           # resolved source path -> name prefix
        self.kept = []               # kept frame records, in file order
        self._fh = None
        if self.path.is_file():
            self._load()

    def _load(self):
        with open(self.path, encoding='utf-8') as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn last line from an interrupted run
                kind = rec.get('type')
                if kind == 'settings':
                    self.settings = rec['settings']
                elif kind == 'frame':
                    self.frames[(rec['source'], rec['frame_key'])] = rec
                    self.prefixes[rec['source']] = rec['video']
                    if rec.get('kept'):
                        self.kept.append(rec)
                elif kind == 'video':
                    if rec.get('status') == 'done':
                        self.done_videos[rec['key']] = rec
                    if rec.get('video'):
                        self.prefixes[rec['source']] = rec['video']

    def append(self, rec):
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, 'a', encoding='utf-8')
            # a torn last line would glue onto the next record: start a fresh line
            if self._fh.tell() > 0:
                with open(self.path, 'rb') as r:
                    r.seek(-1, os.SEEK_END)
                    if r.read(1) != b'\n':
                        self._fh.write('\n')
        self._fh.write(json.dumps(rec, separators=(',', ':')) + '\n')
        self._fh.flush()
        if rec.get('type') == 'frame':
            self.frames[(rec['source'], rec['frame_key'])] = rec
            self.prefixes[rec['source']] = rec['video']
            if rec.get('kept'):
                self.kept.append(rec)
        elif rec.get('type') == 'video' and rec.get('status') == 'done':
            self.done_videos[rec['key']] = rec
        elif rec.get('type') == 'settings':
            self.settings = rec['settings']

    def close(self):
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def prefix_for(self, source):
        """The name prefix of a video: its stem, made unique among the sources seen."""
        if source in self.prefixes:
            return self.prefixes[source]
        stem = Path(source).stem.replace(' ', '_') or 'video'
        taken = set(self.prefixes.values())
        prefix, i = stem, 2
        while prefix in taken:
            prefix, i = f'{stem}-{i}', i + 1
        self.prefixes[source] = prefix
        return prefix


def read_manifest(out_dir):
    """All parseable records of ``OUTPUT/manifest.jsonl`` (for tests and tools)."""
    path = Path(out_dir) / MANIFEST
    recs = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                recs.append(json.loads(line))
            except ValueError:
                continue
    return recs
