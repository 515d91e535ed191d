"""The degradation fit of real low-resolution footage against HR footage: the library behind
``tools/fit_degradation.py`` and the domain pipeline's ``--lq-videos``.

``run(args, log)`` (``args``: ``hr``, ``lq``, ``out``, ``scale``, ``frames``, ``crop``, ``comps``, ``seed``)
measures the LQ footage, fits the degradation family to it (``data.fit.degradation_fit``) and writes the options
fragment ``out``, ``out.json`` (measurements, fit, real-vs-synthetic statistics) and ``out.png`` (the same as
a plot). ``infer_scale`` is the one-line check of the HR/LQ sizes.
"""
import io
import json
import time
from pathlib import Path

import yaml

from realesrgan_paddle.data.fit import degradation_fit, lq_stats
from realesrgan_paddle.data.fit.degradation_fit import STREAM_CODECS, TOLERANCE, WEIGHTS
from realesrgan_paddle.data.fit.lq_source import load_footage
from realesrgan_paddle.utils import fileio
from realesrgan_paddle.utils.fileio import atomic_write_text
from realesrgan_paddle.utils.plotting import pyplot

SCALES = (2, 3, 4)
COMPS = ('none', 'jpeg', 'libx264', 'libx265')
FIT_FRAMES, MAX_FIT_FRAMES = 8, 64  # frames sampled from each side: the default, and the pipeline's bound


def infer_scale(hr_size, lq_size, lq_name, scale=None, fix='give --scale'):
    """The integer HR/LQ scale; ValueError (one line) for LQ larger than the HR or an unsupported scale
    (``fix``: what the caller's user can do when the ratio is not a whole scale)."""
    (hw, hh), (lw, lh) = hr_size, lq_size
    if lw > hw or lh > hh:
        raise ValueError(f'{lq_name}: the LQ frames ({lw}x{lh}) are larger than the HR frames ({hw}x{hh})')
    ratio = hw / lw
    if scale is None and abs(hh / lh - ratio) > 0.05 * ratio:
        raise ValueError(f'{lq_name}: HR/LQ width ratio {ratio:.2f} and height ratio {hh / lh:.2f} differ '
                         f'(HR {hw}x{hh}, LQ {lw}x{lh}): not the same picture shape')
    if scale is None:
        scale = int(round(ratio))
        if abs(ratio - scale) > 0.05 * scale:
            raise ValueError(f'{lq_name}: HR/LQ width ratio {ratio:.2f} is not a whole scale; {fix}')
    if scale not in SCALES:
        raise ValueError(f'{lq_name}: unsupported scale {scale} (HR {hw}x{hh}, LQ {lw}x{lh}); '
                         f'supported: {", ".join(map(str, SCALES))}')
    return scale


def default_comps(lq):
    codecs = {STREAM_CODECS[s['codec']] for s in lq.streams.values() if s['codec'] in STREAM_CODECS}
    if codecs:
        return tuple(sorted(codecs))
    if lq.jpeg_q:
        return ('jpeg',)
    return ('none', 'jpeg', 'libx264')


def jpeg_levels(qualities, margin=5):
    """The JPEG qualities the fit tries for LQ files whose quantisation tables show ``qualities`` (the IJG quality
    each matches best, ``lq_stats.jpeg_quality``): their span, the standard grid's values inside it, and ``margin``
    on each side (a camera's own tables match an IJG quality only roughly). None without qualities."""
    if not qualities:
        return None
    lo, hi = min(qualities), max(qualities)
    inside = [v for v in degradation_fit.LEVELS['jpeg'] if lo < v < hi]
    return tuple(sorted({max(1, lo - margin), lo, *inside, hi, min(100, hi + margin)}))


def centre_crops(frames, crop, scale):
    """Centre crops of side at most ``crop`` (a multiple of ``2 * scale``, so the LQ is even-sized)."""
    out = []
    step = 2 * scale
    for f in frames:
        h, w = f.shape[:2]
        ch, cw = (min(h, crop) // step) * step, (min(w, crop) // step) * step
        y, x = (h - ch) // 2, (w - cw) // 2
        out.append(f[y:y + ch, x:x + cw].copy())
    return out


def measurements(lq, scale):
    streams = {k: {kk: v[kk] for kk in ('codec', 'width', 'height', 'fps', 'bpp', 'pix_fmt', 'color_range')}
               for k, v in lq.streams.items()}
    return {'scale': scale, 'lq_frames': len(lq.frames), 'lq_size': list(lq.size), 'streams': streams,
            'jpeg_quality': sorted(set(lq.jpeg_q)) or None}


def fragment(result, scale, meta, base=None):
    """The options mapping to write: ``base`` (a train.py options mapping) with the fitted degradation, or
    just ``scale``, the GT-sharpening switches and ``degradation``."""
    opt = dict(base or {})
    deg = {k: v for k, v in result['options'].items() if k not in ('l1_gt_usm', 'percep_gt_usm')}
    if not deg:  # the generic degradation (a fit that could not measure the footage): the recipe's own settings
        opt.update({'scale': scale, 'degradation': {}})
        return opt
    opt.update({'scale': scale, 'l1_gt_usm': False, 'percep_gt_usm': False, 'degradation': deg})
    return opt


def comment_word(text):
    """``text`` (a file name) as one word of a YAML comment line: as it is when plain, else JSON-quoted with every
    line break, control character and non-ASCII character escaped (YAML's own line breaks U+0085, U+2028 and a
    name's undecodable bytes too), so that a name can neither end the comment nor place a key (a name
    with a newline made ``fitted.yml`` invalid YAML, or set keys in it: issue 64, D23, D24)."""
    text = str(text)
    if text and text.isprintable() and not any(c.isspace() or c in '"\'\\#' for c in text):
        return text
    return json.dumps(text)


def describe(result):
    conf = result.get('confidence') or {}
    if conf.get('level') == 'low':
        return f'not fitted: {conf["why"]}; training uses the generic degradation instead'
    r = result['ranges']
    noise = 'off' if r['noise'][1] == 0 else f'{r["noise"][0]:g}-{r["noise"][1]:g} ({"gray" if r["gray"] > 0.5 else "colour"})'
    level = '' if r['comp'] == 'none' else (f' quality {r["level"][0]}-{r["level"][1]}' if r['comp'] == 'jpeg'
                                            else f' CRF {r["level"][0]:g}-{r["level"][1]:g}')
    return (f'blur sigma {r["sigma"][0]:g}-{r["sigma"][1]:g} (HR px), downscale {r["mode"]}, noise {noise}, '
            f'compression {r["comp"]}{level}; loss {result["loss"]:.2f} ({result["points"]} points tried)')


def _confidence_note(result):
    conf = result['confidence']
    if conf['level'] == 'low' or conf['split_half'] is None:
        return ''
    return (f"; confidence {conf['level']}: the even and odd LQ frames' statistics are {conf['split_half']:.2f} "
            f"loss units apart (the fit's tolerance: {TOLERANCE:g})")


def describe_report(report):
    """``describe`` of a ``run`` report."""
    return describe(report["fit"])


def plot_match(stats, out_png):
    """Bars per statistic: real LQ, synthetic LQ of the fitted and of the generic degradation."""
    plt = pyplot()
    keys = list(WEIGHTS)
    fig, axes = plt.subplots(1, len(keys), figsize=(2.0 * len(keys), 3))
    for ax, k in zip(axes, keys):
        vals = [stats[s][k] for s in ('real', 'fitted', 'generic')]
        ax.bar(range(3), vals, color=['black', 'tab:green', 'tab:gray'])
        ax.set_xticks(range(3), ['real', 'fitted', 'generic'], rotation=45, fontsize=7)
        ax.set_title(k, fontsize=9)
    fig.suptitle('LQ statistics: real footage against synthetic LQ from the HR frames', fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90)
    plt.close(fig)
    fileio.atomic_write_bytes(out_png, buf.getbuffer())  # a full disk leaves no partial plot


def run(args, log=print):
    t0 = time.time()
    lq = load_footage(args.lq, args.frames, span=getattr(args, 'lq_span', (0.0, 1.0)))
    hr = load_footage(args.hr, args.frames, span=getattr(args, 'hr_span', (0.0, 1.0)))
    scale = infer_scale(hr.size, lq.size, args.lq[0], args.scale)
    comps = tuple(args.comps or default_comps(lq))
    meta = measurements(lq, scale)
    log(f'LQ: {len(lq.frames)} frames {lq.size[0]}x{lq.size[1]}, HR: {len(hr.frames)} frames '
        f'{hr.size[0]}x{hr.size[1]}, scale {scale}; streams: '
        + ('; '.join(f'{Path(k).name} {v["codec"]} {v["bpp"] or 0:.3f} bpp {v["pix_fmt"]} {v["color_range"]}'
                     for k, v in meta['streams'].items()) or 'none') + f'; trying {", ".join(comps)}')
    ref = [lq_stats.shrink([f], (f.shape[1] // scale, f.shape[0] // scale))[0] for f in hr.frames]
    crops = centre_crops(hr.frames, args.crop, scale)
    result = degradation_fit.fit(crops, hr.names, lq.frames, ref, scale, comps=comps, seed=args.seed, log=log,
                                 levels={'jpeg': jpeg_levels(lq.jpeg_q)})  # the files' tables: the last JPEG's quality
    low = result['confidence']['level'] == 'low'
    log(('' if low else 'fitted: ') + describe(result) + _confidence_note(result))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    base = None
    text = (f'# tools/fit_degradation.py --hr {" ".join(map(comment_word, args.hr))} '
            f'--lq {" ".join(map(comment_word, args.lq))}\n# {describe(result)}\n')
    atomic_write_text(out, text + yaml.safe_dump(fragment(result, scale, meta, base), sort_keys=False))
    report = {'measured': meta, 'fit': {k: result[k] for k in ('best', 'ranges', 'loss', 'tried', 'points', 'scans',
                                                                 'confidence')},
              'stats': result['stats'], 'options': result['options'], 'seconds': round(time.time() - t0, 1)}
    atomic_write_text(out.with_suffix(out.suffix + '.json'), json.dumps(report, indent=1, default=str))
    plot_match(result['stats'], out.with_suffix(out.suffix + '.png'))
    log(f'wrote {out} (+ .json, .png) in {time.time() - t0:.0f} s')
    return report
