"""Photos as domain input (``--hr`` / ``--lq`` image folders or files beside, or instead of, videos).

- ``sort_inputs(hr, lq)``: which ``--hr`` paths hold videos and which photos; which ``--lq`` paths hold photos
  named like an HR photo (real pairs). Every ``--lq`` path still goes through the ``--lq-videos`` machinery (the
  fit, the consistency loss's real LQ frames); the paired ones add what ``write_photo_pairs`` makes.
- ``settings_inputs`` / ``run_inputs``: the keyframes stage. Without photos it is the video keyframes stage
  unchanged; with photos, each photo goes through the builder's filters (size, blur, black, flat, and the
  perceptual-hash near-duplicate index: ``data.builder.frame_filters.FrameFilter``, bars off: a photo keeps its
  size so that it stays paired with its LQ photo) and is written as ``<stem>.png`` with a ``frame`` record
  (``photo: true``) in the same manifest.
- ``write_photo_pairs(ctx, part)``: the degrade stage's real pairs: each LQ photo named like a kept HR photo,
  its alignment checked (``data.datasets.real_pair_crops.estimate_alignment``: global shift and scale of the HR photo against
  the bicubic LQ photo), the held-out ones into ``real_lq``/``real_gt`` (they decide the export), the training
  ones into ``train_pairs/{lq,gt}`` (a second batch of the finetune at ``--pair-ratio``) and, with the LQ photos
  that pair with nothing, into ``fit_lq`` (the degradation fit sees no held-out LQ photo).
"""
import json
from pathlib import Path

from realesrgan_paddle.data.builder.config import FilterConfig
from realesrgan_paddle.data.builder.frame_filters import FrameFilter
from realesrgan_paddle.data.builder.manifest import Manifest, read_manifest
from realesrgan_paddle.media.image_io import ImageReadError, imread, imwrite
from realesrgan_paddle.media.kinds import IMAGE_EXTS, VIDEO_EXTS  # the product's one list
from realesrgan_paddle.utils.fileio import check_inside, link_or_copy
from realesrgan_paddle.utils.progress import counted

from ..context import DomainError

PAIR_CROP, PAIR_BATCH = 32, 2  # the real pairs' LQ crop and batch (data/datasets/real_pair_crops.RealPairCrops)


def photo_files(paths):
    """The image files of ``paths`` (a folder's own files, sorted; image files as given). A folder's link out of it
    is a one-line DomainError (``utils.fileio.check_inside``)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(check_inside(p, f, DomainError) for f in p.iterdir()
                          if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        elif p.is_file() and p.suffix.lower() in IMAGE_EXTS:
            out.append(p)
    return out


def _holds(p, exts):
    p = Path(p)
    if p.is_file():
        return p.suffix.lower() in exts
    return p.is_dir() and any(f.suffix.lower() in exts for f in p.iterdir() if f.is_file())


def sort_inputs(hr, lq):
    """``{'videos', 'hr_photos', 'lq', 'lq_photos'}`` from the ``--hr`` and ``--lq`` paths; one-line DomainError
    for a missing ``--lq`` path. An ``--hr`` path without images counts as video input, whose checks name a
    missing path or a folder without videos as before."""
    for p in lq:
        if not Path(p).exists():
            raise DomainError(f'--lq {p}: no such file or folder')
    photos = [str(p) for p in hr if Path(p).exists() and _holds(p, IMAGE_EXTS)]
    videos = [str(p) for p in hr if str(p) not in photos or _holds(p, VIDEO_EXTS)]
    names = {f.stem for f in photo_files(photos)}
    paired = [str(p) for p in lq if _holds(p, IMAGE_EXTS) and any(f.stem in names for f in photo_files([p]))]
    return {'videos': videos, 'hr_photos': photos, 'lq': [str(p) for p in lq], 'lq_photos': paired}


def _photo_keys(paths):
    return [[str(f), f.stat().st_size, int(f.stat().st_mtime)] for f in photo_files(paths)]


def settings_inputs(ctx, video_settings):
    """The keyframes stage's key: ``video_settings(ctx)`` (``stages.data.settings_keyframes``) alone without
    photos, else with the photos' names, sizes and times and the filters."""
    if not ctx.s.hr_photos:
        return video_settings(ctx)
    keys = video_settings(ctx) if ctx.s.videos else {}
    return dict(keys, photos=_photo_keys(ctx.s.hr_photos), photo_filters=photo_filter_cfg(ctx.s).as_dict())


def photo_filter_cfg(s):
    """The builder's filters with its near-duplicate hash index; no bar cropping (a photo keeps its size)."""
    return FilterConfig(min_size=s.min_size, bars=False)


def run_inputs(ctx, part, run_videos):
    """The keyframes stage: ``run_videos(ctx, part)`` (``stages.data.run_keyframes``) for the videos, then the
    photos into the same folder and manifest."""
    if not ctx.s.hr_photos:
        return run_videos(ctx, part)
    info = run_videos(ctx, part) if ctx.s.videos else {'videos': 0, 'kept': 0, 'rejected': {}, 'frames': 0}
    got = run_photos(ctx, part)
    for why, n in got['rejected'].items():
        info['rejected'][why] = info['rejected'].get(why, 0) + n
    info.update(kept=info['kept'] + got['kept'], frames=info['frames'] + got['photos'], photos=got['photos'],
                photos_kept=got['kept'])
    if info['kept'] == 0:
        why = ', '.join(f'{k} {v}' for k, v in sorted(info['rejected'].items()))
        raise DomainError(f'nothing kept by the photo filters from {got["photos"]} photo(s) ({why}); lower '
                          f'--min-size or give other photos')
    return info


def _photo_name(f, taken):
    name, i = f'{f.stem}.png', 2
    while name in taken:
        name, i = f'{f.parent.name}_{f.stem}-{i}.png', i + 1
    taken.add(name)
    return name


def run_photos(ctx, part):
    """The builder's filters over the ``--hr`` photos into ``part`` (PNGs and manifest records)."""
    files = photo_files(ctx.s.hr_photos)
    man = Manifest(part)
    ffilter = FrameFilter(photo_filter_cfg(ctx.s))
    taken = {r.get('file') for r in man.kept}
    rejected, kept = {}, 0
    for f in counted(files, 'photos', unit='photo', enabled=not ctx.s.quiet):  # clean lines in a log
        img = _photo(f)
        res = ffilter(img)
        rec = dict(type='frame', photo=True, source=str(f.resolve()), video=f.parent.name, frame_key=f.name,
                   time=0.0, src_size=[img.shape[1], img.shape[0]], size=[img.shape[1], img.shape[0]],
                   **{k: v for k, v in res.items() if k not in ('reason',)}, kept=res['reason'] is None,
                   reason=res['reason'])
        if res['reason'] is None:
            rec['file'] = _photo_name(f, taken)
            imwrite(part / rec['file'], img)
            ffilter.keep(res, rec['file'])
            kept += 1
        else:
            rejected[res['reason']] = rejected.get(res['reason'], 0) + 1
        man.append(rec)
    man.close()
    why = ', '.join(f'{k} {v}' for k, v in sorted(rejected.items())) or 'none'
    ctx.say(f'photos: {kept} of {len(files)} kept by the builder\'s filters (min side {ctx.s.min_size}, blur, '
            f'black, flat, near-duplicates by perceptual hash); rejected: {why}')
    return {'photos': len(files), 'kept': kept, 'rejected': rejected}


def pair_lq_files(ctx):
    """{HR file name (``<stem>.png``): LQ photo path} of the ``--lq`` photos named like a kept HR photo."""
    kept = {Path(r['source']).stem: r['file'] for r in read_manifest(ctx.out('keyframes'))
            if r.get('type') == 'frame' and r.get('photo') and r.get('kept')}
    return {kept[f.stem]: f for f in photo_files(ctx.s.lq_photos) if f.stem in kept}


def _photo(path):
    """The photo's BGR pixels; one DomainError line for a file that cannot be read (a 40000x40000 header among the
    ``--lq`` photos gave a traceback: issue 64, D16)."""
    try:
        return imread(path)[..., :3]
    except (ImageReadError, OSError, ValueError) as exc:
        msg = str(exc)
        raise DomainError(msg if msg.startswith(f'{path}: ') else f'{path}: not a readable image ({msg})') from None


def _link_pair(lq_path, hr_path, lq_dir, gt_dir, name):
    lq_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    imwrite(lq_dir / name, _photo(lq_path))
    link_or_copy(hr_path, gt_dir / name)


def write_photo_pairs(ctx, part):
    """The real photo pairs (module docstring); None without ``--lq`` photos named like HR photos."""
    if not ctx.s.lq_photos:
        return None
    from realesrgan_paddle.data.datasets.real_pair_crops import alignment_problem, estimate_alignment
    rows = {r['file']: r['set'] for r in json.loads((ctx.out('split') / 'split.json').read_text())}
    pairs = pair_lq_files(ctx)
    kept, dropped = {'train': 0, 'heldout': 0}, []
    for name, lq_path in sorted(pairs.items()):
        side = rows.get(name)
        if side not in kept:
            continue  # dropped by the split
        sub = 'train_hr' if side == 'train' else 'val_hr'
        hr_path = ctx.out('split') / sub / name
        problem = alignment_problem(estimate_alignment(_photo(lq_path), _photo(hr_path)))
        if problem:
            dropped.append(f'{lq_path.name} ({problem})')
            continue
        if side == 'train':
            _link_pair(lq_path, hr_path, part / 'train_pairs' / 'lq', part / 'train_pairs' / 'gt', name)
            (part / 'fit_lq').mkdir(exist_ok=True)  # the file itself: a JPEG's tables measure its quality
            link_or_copy(lq_path, part / 'fit_lq' / (Path(name).stem + lq_path.suffix))
        else:
            _link_pair(lq_path, hr_path, part / 'real_lq', part / 'real_gt', name)
        kept[side] += 1
    unpaired = [f for f in photo_files(ctx.s.lq_videos) if f not in set(pairs.values())]
    for f in unpaired:  # LQ photos that pair with nothing: the fit alone
        (part / 'fit_lq').mkdir(exist_ok=True)
        link_or_copy(f, part / 'fit_lq' / f'unpaired_{f.name}')
    ctx.say(f'real pairs: {len(pairs)} LQ photos named like an HR photo: {kept["train"]} training pairs, '
            f'{kept["heldout"]} held-out pairs (they decide the export); {len(unpaired)} unpaired LQ photos for '
            f'the fit alone')
    ctx.say('real pairs: dropped as misaligned: ' + ('; '.join(dropped) if dropped else 'none') +
            ' (global shift and scale of the HR photo against the bicubic LQ photo)')
    if not kept['heldout']:
        raise DomainError(f'--lq: none of the {len(pairs)} LQ photos named like an HR photo is a usable held-out '
                          f'pair (dropped: {len(dropped)}); give more pairs or a larger --holdout')
    if not (part / 'fit_lq').is_dir():
        raise DomainError('--lq: no LQ photo left for the degradation fit (every pair is held out or dropped)')
    return {'train': kept['train'], 'heldout': kept['heldout'], 'dropped': dropped, 'unpaired': len(unpaired)}


def photo_pair_options(ctx):
    """``-o`` overrides of the real photo pairs' batch (``datasets.real_pairs``), [] for none, or None when the run
    has no photo pairs (the video pairs' rule applies)."""
    if not ctx.s.lq_photos:
        return None
    folder = ctx.out('degrade') / 'train_pairs'
    if ctx.s.pair_ratio <= 0 or not (folder / 'lq').is_dir():
        ctx.say('real pairs: not in the training (' + ('--pair-ratio 0' if ctx.s.pair_ratio <= 0 else
                                                       'no training pair') + ')')
        return []
    side = min(min(imread(f).shape[:2]) for f in (folder / 'lq').iterdir())
    crop = max(4, min(PAIR_CROP, side))
    n = len(list((folder / 'lq').iterdir()))
    ctx.say(f'real pairs: {n} training pairs as a second batch ({PAIR_BATCH} LQ crops of {crop} px) at '
            f'--pair-ratio {ctx.s.pair_ratio:g} beside the fitted synthetic batch')
    data = {'dataroot_lq': str(folder / 'lq'), 'dataroot_gt': str(folder / 'gt'), 'crop': crop,
            'batch_size': PAIR_BATCH, 'weight': float(ctx.s.pair_ratio)}
    return [f'datasets.real_pairs={json.dumps(data)}']
