"""The work folder of a segmented video is the program's own (issue 64, section 1; inference/video/segments/work_folder.py): each test
starts from the finished parts folder of a clean run (3 segments of 10 frames), builds one hostile change, runs the
same upscale again and gets the clean run's frames bit for bit (the bad segment redone, one line naming it) or one
clear line, with nothing outside the folder read, written or removed. The runs are plain (temporal 'off', the
cheapest path); with the stabiliser (the default) every segment starts from its own pre-roll, so a redone segment
is bit for bit too (test_segments.py checks it)."""
import errno
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.inference.segment_clips import framemd5, make_clip

SECONDS = 1  # segment_seconds: 3 segments of the 3 s clip at 10 fps


def encode(dst, source, frames, size='128x96', codec='libx264'):
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'lavfi', '-i', f'{source}=size={size}:rate=10',
                    '-frames:v', str(frames), '-c:v', codec, '-pix_fmt', 'yuv420p', str(dst)], check=True)
    return dst


@pytest.fixture(scope='module')
def base(up, tmp_path_factory):
    """The clip, its clean segmented run (output and kept parts folder) and another video's segment."""
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    d = tmp_path_factory.mktemp('parts')
    src = make_clip(d / 'clip.mkv', seconds=3, fps=10, gop=5, size='32x24')
    ref = d / 'ref.mkv'
    res = upscale_video_segmented(up, src, ref, progress=False,
                                  options=VideoOptions(segment_seconds=SECONDS, temporal='off', keep_parts=True))
    assert res['segments'] == 3 and res['frames'] == 30
    other = encode(d / 'other.mp4', 'testsrc', 10)
    return dict(src=src, parts=d / 'ref.mkv.parts', md5=framemd5(ref), other=other, dir=d)


def rerun(up, base, tmp_path, caplog, tamper):
    """The clean run's parts folder copied beside ``tmp_path/out.mkv``, ``tamper(parts)`` applied, the run again."""
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    dst = tmp_path / 'out.mkv'
    parts = tmp_path / 'out.mkv.parts'
    shutil.copytree(base['parts'], parts, symlinks=True)
    tamper(parts)
    with caplog.at_level('INFO', logger='inference'):
        res = upscale_video_segmented(up, base['src'], dst, progress=False,
                                      options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert res['frames'] == 30 and framemd5(dst) == base['md5']
    assert not parts.exists() and sorted(p.name for p in tmp_path.iterdir()) == ['out.mkv']
    return res, [r.getMessage() for r in caplog.records]


def forge_record(parts, k, data):
    """Put ``data`` (bytes or a file) in as segment ``k`` with a record that matches it (a forger who rewrites
    plan.json)."""
    seg = parts / f'seg_{k:05d}.mp4'
    data = data if isinstance(data, bytes) else Path(data).read_bytes()
    seg.write_bytes(data)
    plan = json.loads((parts / 'plan.json').read_text())
    plan['done'][str(k)].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (parts / 'plan.json').write_text(json.dumps(plan))


def _seg(parts, k):
    return parts / f'seg_{k:05d}.mp4'


def _dash(base, parts, k):
    _seg(parts, k).write_text(
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT1S"><Period><AdaptationSet><Representation id="1" bandwidth="1">'
        f'<BaseURL>{base["other"]}</BaseURL></Representation></AdaptationSet></Period></MPD>\n')


def _link(parts, k, target):
    _seg(parts, k).unlink()
    _seg(parts, k).symlink_to(target)


def _flip(parts, k):
    data = bytearray(_seg(parts, k).read_bytes())
    data[len(data) // 2] ^= 0xFF
    _seg(parts, k).write_bytes(bytes(data))


def _cut(parts, k, size):
    return _seg(parts, k).read_bytes()[:size]


def _edit_plan(parts, change):
    plan = json.loads((parts / 'plan.json').read_text())
    change(plan)
    (parts / 'plan.json').write_text(json.dumps(plan))


SEGMENT_CASES = {  # what a segment was replaced by (issue 64's numbers where it names them), what the line says
    'S02 DASH manifest': (_dash, 'bytes where'),
    'S02 DASH manifest, record forged': (lambda b, p, k: _dash(b, p, k) or forge_record(p, k, _seg(p, k)),
                                         'not a readable video'),
    'S15 link to another video': (lambda b, p, k: _link(p, k, b['other']), 'not a regular file'),
    'S16 link to an earlier segment': (lambda b, p, k: _link(p, k, _seg(p, 0)), 'not a regular file'),
    'S03 truncated': (lambda b, p, k: os.truncate(_seg(p, k), 3000), 'bytes where'),
    'S08 empty': (lambda b, p, k: os.truncate(_seg(p, k), 0), '0 bytes where'),
    'S09 text': (lambda b, p, k: _seg(p, k).write_text('not a video\n'), 'bytes where'),
    'another video': (lambda b, p, k: shutil.copyfile(b['other'], _seg(p, k)), 'bytes where'),
    'the same size, other bytes': (lambda b, p, k: _flip(p, k), 'another SHA-256'),
    'truncated, record forged': (lambda b, p, k: forge_record(p, k, _cut(p, k, 3000)), 'not a readable video'),
    'empty, record forged': (lambda b, p, k: forge_record(p, k, b''), 'no record of it'),  # 0 bytes: no record of ours
    'a record of 10^300 frames': (lambda b, p, k: _edit_plan(p, lambda s: s['done'][str(k)].update(frames=10 ** 300)),
                                  'no record of it'),
    '5 frames, record forged': (lambda b, p, k: forge_record(p, k, encode(b['dir'] / 'f5.mp4', 'testsrc', 5)),
                                '5 frames where 10'),
    'another size, record forged': (lambda b, p, k: forge_record(
        p, k, encode(b['dir'] / 's64.mp4', 'testsrc', 10, size='64x48')), '64x48 frames where the plan has 128x96'),
    'another codec, record forged': (lambda b, p, k: forge_record(
        p, k, encode(b['dir'] / 'mp4v.mp4', 'testsrc', 10, codec='mpeg4')), 'mpeg4 video'),
    'a wrong frame count recorded': (lambda b, p, k: _edit_plan(p, lambda s: s['done'][str(k)].update(frames=7)),
                                     '7 frames recorded where the plan has 10'),
}
NAMES = list(SEGMENT_CASES)
GROUPS = [NAMES[i:i + 3] for i in range(0, len(NAMES), 3)]  # three cases a run: one on each segment


@pytest.mark.parametrize('cases', GROUPS, ids=[' + '.join(g) for g in GROUPS])
def test_a_bad_segment_is_redone_never_joined(up, base, tmp_path, caplog, cases):
    def tamper(parts):
        for k, case in enumerate(cases):
            SEGMENT_CASES[case][0](base, parts, k)
    res, lines = rerun(up, base, tmp_path, caplog, tamper)
    assert res['reused'] == 3 - len(cases), lines
    for k, case in enumerate(cases):
        said = [ln for ln in lines if f'seg_{k:05d}.mp4: ' in ln]
        assert len(said) == 1 and SEGMENT_CASES[case][1] in said[0] and 'made again' in said[0], (case, said)
    assert Path(base['other']).is_file()  # a link's target is never removed


PLAN_CASES = {
    'S22 lead 1000000000': (lambda s: s.update(lead=1000000000), 'lead differ'),
    'S25 forged cuts, real fingerprint': (lambda s: s.update(starts=[0, 5, 25]), 'starts differ'),
    'records as a list': (lambda s: s.update(done=[1, 2]), 'holds no records'),
}


@pytest.mark.parametrize('case', list(PLAN_CASES))
def test_a_forged_plan_is_one_line_and_a_fresh_plan(up, base, tmp_path, caplog, case):
    change, why = PLAN_CASES[case]
    res, lines = rerun(up, base, tmp_path, caplog, lambda p: _edit_plan(p, change))  # a lead of 10^9 hung here
    said = [ln for ln in lines if 'starting over' in ln]
    assert res['reused'] == 0 and len(said) == 1 and why in said[0], lines


def test_an_unreadable_or_linked_plan_is_a_fresh_plan(up, base, tmp_path, caplog):
    user = tmp_path / 'user.json'
    user.write_text((base['parts'] / 'plan.json').read_text())

    def link(parts):
        (parts / 'plan.json').unlink()
        (parts / 'plan.json').symlink_to(user)
    run = tmp_path / 'a'
    run.mkdir()
    res, lines = rerun(up, base, run, caplog, link)
    assert res['reused'] == 0 and any('plan.json: not a regular file; starting over' in ln for ln in lines), lines
    assert user.read_text() == (base['parts'] / 'plan.json').read_text()  # the link's target untouched
    caplog.clear()
    run = tmp_path / 'b'
    run.mkdir()
    res, lines = rerun(up, base, run, caplog, lambda p: (p / 'plan.json').write_bytes(b'\x00{"lead": [[[['))
    assert res['reused'] == 0 and any('plan.json: not valid JSON; starting over' in ln for ln in lines), lines


def test_a_linked_join_list_writes_nothing_through_it(up, base, tmp_path, caplog):
    """S33: concat.txt (the old list's name) and other names a list could take, made links to a user's file."""
    user = tmp_path / 'notes.txt'
    user.write_text('my notes\n')
    links = ['concat.txt', '.concat.txt', 'join.mkv']
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    dst = tmp_path / 'out.mkv'
    parts = tmp_path / 'out.mkv.parts'
    shutil.copytree(base['parts'], parts)
    for name in links:
        (parts / name).symlink_to(user)
    res = upscale_video_segmented(up, base['src'], dst, progress=False,
                                  options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert res['reused'] == 3 and framemd5(dst) == base['md5']
    assert user.read_text() == 'my notes\n'
    assert sorted(p.name for p in parts.iterdir()) == sorted(links)  # its own files removed, the links left


@pytest.mark.parametrize('target', ['S34 a user folder', 'S35 a finished parts folder'])
def test_a_linked_parts_folder_is_refused_and_left_untouched(up, base, tmp_path, target):
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.media.video_reader import VideoError
    if target.startswith('S34'):
        elsewhere = tmp_path / 'mine'
        elsewhere.mkdir()
        (elsewhere / 'seg_00000.mp4').write_bytes(b'holiday video')
        (elsewhere / 'plan.json').write_text('{"stale": true}')
    else:
        elsewhere = tmp_path / 'copy.parts'
        shutil.copytree(base['parts'], elsewhere)
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    dst = tmp_path / 'out.mkv'
    (tmp_path / 'out.mkv.parts').symlink_to(elsewhere)
    with pytest.raises(VideoError) as e:
        upscale_video_segmented(up, base['src'], dst, progress=False,
                                options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith(f'{tmp_path / "out.mkv.parts"}: is a symbolic link'), msg
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([elsewhere.name, 'out.mkv.parts'])


def test_a_file_named_like_the_parts_folder_is_refused(up, base, tmp_path):
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.media.video_reader import VideoError
    (tmp_path / 'out.mkv.parts').write_text('a file of mine')
    with pytest.raises(VideoError, match='is not a folder'):
        upscale_video_segmented(up, base['src'], tmp_path / 'out.mkv', progress=False,
                                options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert (tmp_path / 'out.mkv.parts').read_text() == 'a file of mine'


def test_a_live_run_is_named_and_a_dead_runs_lock_taken_over(up, base, tmp_path):
    """The lock: a second run on an output refuses in one line naming the live run (held here by a process that
    takes the work folder the way a run does), and a lock left by a dead pid is taken over."""
    import sys

    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.media.video_reader import VideoError
    dst = tmp_path / 'out.mkv'
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; from realesrgan_paddle.inference.video.segments.work_folder import '
                               'PartsFolder; PartsFolder(sys.argv[1]).open(); print("ready", flush=True); '
                               'time.sleep(60)', str(dst)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == 'ready'
        with pytest.raises(VideoError) as e:
            upscale_video_segmented(up, base['src'], dst, progress=False,
                                    options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
        msg = str(e.value)
        assert '\n' not in msg and f'another run (pid {holder.pid}) is writing it' in msg, msg
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / 'out.mkv.parts' / 'lock').read_text().strip() == str(holder.pid)  # left by the dead run
    res = upscale_video_segmented(up, base['src'], dst, progress=False,
                                  options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert res['frames'] == 30 and framemd5(dst) == base['md5']


@pytest.mark.parametrize('kind', ['hard link', 'symbolic link', 'fifo'])
def test_a_planted_lock_is_never_written_through(up, base, tmp_path, caplog, kind):
    """Issue 73: ``OUT.parts/lock`` hard-linked to a user's file: the run truncated that file and wrote its pid into
    it (exit 0). A lock that is not a regular file of this user's with one name is now removed (the name) with one
    line and made fresh; the run reuses the segments, and the user's file keeps its bytes."""
    user = tmp_path / 'user' / 'notes.txt'
    user.parent.mkdir()
    user.write_text('my notes, not a lock\n' * 20)

    def plant(parts):
        lock = parts / 'lock'
        if lock.exists():
            lock.unlink()
        if kind == 'hard link':
            os.link(user, lock)
        elif kind == 'symbolic link':
            lock.symlink_to(user)
        else:
            os.mkfifo(lock)
    run = tmp_path / 'run'
    run.mkdir()
    res, lines = rerun(up, base, run, caplog, plant)
    assert res['reused'] == 3
    said = [ln for ln in lines if '/lock' in ln]
    assert len(said) == 1 and 'removed' in said[0], lines
    assert user.read_text() == 'my notes, not a lock\n' * 20 and os.stat(user).st_nlink == 1


@pytest.mark.parametrize('where', ['the last segment synced', 'an encoder mid-segment'])
def test_a_full_disk_leaves_no_temporary_segment(up, base, tmp_path, monkeypatch, where):
    """D01: the disk fills while a segment is synced before its rename (the last one: the end-of-video path), or
    the encoder of segment 1 stops as ffmpeg does on a full disk: one line, no .seg_* left, then a resume."""
    from realesrgan_paddle.inference.video.segments import span_run
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.media.video_reader import VideoError
    dst = tmp_path / 'out.mkv'
    if where.startswith('the last'):
        real = span_run.commit_file

        def full(tmp, final):
            if final.endswith('seg_00002.mp4'):
                raise OSError(errno.ENOSPC, 'No space left on device')
            real(tmp, final)
        monkeypatch.setattr(span_run, 'commit_file', full)
    else:
        write = span_run._SegEncoder.write

        def stop(self, data, times):
            if self.k == 1 and self.frames >= 4:
                self.proc.kill()  # ffmpeg exits as on ENOSPC; the next write finds the pipe closed
                self.proc.wait()
            return write(self, data, times)
        monkeypatch.setattr(span_run._SegEncoder, 'write', stop)
    with pytest.raises(VideoError) as e:
        upscale_video_segmented(up, base['src'], dst, progress=False,
                                options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert '\n' not in str(e.value)
    parts = tmp_path / 'out.mkv.parts'
    left = sorted(p.name for p in parts.iterdir())
    assert not [n for n in left if n.startswith('.')], left
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.mkv.parts']
    monkeypatch.undo()
    res = upscale_video_segmented(up, base['src'], dst, progress=False,
                                  options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert res['reused'] == (2 if where.startswith('the last') else 1) and framemd5(dst) == base['md5']


@pytest.mark.parametrize('length', [240, 246, 252])
def test_a_long_output_name_fits_the_work_folder(up, base, tmp_path, length):
    """Issue 73: an output named with 240-252 bytes (a legal name) failed with ``[Errno 36] File name too
    long``: its work folder ``NAME.parts`` and the temp files beside it passed 255 bytes. The work folder's name is
    now cut to fit and ends with 8 hex digits of the name's sha256 (a resume finds it again); the output keeps the
    user's name; the one-pass path and an image's atomic write fit too."""
    import cv2
    import numpy as np

    from realesrgan_paddle.inference.video.segments.work_folder import PartsFolder
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.media.image_io import imwrite
    name = 'é' * 120 + 'ab.mkv' if length == 246 else 'v' * (length - 4) + '.mkv'  # é: two bytes in UTF-8
    assert len(os.fsencode(name)) == length
    dst = tmp_path / name
    parts = PartsFolder(dst).path
    assert len(os.fsencode(parts.name)) <= 255 and parts.name.endswith('.parts') and parts.parent == tmp_path
    assert PartsFolder(dst).path == parts  # the same name at the next run: segments are found again
    res = upscale_video_segmented(up, base['src'], dst, progress=False,
                                  options=VideoOptions(segment_seconds=SECONDS, temporal='off', keep_parts=True))
    assert res['frames'] == 30 and framemd5(dst) == base['md5'] and parts.is_dir()
    again = upscale_video_segmented(up, base['src'], dst, progress=False,
                                    options=VideoOptions(segment_seconds=SECONDS, temporal='off'))
    assert again['reused'] == 3 and not parts.exists()
    one = tmp_path / ('w' * (length - 4) + '.mp4')
    up.upscale_video(base['src'], one, progress=False, temporal='off')
    assert cv2.VideoCapture(str(one)).read()[0]
    img = tmp_path / ('i' * (length - 4) + '.png')
    imwrite(str(img), np.zeros((4, 4, 3), np.uint8))
    assert img.is_file() and sorted(p.name for p in tmp_path.iterdir()) == sorted([name, one.name, img.name])
