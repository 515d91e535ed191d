"""Pairs of consecutive real LQ frames for the temporal loss (``loss/temporal_agreement.py``): asked for with
a ``train.losses`` entry (``-o 'train.losses.l_g_temp={"type": "TemporalLoss", "weight": W}'``, or
the official spelling's temporal section) and made from ``--lq-videos``.

- ``temporal_wanted(overrides)``: whether the user's ``-o`` ask for the term.
- ``write_lq_pairs(lq_paths, out, pairs, holdout)``: up to ``pairs`` pairs (frame t, frame t+1) spread evenly over
  the first ``1 - holdout`` of each LQ source (the evaluation holds out the rest), written as ``<name>_t0.png`` and
  ``<name>_t1.png`` (``data/datasets/real_lq_flow_pairs.py`` reads them). One ffmpeg pass per video: its
  ``select`` filter keeps frames ``n`` and ``n + 1`` of every ``k``-th, and a pair counts only when the two frames'
  indices (from their times) are consecutive. An image folder's sorted files are its frames.
- ``temporal_overrides(...)``: the ``datasets.real_lq_pairs`` override the recipe gets, the pairs made once.
"""
import json
from pathlib import Path

from realesrgan_paddle.data.fit.lq_source import FootageError, list_sources
from realesrgan_paddle.media.ffmpeg import probe_video
from realesrgan_paddle.media.image_io import ImageReadError, imread, imwrite
from realesrgan_paddle.media.video_reader import FrameReader, VideoError
from realesrgan_paddle.training.option_file import overrides_need
from realesrgan_paddle.utils.fileio import atomic_write_text

from ..context import DomainError
from .real_lq import clip_stem
from ..stages.data import split_holdout

PAIRS = 60  # pairs of consecutive LQ frames over the training span (as many as the consistency loss's frames)
CROP, BATCH = 32, 2  # LQ crop and pairs per step


def temporal_wanted(overrides):
    """Whether ``overrides`` (``-o KEY=VALUE`` strings) switch on a loss that reads consecutive real LQ frames (one
    registered with ``dataset='real_lq_pairs'``, the temporal loss)."""
    return overrides_need(overrides, 'real_lq_pairs')


def _video_pairs(path, holdout, pairs):
    """``[(index, frame t, frame t+1)]`` of consecutive frames spread over the first ``1 - holdout`` of ``path``."""
    info = probe_video(path)
    dur, fps = info.get('duration') or 0.0, info.get('fps') or 25.0
    end = dur * (1.0 - holdout) if dur else None
    k = max(2, int((end or 60.0) * fps // max(1, pairs)))
    cond = f'lt(mod(n\\,{k})\\,2)' + (f'*lt(t\\,{end:.3f})' if end else '')
    out, prev = [], None
    reader = FrameReader(path, filters=[f'select={cond}'])
    try:
        for frame, fi in reader:
            if end is not None and fi['time'] is not None and fi['time'] >= end:
                break
            idx = fi['frame_index']
            if prev is not None and idx is not None and prev[0] is not None and idx == prev[0] + 1:
                out.append((prev[0], prev[1], frame))
                prev = None
                if len(out) >= pairs:
                    break
                continue
            prev = (idx, frame)
    except VideoError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    finally:
        reader.close()
    return out


def _image_pairs(files, holdout, pairs):
    n = int(len(files) * (1.0 - holdout))
    starts = sorted({int(round(i)) for i in (range(n - 1) if n - 1 <= pairs else
                                              [j * (n - 2) / max(1, pairs - 1) for j in range(pairs)])})
    out = []
    for i in starts:
        try:
            a, b = imread(files[i]), imread(files[i + 1])
        except (ImageReadError, OSError, ValueError) as exc:
            raise DomainError(f'--lq-videos: {files[i]}: not a readable image ({exc})') from None
        if a.shape == b.shape:
            out.append((i, a, b))
    return out


def write_lq_pairs(lq_paths, out, pairs=PAIRS, holdout=0.2):
    """Write the pairs into ``out`` (see the module's docstring); their count (0: none found)."""
    try:
        sources = list_sources(lq_paths)
    except FootageError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    per = max(1, -(-int(pairs) // max(1, len(sources))))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for kind, src in sources:
        found = _video_pairs(src, holdout, per) if kind == 'video' else _image_pairs(src, holdout, per)
        stem = clip_stem(src) if kind == 'video' else clip_stem(Path(src[0]).parent)
        for idx, a, b in found:
            imwrite(out / f'{stem}_{idx:06d}_t0.png', a)
            imwrite(out / f'{stem}_{idx:06d}_t1.png', b)
        n += len(found)
    atomic_write_text(out / 'done.json', json.dumps({'pairs': n}))
    return n


def temporal_overrides(ctx, part):
    """``datasets.real_lq_pairs`` reading ``part/real_lq_pairs`` (made once from --lq-videos) when the user's -o
    ask for the temporal loss; none otherwise; one line when there are no LQ videos or no consecutive frames."""
    if not temporal_wanted(ctx.s.overrides):
        return []
    if not ctx.s.lq_videos:
        raise DomainError('the temporal loss (TemporalLoss) needs consecutive real LQ frames: give --lq-videos')
    out = Path(part) / 'real_lq_pairs'
    done = out / 'done.json'
    if not done.is_file():
        h = split_holdout(ctx)
        n = write_lq_pairs(ctx.s.lq_videos, out, PAIRS, h)
        ctx.say(f'temporal loss: {n} pairs of consecutive real LQ frames from the first {100 * (1 - h):.0f} % of '
                'each LQ clip')
    n = json.loads(done.read_text())['pairs']
    if not n:
        raise DomainError(f'--lq-videos: no two consecutive frames of one size in the training part of '
                          f'{", ".join(map(str, ctx.s.lq_videos))}: the temporal loss has nothing to compare')
    data = {'dataroot_lq': str(out), 'crop': CROP, 'batch_size': BATCH}
    return [f'datasets.real_lq_pairs={json.dumps(data)}']
