"""Segments as Ray tasks on a local cluster of 2 workers: the frames equal a one-pass run's, the audio is kept,
and a worker that dies mid-segment (a test hook: the first attempt of segment 1 exits) has its segment retried."""
import pytest

from tests.inference.segment_clips import decoded, make_clip, mean_psnr, stream_kinds

ray = pytest.importorskip('ray', reason='ray is not installed: pip install -r requirements-ray.txt')


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """One local cluster for the module; the die hook's marker lives in a temp folder."""
    import os
    marker = tmp_path_factory.mktemp('ray') / 'died'
    os.environ['RESR_TEST_DIE_SEGMENT'] = f'1:{marker}'
    from inference.ray_runner import connect
    connect(ray, 'local', 2)
    yield marker
    ray.shutdown()
    os.environ.pop('RESR_TEST_DIE_SEGMENT', None)


def test_ray_two_workers_equal_one_pass_and_retry_a_dead_worker(tiny_models, cluster, tmp_path):
    from inference import Upscaler
    from inference.video import upscale_video
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic')
    src = make_clip(tmp_path / 'match.mkv', seconds=4)
    upscale_video(up, src, tmp_path / 'one.mkv', progress=False)
    res = up.upscale_video(src, tmp_path / 'out.mkv', progress=False, segment_seconds=1, ray='local', workers=2)
    assert res['segments'] == 4 and res['frames'] == 40
    assert cluster.exists()  # segment 1's first worker died; the result is whole all the same
    (frames, pts), (ref, ref_pts) = decoded(tmp_path / 'out.mkv'), decoded(tmp_path / 'one.mkv')
    assert len(frames) == len(ref) == 40 and pts == ref_pts
    assert mean_psnr(frames, ref) >= 40
    assert stream_kinds(tmp_path / 'out.mkv')[:2] == ['Video', 'Audio']
