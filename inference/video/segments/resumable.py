"""Segmented, resumable video upscaling end to end: plan or resume (inference/video/segments/plan.py) in the program's own work
folder (inference/video/segments/work_folder.py), run the unfinished segments in this process (``SpanRun``) or on Ray
(``inference/distributed/ray_runner.py``), check every segment, join them."""
import time

from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils.progress import counter

from . import plan as sg
from .work_folder import PartsFolder
from ...distributed.ray_runner import run_segments
from .span_run import OVERLAP_FRAMES, TEMPORAL_OVERLAP, SpanRun, SpanSpec
from ..stabiliser import DEFAULT_MODE, temporal_mode
from ..one_pass import Job, pick_preset, pick_x264_params


def prepare(upscaler, src, dst, outscale, crf, preset, segment_seconds, overlap, temporal=None):
    """The probed job, its work folder (opened and locked: close it) and saved/new plan: ``(job, parts, spec)``."""
    x264_params = pick_x264_params(upscaler, preset)
    preset = pick_preset(upscaler, preset)
    job = Job(upscaler, src, dst, outscale, crf, preset)
    job.cleanup()
    options = dict(crf=crf, preset=preset, x264_params=x264_params, outscale=outscale,
                   segment_seconds=segment_seconds, overlap=overlap, temporal=temporal, w=job.ow, h=job.oh)
    fp = sg.fingerprint(src, upscaler, options)
    parts = PartsFolder(dst).open()
    try:
        parts.remove_stale()
        fresh = sg.make_plan(job.exe, job.src, job.rate, job.total, segment_seconds, overlap)  # a saved plan: equal
        fresh['fingerprint'] = fp
        try:
            state = parts.load(fresh)
        except OSError as e:
            raise sg.disk_error(dst, parts, e, 0) from None
        spec = SpanSpec(job, state, crf, preset, x264_params, outscale, overlap, temporal)
    except BaseException:
        parts.close()
        raise
    return job, parts, spec


def _mode(temporal, overlap_frames):
    temporal = temporal_mode(temporal, named=True)  # a bad mode fails here, before ffmpeg starts
    if overlap_frames is None:
        overlap_frames = TEMPORAL_OVERLAP if temporal else OVERLAP_FRAMES
    return temporal, overlap_frames


def upscale_video_segmented(upscaler, src, dst, outscale=None, crf=18, preset=None, progress=True,
                            segment_seconds=sg.SEGMENT_SECONDS, overlap_frames=None, ray=None, workers=None,
                            keep_parts=False, temporal=DEFAULT_MODE):
    """Upscale ``src`` into ``dst`` segment by segment, resuming from ``dst``'s work folder (see the module
    docstrings). ``ray``: None (this process), 'auto', 'local' or a cluster address (``inference/distributed/ray_runner.py``).
    ``temporal``: a mode of ``inference.video.stabiliser`` ('flow' by default, True is 'flow', 'off'/False/None plain); each segment then starts ``overlap_frames``
    early (default ``TEMPORAL_OVERLAP``, else ``OVERLAP_FRAMES``). Returns the dict of
    ``inference.video.one_pass.upscale_video`` plus ``segments`` and ``reused``; ``frames`` is counted in the joined file."""
    t0 = time.perf_counter()
    temporal, overlap_frames = _mode(temporal, overlap_frames)
    job, parts, spec = prepare(upscaler, src, dst, outscale, crf, preset, segment_seconds, overlap_frames, temporal)
    try:
        n = len(spec.starts)
        done = parts.reusable(spec)
        upscaled, seconds = _run(upscaler, spec, job, parts, [k for k in range(n) if k not in done], ray, workers,
                                 progress, done)
        _check_all(parts, spec, dst)
        frames = sg.join_segments(job.exe, job.src, parts, n, dst, job.info['has_audio'], job.info.get('format'))
        if not keep_parts:
            parts.clear()
    finally:
        parts.close()
    sg.log.info('%s: %d segments, %d reused from %s', dst, n, len(done), parts)
    return dict(frames=frames, upscaled=upscaled, fps=str(job.rate), width=job.ew, height=job.eh,
                audio=bool(job.info['has_audio']), seconds=time.perf_counter() - t0,
                model_seconds=seconds and seconds[0], temporal_seconds=seconds and seconds[1],
                segments=n, reused=len(done))


def _run(upscaler, spec, job, parts, todo, ray, workers, progress, done):
    """The segments ``todo``, here or on Ray: ``(frames through the model, (model s, temporal s) or None)``."""
    n = len(spec.starts)
    bar = None
    if progress:  # a bar on a terminal, a line a tenth (or every LOG_EVERY_S s) with the ETA in a log
        reused = sum(parts.state['done'][str(k)]['frames'] for k in done)
        bar = counter(job.total, job.src.name, 'frame', initial=reused)
    upscaled, seconds = 0, None  # seconds: (model, temporal) of this process's spans; None on Ray's workers
    try:
        if ray:
            upscaled = run_segments(upscaler, spec, todo, parts, ray, workers, bar)
        else:
            seconds = [0.0, 0.0]
            for k0, k1 in sg.spans(todo):
                run = SpanRun(upscaler, spec, k0, k1, parts.path, job.exe, bar.update if bar is not None else None,
                              record=parts.record)
                upscaled += run.run()
                seconds = [seconds[0] + run.model_seconds, seconds[1] + run.temporal_seconds]
    except OSError as e:
        raise sg.disk_error(job.dst, parts, e, len(parts.finished(n))) from None
    finally:
        if bar is not None:
            bar.close()
    return upscaled, seconds


def _check_all(parts, spec, dst):
    """Every segment checked before the join (those made by this run too): one line for the first that fails."""
    parts.check()
    for k in range(len(spec.starts)):
        st = parts.lstat(sg.segment_name(k))
        reason = 'missing' if st is None else parts.check_segment(k, spec)
        if reason is not None:
            raise VideoError(f'{parts}/{sg.segment_name(k)}: {reason}; {dst} not written (run again to make it '
                             'again)')
