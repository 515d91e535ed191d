"""The report's perception-distortion frontier: one table of every model, checkpoint and DNI blend on the
held-out frames, and the plot drawn from that table (PSNR against NIQE, PSNR against detail, and PSNR against
LPIPS when it is measured); with --lq-videos the same on the held-out real LQ frames (without their HR frames: a
table of NIQE and detail against bicubic, no plot)."""
from realesrgan_paddle.utils.plotting import pyplot

from ..choice.dni_sweep import blend_name, describe
from ..choice.sharpen_knob import chosen_name, grid_of, sharp_name
from ..choice.select import W_DETAIL, W_NIQE

PARTNER_NOTE = (' (the partner: the same recipe without the anchor\'s energy term, trained after the finetune for '
                'half its iterations; it keeps the fitted degradation\'s PSNR and draws little texture, so the knob '
                'trades texture for PSNR; pipeline/train/partner.py)')
HEADER = ['point', 'kind', 'iteration / weight', 'PSNR', 'SSIM', 'NIQE', 'detail', 'texture', 'LPIPS', 'DISTS',
          'exported']
COL = {h: i for i, h in enumerate(HEADER)}
KINDS = {'reference': ('s', 'tab:gray'), 'base': ('o', 'black'), 'compare': ('D', 'tab:purple'),
         'checkpoint': ('^', 'tab:blue'), 'blend': ('o', 'tab:orange'), 'sharpened': ('v', 'tab:red')}


def _row(name, kind, param, s, exported):
    return [name, kind, param, s.get('psnr'), s.get('ssim'), s.get('niqe'), s.get('detail'), s.get('texture'),
            s.get('lpips'), s.get('dists'), 'yes' if exported else '']


def frontier_rows(res, export_info=None, on='pairs'):
    """The table: bicubic, the base, the --compare models, every checkpoint, every DNI blend strictly between
    0 and 1 (weight 0 is the base and 1 the blended checkpoint: they are their rows; when the sweep blended with
    the partner, weight 0 is the partner and has a blend row). ``res``: the evaluate
    stage's metrics.json; ``export_info``: the export stage's info (its weight marks the exported row);
    ``on``: 'pairs' (the held-out pairs) or 'real' (the real LQ frames; without their HR frames the detail
    column is the detail against bicubic)."""
    dni, w = res['dni'], export_info['weight']
    partner = dni.get('other') == 'partner'  # weight 0 is the partner: a blend row of its own
    exported = {0.0: blend_name(0.0) if partner else 'base', 1.0: dni['finetune']}.get(w, blend_name(w))
    if export_info.get('sharpen'):
        exported = chosen_name(blend_name(w), dni, export_info['sharpen'])
    sel = res['selection']
    if on == 'real':
        real = res['real']
        summ = ckpt = {k: _real_numbers(v, real['paired']) for k, v in real['summary'].items()}
        blends = {k: _real_numbers(v, real['paired']) for k, v in dni['real']['summary'].items()}
    else:
        summ, ckpt, blends = res['summary'], sel['summary'], dni['summary']
    rows = [_row('bicubic', 'reference', '', summ['bicubic'], False),
            _row('base', 'base', 0, ckpt['base'], exported == 'base')]
    rows += [_row(m, 'compare', '', summ[m], False) for m in res['models'] if m not in ('bicubic', 'base', 'finetuned')]
    rows += [_row(c, 'checkpoint', it, ckpt[c], exported == c) for c, it in sel['candidates'].items() if c in ckpt]
    rows += [_row(blend_name(x), 'blend', f'{x:g}', blends[blend_name(x)], exported == blend_name(x))
             for x in dni['weights'] if (0.0 <= x if partner else 0.0 < x) and x < 1.0]
    sh = dni.get('sharpen') or {}
    names = [(sharp_name(sh['point'], a, s), a, s) for s, a in grid_of(sh)]
    rows += [_row(n, 'sharpened', f'{sh["point"]} + mask {a:g} (sigma {s:g})', blends[n], exported == n)
             for n, a, s in names if n in blends]
    return rows


def shown(rows):
    """``(header, rows)`` as the report prints the table: LPIPS and DISTS only when some row has them."""
    keep = [i for i, h in enumerate(HEADER) if h not in ('LPIPS', 'DISTS') or any(_measured(r[i]) for r in rows)]
    return [HEADER[i] for i in keep], [[r[i] for i in keep] for r in rows]


def _real_numbers(s, paired):
    return s if paired else {'niqe': s.get('niqe'), 'detail': s.get('detail_vs_bicubic')}


def _measured(v):
    return v is not None and v == v


def draw(rows, out_png, gt_niqe=None, finetune=None):
    """PSNR against NIQE, against detail and, when a row has it, against LPIPS (a third panel), one point per
    table row (a row without the panel's metric is left out of that panel); the checkpoints joined in iteration
    order from the base, the blends from the base to the blended checkpoint ``finetune``; the exported row ringed.
    Returns the figure (closed, its artists readable)."""
    plt = pyplot()
    cols = ('NIQE', 'detail') + (('LPIPS',) if any(_measured(r[COL['LPIPS']]) for r in rows) else ())
    fig, axes = plt.subplots(1, len(cols), figsize=(6.5 * len(cols), 5))
    by_name = {r[COL['point']]: r for r in rows}
    for ax, col in zip(axes, cols):
        pts = [r for r in rows if _measured(r[COL[col]]) and _measured(r[COL['PSNR']])]
        for kind, (marker, color) in KINDS.items():
            mine = [r for r in pts if r[COL['kind']] == kind]
            if mine:
                ax.scatter([r[COL[col]] for r in mine], [r[COL['PSNR']] for r in mine], marker=marker, color=color,
                           label=kind, zorder=3)
        for r in pts:
            ax.annotate(r[COL['point']], (r[COL[col]], r[COL['PSNR']]), fontsize=7, xytext=(3, 3),
                        textcoords='offset points')
            if r[COL['exported']]:
                ax.plot(r[COL[col]], r[COL['PSNR']], 'o', ms=14, mfc='none', mec='red', zorder=4)
        for kind, end, style in (('checkpoint', None, 'tab:blue'), ('blend', finetune, 'tab:orange')):
            mine = [r[COL['point']] for r in rows if r[COL['kind']] == kind]
            start = [] if kind == 'blend' and blend_name(0.0) in mine else ['base']  # a partner starts the blends
            chain = start + mine + ([end] if end else [])
            line = [by_name[n] for n in chain if n in by_name and by_name[n] in pts]
            if len(line) > 1:
                ax.plot([r[COL[col]] for r in line], [r[COL['PSNR']] for r in line], '-', color=style, lw=0.8)
        ax.set_ylabel('PSNR (dB, Y, higher is better)')
        ax.legend(fontsize=8)
    axes[0].set_xlabel('NIQE (lower is more natural)')
    if _measured(gt_niqe):
        axes[0].axvline(gt_niqe, color='green', lw=0.6, ls=':')
        axes[0].annotate('GT', (gt_niqe, axes[0].get_ylim()[0]), fontsize=8, color='green')
    axes[1].set_xscale('log')
    axes[1].axvline(1.0, color='green', lw=0.6, ls=':')
    axes[1].set_xlabel('detail ratio (GT = 1, log scale)')
    axes[0].set_title('perception-distortion: NIQE')
    axes[1].set_title('perception-distortion: detail')
    if len(cols) > 2:
        axes[2].set_xlabel('LPIPS (AlexNet, lower is closer to the GT)')
        axes[2].set_title('perception-distortion: LPIPS')
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return fig


# the rule on both axes (pipeline/choice/winner.py), in the report's words
LPIPS_NOTE = ('When LPIPS is measured for every point, it decides instead, on both axes: on the paired real LQ frames '
              'when there are some, else the held-out pairs, the point that beats every --compare model (x4plus by '
              'default) and the base on PSNR and LPIPS most surely (the frames resampled with replacement: of the '
              'points whose margins are beyond that noise the lowest LPIPS, else the one that wins in the most '
              'resamples), else the point nearest to that; bicubic\'s PSNR is a verdict (the first '
              'line), not a filter.')


# the rule's PSNR guard on paired real LQ frames (pipeline.choice.dni_sweep.psnr_guard), in the report's words
GUARD_NOTE = (', among those above the higher of bicubic\'s and the base\'s PSNR on the real LQ frames when any is '
              '(else above the lower)')


def add_section(d, res, export_info, part):
    """The report's section: the knob, the rule's choice, the table and ``part/frontier.png`` drawn from it
    (returns the figure)."""
    dni = res['dni']
    d.h(2, 'Fidelity knob (DNI) and the perception-distortion frontier')
    other = dni.get('other', 'base')
    d.p(f'DNI blends w x {dni["finetune"]} + (1 - w) x {other} (network interpolation: 0 is the {other}, 1 the '
        f'checkpoint) at w = {", ".join(f"{w:g}" for w in dni["weights"])}, on the same held-out frames and '
        f'metrics' + (PARTNER_NOTE if other == 'partner' else '') + '. Rule: each blend is judged against the base '
        f'by the checkpoint criterion (score = dPSNR + {W_DETAIL} x d|ln detail| + {W_NIQE} x dNIQE, no axis worse '
        f'beyond its tolerance); the highest score wins'
        + (GUARD_NOTE if (dni.get('real') or {}).get('paired') else '')
        + (', else weight 1 (the chosen checkpoint)' if other == 'partner' else ', else weight 0 (the base)')
        + ('; the held-out real LQ frames vote as in the checkpoint choice' if dni.get('real') else '')
        + f'. {LPIPS_NOTE} The rule\'s choice: {dni["reason"]}.')
    sh = dni.get('sharpen')
    if sh:
        d.p('Sharpening: the rule\'s point with an unsharp mask after the network (y = x + a (x - Gaussian_sigma(x)), '
            'stored with the exported weights) at (a, sigma px) = '
            + ', '.join(f'({a:g}, {s:g})' for s, a in grid_of(sh))
            + ', scored on the same frames and judged by the same rule against the same models'
            + (f'; refused (flicker, or detail past the GT\'s): {"; ".join(sh["refused"].values())}'
               if sh.get('refused') else '')
            + f'. The rule\'s amount: {sh["chosen"]:g}' + (f', sigma {sh["sigma"]:g} px' if sh['chosen'] else '')
            + f': {sh["reason"]}.')
    missed = [[n, round(t['score'], 3), '; '.join(t['fails']), '; '.join(t.get('trade_fails') or [])]
              for n, t in (dni.get('table') or {}).items() if not t.get('passes')]
    if missed:
        d.table(['blend', 'score', 'why it does not beat the base', 'why it does not trade perception'], missed)
    if export_info['how'] == '--dni-weight':
        d.p(f'--dni-weight {export_info["weight"]:g} overrides the rule: exported {describe(export_info)}'
            + ('' if export_info['summary'] else ' (a weight off the swept grid: not measured)') + '.')
    rows = frontier_rows(res, export_info)
    d.table(*shown(rows))
    gt_niqe = [r.get('gt_niqe') for r in res['rows'] if _measured(r.get('gt_niqe'))]
    fig = draw(rows, part / 'frontier.png', sum(gt_niqe) / len(gt_niqe) if gt_niqe else None, dni['finetune'])
    d.p('Each point is a row of the table above; the ringed point is the export. Dotted: the GT\'s NIQE and '
        'detail. Up is less distortion; towards the dotted line is closer to the GT\'s perception.')
    d.image(part / 'frontier.png', 'perception-distortion frontier', 'report/frontier.png')
    if res.get('real') and dni.get('real'):
        _real_part(d, res, export_info, part)
    return fig


def _real_part(d, res, export_info, part):
    """The same points on the held-out real LQ frames (blends included): a table, and with their HR frames the
    plot ``part/frontier_real.png``."""
    real, dni = res['real'], res['dni']
    rows = frontier_rows(res, export_info, on='real')
    d.h(3, 'The same points on the real LQ footage')
    if not real['paired']:
        d.p(f'The {real["frames"]} held-out real LQ frames have no HR frames: NIQE, and detail against bicubic '
            '(Laplacian energy of the output over bicubic\'s; higher is sharper, far higher can be noise).')
        d.table(['point', 'kind', 'iteration / weight', 'NIQE', 'detail vs bicubic', 'exported'],
                [[r[COL[h]] for h in ('point', 'kind', 'iteration / weight', 'NIQE', 'detail', 'exported')]
                 for r in rows])
        return
    d.p(f'The {real["frames"]} held-out real LQ frames against their HR frames (the DNI rule votes with these, '
        'pipeline/choice/select.py).')
    d.table(*shown(rows))
    gt_niqe = [r.get('gt_niqe') for r in real['rows'] if _measured(r.get('gt_niqe'))]
    draw(rows, part / 'frontier_real.png', sum(gt_niqe) / len(gt_niqe) if gt_niqe else None, dni['finetune'])
    d.image(part / 'frontier_real.png', 'perception-distortion frontier on the real LQ footage',
            'report/frontier_real.png')


def export_paragraph(export_info):
    """The report's line on what was exported (the export stage's info)."""
    s = export_info['summary']
    scores = (f': PSNR {s["psnr"]:.2f} dB, detail {s["detail"]:.3f}, NIQE {s["niqe"]:.2f}' if s
              else ' (a weight off the swept grid: not measured)')
    return f'**Exported: {describe(export_info)}**{scores} (see the frontier section).'
