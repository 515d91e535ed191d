"""Split keyframes into train and held-out sets, per video and by time.

For each video, the frames in the last ``holdout`` fraction of its duration are held out;
train frames must lie at least ``gap`` seconds before the first held-out moment. Then every
train frame whose 64-bit perceptual hash (the keyframe builder's ``phash``) is within
``hamming`` bits of any held-out frame's hash, from any video, is dropped: no near-duplicate
crosses the split.
"""
from collections import defaultdict

MIN_TRAIN = 4    # a training batch of the compact recipes
MIN_HELDOUT = 2


class SplitError(ValueError):
    """Too few frames for a split (one line for the user)."""


def _hamming(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count('1')


def split_frames(frames, durations, holdout=0.2, gap=1.0, hamming=10):
    """Assign kept keyframe records to 'train', 'heldout' or a drop reason.

    Args:
        frames: manifest records of kept frames (``video``, ``time``, ``file``, ``phash``).
        durations: {video: seconds}; a video without one uses its last frame's time.
        holdout: fraction of each video's duration, at its end, that is held out.
        gap: seconds between the last train moment and the first held-out moment.
        hamming: a train frame within this many bits of a held-out frame's hash is dropped.

    Returns a list of dicts ``{file, video, time, phash, set, reason, cut}`` where ``set`` is
    'train', 'heldout' or 'dropped' (``reason``: 'gap' or 'near-duplicate of <file> (<d> bits)').
    """
    if not 0.0 < holdout < 1.0:
        raise ValueError(f'holdout must be in (0, 1), got {holdout}')
    by_video = defaultdict(list)
    for r in frames:
        by_video[r['video']].append(r)
    out = []
    for video, recs in sorted(by_video.items()):
        recs = sorted(recs, key=lambda r: (r.get('time') or 0.0, r['file']))
        dur = durations.get(video) or max((r.get('time') or 0.0) for r in recs)
        cut = dur * (1.0 - holdout)
        for r in recs:
            t = r.get('time') or 0.0
            row = {'file': r['file'], 'video': video, 'time': t, 'phash': r.get('phash'), 'cut': round(cut, 3),
                   'reason': None}
            if t >= cut:
                row['set'] = 'heldout'
            elif t > cut - gap:
                row.update(set='dropped', reason=f'gap (within {gap:g} s of the held-out part)')
            else:
                row['set'] = 'train'
            out.append(row)
    held = [r for r in out if r['set'] == 'heldout' and r['phash']]
    for r in out:
        if r['set'] != 'train' or not r['phash'] or not held:
            continue
        d, near = min((_hamming(r['phash'], h['phash']), h['file']) for h in held)
        if d <= hamming:
            r.update(set='dropped', reason=f'near-duplicate of held-out {near} ({d} bits)')
    return out


def scene_notes(rows):
    """One line per video that only one side of the split sees: with no train frames (a static camera's
    frames are all near-duplicates of its held-out ones) the model never sees that scene and its held-out
    frames measure generalisation; with no held-out frames the scene is trained on but never evaluated."""
    per = defaultdict(lambda: {'train': 0, 'heldout': 0, 'dropped': 0})
    for r in rows:
        per[r['video']][r['set']] += 1
    notes = []
    for video, n in sorted(per.items()):
        if n['heldout'] and not n['train']:
            notes.append(f'{video}: no train frames ({n["dropped"]} dropped by the gap or as near-duplicates of its '
                         f'{n["heldout"]} held-out frames): the model never sees this scene, and its held-out frames '
                         f'measure how the finetune generalises')
        elif n['train'] and not n['heldout']:
            notes.append(f'{video}: no held-out frames: this scene is trained on ({n["train"]} train frames) but not '
                         f'evaluated')
    return notes


def check_counts(rows, n_videos):
    """Raise ``SplitError`` when the split has too few train or held-out frames."""
    n_train = sum(r['set'] == 'train' for r in rows)
    n_held = sum(r['set'] == 'heldout' for r in rows)
    if n_train < MIN_TRAIN or n_held < MIN_HELDOUT:
        dropped = sum(r['set'] == 'dropped' for r in rows)
        raise SplitError(
            f'too few frames for a split: {len(rows)} kept frames from {n_videos} video(s) gave {n_train} train '
            f'and {n_held} held-out ({dropped} dropped by the gap or as near-duplicates); need at least '
            f'{MIN_TRAIN} and {MIN_HELDOUT}: give longer or more footage, or a smaller --every')
    return n_train, n_held
