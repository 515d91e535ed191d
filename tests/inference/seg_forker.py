"""Segmented runs forked from one warm process, for a test that kills many runs (tests/inference/test_segments_kill.py).

    python tests/inference/seg_forker.py MODEL

Imports the package and builds the ``Upscaler`` (dynamic graph) once; then for each JSON line on stdin
(``src``, ``dst``, ``segment_seconds``, ``result``: a file for the run's result, ``delay``: seconds of sleep per
frame through the model, optional) forks a child in a session of its own (its ffmpeg children share its process
group, so killing the group is a power cut), prints ``pid PID``, waits for it and prints ``exit PID STATUS``. A
fresh interpreter per run would spend most of the test's time importing Paddle.
"""
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def child(up, job):
    os.setsid()
    from realesrgan_paddle.inference.video import frame_loop
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    if job.get('delay'):
        run_model = frame_loop.run_model

        def slow(u, frames, *args, **kwargs):
            time.sleep(job['delay'] * len(frames))
            return run_model(u, frames, *args, **kwargs)
        frame_loop.run_model = slow
    try:
        res = upscale_video_segmented(up, job['src'], job['dst'], progress=False,
                                      options=VideoOptions(segment_seconds=job['segment_seconds'], temporal='off'))
        out = dict(ok=True, reused=res['reused'], segments=res['segments'], frames=res['frames'])
    except Exception as e:  # the test reads the one line
        out = dict(ok=False, error=f'{type(e).__name__}: {e}')
    Path(job['result']).write_text(json.dumps(out))


def main():
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(sys.argv[1], backend='dynamic')
    print('ready', flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child(up, job)
                code = 0
            finally:
                os._exit(code)
        print('pid', pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print('exit', pid, status, flush=True)


if __name__ == '__main__':
    main()
