"""Split keyframes into train and held-out sets, per video and by time, with near-duplicates judged on what
moves (``data.builder.motion``): a static camera's frames share their whole background, so a whole-frame
hash would call all of them duplicates.

For a held-out fraction ``h``, in each video the frames in the last ``h`` of its duration are held out;
train frames lie at least ``gap`` seconds before the first held-out moment (the others are dropped). Then,
with each video's ``MovingRegion`` (from the thumbnails of its kept frames):

1. held-out frames that are near-duplicates of an earlier held-out frame are dropped;
2. train frames that are near-duplicates of any held-out frame are dropped: none crosses the split;
3. train frames that are near-duplicates of an earlier train frame are dropped.

``split_frames`` tries ``h`` = ``holdout``, then larger in steps of 0.05 up to ``MAX_HOLDOUT``, until at least
``WANT_HELDOUT`` frames are held out with at least ``MIN_TRAIN`` train frames; when no fraction gets there,
the one with the most held-out frames that keeps as many train frames is used.
"""
from collections import defaultdict

import numpy as np

from realesrgan_paddle.data.builder.motion import DUPLICATE, MovingRegion, dedupe

MIN_TRAIN = 4    # a training batch of the compact recipes
MIN_HELDOUT = 2
WANT_HELDOUT = 12  # held out whenever the footage allows
MAX_HOLDOUT = 0.5
STEP = 0.05


class SplitError(ValueError):
    """Too few frames for a split (one line for the user)."""


def _by_time(frames):
    by_video = defaultdict(list)
    for r in frames:
        by_video[r['video']].append(r)
    return {v: sorted(rs, key=lambda r: (r.get('time') or 0.0, r['file'])) for v, rs in sorted(by_video.items())}


def _sides(by_video, durations, holdout, gap):
    out = []
    for video, recs in by_video.items():
        dur = durations.get(video) or max((r.get('time') or 0.0) for r in recs)
        cut = dur * (1.0 - holdout)
        for r in recs:
            t = r.get('time') or 0.0
            row = {'file': r['file'], 'video': video, 'time': t, 'cut': round(cut, 3), 'reason': None}
            if t >= cut:
                row['set'] = 'heldout'
            elif t > cut - gap:
                row.update(set='dropped', reason=f'gap (within {gap:g} s of the held-out part)')
            else:
                row['set'] = 'train'
            out.append(row)
    return out


def _split_at(by_video, durations, thumbs, regions, holdout, gap, duplicate):
    rows = _sides(by_video, durations, holdout, gap)

    def dist(a, b):
        return regions[a['video']].distance(thumbs[a['file']], thumbs[b['file']])

    held, dropped = dedupe([r for r in rows if r['set'] == 'heldout'], dist, duplicate)
    for r, near, d in dropped:
        r.update(set='dropped', reason=f'near-duplicate of held-out {near["file"]} ({d:.2f})')
    train = []
    for r in (r for r in rows if r['set'] == 'train'):
        d, near = min(((dist(r, h), h['file']) for h in held), default=(None, None))
        if d is not None and d < duplicate:
            r.update(set='dropped', reason=f'near-duplicate of held-out {near} ({d:.2f})')
        else:
            train.append(r)
    for r, near, d in dedupe(train, dist, duplicate)[1]:
        r.update(set='dropped', reason=f'near-duplicate of train {near["file"]} ({d:.2f})')
    for r in rows:
        r['holdout'] = round(holdout, 3)
    return rows


def count(rows, which):
    return sum(r['set'] == which for r in rows)


def split_frames(frames, durations, thumbs, holdout=0.2, gap=1.0, duplicate=DUPLICATE, want=WANT_HELDOUT):
    """Assign kept keyframe records to 'train', 'heldout' or a drop reason.

    Args:
        frames: manifest records of kept frames (``video``, ``time``, ``file``).
        durations: {video: seconds}; a video without one uses its last frame's time.
        thumbs: {file: ``data.builder.motion.thumbnail`` of the frame}.
        holdout: the smallest fraction of each video's duration, at its end, that is held out.
        gap: seconds between the last train moment and the first held-out moment.
        duplicate: frames closer than this (``MovingRegion.distance``) are near-duplicates.
        want: the number of held-out frames to reach by holding out more (up to ``MAX_HOLDOUT``).

    Returns a list of dicts ``{file, video, time, set, reason, cut, holdout}`` where ``set`` is 'train',
    'heldout' or 'dropped' (``reason``: 'gap ...', 'near-duplicate of held-out|train <file> (<distance>)').
    """
    if not 0.0 < holdout < 1.0:
        raise ValueError(f'holdout must be in (0, 1), got {holdout}')
    by_video = _by_time(frames)
    regions = {v: MovingRegion([thumbs[r['file']] for r in rs]) for v, rs in by_video.items()}
    tried = []
    h = holdout
    while True:
        rows = _split_at(by_video, durations, thumbs, regions, h, gap, duplicate)
        n_train, n_held = count(rows, 'train'), count(rows, 'heldout')
        if n_held >= want and n_train >= MIN_TRAIN:
            return rows
        tried.append(rows)
        h = round(h + STEP, 6)
        if h > max(MAX_HOLDOUT, holdout) + 1e-9:
            break
    fair = [rs for rs in tried if count(rs, 'train') >= max(MIN_TRAIN, count(rs, 'heldout'))]
    return max(fair, key=lambda rs: count(rs, 'heldout')) if fair else tried[0]


def scene_notes(rows):
    """One line per video that only one side of the split sees: with no train frames (every train-side frame
    was dropped by the gap or as a near-duplicate of a held-out one) the model never sees that scene and its
    held-out frames measure generalisation; with no held-out frames the scene is trained on but never
    evaluated."""
    per = defaultdict(lambda: {'train': 0, 'heldout': 0, 'dropped': 0})
    for r in rows:
        per[r['video']][r['set']] += 1
    notes = []
    for video, n in sorted(per.items()):
        if n['heldout'] and not n['train']:
            notes.append(f'{video}: no train frames ({n["dropped"]} dropped by the gap or as near-duplicates): '
                         f'the model never sees this scene, and its {n["heldout"]} held-out frames measure how '
                         f'the finetune generalises')
        elif n['train'] and not n['heldout']:
            notes.append(f'{video}: no held-out frames: this scene is trained on ({n["train"]} train frames) but not '
                         f'evaluated')
    return notes


def check_counts(rows, n_videos):
    """Raise ``SplitError`` when the split has too few train or held-out frames."""
    n_train, n_held = count(rows, 'train'), count(rows, 'heldout')
    if n_train < MIN_TRAIN or n_held < MIN_HELDOUT:
        dropped = count(rows, 'dropped')
        raise SplitError(
            f'too few frames for a split: {len(rows)} kept frames from {n_videos} video(s) gave {n_train} train '
            f'and {n_held} held-out ({dropped} dropped by the gap or as near-duplicates); need at least '
            f'{MIN_TRAIN} and {MIN_HELDOUT}: give longer or more footage, or a smaller --every')
    return n_train, n_held


def summary_line(rows):
    """``'N train, M held-out (the last X % of each video), K dropped (a gap, b near-duplicates)'``."""
    gap = sum(r['set'] == 'dropped' and r['reason'].startswith('gap') for r in rows)
    dup = count(rows, 'dropped') - gap
    h = rows[0]['holdout'] if rows else 0.0
    photos = sum(bool(r.get('photo')) for r in rows)
    where = (f'the last {100 * h:.0f} % of each video' if not photos else f'{100 * h:.0f} % of the photos at random'
             if photos == len(rows) else f'the last {100 * h:.0f} % of each video, and of the photos at random')
    return (f'{count(rows, "train")} train, {count(rows, "heldout")} held-out ({where}), '
            f'{count(rows, "dropped")} dropped ({gap} in the gap, {dup} near-duplicates)')


def split_photos(photos, holdout, seed):
    """Photos (manifest records of kept ``--hr`` photos: no time, no clip order) split at random: a seeded
    permutation, the first ``round(holdout * n)`` of it held out (at least ``MIN_HELDOUT``, leaving at least
    ``MIN_TRAIN`` when there are enough). Near-duplicates were removed across all photos before (the builder's
    hash index), so none crosses the split. Rows as ``split_frames``' (``time`` 0, ``cut`` None, ``photo``)."""
    n = len(photos)
    order = np.random.default_rng(seed).permutation(n)
    n_held = min(max(MIN_HELDOUT, int(round(holdout * n))), max(0, n - MIN_TRAIN)) if n > MIN_TRAIN else \
        min(MIN_HELDOUT, n)
    held = set(order[:n_held].tolist())
    return [{'file': r['file'], 'video': r['video'], 'time': 0.0, 'cut': None, 'reason': None, 'photo': True,
             'set': 'heldout' if i in held else 'train', 'holdout': round(holdout, 3)}
            for i, r in enumerate(photos)]
