"""Stages 1-3: keyframes from the videos, the split by time, the degraded held-out set.

Each ``run_*`` takes the context and the stage's ``.partial`` folder and returns an info dict;
each ``settings_*`` returns what the stage's hash covers.
"""
import argparse
import contextlib
import json
import sys
from pathlib import Path

from realesrgan_paddle.data import make_lq as make_lq_data
from realesrgan_paddle.data.builder.config import FilterConfig
from realesrgan_paddle.data.builder.extract import extract, format_summary
from realesrgan_paddle.data.builder.manifest import Manifest, read_manifest, video_key
from realesrgan_paddle.data.builder.motion import LEVEL, MIN_AREA, THUMB, thumbnail
from realesrgan_paddle.data.builder.sources import find_videos
from realesrgan_paddle.data.degrade.codec import CodecError
from realesrgan_paddle.data.fit.lq_source import FootageError
from realesrgan_paddle.media.ffmpeg import FFmpegNotFound
from realesrgan_paddle.media.image_io import ImageReadError, imread
from realesrgan_paddle.utils.fileio import link_or_copy
from realesrgan_paddle.data.fit.footage_fit import FIT_FRAMES, describe_report, run

from ..context import DomainError
from ..inputs.photos import write_photo_pairs
from ..inputs.real_lq import FRAMES, PAIR_PSNR, extract_heldout, find_pairs, fit_span, match_clips
from ..inputs.split import MAX_HOLDOUT, WANT_HELDOUT, check_counts, scene_notes, split_frames, split_photos, summary_line


def _filter_cfg(s):
    """The builder's filters without its whole-frame hash dedupe: the split judges near-duplicates on what
    moves in each clip (``pipeline.inputs.split``), which a static camera needs."""
    return FilterConfig(min_size=s.min_size, dedupe=None)


def find_input_videos(s):
    try:
        videos = find_videos([str(v) for v in s.videos], s.work)
    except FileNotFoundError as exc:
        raise DomainError(str(exc)) from None
    if not videos and not s.hr_photos:
        raise DomainError(f'no video files in {", ".join(map(str, s.videos))}')
    return videos


def settings_keyframes(ctx):
    return {'videos': [video_key(v) for v in find_input_videos(ctx.s)], 'mode': 'interval',
            'every': ctx.s.every, 'filters': _filter_cfg(ctx.s).as_dict()}


def command_keyframes(ctx, out):
    return ctx.command('tools/extract_keyframes.py', '--input', *ctx.s.videos, '--output', out, '--mode', 'interval',
                       '--every', ctx.s.every, '--min-size', ctx.s.min_size, '--dedupe', 'off')


def run_keyframes(ctx, part):
    videos = find_input_videos(ctx.s)
    try:
        summary = extract([str(v) for v in videos], part, mode='interval', every=ctx.s.every, cfg=_filter_cfg(ctx.s),
                          progress=not ctx.s.quiet, log=lambda line: ctx.say(line))
    except FFmpegNotFound as exc:
        raise DomainError(str(exc)) from None
    except OSError as exc:  # a full disk: one line; the frames written so far and their manifest stay
        written = sum(1 for _ in Path(part).rglob('*.png')) if Path(part).is_dir() else 0
        raise DomainError(f'{exc.filename or part}: cannot write keyframes ({exc.strerror or exc}); {written} '
                          f'frame(s) written so far are kept in {part}; free some space and run again') from None
    ctx.say(format_summary(summary, part).replace(str(part), str(ctx.out('keyframes'))))
    man = Manifest(part)
    kept = len(man.kept)
    rejected = {}
    for rec in man.frames.values():
        if not rec.get('kept'):
            rejected[rec['reason']] = rejected.get(rec['reason'], 0) + 1
    if kept == 0:
        why = ', '.join(f'{k} {v}' for k, v in sorted(rejected.items())) or 'no frame decoded'
        failed = f'; {summary["videos_failed"]} video(s) failed' if summary['videos_failed'] else ''
        raise DomainError(f'nothing kept by the frame filters from {len(videos)} video(s) ({why}{failed}); '
                          f'{_min_size_hint(man, ctx.s.min_size)}')
    return {'videos': len(videos), 'videos_failed': summary['videos_failed'], 'kept': kept, 'rejected': rejected,
            'frames': len(man.frames)}


def _min_size_hint(man, min_size):
    """What to do when nothing was kept: name --min-size, its value and the footage's size when frames were small."""
    sizes = [rec['size'] for rec in man.frames.values() if rec.get('reason') == 'small' and rec.get('size')]
    if not sizes:
        return 'give other footage'
    w, h = max(sizes, key=lambda s: min(s))
    return (f'its frames are {w}x{h}, under --min-size {min_size} (the short side a frame needs; default 200): '
            f'pass --min-size {min(w, h)} to train on them, or give larger footage')


def settings_split(ctx):
    s = ctx.s
    return {'holdout': s.holdout, 'gap': s.gap, 'duplicate': s.duplicate, 'motion': [THUMB, LEVEL, MIN_AREA],
            'want': [WANT_HELDOUT, MAX_HOLDOUT], **({'photos_seed': s.seed} if s.hr_photos else {})}


def _thumbnails(folder, frames):
    out = {}
    for r in frames:
        try:
            out[r['file']] = thumbnail(imread(folder / r['file']))
        except (ImageReadError, OSError) as exc:
            raise DomainError(f'{folder / r["file"]}: cannot read this keyframe ({exc}); delete '
                              f'{folder.parent} and re-run', code=1) from None
    return out


def run_split(ctx, part):
    src = ctx.out('keyframes')
    recs = read_manifest(src)
    frames = [r for r in recs if r.get('type') == 'frame' and r.get('kept') and r.get('file')]
    photos = [r for r in frames if r.get('photo')]
    frames = [r for r in frames if not r.get('photo')]
    durations = {r['video']: r.get('duration') for r in recs if r.get('type') == 'video' and r.get('video')}
    rows = split_frames(frames, durations, _thumbnails(src, frames), ctx.s.holdout, ctx.s.gap,
                        ctx.s.duplicate) if frames else []
    rows += _split_photos(ctx, photos)
    try:
        n_train, n_held = check_counts(rows, len({r['video'] for r in frames}))
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    for sub in ('train_hr', 'val_hr'):
        (part / sub).mkdir(exist_ok=True)
    for r in rows:
        if r['set'] == 'dropped':
            continue
        dst = part / ('train_hr' if r['set'] == 'train' else 'val_hr') / r['file']
        if not dst.exists():
            link_or_copy(src / r['file'], dst)
    (part / 'split.json').write_text(json.dumps(rows, indent=1))
    cuts = {}
    for r in rows:
        if not r.get('photo'):
            cuts[r['video']] = r['cut']
    dropped = sum(r['set'] == 'dropped' for r in rows)
    line = summary_line(rows)
    if cuts:
        ctx.say(f'split: {line}; held out from: ' + ', '.join(f'{v} t >= {c:.2f} s' for v, c in sorted(cuts.items())))
    notes = scene_notes(rows)
    for n in notes:
        ctx.say(f'split: {n}')
    return {'train': n_train, 'heldout': n_held, 'dropped': dropped, 'cuts': cuts, 'notes': notes,
            'holdout': rows[0]['holdout'], 'line': line, 'keyframes': len(frames) + len(photos)}


def _split_photos(ctx, photos):
    """The ``--hr`` photos split at random with ``--seed`` (``split.split_photos``), one line saying so."""
    if not photos:
        return []
    rows = split_photos(photos, ctx.s.holdout, ctx.s.seed)
    held = sum(r['set'] == 'heldout' for r in rows)
    ctx.say(f'split: {len(rows)} photos at random (--seed {ctx.s.seed}): {len(rows) - held} train, {held} held out '
            f'(--holdout {ctx.s.holdout:g}); near-duplicates were removed across all photos before')
    return rows


def settings_degrade(ctx):
    lq = [{'path': str(v), 'bytes': _tree_bytes(v)} for v in ctx.s.lq_videos]
    real = {'frames': FRAMES, 'every': ctx.s.every, 'fit_span': 'before the held-out part',
            'fit_hr': 'the --videos footage over the same span'} if lq else None
    keys = {'seed': ctx.s.seed, 'scale': 4, 'mode': 'realesrgan', 'lq_videos': lq, 'real_lq': real}
    if lq and ctx.s.fit_frames != FIT_FRAMES:  # the default stays out: work folders from before the flag resume
        keys['fit_frames'] = ctx.s.fit_frames
    alias = clip_alias(ctx)[0] if lq else {}
    if alias:  # only when used: work folders whose clips share their names resume
        keys['lq_alias'] = alias
    if ctx.s.lq_photos:
        from realesrgan_paddle.data.datasets.real_pair_crops import MAX_SCALE, MAX_SHIFT
        keys['photo_pairs'] = {'lq': [str(v) for v in ctx.s.lq_photos], 'max_shift': MAX_SHIFT, 'max_scale': MAX_SCALE}
    return keys


def clip_alias(ctx):
    """``({LQ clip: HR clip}, notes)`` for the LQ clips named like no HR clip (``real_lq.match_clips``)."""
    try:
        return match_clips(ctx.s.lq_videos, find_input_videos(ctx.s))
    except FootageError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None


def split_holdout(ctx):
    """The held-out fraction the split stage used (it holds out more than --holdout for 12 frames)."""
    rows = json.loads((ctx.out('split') / 'split.json').read_text())
    return rows[0].get('holdout', ctx.s.holdout) if rows else ctx.s.holdout


def _tree_bytes(path):
    p = Path(path)
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob('*') if f.is_file())


def run_fit(ctx, part):
    """``--lq-videos``: the degradation fitted to them (``part/fitted.yml`` + .json, .png); None without them.

    Both sides are sampled the same way, clip by clip over the same span of each clip (the part before the
    held-out frames): the fit compares set statistics of the real LQ frames with those of synthetic LQ made
    from the HR frames, and those statistics depend on the content as well as on the degradation. The split's
    train folder (all clips in one folder, sampled by file name) gave a different clip mix on each side and a
    fit that moved with the split: blur 0.2-0.4 on the demo's split, 0.8-1.3 on the same clips reversed
    (docs/experiments/degradation_fit_runs.md); sampled alike, 0.2-0.6 and 0.4-0.8, at a third of the loss."""
    if not ctx.s.lq_videos:
        return None
    out = part / 'fitted.yml'
    span = fit_span(split_holdout(ctx))
    hr = [str(v) for v in find_input_videos(ctx.s)]
    lq, lq_span, hr_span = list(ctx.s.lq_videos), span, span
    if ctx.s.hr_photos:
        hr, lq, lq_span, hr_span = _photo_fit_sources(ctx, part, hr, lq, span)
    args = argparse.Namespace(hr=hr, lq=lq, out=str(out), scale=4, frames=ctx.s.fit_frames,
                              crop=256, comps=None, seed=ctx.s.seed, lq_span=lq_span, hr_span=hr_span)
    try:
        report = run(args, log=lambda line: ctx.say(f'fit: {line}'))
    except (FootageError, CodecError, ValueError) as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    return {'fitted': describe_report(report), 'seconds': report['seconds'], 'lq_span': list(args.lq_span),
            'hr': [Path(v).name for v in hr], 'hr_span': list(args.hr_span)}


def _photo_fit_sources(ctx, part, hr, lq, span):
    """``--hr`` photos: the fit's HR side is the split's training photos (with the video keyframes' clips, over
    the whole folder when there are no videos); with real photo pairs its LQ side is ``part/fit_lq`` (the
    training pairs' LQ photos and the unpaired ones: no held-out LQ photo)."""
    hr = hr + [str(ctx.out('split') / 'train_hr')] if not hr else hr
    whole = (0.0, 1.0)
    if ctx.s.lq_photos and (part / 'fit_lq').is_dir():
        return hr, [str(part / 'fit_lq')], whole, (span if ctx.s.videos else whole)
    return hr, lq, span, (span if ctx.s.videos else whole)


def run_real_lq(ctx, part):
    """``--lq-videos``: the held-out real LQ frames (``part/real_lq``) for the evaluation; None without them."""
    if not ctx.s.lq_videos:
        return None
    h = split_holdout(ctx)
    held = {}
    for r in json.loads((ctx.out('split') / 'split.json').read_text()):
        if r['set'] == 'heldout':
            held.setdefault(r['video'], []).append((r['time'], Path(r['file']).stem))
    alias, notes = clip_alias(ctx)
    for lq, hr in alias.items():
        ctx.say(f'real LQ: {lq} is named like no HR clip and lasts as long as {hr} alone: taken as its copy '
                f'(every frame is checked below)')
    for note in notes:
        ctx.say(f'real LQ: {note}: its held-out frames cannot be matched to HR frames')
    try:
        info = extract_heldout(ctx.s.lq_videos, part / 'real_lq', h, ctx.s.every, held, alias=alias)
    except FootageError as exc:
        raise DomainError(f'--lq-videos: {exc}') from None
    ctx.say(f'real LQ: {info["frames"]} held-out frames of the LQ footage (of {info["candidates"]} in the last '
            f'{100 * h:.0f} % of each clip: at the held-out HR frames\' moments in copies of an HR clip, else '
            f'one every {ctx.s.every:g} s without near-duplicates) for the evaluation; the fit used the first '
            f'{100 * (1 - h):.0f} %')
    if not info['frames']:
        raise DomainError(f'--lq-videos: no frame in the last {100 * h:.0f} % of {", ".join(ctx.s.lq_videos)}')
    n, how = find_pairs(part / 'real_lq', ctx.out('split') / 'val_hr', part / 'real_gt')
    info['paired'] = n
    if n:
        ctx.say(f'real LQ: every held-out LQ frame is its held-out HR frame made smaller (Y PSNR against the HR '
                f'frame shrunk x4: at least {how:.1f} dB, >= {PAIR_PSNR:g}): scored against them as ground truth too')
    else:
        info['unpaired_why'] = how
        ctx.say(f'real LQ: scored without a reference (not the HR footage made smaller: {how})')
    return info


def command_degrade(ctx, out):
    return ctx.command('make_lq_data.py', '--input', ctx.out('split') / 'val_hr', '--output', out,
                       '--scale', 4, '--seed', ctx.s.seed)


def run_degrade(ctx, part):
    pairs = write_photo_pairs(ctx, part)
    fit = run_fit(ctx, part)
    out = part / 'val_lq'
    opt = ['--opt', str(part / 'fitted.yml')] if fit else []
    with contextlib.redirect_stdout(sys.stderr):  # its summary line is a log line: stdout is the run's summary
        rc = make_lq_data.main(['--input', str(ctx.out('split') / 'val_hr'), '--output', str(out), '--scale', '4',
                                '--seed', str(ctx.s.seed), *opt])
    if rc != 0:
        raise DomainError(f'degrading the held-out frames failed (make_lq_data exit {rc})', code=1)
    real = run_real_lq(ctx, part) if pairs is None else {'frames': pairs['heldout'], 'paired': pairs['heldout'],
                                                            'photo_pairs': pairs}
    return {'pairs': len(list(Path(out).glob('*.png'))), 'fit': fit, 'real_lq': real}
