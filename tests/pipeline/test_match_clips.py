"""An LQ clip named like no HR clip (a recording in HD and in SD under two names) is matched to the HR clip it
copies by duration (pipeline/real_lq.match_clips), its held-out frames are taken at the HR frames' moments under
their names, and find_pairs then checks every frame; clips made here with ffmpeg from a real photo."""
import subprocess

import cv2
import pytest

from realesrgan_paddle.pipeline.inputs.real_lq import extract_heldout, find_pairs, frames_shown_at, match_clips
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', *map(str, args)],
                   check=True, timeout=120)


def static_camera(photo, out, seconds, flip=False):
    """A static camera at 5 fps (the photo, a test pattern crossing it), 128x96, near-lossless x264."""
    bg = '[0]scale=128:96,fps=5' + (',hflip' if flip else '') + '[bg]'
    graph = f"{bg};[bg][1]overlay=x='mod(t*29\\,176)-48':y=30,format=yuv420p"
    ffmpeg('-loop', 1, '-t', seconds, '-i', photo, '-f', 'lavfi', '-i', 'testsrc=size=48x36:rate=5',
           '-filter_complex', graph, '-t', seconds, '-c:v', 'libx264', '-crf', 12, out)


def stream(src, out):
    ffmpeg('-i', src, '-vf', 'scale=iw/4:ih/4:flags=area', '-c:v', 'libx264', '-crf', 23, out)


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    """HR: street.mp4 (5 s) and yard.mp4 (3 s, another recording); LQ: street_sd.mp4, the first made smaller."""
    from skimage import data as skdata
    root = tmp_path_factory.mktemp('match')
    photo = root / 'coffee.png'
    cv2.imwrite(str(photo), cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR))
    for d in ('hr', 'lq'):
        (root / d).mkdir()
    static_camera(photo, root / 'hr' / 'street.mp4', 5)
    static_camera(photo, root / 'hr' / 'yard.mp4', 3, flip=True)
    stream(root / 'hr' / 'street.mp4', root / 'lq' / 'street_sd.mp4')
    return root


def test_an_lq_clip_under_another_name_is_the_hr_clip_of_its_duration(clips):
    hr = sorted((clips / 'hr').glob('*.mp4'))
    assert match_clips([clips / 'lq'], hr) == ({'street_sd': 'street'}, [])
    # named like an HR clip: the name decides, nothing to match
    assert match_clips([clips / 'hr' / 'street.mp4'], hr) == ({}, [])


def test_no_match_or_two_matches_leave_the_clip_alone_and_say_why(clips, tmp_path):
    only_yard = [clips / 'hr' / 'yard.mp4']
    alias, notes = match_clips([clips / 'lq'], only_yard)
    assert alias == {} and notes == ['street_sd.mp4: named like no HR clip, and no HR clip lasts as long (5.0 s)']
    twin = tmp_path / 'street_copy.mp4'
    twin.symlink_to(clips / 'hr' / 'street.mp4')
    alias, notes = match_clips([clips / 'lq'], [clips / 'hr' / 'street.mp4', twin])
    assert alias == {} and notes == ['street_sd.mp4: named like no HR clip, and 2 HR clips last as long '
                                     '(street, street_copy)']


def test_the_matched_clip_gives_the_held_out_hr_moments_and_they_pair(clips, tmp_path):
    held = [(t, f'street_{t:010.3f}') for t in (4.0, 4.4, 4.8)]
    val_hr = tmp_path / 'val_hr'
    val_hr.mkdir()
    for name, frame in frames_shown_at(clips / 'hr' / 'street.mp4', held):
        cv2.imwrite(str(val_hr / f'{name}.png'), frame)
    alias, _ = match_clips([clips / 'lq'], sorted((clips / 'hr').glob('*.mp4')))
    info = extract_heldout([clips / 'lq'], tmp_path / 'real', 0.2, 0.4, {'street': held}, alias=alias)
    assert info['frames'] == 3
    assert sorted(p.stem for p in (tmp_path / 'real').glob('*.png')) == [n for _, n in held]
    n, worst = find_pairs(tmp_path / 'real', val_hr, tmp_path / 'gt')
    assert n == 3 and worst >= 30.0
    # without the match the same clip gives its own tail under its own name: nothing to pair with
    extract_heldout([clips / 'lq'], tmp_path / 'tail', 0.2, 0.4, {'street': held})
    names = sorted(p.stem for p in (tmp_path / 'tail').glob('*.png'))
    assert names and all(n.startswith('street_sd_') for n in names)
    assert find_pairs(tmp_path / 'tail', val_hr, tmp_path / 'gt2')[0] == 0
