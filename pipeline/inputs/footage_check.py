"""Before the run spends minutes: is there enough footage? One line, up front, saying what the run needs.

A 4-second phone clip gave 4 training frames and LQ frames too small for the degradation fit (44x36); the run
trained for minutes and exported the base. ``shortfall`` estimates the keyframes the clips give at ``--every``
(one every ``every`` seconds, from 0) against what the split needs (``pipeline.inputs.split``: ``WANT_HELDOUT`` held out
to judge the checkpoints, ``MIN_TRAIN`` to train, and the frames within ``--gap`` of the held-out part), and the
``--lq-videos`` frames' size against what the fit measures (``data.fit.lq_stats.MIN_MEASURE_SIDE``). Videos only:
photo folders are counted by the photo stage."""
import math

from realesrgan_paddle.data.fit.lq_source import list_sources
from realesrgan_paddle.data.fit.lq_stats import MIN_MEASURE_SIDE
from realesrgan_paddle.media.ffmpeg import probe_video

from .real_lq import footage_size
from .split import MIN_TRAIN, WANT_HELDOUT


def _probe(path):
    try:
        info = probe_video(str(path))
    except Exception:  # noqa: BLE001  an unreadable clip is refused with its own line by the keyframe stage
        return None
    return info


def keyframes_needed(every, gap, clips=1):
    """What the split needs: held out + train + the frames each clip loses to the gap."""
    return WANT_HELDOUT + MIN_TRAIN + clips * math.ceil(gap / every)


def _lq_sizes(lq_paths):
    """``[(name, (width, height))]`` of the --lq-videos sources (videos and image folders)."""
    return [footage_size(kind, src) for kind, src in list_sources(lq_paths)]


def shortfall(videos, every, gap, lq_paths=()):
    """The warning line when the footage is too little for a run that can beat the base, else None. Run after
    the up-front refusals (``check_lq_footage``): the LQ sources are known to read."""
    infos = [i for i in map(_probe, videos) if i and i.get('duration')]
    problems = []
    if infos:
        seconds = sum(float(i['duration']) for i in infos)
        have = sum(int(float(i['duration']) // every) + 1 for i in infos)
        need = keyframes_needed(every, gap, len(infos))
        if have < need:
            problems.append(f'{seconds:.1f} s of video gives about {have} keyframes at --every {every:g}, the run '
                            f'needs about {need} ({WANT_HELDOUT} held out to judge it, {MIN_TRAIN} to train, the '
                            f'rest lost to --gap): give at least {need * every:.0f} s of video, or a smaller --every')
    small = [(n, s) for n, s in (_lq_sizes(lq_paths) if lq_paths else []) if min(s) < MIN_MEASURE_SIDE]
    if small:
        (w, h) = small[0][1]
        problems.append(f'the --lq-videos frames are {w}x{h}, under the {MIN_MEASURE_SIDE} px a side the '
                        f'degradation fit measures (it falls back to the generic degradation)')
    if not problems:
        return None
    return ('WARNING: too little footage to finetune on: ' + '; '.join(problems)
            + '. The run goes on, but expect it to export the base')
