"""Stage 7: ``WORK/report.md`` and the self-contained ``WORK/report.html``."""
import json
import re
import shlex

from realesrgan_paddle.evaluation.evaluator import GEOMETRIC, input_note, texture_note
from realesrgan_paddle.evaluation.metrics import geometric_mean
from realesrgan_paddle.evaluation.sheet import LEGEND
from realesrgan_paddle.training.metrics_log import FILE_NAME, read_metrics, series
from realesrgan_paddle.utils.plotting import pyplot

from ..inputs.crops import frame_of, lines as crop_lines
from .doc import Doc
from .frontier import LPIPS_NOTE, add_section, export_paragraph  # the DNI sweep decides what is exported
from ..choice.select import (DETAIL_KEEP, DETAIL_TOL, FLICKER_TOL, MAX_NIQE_COST, MAX_PSNR_COST, MAX_SSIM_COST, MIN_GAIN,
                     MIN_PSNR_GAIN, NIQE_TOL, TRADE, W_DETAIL, W_NIQE, W_SSIM, flicker_worst)
from ..choice.vs_bicubic import export_verdict


def parse_train_log(path):
    """``(losses {name: [(iter, value)]}, val {metric: [(iter, value)]})`` from the trainer's ``metrics.jsonl``."""
    return series(read_metrics(path))


def plot_curves(metrics_file, selection, out_png):
    """Losses over iterations, and the held-out PSNR and detail ratio of each checkpoint."""
    plt = pyplot()
    losses, _ = parse_train_log(metrics_file) if metrics_file else ({}, {})
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    for k, pts in sorted(losses.items()):
        if k.startswith('l_') and pts:
            a.plot(*zip(*pts), label=k)
    a.set_xlabel('iteration')
    a.set_yscale('log')
    a.set_title('training losses (metrics.jsonl)' if losses else 'training losses (no metrics.jsonl)')
    if losses:
        a.legend(fontsize=8)
    summ, cand = selection['summary'], selection['candidates']
    its = [0] + [cand[c] for c in cand]
    names = ['base'] + list(cand)
    b.plot(its, [summ[n]['psnr'] for n in names], 'o-', color='tab:blue', label='PSNR (dB)')
    b.set_xlabel('iteration (0 = base)')
    b.set_ylabel('held-out PSNR (dB)', color='tab:blue')
    b2 = b.twinx()
    b2.plot(its, [summ[n]['detail'] for n in names], 's--', color='tab:red', label='detail ratio')
    b2.axhline(1.0, color='tab:red', lw=0.5, ls=':')
    b2.set_yscale('log')  # detail is a ratio: equal steps in log are equal factors; 1 = the GT's detail
    b2.set_ylabel('detail ratio (GT = 1, log scale)', color='tab:red')
    b.set_title('held-out set, EMA weights of each checkpoint')
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


def _mean(vals):
    vals = [v for v in vals if v is not None and v == v]
    return sum(vals) / len(vals) if vals else None


def scene_rows(rows, videos, names):
    """Per scene (the video a held-out frame comes from; ``videos``: file name -> video): frames, the inputs'
    geometric-mean input detail, then each model's mean PSNR and geometric-mean detail ratio."""
    groups = {}
    for r in rows:
        groups.setdefault(videos.get(frame_of(r['image']), '?'), []).append(r)  # a crop window: its frame's
    out = []
    for scene, rs in sorted(groups.items()):
        cells = [scene, len(rs), geometric_mean([r.get('input_detail') for r in rs])]
        for n in names:
            cells += [_mean([r.get(f'{n}_psnr') for r in rs]), geometric_mean([r.get(f'{n}_detail') for r in rs])]
        out.append(cells)
    return out


REAL_KEYS = {True: ('psnr', 'ssim', 'detail', 'niqe'), False: ('niqe', 'detail_vs_bicubic')}


def scene_of(name, videos=None):
    """The clip a frame comes from: ``videos`` (file name -> video) first, else the frame's name without its
    ``_<time>`` suffix (``bikes_000008.400.png`` -> ``bikes``), else the name itself. A crop window of a large
    frame (``bikes_000008.400~w1.png``, ``pipeline.inputs.crops``) belongs to its frame's clip."""
    name = frame_of(name)
    if videos and name in videos:
        return videos[name]
    stem = name.rsplit('.png', 1)[0]
    return re.sub(r'_\d+(\.\d+)?$', '', stem) or stem


def real_scene_rows(rows, models, keys, videos=None):
    """Per scene and model (long form): scene, model, frames, then the means of ``keys`` over the scene's
    frames (ratios geometric, the rest arithmetic)."""
    groups = {}
    for r in rows:
        groups.setdefault(scene_of(r['image'], videos), []).append(r)
    out = []
    for scene, rs in sorted(groups.items()):
        for m in models:
            vals = [[r.get(f'{m}_{k}') for r in rs] for k in keys]
            out.append([scene, m, len(rs)] + [geometric_mean(v) if k in GEOMETRIC else _mean(v)
                                              for k, v in zip(keys, vals)])
    return out


def _videos(ctx):
    """Held-out file name -> its video, from the split stage's record ({} when it cannot be read)."""
    try:
        return {e['file']: e['video'] for e in json.loads((ctx.out('split') / 'split.json').read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def choice_section(d, res):
    """The criterion and every checkpoint's numbers against the base."""
    d.h(2, 'Checkpoint choice')
    d.p(f'Criterion (pipeline/choice/select.py, docs/finetune_domain.md), two axes: a checkpoint beats the base when '
        f'its perception is no worse (detail error |ln detail| not larger by more than {DETAIL_TOL}, NIQE not '
        f'higher by more than {NIQE_TOL}), its distortion is no worse (PSNR and SSIM not lower) or its '
        f'distortion cost (dB lost + {W_SSIM:g} x SSIM lost; at most {MAX_PSNR_COST:g} dB and {MAX_SSIM_COST:g} '
        f'SSIM) is bought by a perceptual gain G = {W_DETAIL:g} x d|ln detail| + {W_NIQE:g} x dNIQE of at '
        f'least {TRADE:g} x the cost and {MIN_GAIN:g}, and score = dPSNR + {W_SSIM:g} x dSSIM + G > 0. The '
        f'mirror trade (a strong base such as x4plus): a checkpoint also passes ("traded") with PSNR at least '
        f'{MIN_PSNR_GAIN:g} dB higher, SSIM no lower, detail at least {DETAIL_KEEP:g} x the base\'s, NIQE at most '
        f'{MAX_NIQE_COST:g} above it and score > 0. Among the checkpoints that pass, the '
        'highest score wins; when none does, the fidelity knob below decides (the base when no blend beats it). '
        + LPIPS_NOTE + ' The held-out set both selects and reports, so the '
        'chosen checkpoint\'s numbers are slightly optimistic.')
    sel, real = res['selection'], res.get('real')
    rs = (real or {}).get('summary') or {}
    keys = (['psnr', 'ssim', 'detail', 'niqe'] + _iqa_keys(rs) if real['paired'] else ['niqe', 'detail_vs_bicubic']) \
        if rs else []
    mine = _iqa_keys(sel['summary'])
    if rs:
        d.p('With --lq-videos the held-out real LQ frames vote (pipeline/choice/select.py): '
            + ('they have HR frames, so the criterion above is applied to their numbers (the real columns) and '
               'decides; the synthetic held-out pairs break ties only.' if real['paired'] else
               'without HR frames, the held-out pairs judge, their NIQE on the real frames counts in the gain and '
               'the score, and a checkpoint fails when its NIQE there is higher than the base\'s or its detail '
               'against bicubic there moves the other way from its detail on the pairs.'))
    head = ['model', 'iteration', 'PSNR', 'SSIM', 'detail', 'NIQE'] + [k.upper() for k in mine] + [
        f'real {k.upper() if k in ("psnr", "ssim", "niqe", "lpips", "dists") else k.replace("_vs_", " vs ")}' for k in keys]
    b = sel['summary']['base']
    rows = [['base', 0, b['psnr'], b['ssim'], b['detail'], b.get('niqe')] + [b.get(k) for k in mine]
            + [rs['base'].get(k) for k in keys]
            + [None, '-', '']]
    for c, it in sel['candidates'].items():
        t, s = sel['table'][c], sel['summary'][c]
        rows.append([c, it, s['psnr'], s['ssim'], s['detail'], s.get('niqe')] + [s.get(k) for k in mine]
                    + [rs.get(c, {}).get(k) for k in keys]
                    + [t['score'], _passes(t), '' if t.get('passes', t['beats_base']) else '; '.join(t['fails'])])
    d.table(head + ['score', 'passes', 'why not'], rows)
    axes_table(d, sel)


def axes_table(d, sel):
    """Each checkpoint on both axes against the --compare models and the base (``pipeline.choice.winner``), when LPIPS
    decided: its margins over the best reference on each axis, their noise, the margin in noise units and the share
    of the resampled frames where it beats every reference."""
    got = {c: sel['table'][c]['axes'] for c in sel['candidates'] if 'axes' in sel['table'].get(c, {})}
    if not got:
        return
    d.p('On both axes (pipeline/choice/winner.py): dPSNR over the best reference (the --compare models and the base), '
        'dLPIPS under the best; their noise over the resampled frames; the margin is the smaller of the two in noise '
        'units (the widest wins); "beats" is the share of resamples where the point beats every reference on both.')
    d.table(['checkpoint', 'PSNR', 'LPIPS', 'dPSNR', 'noise dB', 'dLPIPS', 'noise LPIPS', 'margin', 'beats'],
            [[c, a['psnr'], a['lpips'], a['dpsnr'], a['se_psnr'], a['dlpips'], a['se_lpips'], a['z'],
              '' if a['p_win'] is None else f'{a["p_win"]:.0%}'] for c, a in got.items()])


def flicker_section(d, res):
    """With --lq-videos: FLICKER of bicubic, the base and every checkpoint on consecutive held-out LQ frames, and
    what the selection refused for it (``pipeline.choice.select.flicker_refusals``)."""
    sel = res['selection']
    fl = sel.get('flicker')
    if not fl:
        return
    d.h(3, 'Flicker')
    d.p(f'{fl["frames"]} consecutive held-out frames of {fl["source"]} (centre window), each model upscaling frame '
        'by frame (evaluation/flicker.py, no reference): static = the output\'s mean |dY| between frames where the '
        'LQ is still, over bicubic\'s there; warp = the output\'s error after warping the previous frame along '
        'optical flow, over bicubic\'s (1 = as steady as bicubic, above = the texture changes between frames). '
        f'A checkpoint that flickers more than {1 + FLICKER_TOL:.1f}x the base\'s (the larger of the two) is refused '
        'unless --allow-flicker.')
    refused = sel.get('refused_flicker') or {}
    rows = [[n, r.get('static'), r.get('warp'), flicker_worst(r), 'refused' if n in refused else '']
            for n, r in fl['ratios'].items()]
    d.table(['model', 'static', 'warp', 'worst', ''], rows)
    if refused:
        d.p('**Refused for flicker:** ' + '; '.join(refused.values()) + '.')


def _measured(summary, keys):
    """Those of ``keys`` that some model of ``summary`` has."""
    return [k for k in keys if any((v or {}).get(k) is not None for v in summary.values())]


def _iqa_keys(summary):
    """``lpips`` and ``dists`` where some model of ``summary`` has them (their weights were cached)."""
    return _measured(summary, ('lpips', 'dists'))


def _passes(t):
    """'yes' (beats the base), 'traded' (gives up a little perception for distortion: pipeline/choice/select.py) or 'no'."""
    return 'yes' if t['beats_base'] else 'traded' if t.get('traded_perception') else 'no'


def real_section(d, res, part, sheet, videos=None, photos=False):
    """The first section with ``--lq``: the real LQ footage (or photos) through the models, without a reference."""
    real = res['real']
    d.h(2, 'What you will see: the real low-resolution ' + ('photos' if photos else 'footage'))
    paired = real.get('paired')
    where = ('LQ photos held out at random' if photos else 'frames from the end of the --lq-videos clips, held out')
    d.p(f'{real["frames"]} {where} from the degradation fit and the training, upscaled x4. ' + (
            'These LQ frames are the HR footage made smaller (each scores at least 30 dB Y PSNR against its held-out '
            'HR frame shrunk x4), so they are scored against those HR frames: PSNR and SSIM on Y (BT.601, 4 px border '
            'cropped), detail = Laplacian energy of the output over the HR frame\'s (1 = as detailed), NIQE (no '
            'reference, lower is more natural). Columns: ' if paired else
            'Without ground truth they are scored by NIQE (no reference, lower is more natural) and detail against '
            'bicubic (Laplacian energy of the output over bicubic\'s; 1 is as soft as bicubic, higher is sharper, '
            'and far higher can be noise or invented texture: look at the sheet). Columns: ')
        + ' | '.join(['LQ (nearest)'] + real.get('sheet_models', real['models']) + (['HR'] if paired else []))
        + f'; finetuned = {res["selection"]["shown"]}' + (f'; export = {real["export"]}' if real.get('export') else '')
        + '; the window of each row with the most detail in '
        + ('the HR frame.' if paired else 'bicubic\'s output.') + f' Captions: {LEGEND}')
    if sheet.is_file():
        (part / 'real_sheet.png').write_bytes(sheet.read_bytes())
        d.image(part / 'real_sheet.png', 'real LQ footage through the models', 'report/real_sheet.png')
    summ = real['summary']
    keys = list(REAL_KEYS[bool(paired)]) + (_measured(summ, ('texture',)) + _iqa_keys(summ) if paired else [])
    heads = [{'detail_vs_bicubic': 'detail vs bicubic'}.get(k, k if k in ('detail', 'texture') else k.upper())
             for k in keys]
    rows = [[m] + [summ[m].get(k) for k in keys] for m in real['models']]
    rows += [[f'{c} (checkpoint)'] + [summ[c].get(k) for k in keys] for c in real.get('checkpoints', [])]
    d.table(['model'] + heads, rows)
    by_scene = real_scene_rows(real.get('rows', []), real['models'], keys, videos)
    if len({r[0] for r in by_scene}) > 1:
        d.h(3, 'Per scene')
        d.p('The same frames by clip (means; detail geometric): a single camera, like the footage you will '
            'upscale, can differ from the mean.')
        d.table(['scene', 'model', 'frames'] + heads, by_scene)


def data_section(d, st):
    """The frame counts: keyframes, the split, the held-out real LQ frames."""
    sp = st['split']['info']
    line = sp.get('line') or f'{sp["train"]} train, {sp["heldout"]} held-out, {sp["dropped"]} dropped'
    kf = sp.get('keyframes')
    real = (st.get('degrade') or {}).get('info', {}).get('real_lq')
    generic = ((st.get('finetune') or {}).get('info') or {}).get('generic')
    d.p('Data: ' + (f'{kf} keyframes -> ' if kf else '') + line + '; near-duplicates judged on what moves in each '
        'clip (pipeline/inputs/split.py)' + (f'; {real["frames"]} held-out frames of the real LQ footage'
                                       if real else '')
        + (f'; training used these frames and {generic} generic photos (assets/generic; --no-generic leaves '
           'them out)' if generic else '') + '.')


def _fmt_time(s):
    s = int(round(s))
    return f'{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def _stages(d, st, ft, commands, refused=None):
    """The stage table (wall time, the command that reproduces each stage), one row per ``commands`` key in the
    stages' order; returns the seconds before the report."""
    d.h(2, 'Stages')
    total = 0.0
    trows = []
    for s, command in commands.items():
        rec = st.get(s)
        secs = rec['seconds'] if rec else None
        total += secs or 0.0
        when = 'refused' if refused and s == 'export' else '(this stage)'
        trows.append([s, _fmt_time(secs) if secs is not None else when, f'`{command}`'])
    d.table(['stage', 'wall time', 'command that reproduces it'], trows)
    d.p(f'Total before the report: {_fmt_time(total)}. Finetune: {ft["iters"]} iterations with '
        f'`options/{ft["template"]}` ({ft["plan"]["how"]}' +
        (f', {ft["plan"]["s_per_iter"]:.3f} s/iteration measured' if 's_per_iter' in ft['plan'] else '') + ').')
    return total


def metrics_section(d, res, ctx):
    """The held-out pairs: the means, the per-scene table, the notes and the verdicts."""
    summ = res['summary']
    d.h(2, 'Held-out metrics (means)')
    metrics = [k for k in ('psnr', 'ssim', 'niqe', 'detail', 'texture', 'artefact', 'blocks', 'lpips', 'dists')
               if any(summ[m].get(k) is not None for m in summ)]
    d.p(f'{len(res["rows"])} held-out frames, degraded once with the training pipeline (seed {ctx.s.seed}); '
        'Y channel, 4 px border cropped (tools/evaluate.py\'s metrics). Distortion: PSNR, SSIM (higher is better). '
        'Perception: NIQE (no reference, lower is better), detail = Laplacian energy of the output over the GT\'s '
        '(geometric mean; 1 is as detailed as the GT, below is blur, above is overshoot or noise)'
        + (', texture = the power in the octave above the input\'s resolution (4-8 px periods), output over GT '
           '(geometric mean; texture-scale detail, which the finest grain barely reaches)' if 'texture' in metrics else '')
        + ', artefact = '
        'high-frequency error where the GT is smooth (grey levels, lower is better)'
        + (', blocks = the output\'s luma steps across the 4 px grid of the x4 upscaling over those inside its cells '
           '(geometric mean; 1 is no tiles, as a photo)' if 'blocks' in metrics else '')
        + (', LPIPS and DISTS (lower is better)' if 'lpips' in metrics else '') + '.')
    for line in crop_lines(res.get('crops')):  # large frames are scored on stated crops
        d.p(line)
    d.table(['model'] + [k if k in ('detail', 'texture') else k.upper() for k in metrics],
            [[m] + [summ[m].get(k) for k in metrics] for m in summ]
            + [['GT'] + [_mean([r.get('gt_niqe') for r in res['rows']]) if k == 'niqe' else None for k in metrics]])
    for n in res.get('notes', []):
        d.p('Note: ' + n + '.')
    names = list(res['models'])
    d.h(3, 'Per scene')
    d.p('Mean PSNR and geometric-mean detail of each model over the held-out frames of each video. Input detail: '
        'how much of the GT\'s fine detail the degraded input keeps at its own size (its Laplacian energy over '
        'the GT\'s shrunk to that size); where it is near 0, detail at the GT\'s level can only be invented.')
    d.table(['scene', 'frames', 'input detail'] + [f'{n} {k}' for n in names for k in ('PSNR', 'detail')],
            scene_rows(res['rows'], _videos(ctx), names))
    for note in (input_note(res['rows']), texture_note(res['rows'], names)):
        if note:
            d.p(note[0].upper() + note[1:] + '.')
    d.p('Verdicts (the first model of each line is the base):')
    d.bullets([f'base vs {other}, {line}' for other, lines in res['verdicts'].items() for line in lines]
              + ['all models, ' + line for line in res.get('best', [])])


def _export_section(d, ctx, st, res, refused):
    """What was exported and why; with ``refused`` (the export stage's one line), why nothing was, and what to try.
    Returns the export's info for the frontier section (a refused run's: the point the rule chose)."""
    exported = res['exported']
    if refused:
        d.h(2, 'Nothing exported')
        d.p(f'**The export was refused:** {refused}.')
        d.p('What to try, in the order most runs gain from it (the tables below say where the finetune stands):')
        d.bullets(['train longer: a larger `--budget` (or `--iters N`); a budget that only warms up leaves the '
                   'checkpoints under the base',
                   'more footage or photos of your domain (`--videos`, `--hr`), and its real low-resolution '
                   'counterpart (`--lq-videos`, `--lq`) so the degradation fit and the choice see it',
                   'another `--base`: `realesrgan-x4plus` (the strongest start, slow) or `realesr-animevideov3`',
                   '`--force-export` exports the chosen point anyway; the report then says where it loses'])
        return {'how': 'refused', 'weight': res['dni']['chosen']}
    d.h(2, 'Exported model')
    info = st['export']['info']
    loud = exported['name'] == 'base'
    reason = exported['reason'][:1].upper() + exported['reason'][1:]
    d.p(('**No finetuned checkpoint beat the base model.** ' if loud else
         f'**Chosen checkpoint: {exported["name"]}.** ') + reason + '.')
    d.p(export_paragraph(info))
    d.p(f'Export: `{ctx.out("export") / "inference.pdmodel"}` (and `model.pdparams`, the weights it came from).')
    if info.get('forced_over_bicubic'):
        d.p(f'**Exported with --force-export although {info["forced_over_bicubic"]}.**')
    return info


def _point(st):
    """The exported DNI weight and sharpening amount (the export stage's info), None when nothing was exported."""
    info = (st.get('export') or {}).get('info') or {}
    return info.get('weight'), info.get('sharpen')


def build(ctx, part, commands, refused=None):
    """The report in ``part``; ``refused``: the line of an export that was refused (nothing exported: the report
    says why and what to try, from the evaluation's numbers)."""
    st = ctx.state.data['stages']
    res = json.loads((ctx.out('evaluate') / 'metrics.json').read_text())
    ft = st['finetune']['info']
    exp_dir = ctx.out('finetune') / 'experiments' / 'finetune'
    plot_curves(exp_dir / FILE_NAME, res['selection'], part / 'curves.png')
    (part / 'sheet.png').write_bytes((ctx.out('evaluate') / 'sheet.png').read_bytes())
    d = Doc()
    d.p('**Nothing was exported:** ' + refused + '.' if refused else f'**{export_verdict(res, *_point(st))}**')
    d.h(1, 'Domain finetune report')
    d.p('Command: `' + shlex.join(ctx.argv or []) + '`')
    if res.get('real'):
        real_section(d, res, part, ctx.out('evaluate') / 'real_sheet.png', _videos(ctx), bool(ctx.s.hr_photos))
    export_info = _export_section(d, ctx, st, res, refused)
    if res.get('losses'):
        d.p(f'**Where the {"chosen point" if refused else "exported model"} loses** (same tolerances as the '
            'checkpoint choice):')
        d.bullets(res['losses'])
    data_section(d, st)
    for n in ft.get('notes', []) + st['split']['info'].get('notes', []):
        d.p('Note: ' + n + '.')
    metrics_section(d, res, ctx)
    choice_section(d, res)
    flicker_section(d, res)
    add_section(d, res, export_info, part)
    d.h(2, 'Training curves')
    d.image(part / 'curves.png', 'training curves', 'report/curves.png')
    d.h(2, 'Contact sheet (centre crops)')
    d.p('Columns: ' + ' | '.join(['LQ (nearest)'] + list(res['models']) + ['GT']) +
        f'; finetuned = {res["selection"]["shown"]}. Captions: {LEGEND}')
    d.image(part / 'sheet.png', 'contact sheet', 'report/sheet.png')
    d.h(2, 'Per image')
    names = list(res['models'])
    d.table(['image', 'input detail'] + [f'{n} {k}' for n in names for k in ('PSNR', 'SSIM', 'NIQE', 'detail')],
            [[r['image'], r.get('input_detail')] + [r.get(f'{n}_{k}') for n in names
                                                     for k in ('psnr', 'ssim', 'niqe', 'detail')]
             for r in res['rows']])
    total = _stages(d, st, ft, commands, refused)
    (part / 'report.md').write_text(d.markdown())
    (part / 'report.html').write_text(d.html('Domain finetune report'))
    return {'total_before_report_s': round(total, 1)}
