"""The one frame loop (inference/video/frame_loop.py) serves one pass, segments and Ray's workers: a real tiny x4 network
that declares x2 is stopped by the loop's output size check in one line on each of the three paths, before a
frame is written; and ``--temporal`` is read in one place."""
import pytest

from tests.inference.segment_clips import make_clip


class DeclaresX2:
    """The tiny x4 network behind an upscaler that says it upscales x2 (a wrong declared scale)."""
    scale = 2

    def __init__(self, model):
        from realesrgan_paddle.inference import Upscaler
        self.net = Upscaler(model, backend='dynamic', progress=False)
        self.model_path = model

    def upscale(self, img, outscale=None):
        return self.net.upscale(img)


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp('loop') / 'clip.mkv', seconds=2)


def _one_line(err, src, frame):
    msg = str(err.value)
    assert '\n' not in msg and msg.startswith(f'{src}: ')
    assert f'{frame} came out 192x128, expected 96x64' in msg, msg


def test_wrong_output_size_is_one_line_in_one_pass_and_segments(tiny_models, clip, tmp_path):
    from realesrgan_paddle.inference.video.segments.resumable import upscale_video_segmented
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.inference.video.one_pass import VideoError, upscale_video
    up = DeclaresX2(tiny_models['srvgg_x4'])
    with pytest.raises(VideoError) as e:
        upscale_video(up, clip, tmp_path / 'one.mkv', progress=False)
    _one_line(e, clip, 'frame 0')
    with pytest.raises(VideoError) as e:
        upscale_video_segmented(up, clip, tmp_path / 'seg.mkv', progress=False, options=VideoOptions(segment_seconds=1))
    _one_line(e, clip, 'frame 0')
    assert not (tmp_path / 'one.mkv').exists() and not (tmp_path / 'seg.mkv').exists()


def test_wrong_output_size_is_one_line_on_a_ray_worker(tiny_models, clip, tmp_path):
    """What a Ray actor runs (``ray_runner.SegmentWorker``: the upscaler set up from the driver's class and
    arguments, one segment), in this process: segment 1 starts with its pre-roll, which the check stops too."""
    from realesrgan_paddle.inference.distributed import ray_runner
    from realesrgan_paddle.inference.video.segments.resumable import prepare
    from realesrgan_paddle.inference.video.one_pass import VideoError
    from realesrgan_paddle.inference.video.options import VideoOptions
    kw = dict(model=tiny_models['srvgg_x4'])
    options = VideoOptions(segment_seconds=1, overlap_frames=0, temporal='off')
    job, parts, spec = prepare(DeclaresX2(**kw), clip, tmp_path / 'ray.mkv', None, options)
    parts.close()
    worker = ray_runner.SegmentWorker(DeclaresX2, kw)
    for k, where in ((0, 'frame 0'), (1, 'a frame before the segment')):
        with pytest.raises(VideoError) as e:
            worker.run(spec, k)
        _one_line(e, clip, where)


def test_temporal_is_read_in_one_place():
    """``VideoOptions`` reads ``temporal`` (``temporal_mode``); the frame loop only turns what it holds into a
    ``Stabiliser`` (a given one carries its state on)."""
    from realesrgan_paddle.inference.video.frame_loop import FrameLoop
    from realesrgan_paddle.inference.video.options import VideoOptions
    from realesrgan_paddle.inference.video.stabiliser import Stabiliser, TemporalError, temporal_mode

    class Job:
        rate, w, h, ow, oh, outscale, src = 10, 8, 8, 32, 32, None, 'x.mkv'
    stab = Stabiliser(mode='static')
    assert [temporal_mode(t) for t in (None, False, '', True, 'static')] == [None, None, None, 'flow', 'static']
    assert FrameLoop(object(), Job, None, VideoOptions(temporal=stab).temporal).stab is stab  # its state carries on
    assert FrameLoop(object(), Job, None, VideoOptions(temporal=True).temporal).stab.mode == 'flow'
    assert FrameLoop(object(), Job, None, VideoOptions(temporal='off').temporal).stab is None
    segmented = VideoOptions(temporal=True, segment_seconds=2)
    assert (segmented.temporal, segmented.overlap_frames) == ('flow', 20)
    with pytest.raises(TemporalError, match='not a Stabiliser'):
        VideoOptions(temporal=stab, segment_seconds=2)
    with pytest.raises(TemporalError, match="got 'yes'"):
        temporal_mode('yes')
