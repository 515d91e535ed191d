"""The trainer's numbers as data: ``<experiment>/metrics.jsonl``, one JSON object a line.

Records (every one has ``kind``, ``iter``, ``epoch`` and ``time``, Unix seconds at writing):

- ``{"kind": "train", ..., "lr": [...], "losses": {name: mean over the iterations since the last
  record}, "it_per_s": ...}``: one per logged iteration (``logger.print_freq``), the numbers of
  the human log line;
- ``{"kind": "val", ..., "n_images": n, "metrics": {name: mean}}``: one per validation.

Non-finite numbers are written as ``null`` (strict JSON). Each record is one ``write`` of a whole
line to a file opened for appending, so a killed run leaves at most a truncated last line;
``read_metrics`` skips lines that do not parse.

Resume rule: a run resumed from the checkpoint of iteration N keeps the records with
``iter <= N`` (what was logged up to that checkpoint) and drops the later ones (work lost with
the kill, which the resumed run redoes and logs again), along with a truncated line; the file is
rewritten atomically, then appended to. The only record the resumed run can write a second time
is a validation at N itself (a run killed after its final checkpoint validates again), so
``read_metrics`` keeps the last record of each (kind, iter).
"""
import json
import math
import os
import time
from pathlib import Path

from realesrgan_paddle.utils.fileio import atomic_write_text

FILE_NAME = 'metrics.jsonl'


def _clean(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, 'item'):  # numpy scalars
        return _clean(v.item())
    return v


def _records(path):
    """Every record of ``path`` that parses, in file order (truncated or garbled lines skipped)."""
    out = []
    try:
        text = Path(path).read_text(encoding='utf-8', errors='replace')
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get('iter'), int) and rec.get('kind') in ('train', 'val'):
            out.append(rec)
    return out


def read_metrics(path):
    """The records of a ``metrics.jsonl`` in iteration order, the last one of each (kind, iter);
    [] when the file is absent."""
    last = {}
    for rec in _records(path):
        last.pop((rec['kind'], rec['iter']), None)
        last[(rec['kind'], rec['iter'])] = rec
    return sorted(last.values(), key=lambda r: (r['iter'], r['kind'] == 'val'))


def series(records):
    """``(losses {name: [(iter, value)]}, val {metric: [(iter, value)]})`` of ``read_metrics`` records."""
    losses, val = {}, {}
    for rec in records:
        target, values = (losses, rec.get('losses')) if rec['kind'] == 'train' else (val, rec.get('metrics'))
        for k, v in (values or {}).items():
            if v is not None:
                target.setdefault(k, []).append((rec['iter'], float(v)))
    return losses, val


class MetricsLog:
    """Appends records to ``exp_dir/metrics.jsonl``; ``resume_iter`` applies the resume rule first."""

    def __init__(self, exp_dir, resume_iter=None):
        self.path = Path(exp_dir) / FILE_NAME
        if resume_iter is not None and self.path.exists():
            kept = [r for r in _records(self.path) if r['iter'] <= int(resume_iter)]
            atomic_write_text(self.path, ''.join(json.dumps(r) + '\n' for r in kept))
        elif resume_iter is None and self.path.exists():
            self.path.unlink()  # a fresh run (its folder was archived or empty): no records of another run
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, kind, it, epoch, **fields):
        rec = {'kind': kind, 'iter': int(it), 'epoch': int(epoch), 'time': round(time.time(), 3), **_clean(fields)}
        line = (json.dumps(rec, allow_nan=False) + '\n').encode()
        os.write(self._fd, line)  # one write of a whole line: a kill leaves at most a truncated last line

    def sync(self):
        """Flush to disk (called with each checkpoint: the records up to it are as durable as it is)."""
        os.fsync(self._fd)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
