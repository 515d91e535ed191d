"""The one command on small footage (176x144 frames), as a user meets it: the frame-size floor names itself,
its default and the footage's size, and says what to pass."""
import subprocess
import sys

from tests.pipeline.finetune_run import ROOT, TOOL, ffmpeg


def test_small_footage_names_min_size_and_what_to_pass(hr_photos, tmp_path):
    videos = tmp_path / 'videos'
    videos.mkdir()
    ffmpeg('-loop', 1, '-t', 3, '-i', hr_photos[0], '-vf',
           "scale=528:432,crop=176:144:x='t*60':y='t*40',fps=10,format=yuv420p", '-c:v', 'mpeg4', '-q:v', 2,
           videos / 'small.mp4')
    res = subprocess.run([sys.executable, str(TOOL), '--videos', str(videos), '--work', str(tmp_path / 'w')],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and not any('Traceback' in ln for ln in lines), res.stderr[-2000:]
    assert lines[-1].startswith('error: nothing kept by the frame filters from 1 video(s) (small ')
    assert lines[-1].endswith('its frames are 176x144, under --min-size 200 (the short side a frame needs; '
                              'default 200): pass --min-size 144 to train on them, or give larger footage'), lines[-1]
