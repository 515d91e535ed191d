"""The one ffmpeg frame reader: frames, exact times and key flags of a real clip; untimed frames when the
log gives none; one-line errors; one VideoError for the upscaler and the keyframe extractor."""
import subprocess

import numpy as np
import pytest

from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
from realesrgan_paddle.media.video_reader import FrameReader, VideoError, frame_command, parse_level


@pytest.fixture(scope='module')
def clip(shared_data, tmp_path_factory):
    """12 frames of a real clip at 25 fps, 64x48, a keyframe every 4 frames."""
    dst = tmp_path_factory.mktemp('reader') / 'clip.mp4'
    src = shared_data / 'video' / 'bikes.mp4' if shared_data else None
    video_in = ['-i', str(src)] if src and src.is_file() else ['-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=25']
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', *video_in, '-frames:v', '12', '-vf', 'scale=64:48', '-r', '25',
                    '-c:v', 'libx264', '-g', '4', '-keyint_min', '4', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
                    str(dst)], check=True, capture_output=True)
    return dst


def test_frames_times_and_key_flags_of_a_real_clip(clip):
    reader = FrameReader(clip)
    items = list(reader)
    assert len(items) == reader.count == 12 and reader.returncode == 0
    frames = [f for f, _ in items]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames) and frames[0].std() > 5
    times = [info['time'] for _, info in items]
    assert times == pytest.approx([i / 25 for i in range(12)], abs=1e-9)  # exact: pts x time base
    assert [info['key'] for _, info in items] == [i % 4 == 0 for i in range(12)]
    assert [info['frame_index'] for _, info in items] == list(range(12))
    assert reader.duration == pytest.approx(12 / 25, abs=0.05)


def test_filters_and_input_options_reach_ffmpeg(clip):
    reader = FrameReader(clip, filters=['transpose=clock'], input_args=['-skip_frame', 'nokey'])
    items = list(reader)
    assert [info['n'] for _, info in items] == [0, 1, 2] and items[0][0].shape == (64, 48, 3)
    cmd = frame_command(clip, ['hflip'], ['-noautorotate'], exe='ffmpeg')
    assert cmd[cmd.index('-vf') + 1] == 'hflip,showinfo' and cmd.index('-noautorotate') < cmd.index('-i')


def test_without_frame_log_lines_frames_of_the_known_size_come_untimed(clip, monkeypatch):
    import realesrgan_paddle.media.video_reader as vr
    timed = list(FrameReader(clip))
    monkeypatch.setattr(vr, '_INFO', vr.re.compile('never matches'))
    monkeypatch.setattr(vr, 'INFO_TIMEOUT', 0.5)
    items = list(FrameReader(clip, size=(64, 48), prefetch=1))  # ffmpeg's pipe fills: no deadlock
    assert len(items) == 12 and all(info['time'] is None for _, info in items)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(items, timed))


def test_stopping_early_stops_ffmpeg(clip):
    reader = FrameReader(clip, prefetch=1)
    for _ in reader:
        break
    assert reader.proc.poll() is not None and reader.count == 1


def test_a_broken_file_is_one_video_error(tmp_path):
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(200))
    with pytest.raises(VideoError) as e:
        list(FrameReader(bad))
    assert str(e.value).startswith(f'{bad}: cannot decode the video (') and '\n' not in str(e.value)


def test_log_levels_are_split_off_the_message():
    assert parse_level('[info] Input #0, mov') == ('info', 'Input #0, mov')
    assert parse_level('[mov @ 0x1] [error] moov atom not found') == ('error', '[mov @ 0x1] moov atom not found')
    assert parse_level('plain line') == (None, 'plain line')


def test_upscaler_and_extractor_share_the_reader_and_the_error():
    import realesrgan_paddle.data.builder.decode as decode
    import realesrgan_paddle.inference.video.one_pass as video
    import realesrgan_paddle.inference.video.stages as stages
    assert issubclass(decode.FrameReader, FrameReader) and issubclass(video.Decoder, FrameReader)
    assert video.VideoError is stages.VideoError is VideoError
