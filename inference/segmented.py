"""Segmented, resumable video upscaling end to end: plan or resume (inference/segments.py), run the unfinished
segments in this process (``SpanRun``) or on Ray (``inference/ray_runner.py``), join them."""
import subprocess
import time

from . import segments as sg
from .segment_run import OVERLAP_FRAMES, TEMPORAL_OVERLAP, SpanRun, SpanSpec
from .video import _Job, pick_preset, pick_x264_params
from realesrgan_paddle.media.video_reader import VideoError


def prepare(upscaler, src, dst, outscale, crf, preset, segment_seconds, overlap, temporal=None):
    """The probed job, its work folder and saved/new plan: ``(job, folder, state, spec)``."""
    x264_params = pick_x264_params(upscaler, preset)
    preset = pick_preset(upscaler, preset)
    job = _Job(upscaler, src, dst, outscale, crf, preset)
    job.cleanup()
    folder = sg.parts_dir(dst)
    options = dict(crf=crf, preset=preset, x264_params=x264_params, outscale=outscale,
                   segment_seconds=segment_seconds, overlap=overlap, temporal=temporal, w=job.ow, h=job.oh)
    fp = sg.fingerprint(src, upscaler, options)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise VideoError(f'{folder}: cannot make the work folder ({e.strerror or e})') from None
    sg.remove_stale(folder)
    state = sg.load_state(folder, fp)
    if state is None:
        state = sg.make_plan(job.exe, job.src, job.rate, job.total, segment_seconds)
        state['fingerprint'] = fp
        try:
            sg.save_state(folder, state)
        except OSError as e:
            raise sg.disk_error(dst, folder, e, 0) from None
    spec = SpanSpec(job, state, crf, preset, x264_params, outscale, overlap, temporal)
    return job, folder, state, spec


def upscale_video_segmented(upscaler, src, dst, outscale=None, crf=18, preset=None, progress=True,
                            segment_seconds=sg.SEGMENT_SECONDS, overlap_frames=None, ray=None, workers=None,
                            keep_parts=False, temporal=None):
    """Upscale ``src`` into ``dst`` segment by segment, resuming from ``dst``'s work folder (see the module
    docstrings). ``ray``: None (this process), 'auto', 'local' or a cluster address (``inference/ray_runner.py``).
    ``temporal``: a mode of ``inference.temporal`` (True is 'flow'); each segment then starts ``overlap_frames``
    early (default ``TEMPORAL_OVERLAP``, else ``OVERLAP_FRAMES``). Returns the dict of
    ``inference.video.upscale_video`` plus ``segments`` and ``reused``."""
    t0 = time.perf_counter()
    from .temporal import TemporalError, make_stabiliser
    if temporal is True:
        temporal = 'flow'
    if temporal is not None and temporal is not False and not isinstance(temporal, str):
        raise TemporalError('segmented video takes temporal as a mode name (flow or static), not a Stabiliser')
    make_stabiliser(temporal or None)  # a bad mode fails here, before ffmpeg starts
    temporal = temporal or None
    if overlap_frames is None:
        overlap_frames = TEMPORAL_OVERLAP if temporal else OVERLAP_FRAMES
    job, folder, state, spec = prepare(upscaler, src, dst, outscale, crf, preset, segment_seconds, overlap_frames,
                                       temporal)
    n = len(spec.starts)
    done = sg.done_segments(folder, n)
    todo = [k for k in range(n) if k not in done]
    reused_frames = sum((spec.seg_end(k) or job.total or spec.starts[k]) - spec.starts[k] for k in done)
    bar = None
    if progress:  # a bar on a terminal, a line a tenth (or every LOG_EVERY_S s) with the ETA in a log
        from realesrgan_paddle.utils.progress import counter
        bar = counter(job.total, job.src.name, 'frame', initial=reused_frames)
    upscaled, seconds = 0, None  # seconds: (model, temporal) of this process's spans; None on Ray's workers
    try:
        if ray:
            from .ray_runner import run_segments
            upscaled = run_segments(upscaler, spec, todo, folder, ray, workers, bar)
        else:
            seconds = [0.0, 0.0]
            for k0, k1 in sg.spans(todo):
                run = SpanRun(upscaler, spec, k0, k1, folder, job.exe, bar.update if bar is not None else None)
                upscaled += run.run()
                seconds = [seconds[0] + run.model_seconds, seconds[1] + run.temporal_seconds]
    except OSError as e:
        raise sg.disk_error(dst, folder, e, len(sg.done_segments(folder, n))) from None
    finally:
        if bar is not None:
            bar.close()
    sg.join_segments(job.exe, job.src, folder, n, dst, job.info['has_audio'])
    frames = _frames_of(folder, n, spec, job)
    if not keep_parts:
        sg.clear_folder(folder)
    sg.log.info('%s: %d segments, %d reused from %s', dst, n, len(done), folder)
    return dict(frames=frames, upscaled=upscaled, fps=str(job.rate), width=job.ew, height=job.eh,
                audio=bool(job.info['has_audio']), seconds=time.perf_counter() - t0,
                model_seconds=seconds and seconds[0], temporal_seconds=seconds and seconds[1],
                segments=n, reused=len(done))


def _frames_of(folder, n, spec, job):
    """Frames written: the slots up to the last cut plus the last segment's (read from its encoder count)."""
    return spec.starts[-1] + _count_frames(job.exe, folder / sg.segment_name(n - 1))


def _count_frames(exe, path):
    res = subprocess.run([exe, '-hide_banner', '-nostdin', '-i', str(path), '-map', '0:v:0', '-c', 'copy', '-f', 'null',
                          '-'], capture_output=True, text=True, errors='replace')
    tail = res.stderr.rsplit('frame=', 1)
    return int(tail[1].split()[0]) if len(tail) == 2 else 0
