"""Compare super-resolution models on what users see: the library behind tools/evaluate.py.

Paired mode (``evaluate``): GT and LQ folders with equal file names. Per image and model:
* distortion: ``psnr``, ``ssim`` (Y, border cropped);
* the input: ``input_detail`` (per image, not per model): how much of the GT's fine detail the LQ
  keeps at its own size (``evaluation.metrics.input_detail``);
* perception: ``niqe`` (no reference, lower is better), ``detail`` (Laplacian energy of Y,
  output over GT: 1 = as detailed as the GT, < 1 blur, > 1 overshoot/noise), ``texture`` (the power of Y in
  the octave above the input's Nyquist frequency, output over GT: texture-scale detail, which the finest grain
  barely reaches; ``evaluation.metrics.texture_ratio``), ``artefact``
  (high-frequency error where the GT is smooth, grey levels, lower is better), ``blocks`` (the
  output's steps across its upscaling grid over those inside: 1 = no tiles, best closest to 1;
  ``evaluation.metrics.blocks``), and ``lpips`` / ``dists`` when their weights are on disk (evaluation/iqa.py);
* the price of detail: ``psnr_at_detail``, the PSNR the output is estimated to keep once invented
  texture has raised its detail ratio to ``TEXTURE_DETAIL`` (``evaluation.metrics.invented_texture_psnr``);
  on no axis, summed up by ``texture_note``.

No-reference mode (``evaluate_noref``): a folder of real footage, no GT: ``niqe``, ``blocks``, ``lapl``
(absolute Laplacian energy of Y) and ``detail_vs_bicubic`` (Laplacian energy over bicubic's).

``summarize`` averages rows (geometric mean for the ratios); ``verdict`` and ``best`` say per
axis which model is better. Models run through the inference core (``inference.Upscaler``).
"""
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.evaluation import metrics as M
from realesrgan_paddle.evaluation.flicker import BicubicFlickerMeter, FlickerError, FlickerMeter
from realesrgan_paddle.evaluation.metrics import blocks, geometric_mean, input_detail
from realesrgan_paddle.evaluation.sheet import sheet_row, write_sheet
from realesrgan_paddle.inference import Upscaler
from realesrgan_paddle.media.image_io import imread, to_bgr
from realesrgan_paddle.media.kinds import is_image
from realesrgan_paddle.utils.fileio import check_inside
from realesrgan_paddle.utils.progress import counted

log = logging.getLogger('evaluate')
# metric -> (axis, direction): +1 higher is better, -1 lower is better, 0 closest to 1 in log terms
METRICS = {'psnr': ('distortion', +1), 'ssim': ('distortion', +1),
           'niqe': ('perception', -1), 'detail': ('perception', 0), 'texture': ('perception', 0),
           'artefact': ('perception', -1),
           'blocks': ('perception', 0), 'lpips': ('perception', -1), 'lpips_vgg': ('perception', -1),
           'dists': ('perception', -1)}
GEOMETRIC = ('detail', 'texture', 'blocks', 'lapl', 'detail_vs_bicubic')
NOREF_METRICS = {'niqe': ('perception', -1), 'blocks': ('perception', 0)}
TEXTURE_DETAIL = 0.7  # the detail ratio of psnr_at_detail (the low end of 'as detailed as the GT', 0.7-1.3)


def list_images(folder):
    """The image files of ``folder``; a link out of it is a one-line ValueError (``utils.fileio.check_inside``)."""
    return sorted(check_inside(folder, p) for p in Path(folder).iterdir() if p.is_file() and is_image(p))


class Bicubic:
    """Stands in for a model: OpenCV bicubic upscaling by ``scale``."""
    scale = None

    def __init__(self, scale):
        self.scale = scale

    def upscale(self, img):
        return cv2.resize(img, (img.shape[1] * self.scale, img.shape[0] * self.scale), interpolation=cv2.INTER_CUBIC)


OUTPUTS = 'outputs:'  # a model spec 'outputs:DIR': a method's finished outputs, one per LQ image, same name


class OutputsFolder:
    """Stands in for a model whose outputs exist already (another project's shipped results, or ``tools/infer.py``'s
    folder): ``output(name, lq)`` reads ``folder/name`` (or the same stem with another image extension) and checks
    that it is x``scale`` of the LQ image. A missing or misfit output is a one-line ValueError naming the file."""

    def __init__(self, folder, scale):
        self.folder, self.scale = Path(folder).expanduser(), scale
        if not self.folder.is_dir():
            raise ValueError(f'{OUTPUTS}{folder}: not a folder')

    def _path(self, name):
        p = self.folder / name
        if p.is_file():
            return check_inside(self.folder, p)
        same_stem = [q for q in list_images(self.folder) if q.stem == Path(name).stem]
        if len(same_stem) == 1:
            return same_stem[0]
        raise ValueError(f'{self.folder}: no output for {name} ({OUTPUTS}DIR needs one image per LQ image, same name)')

    def output(self, name, lq):
        p = self._path(name)
        sr = to_bgr(imread(p))
        want = (lq.shape[0] * self.scale, lq.shape[1] * self.scale)
        if sr.shape[:2] != want:
            raise ValueError(f'{p}: {sr.shape[1]}x{sr.shape[0]} px, expected x{self.scale} of its LQ image '
                             f'({want[1]}x{want[0]})')
        return sr


def _upscale(net, lq, name):
    """``net``'s output for the LQ image ``lq`` (file name ``name``): run, or read from an ``OutputsFolder``."""
    return net.output(name, lq) if isinstance(net, OutputsFolder) else net.upscale(lq)


def load_models(models, scale=4, backend='auto', device='cpu'):
    """``{name: spec}`` -> ``{name: upscaler}``; spec 'bicubic', a zoo name, a weights file, an export folder,
    ``outputs:DIR`` (finished outputs named like the LQ images, ``OutputsFolder``), or an upscaler built by the
    caller (an object with ``upscale`` and ``scale``, e.g. its own backend)."""
    from realesrgan_paddle.models.zoo import parse_model_ref
    out = {}
    for name, spec in models.items():
        if isinstance(spec, str) and spec.startswith(OUTPUTS):
            out[name] = OutputsFolder(spec[len(OUTPUTS):], scale)
            continue
        if not hasattr(spec, 'upscale') and parse_model_ref(spec).kind == 'bicubic':
            out[name] = Bicubic(scale)
            continue
        up = spec if hasattr(spec, 'upscale') else Upscaler(model=spec, backend=backend, device=device,
                                                            precision='fp32')  # the model, not bf16 rounding
        if up.scale != scale:
            raise ValueError(f'{spec}: an x{up.scale} model, the data is x{scale}')
        out[name] = up
    return out


def niqe_or_nan(img, crop_border):
    """NIQE, or NaN for an image smaller than one 96x96 block (after the border crop)."""
    from realesrgan_paddle.evaluation.niqe import BLOCK, niqe
    if min(img.shape[:2]) - 2 * crop_border < BLOCK:
        return float('nan')
    return niqe(img, crop_border)


def blocks_or_nan(sr, scale, crop_border):
    """``evaluation.metrics.blocks`` on the ``scale``-px grid of an x``scale`` output; NaN at x1 (no grid)."""
    return blocks(sr, scale, crop_border) if int(scale) >= 2 else float('nan')


def y_plane(img):
    """The plane every classic metric of ``image_metrics`` reads of ``img``: its BT.601 Y (``metrics.luma``, float64
    on the 0-255 scale; a gray image's own plane), made once for them all. Each metric reads a 2-D plane as it is
    (a Y plane is never under 16, so none rescales it), so the numbers are the same to the bit; an image of two
    channels, which the metrics do not all read alike, is returned as it is."""
    a = np.asarray(img)
    return a if a.ndim == 3 and a.shape[2] == 2 else M.luma(a)


def image_metrics(sr, gt, crop_border=4, iqa=None, scale=4, gt_y=None):
    """All paired metrics of one x``scale`` output against its GT: ``{metric: value}``. ``gt_y``: ``y_plane(gt)``,
    when the caller scores several outputs against one GT (made here otherwise). PSNR, SSIM, NIQE, detail,
    texture, artefact and blocks read the Y planes, converted once (they were converted a dozen times a row);
    LPIPS and DISTS the colour images."""
    ys, yg = y_plane(sr), y_plane(gt) if gt_y is None else gt_y
    row = {'psnr': M.psnr(ys, yg, crop_border, test_y=True), 'ssim': M.ssim(ys, yg, crop_border, test_y=True),
           'niqe': niqe_or_nan(ys, crop_border), 'detail': M.detail_ratio(ys, yg, crop_border),
           'texture': M.texture_ratio(ys, yg, scale, crop_border),
           'artefact': M.artefact(ys, yg, crop_border), 'blocks': blocks_or_nan(ys, scale, crop_border),
           'psnr_at_detail': M.invented_texture_psnr(ys, yg, TEXTURE_DETAIL, crop_border)}
    for name, metric in (iqa or {}).items():
        row[name] = metric.score(sr, gt)
    return row


def _check_border(path, img, crop_border):
    """A one-line ValueError when ``crop_border`` px on each side leave nothing of ``img`` to score."""
    h, w = img.shape[:2]
    if min(h, w) <= 2 * crop_border:
        raise ValueError(f'{path}: {w}x{h} px leave nothing to score after a {crop_border} px border on each side '
                         f'(--crop-border)')


def paired_images(gt_dir, lq_dir, unpaired=None):
    """``(GT, LQ)`` paths with equal names; the names of GT images without an LQ go to ``unpaired`` (a list)."""
    pairs = []
    for gp in list_images(gt_dir):
        q = Path(lq_dir) / gp.name
        if q.is_file():
            pairs.append((gp, check_inside(lq_dir, q)))
        elif unpaired is not None:
            unpaired.append(gp.name)
    return pairs


def iqa_metrics(device='cpu', notes=None, load=True):
    """``{name: metric}`` of LPIPS/DISTS whose weights are on disk (``evaluation.iqa.available``), loaded once for
    as many ``evaluate`` calls as the caller makes; one note per missing metric goes to ``notes``. ``load`` False:
    ``{name: None}``, which are on disk, nothing built."""
    from realesrgan_paddle.evaluation.iqa import available  # paddle and the metric networks: only when scored
    metrics, missing = available(device=device, load=load)
    if notes is not None:
        notes.extend(missing)
    return metrics


def sheet_picks(count, sheet_images):
    """The indices (of ``count`` images in name order) a contact sheet of ``sheet_images`` rows shows: spread evenly,
    the first and the last included."""
    return set(np.linspace(0, count - 1, sheet_images).round().astype(int).tolist()) if count else set()


def evaluate(models, gt_dir, lq_dir, scale=4, crop_border=4, sheet=None, sheet_images=3, crop=None,
             iqa='auto', backend='auto', device='cpu', notes=None, progress=True, flicker=None):
    """Per-image rows ``{'image', 'gt_niqe', 'input_detail', f'{model}_{metric}'...}`` for every GT/LQ pair with
    equal names.

    ``iqa``: 'auto' adds LPIPS/DISTS when their weights are on disk (a note per missing one goes to
    ``notes``, a list), None skips them, or a ``{name: metric}`` dict from ``evaluation.iqa.available``.
    ``sheet``: write a contact sheet PNG (LQ | models | GT) of ``sheet_images`` images, each cut to the
    ``crop`` x ``crop`` GT window with the most detail (whole images when ``crop`` is None).
    ``flicker``: a dict, filled with ``{model: evaluation.flicker.flicker_ratios(...)}`` when the pairs, in name
    order, are consecutive frames of one video.
    """
    nets = load_models(models, scale, backend, device)
    if iqa == 'auto':
        iqa = iqa_metrics(device, notes)
    unpaired = []
    pairs = paired_images(gt_dir, lq_dir, unpaired)
    if unpaired and notes is not None:
        notes.append(f'{len(unpaired)} GT image(s) have no LQ image of the same name in {lq_dir} and are not '
                     f'scored (first: {unpaired[0]})')
    pick = sheet_picks(len(pairs), sheet_images) if sheet else ()
    rows, tiles = [], []
    meters = _meters(nets, flicker)
    for idx, (gp, lp) in enumerate(counted(pairs, 'evaluate', unit='img', enabled=progress)):
        gt, lq = to_bgr(imread(gp)), to_bgr(imread(lp))
        h, w = lq.shape[0] * scale, lq.shape[1] * scale
        if gt.shape[0] < h or gt.shape[1] < w:
            raise ValueError(f'{gp}: GT is {gt.shape[1]}x{gt.shape[0]}, smaller than x{scale} of its LQ ({w}x{h})')
        gt = gt[:h, :w]
        _check_border(gp, gt, crop_border)
        row = {'image': gp.name, 'gt_niqe': niqe_or_nan(gt, crop_border),
               'input_detail': input_detail(lq, gt, crop_border // scale)}
        outs, gt_y = {}, y_plane(gt)
        for name, net in nets.items():
            outs[name] = sr = _upscale(net, lq, gp.name)
            row.update({f'{name}_{k}': v for k, v in image_metrics(sr, gt, crop_border, iqa, scale, gt_y).items()})
            _add_frame(meters, name, gp, gt, sr)
        rows.append(row)
        if idx in pick:
            tiles.append(_sheet_row(lq, outs, gt, row, crop))
    _write_sheet(sheet, tiles)
    log.info('evaluated %d image pairs with %d models', len(rows), len(nets))
    _flicker_results(meters, flicker, gt_dir)
    return rows


def evaluate_noref(models, input_dir, scale=4, crop_border=4, sheet=None, sheet_images=3, crop=None,
                   backend='auto', device='cpu', progress=True, flicker=None):
    """No GT: per image ``{'image', f'{model}_niqe', f'{model}_blocks', f'{model}_lapl',
    f'{model}_detail_vs_bicubic'}``.

    ``lapl`` is the mean squared Laplacian of Y; ``detail_vs_bicubic`` divides it by bicubic's.
    ``flicker``: a dict, filled with ``{model: evaluation.flicker.flicker_vs_bicubic(...)}`` when the files, in
    name order, are consecutive frames of one video.
    """
    nets = load_models(models, scale, backend, device)
    bicubic = Bicubic(scale)
    files = list_images(input_dir)
    pick = sheet_picks(len(files), sheet_images) if sheet else ()
    rows, tiles = [], []
    meters = _meters(nets, flicker, scale)
    for idx, path in enumerate(counted(files, 'evaluate', unit='img', enabled=progress)):
        lq = to_bgr(imread(path))
        _check_border(path, lq, crop_border // scale)
        ref = M.laplacian_energy(bicubic.upscale(lq), crop_border)
        row, outs = {'image': path.name}, {}
        for name, net in nets.items():
            outs[name] = sr = _upscale(net, lq, path.name)
            energy = M.laplacian_energy(sr, crop_border)
            row.update({f'{name}_niqe': niqe_or_nan(sr, crop_border),
                        f'{name}_blocks': blocks_or_nan(sr, scale, crop_border), f'{name}_lapl': energy,
                        f'{name}_detail_vs_bicubic': energy / ref if ref > 0 else float('nan')})
            _add_frame(meters, name, path, lq, sr)
        rows.append(row)
        if idx in pick:
            tiles.append(_sheet_row(lq, outs, None, row, crop))
    _write_sheet(sheet, tiles)
    _flicker_results(meters, flicker, input_dir)
    return rows


def _sheet_row(lq, outs, gt, row, crop):
    """One row of the contact sheet (``evaluation.sheet.sheet_row``: the input, each model's output, the GT)."""
    return sheet_row(lq, outs, gt, row, crop)


def _write_sheet(sheet, tiles):
    """The contact sheet ``sheet`` of the rows ``tiles``, when one was asked for and an image was picked."""
    if sheet and tiles:
        write_sheet(sheet, tiles)


def _meters(nets, flicker, scale=None):
    """One flicker meter per model when ``flicker`` (a dict) asks for them: against the GT, or (``scale``) against
    bicubic of the LQ."""
    if flicker is None:
        return None
    return {name: BicubicFlickerMeter(scale) if scale else FlickerMeter() for name in nets}


def _add_frame(meters, name, path, ref, sr):
    """The next frame of model ``name``; a FlickerError names the file (``path``)."""
    if meters is None:
        return
    try:
        meters[name].add(ref, sr)
    except FlickerError as exc:
        raise FlickerError(f'{path}: {exc}') from None


def _flicker_results(meters, flicker, folder):
    if meters is None:
        return
    for name, meter in meters.items():
        try:
            flicker[name] = meter.result()
        except FlickerError as exc:
            raise FlickerError(f'{folder}: {exc}') from None


INPUT_LOW = 0.25  # inputs below this input detail have lost most of the GT's fine detail


def input_note(rows):
    """One line on the inputs' ``input_detail`` (geometric mean, and how many are below ``INPUT_LOW``), or None."""
    vals = [r['input_detail'] for r in rows if r.get('input_detail') is not None]
    if not vals:
        return None
    low = sum(1 for v in vals if v < INPUT_LOW)
    return (f'input detail (how much of the GT\'s fine detail each LQ keeps at its own size, geometric mean): '
            f'{geometric_mean(vals):.3f}; {low} of {len(vals)} inputs keep less than {INPUT_LOW}: there, detail '
            f'at the GT\'s level can only be invented, and a fidelity model stays well below 1')


def texture_note(rows, names):
    """One line: per model, the mean ``psnr_at_detail`` next to its PSNR, or None when the rows have none."""
    parts = []
    for n in names:
        est = [r[f'{n}_psnr_at_detail'] for r in rows if f'{n}_psnr_at_detail' in r]
        now = [r[f'{n}_psnr'] for r in rows if f'{n}_psnr' in r]
        finite = [v for v in est if np.isfinite(v)]
        if finite and now:
            parts.append(f'{n} {np.mean(finite):.2f} (now {np.mean(now):.2f})')
    if not parts:
        return None
    return (f'PSNR at detail {TEXTURE_DETAIL} with invented texture (estimate: each output plus the GT\'s own '
            f'fine band displaced by a few pixels, so its phase is unknown, scaled per image to detail '
            f'{TEXTURE_DETAIL}; outputs already there are unchanged): ' + ', '.join(parts)
            + '. A model that invents its detail instead of recovering it from the input pays about this')


def model_metrics(rows, name):
    """The metric names present for model ``name`` in ``rows``, in table order."""
    keys = set().union(*(r.keys() for r in rows)) if rows else set()
    order = list(METRICS) + ['lapl', 'detail_vs_bicubic']
    return [m for m in order if f'{name}_{m}' in keys]


def summarize(rows, model_names):
    """``{model: {metric: mean}}``; the ratios (detail, lapl, detail_vs_bicubic) use the geometric mean."""
    out = {}
    for name in model_names:
        out[name] = {}
        for m in model_metrics(rows, name):
            vals = [r[f'{name}_{m}'] for r in rows if r.get(f'{name}_{m}') is not None]
            if m in GEOMETRIC:
                out[name][m] = geometric_mean(vals)
            else:
                finite = [v for v in vals if not (isinstance(v, float) and math.isnan(v))]
                out[name][m] = float(np.mean(finite)) if finite else float('nan')
    return out


def _better(metric, a, b):
    """+1 when ``a`` beats ``b`` on ``metric``, -1 when ``b`` wins, 0 on a tie or a missing value."""
    if a is None or b is None or any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
        return 0
    _, direction = METRICS[metric]
    if direction == 0:
        a, b = -abs(math.log(a)) if a > 0 else -math.inf, -abs(math.log(b)) if b > 0 else -math.inf
    else:
        a, b = direction * a, direction * b
    return (a > b) - (a < b)


def format_metric(metric, v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return 'n/a'
    if isinstance(v, float) and math.isinf(v):
        return 'inf'
    if metric in ('psnr', 'niqe', 'artefact', 'blocks'):
        return f'{v:.2f}'
    return f'{v:.4f}' if metric == 'ssim' else f'{v:.3f}'


def axes(summary, names):
    """The axes with at least one metric in the summary, each with its metrics in table order."""
    out = {}
    for m, (axis, _) in METRICS.items():
        if all(m in summary[n] for n in names):
            out.setdefault(axis, []).append(m)
    return out


def _head(metrics, votes, base, other):
    """The verdict's words, true to every metric beside them: '<model> is better' only when no metric of the axis
    favours the other model; 'mixed: ...' naming each side's metrics when they disagree; 'no clear winner' on ties."""
    wins = {who: [m.upper() for m, v in zip(metrics, votes) if v == sign] for who, sign in ((other, 1), (base, -1))}
    if wins[other] and wins[base]:
        return f'mixed: {other} better on {", ".join(wins[other])}, {base} on {", ".join(wins[base])}'
    who = other if wins[other] else base if wins[base] else None
    return f'{who} is better' if who else 'no clear winner'


def verdict(summary, base, other):
    """One line per axis (distortion, perception): which of two models is better, and by which metrics; 'mixed'
    when the axis's metrics disagree (a majority never overrules the numbers printed beside it)."""
    lines = []
    for axis, metrics in axes(summary, [base, other]).items():
        votes = [_better(m, summary[other][m], summary[base][m]) for m in metrics]
        parts = []
        for m, v in zip(metrics, votes):
            mark = f' ({other})' if v > 0 else f' ({base})' if v < 0 else ' (tie)'
            hint = ', closer to 1' if m in ('detail', 'texture') else ''
            parts.append(f'{m.upper()} {format_metric(m, summary[base][m])} -> {format_metric(m, summary[other][m])}{hint}{mark}')
        lines.append(f'{axis}: {_head(metrics, votes, base, other)} ({base} -> {other}): ' + '; '.join(parts))
    return lines


def best(summary, names):
    """One line per axis: the model that wins the most metrics of that axis among ``names``."""
    lines = []
    for axis, metrics in axes(summary, names).items():
        wins = {n: 0 for n in names}
        for m in metrics:
            top = names[0]
            for n in names[1:]:
                if _better(m, summary[n][m], summary[top][m]) > 0:
                    top = n
            if sum(_better(m, summary[n][m], summary[top][m]) == 0 for n in names) == 1:
                wins[top] += 1
        order = sorted(names, key=lambda n: -wins[n])
        lead = order[0]
        tie = len(order) > 1 and wins[order[1]] == wins[lead]
        tally = ', '.join(f'{n} {wins[n]}' for n in order)
        head = 'no clear winner' if tie else f'best: {lead}'
        lines.append(f'{axis} ({"/".join(m.upper() for m in metrics)}): {head} (metrics won: {tally})')
    return lines
