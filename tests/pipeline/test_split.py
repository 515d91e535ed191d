"""The time split of pipeline/split.py: holdout at each video's end, the gap, and no
near-duplicate (64-bit perceptual hash of real photos) across the split."""
import cv2
import numpy as np
import pytest

from data.builder.filters import phash, to_gray
from pipeline.split import MIN_HELDOUT, MIN_TRAIN, SplitError, check_counts, scene_notes, split_frames


def rec(video, t, h='0' * 16):
    return {'video': video, 'time': t, 'file': f'{video}_{t:010.3f}.png', 'phash': h}


def test_holdout_is_the_end_of_each_video_with_a_gap():
    frames = [rec('a', t) for t in np.arange(0, 10, 0.5)] + [rec('b', t) for t in np.arange(0, 5, 0.5)]
    # distinct hashes so no near-duplicate rule fires
    for i, f in enumerate(frames):
        f['phash'] = f'{(0x9E3779B97F4A7C15 * (i + 1)) % (1 << 64):016x}'
    rows = split_frames(frames, {'a': 10.0, 'b': 5.0}, holdout=0.2, gap=1.0, hamming=-1)
    by = {(r['video'], r['time']): r['set'] for r in rows}
    assert [t for (v, t), s in sorted(by.items()) if v == 'a' and s == 'heldout'] == [8.0, 8.5, 9.0, 9.5]
    assert max(t for (v, t), s in by.items() if v == 'a' and s == 'train') == 7.0   # 7.5 is inside the 1 s gap
    assert [t for (v, t), s in sorted(by.items()) if v == 'b' and s == 'heldout'] == [4.0, 4.5]
    assert max(t for (v, t), s in by.items() if v == 'b' and s == 'train') == 3.0
    assert {r['reason'].split(' ')[0] for r in rows if r['set'] == 'dropped'} == {'gap'}


def test_no_near_duplicate_crosses_the_split(hr_photos):
    imgs = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in hr_photos[:3]]
    h = [f'{phash(to_gray(im)):016x}' for im in imgs]
    brighter = f'{phash(to_gray(cv2.convertScaleAbs(imgs[0], alpha=1.0, beta=12))):016x}'  # the same view, lit up
    frames = [rec('a', 0.0, brighter), rec('a', 1.0, h[1]), rec('a', 2.0, h[2]), rec('a', 9.0, h[0])]
    rows = split_frames(frames, {'a': 10.0}, holdout=0.2, gap=1.0, hamming=10)
    sets = {r['time']: r for r in rows}
    assert sets[9.0]['set'] == 'heldout'
    assert sets[0.0]['set'] == 'dropped' and 'near-duplicate of held-out a_000009.000.png' in sets[0.0]['reason']
    assert sets[1.0]['set'] == 'train' and sets[2.0]['set'] == 'train'


def test_too_few_frames_is_one_clear_error():
    rows = split_frames([rec('a', 0.0, 'f' * 16), rec('a', 9.0, '0' * 16)], {'a': 10.0})
    with pytest.raises(SplitError) as e:
        check_counts(rows, 1)
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith('too few frames for a split: 2 kept frames from 1 video(s) gave 1 '
                                              'train and 1 held-out')
    assert f'need at least {MIN_TRAIN} and {MIN_HELDOUT}' in msg


def test_bad_holdout_rejected():
    with pytest.raises(ValueError):
        split_frames([], {}, holdout=1.0)


def test_a_static_scene_with_no_train_frames_is_named(hr_photos):
    """A static camera: every frame is the same view, so all of its train-side frames are near-duplicates of
    its held-out ones; the scene is named as unseen. A video with no held-out frame is named as unevaluated."""
    imgs = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in hr_photos[:3]]
    still = f'{phash(to_gray(imgs[0])):016x}'
    frames = [rec('static', t, still) for t in (0.0, 2.0, 4.0, 9.0)]
    frames += [rec('moving', 0.0, f'{phash(to_gray(imgs[1])):016x}'), rec('moving', 9.0, f'{phash(to_gray(imgs[2])):016x}')]
    frames += [rec('short', 0.0, 'f0f0f0f0f0f0f0f0')]  # one frame, before its cut: train only
    rows = split_frames(frames, {'static': 10.0, 'moving': 10.0, 'short': 10.0}, holdout=0.2, gap=1.0, hamming=10)
    notes = scene_notes(rows)
    assert len(notes) == 2
    assert notes[0].startswith('short: no held-out frames') and '(1 train frames)' in notes[0]
    assert notes[1].startswith('static: no train frames (3 dropped') and 'never sees this scene' in notes[1]
