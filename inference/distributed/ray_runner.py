"""Segments as Ray tasks: ``--ray auto|local|ADDRESS`` with ``--workers N``.

Each worker is a Ray actor that sets the model up once (the driver's ``Upscaler`` arguments) and encodes whole
segments with ``SpanRun``; it returns the segment's bytes and the driver writes them into the work folder
(atomically), so workers on other machines need the input at the same path but no shared output folder. An actor
that dies is restarted (``max_restarts``) and its segment retried (``max_task_retries``). With GPUs in the cluster
each actor asks for one (``num_gpus=1``) and runs on ``gpu``; that path has not run here (no GPU).

``ray`` is an optional extra (requirements-ray.txt), imported only here.
"""
import logging
import os
import tempfile
from pathlib import Path

import realesrgan_paddle
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
from realesrgan_paddle.media.video_reader import VideoError
from realesrgan_paddle.utils import runtime_env

from . import ray_local, ray_probe
from ..video.segments.span_run import SpanRun
from ..video.segments.plan import segment_name

INSTALL = 'pip install -r requirements-ray.txt'
RETRIES = 3
# Ray waits 30 s for its raylet (hard-coded); a busy machine can take longer, so a local cluster is tried again
LOCAL_START_TRIES = 3
log = logging.getLogger('inference')


def package_parent():
    """The folder holding the package ``realesrgan_paddle`` (a clone's root, or site-packages): the workers'
    ``PYTHONPATH``, which never exposes the rooms as top-level modules."""
    return str(Path(realesrgan_paddle.__file__).resolve().parents[1])


def import_ray():
    try:
        import ray
    except ImportError:
        raise VideoError(f'--ray needs the ray package, which is not installed: {INSTALL}') from None
    return ray


def connect(ray, address, workers):
    """Join a cluster (address, 'auto') or start a local one ('local', ``inference/distributed/ray_local.py``: loopback only,
    its own temp folder, gone with the driver) sized for ``workers``."""
    if ray.is_initialized():
        return
    env = dict(env_vars={'PYTHONPATH': package_parent(), 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'),
                         'MKL_DEBUG_CPU_TYPE': '5'})
    kw = dict(runtime_env=env, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    if address != 'local':
        reachable(ray, address)
        try:
            ray.init(address=address, **kw)
        except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError by the address's kind
            ray.shutdown()
            raise VideoError(f'--ray {address}: cannot connect to the Ray cluster ({first_line(e)})') from None
        return
    if os.environ.get('RAY_ADDRESS'):
        log.info('--ray local: RAY_ADDRESS=%s is ignored (local starts a cluster of its own on this machine; '
                 '--ray auto joins the one RAY_ADDRESS names)', os.environ['RAY_ADDRESS'][:200])
    for attempt in range(LOCAL_START_TRIES):
        try:
            ray_local.start(ray, max(1, int(workers or 2)), **kw)
            return
        except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception when its raylet starts too slowly
            ray.shutdown()
            reason = first_line(e)
            log.info('--ray local: Ray could not start (attempt %d of %d): %s', attempt + 1, LOCAL_START_TRIES,
                     reason)
    raise VideoError(f'--ray local: Ray could not start a cluster on this machine ({reason})')


def reachable(ray, address):
    """A ``VideoError`` (one line, within ``ray_probe``'s bounds: 26 s at most) when the cluster at ``address``
    cannot be reached, before ``ray.init`` retries for minutes: 'auto' read as Ray reads it (``RAY_ADDRESS``, else
    the last cluster started on this machine), and a loopback host probed as Ray rewrites it (``ray_probe``)."""
    used, label = None, address
    if not str(address).startswith('ray://'):
        services = getattr(getattr(ray, '_private', None), 'services', None)
        canonical = getattr(services, 'canonicalize_bootstrap_address', None)
        if canonical is not None:
            try:
                used = canonical(address)
            except Exception as e:  # noqa: BLE001 - ConnectionError (no cluster for 'auto'), ValueError (a bad form)
                raise VideoError(f'--ray {address}: cannot connect to the Ray cluster ({first_line(e)})') from None
    if address == 'auto':
        if used is None:
            return  # Ray found no address, and will say so itself
        label, used = used, None
    try:
        why = ray_probe.check_address(label, used)
    except ValueError as e:
        raise VideoError(str(e)) from None
    if why:
        raise VideoError(why if address != 'auto' else why.replace(f'--ray {label}:', f'--ray auto ({label}):', 1))


def first_line(exc, limit=200):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


class SegmentWorker:
    """One Ray actor: the model, set up once, and segments encoded on request. Each segment is encoded in a
    temporary folder inside ``tmp_root`` when that folder is there (a local cluster's own, removed with the cluster
    even when its processes were killed mid-segment), else in the worker's system temp."""

    def __init__(self, cls, upscaler_kwargs, tmp_root=None):
        runtime_env.setup()
        self.up = cls(**upscaler_kwargs)  # the driver's class (pickled by reference), set up as the driver's
        self.tmp_root = tmp_root if tmp_root and Path(tmp_root).is_dir() else None

    def run(self, spec, k):
        """Segment ``k``: ``(k, its bytes, frames through the model, frames written)``."""
        with tempfile.TemporaryDirectory(prefix='resr-seg-', dir=self.tmp_root) as tmp:
            span = SpanRun(self.up, spec, k, k + 1, tmp, ffmpeg_exe())
            upscaled = span.run()
            return k, (Path(tmp) / segment_name(k)).read_bytes(), upscaled, span.pos - spec.starts[k]


def upscaler_kwargs(up, gpu):
    kw = dict(getattr(up, 'init_kwargs', None) or {})
    if not kw:
        kw = dict(model=str(up.model_path), tile=up.tile, tile_pad=up.tile_pad, pre_pad=up.pre_pad,
                  outscale=up.outscale)
    kw['progress'] = False
    if gpu:
        kw['device'] = 'gpu'
    return kw


def run_segments(upscaler, spec, todo, folder, address, workers, bar):
    """Encode the segments ``todo`` on Ray actors, each written into ``folder`` as it comes back; returns the frames
    that went through the model (as ``SpanRun.run``: repeated frames and pre-roll not counted)."""
    if not todo:
        return 0
    ray = import_ray()
    connect(ray, address, workers)
    gpus = int(ray.cluster_resources().get('GPU', 0))
    n = max(1, int(workers or (gpus or int(ray.cluster_resources().get('CPU', 1)))))
    opts = dict(max_restarts=RETRIES, max_task_retries=RETRIES, num_cpus=1, num_gpus=1 if gpus else 0)
    actor = ray.remote(**opts)(SegmentWorker)
    kwargs, tmp_root = upscaler_kwargs(upscaler, gpus), ray_local.current_temp()  # None unless --ray local
    pool = [actor.remote(type(upscaler), kwargs, tmp_root) for _ in range(min(n, len(todo)))]
    pending, queue, upscaled = {}, list(todo), 0
    try:
        while queue or pending:
            for w in pool:
                if queue and w not in pending.values():
                    pending[w.run.remote(spec, queue.pop(0))] = w
            try:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                pending.pop(ref)
                k, data, through_model, written = ray.get(ref)
            except ray.exceptions.RayError as e:
                if isinstance(getattr(e, 'cause', None), VideoError):  # the worker's own one line (the frame loop's)
                    raise VideoError(str(e.cause)) from None
                raise VideoError(f'{spec.src}: a Ray worker failed ({str(e).strip().splitlines()[-1][:300]})') from None
            except ConnectionError as e:  # an OSError, which the caller would call a write error
                raise VideoError(f'{spec.src}: the connection to Ray was lost ({first_line(e)})') from None
            folder.store_bytes(k, data, written)  # inference.video.segments.work_folder.PartsFolder: recorded, synced, renamed
            upscaled += through_model  # the last segment's too (it runs to the end of the video, no next cut)
            if bar is not None:
                bar.update(written)
    finally:
        for w in pool:
            ray.kill(w)
    return upscaled
