"""webui.handlers.Session.compare_flicker: the Compare tab's FLICKER on a real video (a still crop window of a real
photo, encoded losslessly), with a tiny model; bad input gives one line."""
import shutil
import subprocess

import cv2
from tests.cli_checks import a_line


def test_compare_flicker_on_a_video(tiny_models, photo, tmp_path):
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    from realesrgan_paddle.webui.handlers import Session
    mdir = tmp_path / 'models'
    mdir.mkdir()
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'srvgg.pdparams')
    s = Session(tmp_path / 'out', mdir)
    frames = tmp_path / 'frames'
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f'{i:03d}.png'), photo[:48, :64])
    video = tmp_path / 'still.mkv'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-framerate', '25', '-i', str(frames / '%03d.png'), '-c:v', 'ffv1',
                    str(video)], check=True)
    rows, msg = s.compare_flicker(video, ['srvgg.pdparams'], frames=4)
    assert rows == [['srvgg.pdparams', 1.0, 1.0]], (rows, msg)  # a still video: as still as bicubic
    a_line(msg, 'srvgg.pdparams', 'bicubic', '3 frame pairs')
    rows, msg = s.compare_flicker(tmp_path / 'missing.mp4', ['srvgg.pdparams'])
    assert rows == [['srvgg.pdparams', None, None]] and msg.startswith('error: srvgg.pdparams: ')
    assert '\n' not in msg
    assert s.compare_flicker(None, ['srvgg.pdparams']) == ([], 'error: give a video and at least one model')
