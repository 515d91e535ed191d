"""Resumable stages: ``WORK/state.json`` and the temp-then-commit folders of each stage.

Every stage has a settings hash (its own settings plus the hash of the stage before it, so a
change propagates downstream). A stage is skipped when ``state.json`` records it as done with
the same hash and its folder exists. Otherwise it and every later stage are invalidated, and
it runs in ``WORK/<stage>.partial/``, which is renamed to ``WORK/<stage>/`` on success; only
then is ``state.json`` (written atomically) updated. A ``.partial`` folder left by a killed run
is reused when its recorded hash matches (the keyframe extractor and the trainer resume
inside it), else removed.
"""
import hashlib
import json
import shutil
import time
from pathlib import Path

from realesrgan_paddle.utils.fileio import atomic_write_text

STATE_FILE = 'state.json'
VERSION = 1


def settings_hash(settings, upstream=None):
    """sha256 (16 hex digits) of a JSON-able settings dict and the upstream stage's hash."""
    blob = json.dumps({'settings': settings, 'upstream': upstream}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


class WorkState:
    """The ``state.json`` of a work folder; ``stages`` keeps the pipeline's stage order."""

    def __init__(self, work, stages):
        self.work = Path(work)
        self.order = list(stages)
        self.path = self.work / STATE_FILE
        self.data = {'version': VERSION, 'stages': {}, 'running': {}}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text())
                if isinstance(loaded, dict) and loaded.get('version') == VERSION:
                    self.data.update({k: loaded.get(k, {}) for k in ('stages', 'running')})
            except ValueError:
                pass  # unreadable (never happens with atomic writes): every stage runs again

    def save(self):
        atomic_write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True) + '\n')

    def final_dir(self, stage):
        return self.work / stage

    def partial_dir(self, stage):
        return self.work / f'{stage}.partial'

    def record(self, stage):
        return self.data['stages'].get(stage)

    def is_done(self, stage, h):
        rec = self.record(stage)
        return bool(rec) and rec.get('hash') == h and self.final_dir(stage).is_dir()

    def invalidate_from(self, stage):
        """Forget ``stage`` and every later stage; remove their folders."""
        for s in self.order[self.order.index(stage):]:
            self.data['stages'].pop(s, None)
            if self.final_dir(s).exists():
                shutil.rmtree(self.final_dir(s))
        self.save()

    def begin(self, stage, h):
        """The ``.partial`` folder to run ``stage`` in: a matching one from a killed run is kept."""
        part = self.partial_dir(stage)
        if part.exists() and self.data['running'].get(stage) != h:
            shutil.rmtree(part)
        part.mkdir(parents=True, exist_ok=True)
        self.data['running'][stage] = h
        self.save()
        return part

    def publish(self, stage):
        """Rename ``.partial`` to the final folder without recording the stage as done (a report of a run that
        stopped: the next run makes it again)."""
        final, part = self.final_dir(stage), self.partial_dir(stage)
        if final.exists():
            shutil.rmtree(final)
        part.rename(final)
        self.data['running'].pop(stage, None)
        self.save()

    def commit(self, stage, h, seconds, info=None):
        """Rename ``.partial`` to the final folder, then record the stage as done."""
        final, part = self.final_dir(stage), self.partial_dir(stage)
        if final.exists():
            shutil.rmtree(final)
        part.rename(final)
        self.data['running'].pop(stage, None)
        self.data['stages'][stage] = {'hash': h, 'seconds': round(float(seconds), 2),
                                      'finished': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                                      'info': info or {}}
        self.save()
