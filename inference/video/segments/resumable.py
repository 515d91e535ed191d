"""Segmented, resumable video upscaling end to end: plan or resume (inference/video/segments/plan.py) in the program's own work
folder (inference/video/segments/work_folder.py), run the unfinished segments in this process (``SpanRun``) or on Ray
(``inference/distributed/ray_runner.py``), check every segment, join them."""
import time

from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils.progress import counter

from . import plan as sg
from .work_folder import PartsFolder
from ...distributed.ray_runner import run_segments
from .span_run import SpanRun, SpanSpec
from ..one_pass import Job, pick_preset, pick_x264_params
from ..options import SEGMENT_SECONDS, VideoOptions


def prepare(upscaler, src, dst, outscale, options):
    """The probed job, its work folder (opened and locked: close it) and saved/new plan: ``(job, parts, spec)``."""
    x264_params = pick_x264_params(upscaler, options.preset)
    preset = pick_preset(upscaler, options.preset)
    job = Job(upscaler, src, dst, outscale, options)
    job.cleanup()
    seconds, overlap = options.segment_seconds, options.overlap_frames
    fp = sg.fingerprint(src, upscaler, dict(crf=options.crf, preset=preset, x264_params=x264_params,
                                            outscale=outscale, segment_seconds=seconds, overlap=overlap,
                                            temporal=options.temporal, w=job.ow, h=job.oh))
    parts = PartsFolder(dst).open()
    try:
        parts.remove_stale()
        fresh = sg.make_plan(job.exe, job.src, job.rate, job.total, seconds, overlap)  # a saved plan: equal
        fresh['fingerprint'] = fp
        try:
            state = parts.load(fresh)
        except OSError as e:
            raise sg.disk_error(dst, parts, e, 0) from None
        spec = SpanSpec(job, state, options, preset, x264_params, outscale)
    except BaseException:
        parts.close()
        raise
    return job, parts, spec


SEGMENTED = VideoOptions(segment_seconds=SEGMENT_SECONDS)  # the default: segments of 10 s, --temporal flow


def upscale_video_segmented(upscaler, src, dst, outscale=None, options=SEGMENTED, progress=True):
    """Upscale ``src`` into ``dst`` segment by segment, resuming from ``dst``'s work folder (see the module
    docstrings), with the settings ``options`` (``VideoOptions``, segmented: its ``segment_seconds``, ``ray`` (None:
    this process; 'auto', 'local' or a cluster address, ``inference/distributed/ray_runner.py``) and ``workers``,
    ``temporal`` (a mode name), ``overlap_frames`` (the frames each segment starts early), ``keep_parts``).
    Returns the dict of ``inference.video.one_pass.upscale_video`` plus ``segments`` and ``reused``; ``frames`` is
    counted in the joined file."""
    if not options.segmented:
        raise ValueError('upscale_video_segmented needs options with segment_seconds or ray')
    t0 = time.perf_counter()
    job, parts, spec = prepare(upscaler, src, dst, outscale, options)
    try:
        n = len(spec.starts)
        done = parts.reusable(spec)
        upscaled, seconds = _run(upscaler, spec, job, parts, [k for k in range(n) if k not in done], options.ray,
                                 options.workers, progress, done)
        _check_all(parts, spec, dst)
        frames = sg.join_segments(job.exe, job.src, parts, n, dst, job.info['has_audio'], job.info.get('format'))
        if not options.keep_parts:
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
