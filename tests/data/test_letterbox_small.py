"""Letterbox detection on small footage: a dark edge column or row from the encoder is no letterbox, so a 176x144
frame stays 176x144 (cropping one pixel unpaired it from its 44x36 LQ frame); real bars are still cropped."""
import cv2
import pytest

from realesrgan_paddle.data.builder.extract import extract
from realesrgan_paddle.data.builder.frame_filters import FilterConfig, detect_bars, to_gray
from realesrgan_paddle.data.builder.manifest import read_manifest
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe


@pytest.fixture(scope='module')
def small_frame(hr_photos):
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    frame = cv2.resize(img, (176, 144), interpolation=cv2.INTER_AREA)
    frame[:, -1] = 10  # a dark last column, as some encoders leave
    frame[0] = 12  # and a dark first row
    return frame


def test_one_dark_edge_line_is_not_cropped(small_frame):
    assert detect_bars(to_gray(small_frame)) == (0, 0, 176, 144)
    thin = small_frame.copy()
    thin[:, :3] = 8  # 3 + 1 columns: 2.3 % of the width, still under the rule's 4 %
    assert detect_bars(to_gray(thin)) == (0, 0, 176, 144)


def test_real_bars_are_still_cropped(small_frame):
    boxed = cv2.copyMakeBorder(small_frame[1:, :-1], 0, 0, 12, 12, cv2.BORDER_CONSTANT, value=(16, 16, 16))
    assert detect_bars(to_gray(boxed)) == (12, 0, 175, 143)  # 24 of 199 columns: a pillarbox


def test_the_keyframe_stage_keeps_the_size_of_a_small_clip(small_frame, tmp_path):
    """What the one command's keyframe stage does with a 176x144 clip whose frames have a dark edge column."""
    import subprocess
    still = tmp_path / 'still.png'
    cv2.imwrite(str(still), small_frame)
    clip = tmp_path / 'small.mp4'
    subprocess.run([ffmpeg_exe(), '-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-t', '2', '-i', str(still),
                    '-vf', 'fps=5,format=yuv420p', '-c:v', 'mpeg4', '-q:v', '2', str(clip)], check=True, timeout=120)
    out = tmp_path / 'frames'
    extract([clip], out, mode='interval', every=1.0, cfg=FilterConfig(min_size=100, dedupe=None), progress=False)
    kept = [r for r in read_manifest(out) if r.get('type') == 'frame' and r.get('kept')]
    assert kept and all(r['size'] == [176, 144] and r['crop'] == [0, 0, 176, 144] for r in kept), kept
    files = sorted(out.rglob('*.png'))
    assert len(files) == len(kept)
    for f in files:
        assert cv2.imread(str(f)).shape[:2] == (144, 176), f
