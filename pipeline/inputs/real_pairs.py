"""``--lq-videos`` that are the HR clips made smaller (the same recording in HD and in SD): real (LQ, HR) pairs
of the training span, for the finetune's second batch (``data/datasets/real_pair_crops.py``).

``write_train_pairs(lq_paths, rows, hr_dir, out)``: for each training HR frame of the split (``split.json`` rows
of set ``train``: before each clip's held-out cut and its gap), the frame a player shows at the same time in the
LQ clip of the same name (or the one ``alias`` maps to it) (``real_lq.frames_shown_at``, as for the held-out frames), written as ``out/lq/<name>.png``;
then ``real_lq.find_pairs``'s rule on them: every one exactly x4 smaller than its HR frame and at least
``PAIR_PSNR`` dB (Y) from it shrunk x4 (area), then linked into ``out/gt``. Exact or nothing: an LQ source that is
an image folder or a clip named like no HR clip, or one frame that does not match, and no pair is used.
Returns ``{'pairs': n, 'why': one line}`` (also written to ``out/done.json``).
"""
import json
import shutil
from pathlib import Path

from realesrgan_paddle.data.fit.lq_source import FootageError, list_sources
from realesrgan_paddle.media.image_io import imwrite
from realesrgan_paddle.utils.fileio import atomic_write_text

from ..context import DomainError
from .real_lq import PAIR_PSNR, clip_stem, find_pairs, frames_shown_at


def _train_times(rows):
    """{clip: [(time, file stem)]} of the training HR frames (never a held-out or gap frame)."""
    out = {}
    for r in rows:
        if r['set'] == 'train' and r['time'] < r['cut']:
            out.setdefault(r['video'], []).append((r['time'], Path(r['file']).stem))
    return out


def _collect(lq_paths, rows, lq_dir, alias=None):
    """Write the LQ frames at the training HR frames' moments; ``(count, None)`` or ``(0, why)``. ``alias``: {LQ
    clip stem: HR clip stem} for clips named like no HR clip (``real_lq.match_clips``)."""
    times = _train_times(rows)
    try:
        sources = list_sources(lq_paths)
    except FootageError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    n = 0
    for kind, src in sources:
        if kind != 'video':
            return 0, f'{Path(src[0]).parent}: image files, not a clip with times to match the HR frames'
        stem = clip_stem(src)
        stem = (alias or {}).get(stem, stem)
        if not times.get(stem):
            return 0, f'{src}: no HR clip of the same name with training frames'
        for name, frame in frames_shown_at(src, times[stem]):
            imwrite(lq_dir / f'{name}.png', frame)
            n += 1
    return n, None


def write_train_pairs(lq_paths, rows, hr_dir, out, alias=None):
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    (out / 'lq').mkdir(parents=True)
    n, why = _collect(lq_paths, rows, out / 'lq', alias)
    if n:
        n, worst = find_pairs(out / 'lq', hr_dir, out / 'gt')
        why = (f'every LQ frame of the training span is its HR frame made smaller (Y PSNR against the HR frame '
               f'shrunk x4: at least {worst:.1f} dB, >= {PAIR_PSNR:g})') if n else worst
    elif why is None:
        why = 'no LQ frame at the training HR frames\' moments'
    if not n:
        shutil.rmtree(out / 'lq', ignore_errors=True)
        shutil.rmtree(out / 'gt', ignore_errors=True)
    info = {'pairs': n, 'why': why}
    atomic_write_text(out / 'done.json', json.dumps(info))
    return info
