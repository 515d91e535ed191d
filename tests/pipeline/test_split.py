"""The time split of pipeline/inputs/split.py: holdout at each video's end, the gap, near-duplicates judged on what
moves in the clip (data.builder.motion) within each side and across it, and at least 12 held-out frames
whenever the footage allows. Frames are a real photo (scikit-image) with drawn moving objects."""
import cv2
import numpy as np
import pytest
from skimage import data as skdata

from realesrgan_paddle.data.builder.frame_filters import phash, to_gray
from realesrgan_paddle.data.builder.motion import MovingRegion, dedupe, thumbnail
from realesrgan_paddle.pipeline.inputs.split import (
    MIN_HELDOUT, MIN_TRAIN, WANT_HELDOUT, SplitError, check_counts, scene_notes,
    split_frames, summary_line)
from tests.cli_checks import one_line

BG = cv2.resize(cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR), (384, 288), interpolation=cv2.INTER_AREA)
PATCH = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (48, 40), interpolation=cv2.INTER_AREA)


def static_frame(t, moving=True):
    """A static camera on the coffee photo; two objects cross it at different speeds (none when not
    ``moving``): the background is the same in every frame."""
    img = BG.copy()
    if moving:
        for speed, y in ((29.0, 60), (-41.0, 190)):
            x = int(t * speed) % (384 + 48) - 48
            x0, x1 = max(0, x), min(384, x + 48)
            if x1 > x0:
                img[y:y + 40, x0:x1] = PATCH[:, x0 - x:x1 - x]
    noise = np.random.default_rng(int(t * 10)).normal(0, 2, img.shape)  # sensor noise: no two frames are equal
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def clip(video, times, moving=True):
    frames = [{'video': video, 'time': float(t), 'file': f'{video}_{t:010.3f}.png'} for t in times]
    thumbs = {f['file']: thumbnail(static_frame(f['time'], moving)) for f in frames}
    return frames, thumbs


def test_a_static_camera_gives_dozens_of_train_frames_where_the_hash_gives_a_handful():
    """50 s of a static camera sampled every 0.4 s (the pipeline's default): the whole-frame hash the old
    split used calls nearly every frame a duplicate; judged on the moving objects, dozens of train frames and
    at least 12 held-out frames remain, and no near-duplicate crosses the split."""
    times = np.arange(0, 50, 0.4)
    frames, thumbs = clip('cam', times)
    hashes = []
    for t in times:
        h = phash(to_gray(static_frame(t)))
        if all(bin(h ^ o).count('1') > 6 for o in hashes):  # the keyframe builder's default dedupe
            hashes.append(h)
    assert len(hashes) <= 10
    rows = split_frames(frames, {'cam': 50.0}, thumbs)
    n_train, n_held = check_counts(rows, 1)
    assert n_train >= 36 and n_held >= WANT_HELDOUT
    region = MovingRegion(list(thumbs.values()))
    train = [r for r in rows if r['set'] == 'train']
    held = [r for r in rows if r['set'] == 'heldout']
    assert min(region.distance(thumbs[a['file']], thumbs[b['file']]) for a in train for b in held) >= 0.25
    assert max(r['time'] for r in train) <= min(r['time'] for r in held) - 1.0
    assert summary_line(rows).startswith(f'{n_train} train, {n_held} held-out (the last 20 % of each video)')


def test_a_still_clip_keeps_one_frame_per_side_and_the_reasons_name_the_kept_frame():
    """Nothing moves: every frame of a side is a near-duplicate of its first one, and the train frames are
    near-duplicates of the held-out one: the scene is named as unseen."""
    frames, thumbs = clip('still', np.arange(0, 20, 1.0), moving=False)
    rows = split_frames(frames, {'still': 20.0}, thumbs, want=1)
    sets = {r['time']: r for r in rows}
    assert [t for t, r in sets.items() if r['set'] == 'heldout'] == [16.0]
    assert sets[17.0]['reason'].startswith('near-duplicate of held-out still_000016.000.png (0.')
    assert sets[3.0]['reason'].startswith('near-duplicate of held-out still_000016.000.png')
    assert scene_notes(rows)[0].startswith('still: no train frames (19 dropped')


def test_holdout_is_the_end_of_each_video_with_a_gap():
    fa, ta = clip('a', np.arange(0, 10, 0.5))
    fb, tb = clip('b', np.arange(0, 5, 0.5))
    rows = split_frames(fa + fb, {'a': 10.0, 'b': 5.0}, {**ta, **tb}, holdout=0.2, gap=1.0, duplicate=0.0, want=0)
    by = {(r['video'], r['time']): r['set'] for r in rows}
    assert [t for (v, t), s in sorted(by.items()) if v == 'a' and s == 'heldout'] == [8.0, 8.5, 9.0, 9.5]
    assert max(t for (v, t), s in by.items() if v == 'a' and s == 'train') == 7.0   # 7.5 is inside the 1 s gap
    assert [t for (v, t), s in sorted(by.items()) if v == 'b' and s == 'heldout'] == [4.0, 4.5]
    assert max(t for (v, t), s in by.items() if v == 'b' and s == 'train') == 3.0
    assert {r['reason'].split(' ')[0] for r in rows if r['set'] == 'dropped'} == {'gap'}


def test_more_is_held_out_until_twelve_frames_when_the_footage_allows():
    frames, thumbs = clip('a', np.arange(0, 20, 1.0))  # 20 frames: 20 % would hold out 4
    rows = split_frames(frames, {'a': 20.0}, thumbs, holdout=0.2, gap=1.0)
    # 12 cannot be reached with as many train frames: the most held out that keeps as many train frames
    assert rows[0]['holdout'] == 0.5
    assert summary_line(rows).startswith('10 train, 10 held-out (the last 50 % of each video)')
    frames, thumbs = clip('a', np.arange(0, 40, 1.0))  # 40 frames: 20 % holds out 8, 30 % reaches 12
    rows = split_frames(frames, {'a': 40.0}, thumbs, holdout=0.2, gap=1.0)
    assert rows[0]['holdout'] == 0.3 and sum(r['set'] == 'heldout' for r in rows) == 12
    many, thumbs = clip('b', np.arange(0, 100, 0.5))  # plenty: the asked 20 % already holds out 40
    assert split_frames(many, {'b': 100.0}, thumbs, holdout=0.2)[0]['holdout'] == 0.2


def test_moving_region_distance_and_dedupe():
    a, b, c = (thumbnail(static_frame(t)) for t in (10.0, 10.05, 13.0))
    region = MovingRegion([thumbnail(static_frame(t)) for t in np.arange(0, 20, 0.5)])
    assert 0.02 < region.mask.mean() < 0.6  # the objects' lanes, not the photo
    assert region.distance(a, b) < 0.25 < region.distance(a, c)
    assert region.distance(a, a[:-1]) == float('inf')
    th = {'a': a, 'b': b, 'c': c}
    kept, dropped = dedupe(['a', 'b', 'c'], lambda x, y: region.distance(th[x], th[y]))
    assert kept == ['a', 'c'] and dropped[0][:2] == ('b', 'a')


def test_too_few_frames_is_one_clear_error():
    frames, thumbs = clip('a', [0.0, 9.0])
    rows = split_frames(frames, {'a': 10.0}, thumbs)
    with pytest.raises(SplitError) as e:
        check_counts(rows, 1)
    msg = str(e.value)
    one_line(msg, '2 kept frames', '1 video', f'{MIN_TRAIN}', f'{MIN_HELDOUT}')  # what it has and what it needs


def test_bad_holdout_rejected():
    with pytest.raises(ValueError):
        split_frames([], {}, {}, holdout=1.0)
