"""tools/extract_keyframes.py on the real clips in ../shared/data/video (or clips made from real photos)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.data.builder.extract import SettingsMismatch, extract
from realesrgan_paddle.data.builder.frame_filters import FilterConfig
from realesrgan_paddle.data.builder.manifest import MANIFEST, read_manifest, video_key
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
from tests.cli_checks import a_line, one_line

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'extract_keyframes.py'
KEYFRAMES = {'cup': 8, 'box': 2, 'bikes': 6}                  # ffprobe's I-frame counts (data README)
BIKES_TIMES = [0.0, 1.2, 3.04, 5.48, 7.48, 9.68]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args), '--quiet'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', *map(str, args)],
                   check=True, timeout=120)


def video(shared_data, name):
    if shared_data is None or not (shared_data / 'video' / name).is_file():
        pytest.skip(f'../shared/data/video/{name} is not available')
    return shared_data / 'video' / name


def slideshow(photos, out, secs=1.0, fps=10, size=(640, 480)):
    """A clip of real photos, ``secs`` each, one keyframe per photo (a hard cut between them)."""
    args, chains = [], []
    for i, p in enumerate(photos):
        args += ['-loop', '1', '-t', str(secs), '-i', str(p)]
        chains.append(f'[{i}:v]scale={size[0]}:{size[1]},setsar=1,fps={fps},format=yuv420p[v{i}]')
    graph = ';'.join(chains) + ';' + ''.join(f'[v{i}]' for i in range(len(photos))) + \
        f'concat=n={len(photos)}:v=1:a=0[out]'
    gop = int(secs * fps)
    ffmpeg(*args, '-filter_complex', graph, '-map', '[out]', '-c:v', 'mpeg4', '-q:v', '2', '-g', gop,
           '-bf', '0', out)
    return out


@pytest.fixture(scope='module')
def source_clip(shared_data, hr_photos, tmp_path_factory):
    """cup.mp4 when ../shared is there, else a slideshow of real photos."""
    if shared_data is not None and (shared_data / 'video' / 'cup.mp4').is_file():
        return shared_data / 'video' / 'cup.mp4'
    return slideshow(hr_photos[:4], tmp_path_factory.mktemp('clip') / 'cup.mp4')


def kept(recs, video=None):
    return [r for r in recs if r['type'] == 'frame' and r['kept'] and (video is None or r['video'] == video)]


def test_key_mode_counts_real_clips(shared_data, tmp_path):
    """--mode key --no-filter gives exactly the coded I-frames, named by time, bit-exact to ffmpeg's PNGs."""
    src = tmp_path / 'clips'
    src.mkdir()
    for name in ('cup.mp4', 'box.mp4', 'bikes.mp4', 'tree.avi'):
        os.symlink(video(shared_data, name), src / name)
    out = tmp_path / 'out'
    res = run_cli('--input', src, '--output', out, '--no-filter')
    assert res.returncode == 0, res.stderr
    assert 'Traceback' not in res.stderr
    recs = read_manifest(out)
    for stem, n in KEYFRAMES.items():
        frames = kept(recs, stem)
        assert len(frames) == n, stem
        assert len(list(out.glob(f'{stem}_*.png'))) == n
        assert all(r['pict_type'] == 'I' for r in frames)
    bikes = kept(recs, 'bikes')
    assert [round(r['time'], 3) for r in bikes] == BIKES_TIMES
    assert [r['frame_index'] for r in bikes] == [round(t * 25) for t in BIKES_TIMES]
    assert [r['file'] for r in bikes][:2] == ['bikes_000000.000.png', 'bikes_000001.200.png']
    r = bikes[1]
    assert r['src_size'] == [640, 272] and r['size'] == [640, 272] and r['source'].endswith('bikes.mp4')
    assert {'blur', 'mean', 'std', 'phash'} <= set(r)
    # tree.avi: Cinepak with a broken index; its decoder ignores skip_frame, select keeps the 3 keyframes
    tree = kept(recs, 'tree')
    assert [round(r['time'], 1) for r in tree] == [0.0, 10.7, 21.9]
    videos = {r['video']: r for r in recs if r['type'] == 'video'}
    assert all(v['status'] == 'done' for v in videos.values()) and len(videos) == 4
    a_line(res.stdout, 'videos:', '4 found', '4 extracted', '0 failed')
    a_line(res.stdout, 'frames:', '19 kept')
    # the same folder with other settings is refused in one line
    other = run_cli('--input', src, '--output', out, '--blur', '50')
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1
    a_line(other.stderr, str(out))
    # lossless at the source resolution: identical to bare ffmpeg's keyframe PNGs
    bare = tmp_path / 'bare'
    bare.mkdir()
    ffmpeg('-skip_frame', 'nokey', '-i', src / 'box.mp4', '-fps_mode', 'passthrough', bare / '%06d.png')
    ours = sorted(out.glob('box_*.png'))
    theirs = sorted(bare.glob('*.png'))
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert np.array_equal(cv2.imread(str(a)), cv2.imread(str(b)))


def test_resume_after_interruption(source_clip, tmp_path):
    out = tmp_path / 'out'
    first = extract([source_clip], out, cfg=FilterConfig.off(), progress=False)
    n = first['kept']
    assert n >= 3 and first['videos_done'] == 1
    files = sorted(out.glob('*.png'))
    # simulate a kill after 3 frames: the manifest keeps 3 frame lines and a torn one; later PNGs are gone
    lines = (out / MANIFEST).read_text().splitlines()
    frame_lines = [ln for ln in lines if '"type":"frame"' in ln]
    (out / MANIFEST).write_text('\n'.join([lines[0]] + frame_lines[:3]) + '\n' + frame_lines[3][:40])
    for f in files[3:]:
        f.unlink()
    (out / f'.{files[-1].name}.123.tmp').write_bytes(b'partial')
    second = extract([source_clip], out, cfg=FilterConfig.off(), progress=False)
    assert second['frames_resumed'] == 3 and second['kept'] == n - 3 and second['videos_done'] == 1
    assert sorted(out.glob('*.png')) == files
    assert not list(out.glob('.*.tmp'))
    recs = read_manifest(out)
    assert len(kept(recs)) == n and len({r['file'] for r in kept(recs)}) == n
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    third = extract([source_clip], out, cfg=FilterConfig.off(), progress=False)
    assert third['videos_skipped'] == 1 and third['frames'] == 0
    assert {f: f.stat().st_mtime_ns for f in files} == mtimes
    with pytest.raises(SettingsMismatch, match='other settings'):
        extract([source_clip], out, cfg=FilterConfig(), progress=False)


def test_video_key_follows_the_bytes_not_the_modification_time(source_clip, tmp_path):
    clip = tmp_path / source_clip.name
    shutil.copyfile(source_clip, clip)  # a copy: new mtime, same bytes
    key = video_key(clip)
    assert key.split('|', 1)[1] == video_key(source_clip).split('|', 1)[1]
    os.utime(clip, (1e9, 1e9))
    assert video_key(clip) == key
    data = bytearray(clip.read_bytes())
    big = tmp_path / 'big.bin'  # 3.5 MiB: a byte flipped in each of the three sampled MiB
    big.write_bytes(bytes(3 * 1024 * 1024 + 512 * 1024))
    base = video_key(big)
    for offset in (0, 1800 * 1024, big.stat().st_size - 1):
        b = bytearray(big.read_bytes())
        b[offset] ^= 1
        big.write_bytes(bytes(b))
        assert video_key(big) != base, offset
        b[offset] ^= 1
        big.write_bytes(bytes(b))
    assert video_key(big) == base
    data[len(data) // 2] ^= 0xFF
    clip.write_bytes(bytes(data))
    assert video_key(clip) != key
    clip.write_bytes(bytes(data[:-10]))
    assert video_key(clip) != key


def test_dedupe_removes_duplicated_video(source_clip, tmp_path):
    src = tmp_path / 'in'
    src.mkdir()
    shutil.copy(source_clip, src / 'match1.mp4')
    out = tmp_path / 'out'
    cfg = FilterConfig(min_size=None, blur=None)
    s1 = extract([src], out, cfg=cfg, progress=False)
    assert s1['kept'] >= 2
    # the same footage under another name, in a later run into the same output: nothing new
    shutil.copy(source_clip, src / 'match1_replay.mp4')
    s2 = extract([src], out, cfg=cfg, progress=False)
    assert s2['videos_skipped'] == 1 and s2['kept'] == 0 and s2['duplicate'] >= s1['kept']
    assert not list(out.glob('match1_replay_*.png'))
    # and both in one run into a fresh folder
    s3 = extract([src], tmp_path / 'out2', cfg=cfg, progress=False)
    recs = read_manifest(tmp_path / 'out2')
    assert s3['kept'] == s1['kept'] and not kept(recs, 'match1_replay')
    dups = [r for r in recs if r['type'] == 'frame' and r['video'] == 'match1_replay']
    # every replay frame is a byte-identical decode of a match1 frame: a distance-0 duplicate
    assert len(dups) == s3['frames'] // 2
    assert all(r['reason'] == 'duplicate' and r['dup_dist'] == 0 and r['dup_of'].startswith('match1_')
               for r in dups)


def test_letterbox_and_pillarbox_cropped(source_clip, tmp_path):
    padded = tmp_path / 'padded.mp4'
    ffmpeg('-i', source_clip, '-t', '2.2', '-an', '-vf', 'scale=640:480,pad=800:600:80:60:black', '-c:v', 'mpeg4',
           '-q:v', '2', '-force_key_frames', 'expr:gte(t,n_forced)', '-bf', '0', padded)
    out = tmp_path / 'out'
    s = extract([padded], out, cfg=FilterConfig(dedupe=None), progress=False)
    recs = kept(read_manifest(out))
    assert s['kept'] == len(recs) >= 2 and s['bars_cropped'] == s['kept']
    for r in recs:
        x, y, w, h = r['crop']
        assert r['src_size'] == [800, 600]
        assert abs(x - 80) <= 2 and abs(y - 60) <= 2 and abs(w - 640) <= 4 and abs(h - 480) <= 4, r['crop']
        img = cv2.imread(str(out / r['file']))
        assert img.shape[:2] == (h, w)
        edge = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        assert min(edge[0].mean(), edge[-1].mean(), edge[:, 0].mean(), edge[:, -1].mean()) > 24
    # without the bar filter the frames keep the padding
    s2 = extract([padded], tmp_path / 'raw', cfg=FilterConfig.off(), progress=False)
    assert all(r['size'] == [800, 600] for r in kept(read_manifest(tmp_path / 'raw'))) and s2['kept'] == s['kept']


def test_scoreboard_box_cropped_away(source_clip, tmp_path):
    full = extract([source_clip], tmp_path / 'full', cfg=FilterConfig.off(), progress=False)
    cfg = FilterConfig(min_size=None, blur=None, dedupe=None, crops=[(0, 0, 200, 60)])
    s = extract([source_clip], tmp_path / 'box', cfg=cfg, progress=False)
    assert s['kept'] == full['kept'] and s['overlay_cropped'] == s['kept']
    a, b = kept(read_manifest(tmp_path / 'full')), kept(read_manifest(tmp_path / 'box'))
    for ra, rb in zip(a, b):
        w, h = ra['size']
        assert rb['crop'] == [0, 60, w, h - 60] and rb['file'] == ra['file']
        big = cv2.imread(str(tmp_path / 'full' / ra['file']))
        assert np.array_equal(cv2.imread(str(tmp_path / 'box' / rb['file'])), big[60:])


def test_modes_interval_and_scene(shared_data, hr_photos, tmp_path):
    bikes = video(shared_data, 'bikes.mp4')
    s = extract([bikes], tmp_path / 'iv', mode='interval', every=2.0, cfg=FilterConfig.off(), progress=False)
    assert [round(r['time'], 2) for r in kept(read_manifest(tmp_path / 'iv'))] == [0, 2, 4, 6, 8] and s['kept'] == 5
    show = slideshow(hr_photos[:3], tmp_path / 'show.mp4', secs=1.0)
    s = extract([show], tmp_path / 'sc', mode='scene', threshold=0.3, cfg=FilterConfig.off(), progress=False)
    assert [round(r['time'], 1) for r in kept(read_manifest(tmp_path / 'sc'))] == [0.0, 1.0, 2.0]


def test_bad_inputs_one_line_each(source_clip, tmp_path):
    src = tmp_path / 'in'
    src.mkdir()
    shutil.copy(source_clip, src / 'good.mp4')
    (src / 'random.mp4').write_bytes(np.random.default_rng(0).bytes(60_000))
    (src / 'empty.mkv').write_bytes(b'')  # a failed download
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', src / 'audio_only.mp4')
    (src / 'notes.txt').write_text('not a video, not even looked at')
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob('*')}
    out = tmp_path / 'out'
    res = run_cli('--input', src, '--output', out)
    assert res.returncode == 1
    assert 'Traceback' not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith('error:')]
    assert len(errors) == 3, res.stderr
    assert any('audio_only.mp4: has no video stream' in ln for ln in errors)
    assert any('random.mp4: is corrupt or not a video' in ln for ln in errors)
    assert any('empty.mkv: is corrupt or not a video' in ln for ln in errors)
    assert list(out.glob('good_*.png')), 'the good video in the same folder is still processed'
    a_line(res.stdout, 'videos:', '4 found', '1 extracted', '3 failed')
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob('*') if out not in p.parents and p != out}
    assert after == before, 'nothing written outside --output'
    single = run_cli('--input', src / 'audio_only.mp4', '--output', tmp_path / 'out_a')
    assert single.returncode == 1 and one_line(single.stderr, src / 'audio_only.mp4', 'video')
    missing = run_cli('--input', tmp_path / 'nope.mp4', '--output', tmp_path / 'out_b')
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    a_line(missing.stderr, tmp_path / 'nope.mp4')


def test_missing_ffmpeg_one_line(tmp_path, source_clip):
    empty = tmp_path / 'bin'
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty), IMAGEIO_FFMPEG_EXE=str(tmp_path / 'no-ffmpeg'))
    res = run_cli('--input', source_clip, '--output', tmp_path / 'out', env=env)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and 'ffmpeg was not found' in lines[0]
    assert 'apt-get install ffmpeg' in lines[0] and 'pip install imageio-ffmpeg' in lines[0]
    assert not (tmp_path / 'out').exists()


def test_manifest_is_jsonl_with_scores(source_clip, tmp_path):
    extract([source_clip], tmp_path, cfg=FilterConfig(min_size=10_000), progress=False)
    lines = (tmp_path / MANIFEST).read_text().splitlines()
    recs = [json.loads(ln) for ln in lines]
    assert recs[0]['type'] == 'settings' and recs[0]['settings']['filters']['min_size'] == 10_000
    frames = [r for r in recs if r['type'] == 'frame']
    assert frames and all(r['reason'] == 'small' and not r['kept'] and 'file' not in r for r in frames)
    assert all(isinstance(r['blur'], float) and len(r['phash']) == 16 for r in frames)
    assert not list(tmp_path.glob('*.png'))


def test_imageio_ffmpeg_binary_without_system_ffmpeg(shared_data, tmp_path):
    """No ffmpeg on PATH: imageio-ffmpeg's static binary (no ffprobe) gives the same keyframes."""
    pytest.importorskip('imageio_ffmpeg')
    cup = video(shared_data, 'cup.mp4')
    empty = tmp_path / 'bin'
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'IMAGEIO_FFMPEG_EXE'}
    env['PATH'] = str(empty)
    res = run_cli('--input', cup, '--output', tmp_path / 'out', '--no-filter', env=env)
    assert res.returncode == 0, res.stderr
    assert len(kept(read_manifest(tmp_path / 'out'))) == KEYFRAMES['cup']


def test_classify_ffmpeg_errors():
    from realesrgan_paddle.data.builder.decode import classify_error
    cases = {
        "Stream specifier ':V:0' in filtergraph description [0:V:0]select matches no streams.": 'has no video stream',
        'Decoder (codec av1) not found for input stream #0:0': 'apt-get install ffmpeg',
        '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5] moov atom not found': 'is corrupt or not a video',
        'Conversion failed!': 'ffmpeg failed (exit 1): Conversion failed!',
    }
    for line, want in cases.items():
        msg = classify_error('x.mp4', ['Input #0, mov', line], 1)
        assert msg.startswith('x.mp4: ') and want in msg and '\n' not in msg
