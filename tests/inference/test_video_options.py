"""One video run's settings are one frozen ``VideoOptions`` (inference/video/options.py, issue 80), made and checked
once: ``temporal`` is read by it alone, on a real one-pass run and a real segmented run of a clip; the command line's
default (segments of 10 s) and the API's (one pass) differ as docs/scale.md says."""
import dataclasses

import pytest

from tests.inference.segment_clips import make_clip


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp('options') / 'clip.mkv', seconds=2)


def test_the_options_are_normalised_and_checked_when_made():
    from realesrgan_paddle.inference.video.options import SEGMENT_SECONDS, TEMPORAL_OVERLAP, VideoOptions
    from realesrgan_paddle.inference.video.stabiliser import Stabiliser, TemporalError
    one = VideoOptions()
    assert (one.segmented, one.temporal, one.segment_seconds) == (False, 'flow', None)
    assert [VideoOptions(temporal=t).temporal for t in (True, 'off', False, None, 'static')] == \
        ['flow', None, None, None, 'static']
    assert VideoOptions(segment_seconds=0).segmented is False  # 0: one pass, on the command line and the API
    ray = VideoOptions(ray='local')
    assert (ray.segment_seconds, ray.overlap_frames) == (SEGMENT_SECONDS, TEMPORAL_OVERLAP)
    assert VideoOptions(segment_seconds=2, temporal='off').overlap_frames == 0
    assert VideoOptions(segment_seconds=2, overlap_frames=5).overlap_frames == 5
    stab = Stabiliser()
    assert VideoOptions(temporal=stab).temporal is stab
    with pytest.raises(TemporalError, match='not a Stabiliser'):
        VideoOptions(temporal=stab, segment_seconds=3)
    with pytest.raises(TemporalError, match="got 'sometimes'"):
        VideoOptions(temporal='sometimes')
    for bad in (dict(segment_seconds=-1), dict(segment_seconds=float('nan')), dict(workers=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            VideoOptions(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.temporal = 'static'


@pytest.mark.parametrize('settings', [{}, dict(segment_seconds=1)])
def test_a_real_run_reads_temporal_once(up, clip, tmp_path, monkeypatch, settings):
    from realesrgan_paddle.inference.video import options, stabiliser
    from realesrgan_paddle.inference.video.segments import resumable  # noqa: F401  (its default options made first)
    real, calls = stabiliser.temporal_mode, []

    def counted(*a, **kw):
        calls.append(a)
        return real(*a, **kw)
    monkeypatch.setattr(options, 'temporal_mode', counted)
    monkeypatch.setattr(stabiliser, 'temporal_mode', counted)
    res = up.upscale_video(clip, tmp_path / 'out.mkv', progress=False, temporal=True, **settings)
    assert res['frames'] == 20 and (tmp_path / 'out.mkv').is_file()
    assert res.get('segments', 1) > 1 if settings else 'segments' not in res
    assert calls == [(True,)]


def test_settings_and_options_together_are_refused(up, clip, tmp_path):
    from realesrgan_paddle.inference.video.options import VideoOptions
    with pytest.raises(TypeError, match='not both: crf'):
        up.upscale_video(clip, tmp_path / 'out.mkv', options=VideoOptions(), crf=20)


def test_the_command_line_segments_and_the_api_runs_one_pass_as_the_docs_say():
    from pathlib import Path

    from realesrgan_paddle.inference.upscale_cli import build_parser
    from realesrgan_paddle.inference.video.options import SEGMENT_SECONDS, VideoOptions
    args = build_parser('infer.py', '', '').parse_args(['-i', 'a.mp4'])
    assert args.segment_seconds == SEGMENT_SECONDS and VideoOptions(segment_seconds=args.segment_seconds).segmented
    assert not VideoOptions().segmented
    scale = (Path(__file__).resolve().parents[2] / 'docs' / 'scale.md').read_text(encoding='utf-8')
    assert 'The command line and the API differ here on purpose.' in scale
