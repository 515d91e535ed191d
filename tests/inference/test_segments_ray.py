"""Segments as Ray tasks on a local cluster of 2 workers: the frames equal a one-pass run's, the audio is kept,
and a worker that dies mid-segment (the test installs a worker class whose first attempt at segment 1 exits) has
its segment retried; the frames through the model are counted, the last segment's included. The cluster's folder
is its own and goes with it, with the segments' temporary folders."""
from pathlib import Path

import pytest

from tests.inference.segment_clips import decoded, make_clip, mean_psnr, stream_kinds

ray = pytest.importorskip('ray', reason='ray is not installed: pip install -r requirements-ray.txt')


@pytest.fixture(scope='module')
def cluster():
    """One local cluster of 2 workers for the module (``--ray local``'s: ``inference/distributed/ray_local.py``); yields its
    temp folder, and stops it."""
    from realesrgan_paddle.inference.distributed import ray_local
    from realesrgan_paddle.inference.distributed.ray_runner import connect
    connect(ray, 'local', 2)
    yield ray_local.current_temp()
    ray_local.stop(ray)


def dying_worker(marker):
    """A SegmentWorker whose first attempt at segment 1 makes its process exit (``marker`` records it). Defined
    here, not at module level, so that Ray ships the class by value to the workers."""
    from realesrgan_paddle.inference.distributed.ray_runner import SegmentWorker

    class DyingWorker(SegmentWorker):
        def run(self, spec, k):
            import os
            from pathlib import Path
            if k == 1 and not Path(marker).exists():
                Path(marker).touch()
                os._exit(1)
            Path(f'{marker}.{k}').write_text(str(self.tmp_root))  # where the segment's temporary folder goes
            return super().run(spec, k)

    return DyingWorker


def test_ray_two_workers_equal_one_pass_and_retry_a_dead_worker(tiny_models, cluster, tmp_path, monkeypatch):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.distributed import ray_runner
    from realesrgan_paddle.inference.video.one_pass import upscale_video
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    src = make_clip(tmp_path / 'match.mkv', seconds=4)
    one = upscale_video(up, src, tmp_path / 'one.mkv', progress=False)
    marker = tmp_path / 'died'
    monkeypatch.setattr(ray_runner, 'SegmentWorker', dying_worker(str(marker)))
    res = up.upscale_video(src, tmp_path / 'out.mkv', progress=False, segment_seconds=1, ray='local', workers=2)
    assert res['segments'] == 4 and res['frames'] == 40
    # frames through the model (a frame equal to the one before is not): one pass's count, the last segment's
    # frames included (they were left out: 26 of 35 here)
    assert res['upscaled'] == one['upscaled'] == 35
    assert marker.exists()  # segment 1's first worker died; the result is whole all the same
    # each segment was encoded in the cluster's own folder, which goes with the cluster (a worker killed mid-segment
    # left its folder in the system temp)
    assert {Path(f'{marker}.{k}').read_text() for k in range(4)} == {str(cluster)}
    (frames, pts), (ref, ref_pts) = decoded(tmp_path / 'out.mkv'), decoded(tmp_path / 'one.mkv')
    assert len(frames) == len(ref) == 40 and pts == ref_pts
    assert mean_psnr(frames, ref) >= 40
    assert stream_kinds(tmp_path / 'out.mkv')[:2] == ['Video', 'Audio']


def declares_x2():
    """The tiny x4 network behind an upscaler that says x2; defined here so that Ray ships it by value."""
    class DeclaresX2:
        scale = 2

        def __init__(self, model, progress=False):
            from realesrgan_paddle.inference import Upscaler
            self.net = Upscaler(model, backend='dynamic', progress=False)
            self.model_path, self.init_kwargs = model, dict(model=model)

        def upscale(self, img, outscale=None):
            return self.net.upscale(img)

    return DeclaresX2


def test_ray_wrong_output_size_is_the_frame_loops_one_line(tiny_models, cluster, tmp_path):
    """The frame loop's output size check on a Ray worker reaches the driver as the worker's own line."""
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.inference.video.one_pass import VideoError
    src = make_clip(tmp_path / 'clip.mkv', seconds=2)
    up = declares_x2()(tiny_models['srvgg_x4'])
    with pytest.raises(VideoError) as e:
        upscale_video_segmented(up, src, tmp_path / 'out.mkv', progress=False,
                                options=VideoOptions(segment_seconds=1, ray='local', workers=2))
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith(f'{src}: ') and 'came out 192x128, expected 96x64' in msg, msg
    assert not (tmp_path / 'out.mkv').exists()


def test_the_local_cluster_leaves_no_folder(cluster):
    """Ray's session folder is the cluster's own (not /tmp/ray), and stopping the cluster removes it."""
    from realesrgan_paddle.inference.distributed import ray_local
    assert cluster and Path(cluster).name.startswith('resr-ray-') and any(Path(cluster).glob('session_*'))
    ray_local.stop(ray)
    assert not ray.is_initialized() and not Path(cluster).exists() and ray_local.current_temp() is None
